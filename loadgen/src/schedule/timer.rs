//! The one timer a run uses to wait for the next due time: never a timer per request.
//!
//! Tokio's timer wheel ticks every millisecond, so `sleep_until` wakes up to 1 ms after the
//! deadline, about 0.5 ms on average. On loopback that is as long as a write itself, and an
//! operation would be sent late for no reason of the server's. [`PreciseTimer`] asks the kernel
//! instead: a `timerfd` with a nanosecond deadline, watched by the runtime's own reactor, so the
//! thread that sends the operation is the one the deadline wakes. (A timer thread that then
//! wakes the runtime, which this replaced, paid two wake-ups per operation: at 5000 visits/s on
//! one thread, 25 to 26 µs of CPU per write against 19 to 22.) [`TokioTimer`] is the plain tokio
//! sleep: the tests use it because it follows tokio's paused clock.

use std::future::Future;
use std::pin::Pin;

use tokio::time::{Instant, Sleep};

/// Something that can wait until an instant. Setting a deadline has effect only when the
/// returned future is first polled, so a future that is created and dropped unpolled (as
/// `select!` does with disabled branches) changes nothing.
pub trait Timer: Send {
    /// Waits until `deadline`; returns at once if it has passed.
    fn sleep_until(&mut self, deadline: Instant) -> impl Future<Output = ()> + Send + '_;
}

/// Tokio's own sleep, reset for each deadline (one `Sleep` for the whole run).
pub struct TokioTimer {
    sleep: Pin<Box<Sleep>>,
    deadline: Option<Instant>,
}

impl TokioTimer {
    /// A timer with no deadline yet.
    pub fn new() -> TokioTimer {
        TokioTimer {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            deadline: None,
        }
    }
}

impl Default for TokioTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for TokioTimer {
    async fn sleep_until(&mut self, deadline: Instant) {
        if self.deadline != Some(deadline) {
            self.sleep.as_mut().reset(deadline);
            self.deadline = Some(deadline);
        }
        self.sleep.as_mut().await;
    }
}

/// A kernel timer in the runtime's reactor, with nanosecond deadlines (see the module
/// documentation). One file descriptor for the whole run, re-armed for each deadline.
pub struct PreciseTimer {
    delay: tokio_timerfd::Delay,
    deadline: Option<Instant>,
}

impl PreciseTimer {
    /// A timer for the current runtime; fails where timerfd does (not Linux, no descriptors).
    pub fn start() -> std::io::Result<PreciseTimer> {
        Ok(PreciseTimer {
            delay: tokio_timerfd::Delay::new(std::time::Instant::now())?,
            deadline: None,
        })
    }
}

impl Timer for PreciseTimer {
    async fn sleep_until(&mut self, deadline: Instant) {
        // A deadline already passed returns at once, also one this timer already fired for.
        if Instant::now() >= deadline {
            return;
        }
        if self.deadline != Some(deadline) {
            self.delay.reset(deadline.into_std());
            self.deadline = Some(deadline);
        }
        // The timer fires at its deadline or later, never before. Should reading it fail, the
        // operation is due anyway: the loop sends it, and its lateness shows what that cost.
        let _ = (&mut self.delay).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_precise_timer_never_wakes_before_its_deadline() {
        let mut timer = PreciseTimer::start().unwrap();
        for micros in [300u64, 50, 2_000, 0, 700] {
            let deadline = Instant::now() + Duration::from_micros(micros);
            timer.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline);
        }
    }

    #[tokio::test]
    async fn a_dropped_wait_does_not_wake_a_later_one_early() {
        let mut timer = PreciseTimer::start().unwrap();
        // Start waiting for a near deadline, give up, then wait for a later one.
        let near = Instant::now() + Duration::from_micros(200);
        let _ = tokio::time::timeout(Duration::from_micros(10), timer.sleep_until(near)).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
        let later = Instant::now() + Duration::from_millis(3);
        timer.sleep_until(later).await;
        assert!(Instant::now() >= later);
    }

    #[tokio::test]
    async fn waiting_again_for_a_deadline_it_fired_for_returns_at_once() {
        let mut timer = PreciseTimer::start().unwrap();
        let deadline = Instant::now() + Duration::from_micros(300);
        timer.sleep_until(deadline).await;
        // The kernel timer fires once per deadline: waiting for it again would never end.
        tokio::time::timeout(Duration::from_secs(5), timer.sleep_until(deadline))
            .await
            .expect("a passed deadline returns at once");
    }

    #[tokio::test]
    async fn a_wait_given_up_and_taken_up_again_ends_at_its_deadline() {
        let mut timer = PreciseTimer::start().unwrap();
        let deadline = Instant::now() + Duration::from_millis(3);
        let given_up =
            tokio::time::timeout(Duration::from_micros(10), timer.sleep_until(deadline)).await;
        assert!(given_up.is_err(), "3 ms had not passed after 10 µs");
        tokio::time::timeout(Duration::from_secs(5), timer.sleep_until(deadline))
            .await
            .expect("the timer stayed armed for the same deadline");
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn the_precise_timer_works_on_a_runtime_of_several_threads() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut timer = PreciseTimer::start().unwrap();
            for micros in [200u64, 1_500, 50] {
                let deadline = Instant::now() + Duration::from_micros(micros);
                timer.sleep_until(deadline).await;
                assert!(Instant::now() >= deadline);
            }
        });
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_timer_follows_the_paused_clock() {
        let mut timer = TokioTimer::new();
        let start = Instant::now();
        timer.sleep_until(start + Duration::from_secs(3600)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3600));
    }
}
