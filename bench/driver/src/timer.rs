//! The one timer a run uses to wait for the next due time: never a timer per request.
//!
//! Tokio's timer wheel ticks every millisecond, so `sleep_until` wakes up to 1 ms after the
//! deadline, about 0.5 ms on average. On loopback that is as long as a write itself, and an
//! operation would be sent late for no reason of the server's. [`PreciseTimer`] keeps a thread
//! that sleeps on a condition variable (microsecond deadlines, within the kernel's ~50 µs timer
//! slack) and wakes the run's task through a `Notify`. [`TokioTimer`] is the plain tokio sleep:
//! the tests use it because it follows tokio's paused clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::Notify;
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

/// The state the timer thread and the run share.
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    fired: Notify,
}

#[derive(Default)]
struct State {
    deadline: Option<std::time::Instant>,
    stop: bool,
}

/// A timer thread with microsecond deadlines (see the module documentation).
pub struct PreciseTimer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    deadline: Option<std::time::Instant>,
}

impl PreciseTimer {
    /// Starts the timer thread.
    pub fn start() -> std::io::Result<PreciseTimer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            fired: Notify::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pacer".into())
            .spawn(move || keep_time(&thread_shared))?;
        Ok(PreciseTimer {
            shared,
            thread: Some(thread),
            deadline: None,
        })
    }
}

/// The timer thread: sleeps until the current deadline, then fires once.
fn keep_time(shared: &Shared) {
    // Linux lets a sleeping thread wake up to 50 µs late by default (timer slack) to save power;
    // the pacer wants its deadlines kept, so it asks for the least slack. Failure only costs
    // precision.
    let _ = nix::sys::prctl::set_timerslack(1);
    let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if state.stop {
            return;
        }
        state = match state.deadline {
            None => shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let now = std::time::Instant::now();
                if now >= deadline {
                    state.deadline = None;
                    shared.fired.notify_one();
                    state
                } else {
                    shared
                        .changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            }
        };
    }
}

impl Timer for PreciseTimer {
    fn sleep_until(&mut self, deadline: Instant) -> impl Future<Output = ()> + Send + '_ {
        let deadline = deadline.into_std();
        async move {
            if std::time::Instant::now() >= deadline {
                return;
            }
            if self.deadline != Some(deadline) {
                let mut state = self
                    .shared
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                state.deadline = Some(deadline);
                self.shared.changed.notify_one();
                self.deadline = Some(deadline);
            }
            // A notification left over from an earlier deadline can wake us early: check again.
            while std::time::Instant::now() < deadline {
                self.shared.fired.notified().await;
            }
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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

    #[tokio::test(start_paused = true)]
    async fn the_tokio_timer_follows_the_paused_clock() {
        let mut timer = TokioTimer::new();
        let start = Instant::now();
        timer.sleep_until(start + Duration::from_secs(3600)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3600));
    }
}
