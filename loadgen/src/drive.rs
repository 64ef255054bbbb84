//! The open-loop driver: start each operation when the schedule says, keep at most
//! `max_in_flight` requests outstanding, record every completion, stop cleanly.
//!
//! One loop does everything, in one task, with one timer: it waits for the next due time, takes
//! the operation's permits from a semaphore (the in-flight bound: a sliding window, not the
//! original's stop-and-wait batches), starts the operation, and collects completions from a
//! `FuturesUnordered`. There is no task and no timer per request; a permit is released the moment
//! its operation completes, so the window slides.
//!
//! When the window is full, the loop waits for a permit, and that wait is part of the operation's
//! measured response time, because the time is measured from the due time, not from the send.
//!
//! A run bounded by time ends when its time is up, however far behind the loop is: nothing more is
//! sent, every operation that was due but never sent is recorded as **missed** (late by the time
//! left until the end), and what is in flight drains within the drain timeout. So the run takes
//! its duration, and an overload shows as missed operations instead of an overrun.
//!
//! The loop's state between turns is in `run_loop`, and which operations are still out, since
//! when, in `outstanding`.

mod outstanding;
mod run_loop;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};

use crate::errors::Failure;
use crate::record::{Completed, IntervalSummary, Recorder};
use crate::schedule::{Schedule, Timer};
use run_loop::Loop;

/// How a run is driven.
#[derive(Debug, Clone)]
pub struct Plan {
    /// When each operation is due.
    pub schedule: Schedule,
    /// The most requests in flight at once (the semaphore's permits).
    pub max_in_flight: usize,
    /// Requests (permits) one operation takes: 3 for a visit written to three tables.
    pub requests_per_op: usize,
    /// How long to wait for in-flight operations once the run stops (end, Ctrl-C, errors).
    pub drain_timeout: Duration,
    /// Stop once more than this many requests have failed.
    pub max_errors: Option<u64>,
    /// Stop once no node could be reached for longer than this (`--outage-limit`).
    pub outage_limit: Duration,
    /// When an operation becomes due, how much longer to wait so that those due meanwhile go
    /// out with it (`--pace-window`); zero: each one on its own.
    pub pace_window: Duration,
}

/// When an operation was meant to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intended {
    /// Its due time.
    pub at: Instant,
    /// The same instant on the wall clock (for time-based UUIDs).
    pub wall: SystemTime,
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The schedule ran to its end (its duration, or its number of operations).
    Finished,
    /// Ctrl-C or SIGTERM: scheduling stopped and in-flight operations were drained.
    Interrupted,
    /// More requests failed than `--max-errors` allows.
    TooManyErrors {
        /// Failed requests when the run stopped.
        errors: u64,
        /// The limit.
        limit: u64,
    },
    /// A request failed in a way every later one would (bad credentials, missing table).
    Fatal(Failure),
    /// No node could be reached for longer than `--outage-limit`.
    Outage {
        /// The last failure of the outage (its kind, and what it means).
        failure: Failure,
        /// How long nothing could be reached.
        lasted: Duration,
        /// `--outage-limit`.
        limit: Duration,
    },
}

/// The driver's result: why it ended, and what it did not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Why the run ended.
    pub ending: Ending,
    /// Operations still in flight when the drain timeout passed (or a second Ctrl-C came).
    pub abandoned: usize,
    /// Operations started.
    pub started: u64,
    /// Operations due before sending stopped that were never sent.
    pub missed: u64,
    /// When sending stopped: the end of the schedule's time, or the moment the run was stopped.
    pub stopped: Instant,
}

impl Outcome {
    /// A run stopped by Ctrl-C before it began: nothing sent, nothing missed, no time measured.
    pub fn stopped_before(start: Instant) -> Outcome {
        Outcome {
            ending: Ending::Interrupted,
            abandoned: 0,
            started: 0,
            missed: 0,
            stopped: start,
        }
    }
}

/// What the loop is waiting for before it can start operation `n`.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// Ask the schedule.
    Ask,
    /// The due time.
    Due(Instant),
    /// Permits, since `turned_to`; `due` is `None` when unthrottled, and `meant` is when it was
    /// meant to go out: its due time, or with a pace window the window's send time.
    Permits {
        due: Option<Instant>,
        meant: Option<Instant>,
        turned_to: Instant,
    },
    /// Nothing: the run is stopping.
    Stop,
}

/// A run that has stopped sending: why, since when, and until when it drains.
#[derive(Debug, Clone)]
struct Stopping {
    ending: Ending,
    drain_until: Instant,
}

/// Runs `operation(n, intended)` for every operation of the plan's schedule and records each
/// completion. Each item of `shutdown` is a Ctrl-C: the first stops scheduling and drains, one
/// during the drain ends it at once. `progress` is called once a second with the interval that
/// just closed.
pub async fn drive<T, Op, Fut>(
    plan: &Plan,
    mut timer: T,
    recorder: &mut Recorder,
    shutdown: impl Stream<Item = ()>,
    mut progress: impl FnMut(&IntervalSummary),
    mut operation: Op,
) -> Outcome
where
    T: Timer,
    Op: FnMut(u64, Intended) -> Fut,
    Fut: Future<Output = Completed>,
{
    let mut run = Loop::new(plan, recorder);
    // The in-flight window: a permit per request, released the moment its operation completes.
    let window = Arc::new(Semaphore::new(plan.max_in_flight));
    let permits_per_op = u32::try_from(plan.requests_per_op.max(1)).unwrap_or(u32::MAX);
    let mut in_flight = FuturesUnordered::new();
    let mut ticker = tokio::time::interval_at(run.start + ONE_SECOND, ONE_SECOND);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut signals_open = true;
    // One timer for the end of the schedule's time, made once: it ends a run stuck waiting for
    // permits; a loop that is merely late notices the end at the top of the loop.
    let end = plan.schedule.end_instant();
    let end_of_time = tokio::time::sleep_until(end.unwrap_or(run.start));
    tokio::pin!(end_of_time);

    // Sends the operation whose permits came, and holds them until it completes.
    let mut send = |run: &mut Loop, permits: OwnedSemaphorePermit| {
        run.observe_in_flight(plan.max_in_flight - window.available_permits());
        let (n, intended) = run.launch();
        let started = operation(n, intended);
        async move {
            let completed = started.await;
            drop(permits);
            (n, intended, completed)
        }
    };

    while !run.over(Instant::now(), in_flight.len()) {
        // Permits free when the loop turns to an operation due are taken at once, before another
        // answer is handled: only a full window is waiting for permits. (Through the select
        // below alone, a loop short of CPU, busy with the answers it was handed first, booked
        // 2.7 of 5 s as waiting for permits while at most 18,651 of its 100,000 were ever
        // taken.) Unthrottled operations, whose lateness is not booked, take the select's turn:
        // a window of them is not sent in one go without a look at the answers or a Ctrl-C.
        if run.wants_permits_for_one_due()
            && let Ok(permits) = Arc::clone(&window).try_acquire_many_owned(permits_per_op)
        {
            in_flight.push(send(&mut run, permits));
            continue;
        }
        let (due_at, wants_permits) = (run.due_at(), run.wants_permits());
        let stuck_or_stopping = wants_permits || run.stopping.is_some();
        tokio::select! {
            biased;
            Some((n, intended, completed)) = in_flight.next() => {
                run.completed(n, intended, &completed);
            }
            _ = ticker.tick() => {
                let in_flight_requests = plan.max_in_flight - window.available_permits();
                run.tick(in_flight_requests, &mut progress);
            }
            signal = shutdown.next(), if signals_open => match signal {
                None => signals_open = false,
                Some(()) if run.interrupted(in_flight.len()) => break,
                Some(()) => {}
            },
            () = &mut end_of_time, if end.is_some() && !end_of_time.is_elapsed()
                && stuck_or_stopping => run.time_up(),
            () = timer.sleep_until(run.wake_at().unwrap_or(run.start)), if due_at.is_some() => {
                run.turn_to_permits(due_at);
            }
            permits = Arc::clone(&window).acquire_many_owned(permits_per_op), if wants_permits => {
                let Ok(permits) = permits else { break };
                in_flight.push(send(&mut run, permits));
            }
        }
    }
    run.outcome()
}

const ONE_SECOND: Duration = Duration::from_secs(1);

#[cfg(test)]
#[path = "drive_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "drive_ending_tests.rs"]
mod ending_tests;

#[cfg(test)]
#[path = "drive_window_tests.rs"]
mod window_tests;
