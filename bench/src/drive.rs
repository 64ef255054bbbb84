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

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};

use crate::errors::Failure;
use crate::pace::{Due, Schedule};
use crate::record::{Completed, IntervalSummary, Recorder};
use crate::timer::Timer;

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
    /// The schedule ran to its end and every operation completed.
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
}

/// The driver's result: why it ended, and how many operations it gave up waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Why the run ended.
    pub ending: Ending,
    /// Operations still in flight when the drain timeout passed.
    pub abandoned: usize,
    /// Operations started.
    pub started: u64,
}

/// What the loop is waiting for before it can start operation `n`.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// Ask the schedule.
    Ask,
    /// The due time.
    Due(Instant),
    /// Permits, since `turned_to`; `due` is `None` when unthrottled.
    Permits {
        due: Option<Instant>,
        turned_to: Instant,
    },
    /// Nothing: the run is stopping.
    Stop,
}

/// Runs `operation(n, intended)` for every operation of the plan's schedule and records each
/// completion. `shutdown` resolving stops scheduling; `progress` is called once a second with the
/// interval that just closed.
pub async fn drive<T, Op, Fut>(
    plan: &Plan,
    mut timer: T,
    recorder: &mut Recorder,
    shutdown: impl Future<Output = ()>,
    mut progress: impl FnMut(&IntervalSummary),
    mut operation: Op,
) -> Outcome
where
    T: Timer,
    Op: FnMut(u64, Intended) -> Fut,
    Fut: Future<Output = Completed>,
{
    let permits_per_op = u32::try_from(plan.requests_per_op.max(1)).unwrap_or(u32::MAX);
    let window = Arc::new(Semaphore::new(plan.max_in_flight));
    let mut in_flight = FuturesUnordered::new();
    let start = plan.schedule.start();
    let wall_start = wall_clock_of(start);
    let mut ticker =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut shutdown_seen = false;

    let mut n = 0u64;
    let mut next = Next::Ask;
    let mut previous_start = start;
    let mut ending: Option<Ending> = None;
    let mut drain_until: Option<Instant> = None;
    let mut abandoned = 0;

    loop {
        let now = Instant::now();
        if let Next::Ask = next {
            next = match plan.schedule.due(n, now) {
                Due::At(at) => Next::Due(at),
                Due::Now => Next::Permits {
                    due: None,
                    turned_to: now,
                },
                Due::Finished => {
                    ending.get_or_insert(Ending::Finished);
                    Next::Stop
                }
            };
        }
        if ending.is_some() {
            next = Next::Stop;
            if in_flight.is_empty() {
                break;
            }
            if drain_until.is_some_and(|until| now >= until) {
                abandoned = in_flight.len();
                break;
            }
        }
        let due_at = if let Next::Due(at) = next {
            Some(at)
        } else {
            None
        };
        let wants_permits = matches!(next, Next::Permits { .. });

        tokio::select! {
            biased;
            Some((intended, completed)) = in_flight.next() => {
                let intended: Intended = intended;
                recorder.record(intended.at, &completed, Instant::now());
                if ending.is_none()
                    && let Some(stop) = stop_reason(plan, recorder)
                {
                    ending = Some(stop);
                    drain_until = Some(Instant::now() + plan.drain_timeout);
                }
            }
            _ = ticker.tick() => {
                let in_flight_requests = plan.max_in_flight - window.available_permits();
                let rss = crate::usage::resident_bytes();
                if let Some(interval) = recorder.close_interval(Instant::now(), in_flight_requests, rss) {
                    progress(&interval);
                }
            }
            () = &mut shutdown, if !shutdown_seen => {
                shutdown_seen = true;
                if ending.is_none() {
                    ending = Some(Ending::Interrupted);
                    drain_until = Some(Instant::now() + plan.drain_timeout);
                }
            }
            () = timer.sleep_until(due_at.unwrap_or(now)), if due_at.is_some() => {
                next = Next::Permits { due: due_at, turned_to: Instant::now() };
            }
            permits = Arc::clone(&window).acquire_many_owned(permits_per_op), if wants_permits => {
                let Ok(permits) = permits else { break };
                let acquired = Instant::now();
                let Next::Permits { due, turned_to } = next else { continue };
                recorder.record_pacing(due, previous_start, turned_to, acquired);
                recorder.observe_in_flight(plan.max_in_flight - window.available_permits());
                previous_start = acquired;
                // Unthrottled operations are due the moment they can start.
                let at = due.unwrap_or(acquired);
                let intended = Intended { at, wall: wall_start + (at - start) };
                let started = operation(n, intended);
                in_flight.push(async move {
                    let completed = started.await;
                    drop(permits);
                    (intended, completed)
                });
                n += 1;
                next = Next::Ask;
            }
        }
    }
    Outcome {
        ending: ending.unwrap_or(Ending::Finished),
        abandoned,
        started: n,
    }
}

/// Whether the errors recorded so far end the run.
fn stop_reason(plan: &Plan, recorder: &Recorder) -> Option<Ending> {
    if let Some(fatal) = recorder.fatal() {
        return Some(Ending::Fatal(fatal.clone()));
    }
    let errors = recorder.error_count();
    plan.max_errors
        .filter(|limit| errors > *limit)
        .map(|limit| Ending::TooManyErrors { errors, limit })
}

/// The wall-clock time of a monotonic instant (which may lie in the near future).
fn wall_clock_of(instant: Instant) -> SystemTime {
    let now = Instant::now();
    if instant >= now {
        SystemTime::now() + (instant - now)
    } else {
        SystemTime::now() - (now - instant)
    }
}

#[cfg(test)]
#[path = "drive_tests.rs"]
mod tests;
