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

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};

use crate::errors::Failure;
use crate::outstanding::Outstanding;
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
    /// Stop once no node could be reached for longer than this (`--outage-limit`).
    pub outage_limit: Duration,
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
    /// Permits, since `turned_to`; `due` is `None` when unthrottled.
    Permits {
        due: Option<Instant>,
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

    while !run.over(Instant::now(), in_flight.len()) {
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
            () = timer.sleep_until(due_at.unwrap_or(run.start)), if due_at.is_some() => {
                run.turn_to_permits(due_at);
            }
            permits = Arc::clone(&window).acquire_many_owned(permits_per_op), if wants_permits => {
                let Ok(permits) = permits else { break };
                run.observe_in_flight(plan.max_in_flight - window.available_permits());
                let (n, intended) = run.launch();
                let started = operation(n, intended);
                in_flight.push(async move {
                    let completed = started.await;
                    drop(permits);
                    (n, intended, completed)
                });
            }
        }
    }
    run.outcome()
}

const ONE_SECOND: Duration = Duration::from_secs(1);

/// The driver loop's state between two turns.
struct Loop<'a> {
    plan: &'a Plan,
    recorder: &'a mut Recorder,
    start: Instant,
    wall_start: SystemTime,
    /// The next operation's number.
    n: u64,
    next: Next,
    previous_start: Instant,
    stopping: Option<Stopping>,
    stopped: Instant,
    missed: u64,
    abandoned: usize,
    /// Operations sent and not yet answered, with their due times.
    outstanding: Outstanding,
}

impl<'a> Loop<'a> {
    fn new(plan: &'a Plan, recorder: &'a mut Recorder) -> Loop<'a> {
        let start = plan.schedule.start();
        Loop {
            plan,
            recorder,
            start,
            wall_start: wall_clock_of(start),
            n: 0,
            next: Next::Ask,
            previous_start: start,
            stopping: None,
            stopped: start,
            missed: 0,
            abandoned: 0,
            outstanding: Outstanding::default(),
        }
    }

    /// At the top of each turn: asks the schedule when needed, stops sending when it is over, and
    /// says whether the loop is done (drained, or its drain timed out).
    fn over(&mut self, now: Instant, in_flight: usize) -> bool {
        if self.stopping.is_none()
            && let Some(ending) = turn(self.plan, self.n, now, &mut self.next)
        {
            self.stop(ending);
        }
        let Some(stop) = &self.stopping else {
            return false;
        };
        self.next = Next::Stop;
        // A run that sent its last operation early still ends when its time does.
        if in_flight == 0 && now >= self.stopped {
            return true;
        }
        if now >= stop.drain_until {
            self.abandoned = in_flight;
            return true;
        }
        false
    }

    fn due_at(&self) -> Option<Instant> {
        match self.next {
            Next::Due(at) => Some(at),
            _ => None,
        }
    }

    fn wants_permits(&self) -> bool {
        matches!(self.next, Next::Permits { .. })
    }

    /// Stops sending: counts what was due and never sent, and starts the drain. A loop stopped
    /// while waiting for permits counts that wait too: it never got them.
    fn stop(&mut self, ending: Ending) {
        let ran_out = ending == Ending::Finished;
        (self.stopped, self.missed) = stop_sending(self.plan, self.recorder, self.n, ran_out);
        if let Next::Permits { due, turned_to } = self.next {
            let until = self.stopped.max(turned_to);
            self.recorder
                .record_pacing(due, self.previous_start, turned_to, until);
        }
        self.stopping = Some(Stopping {
            ending,
            drain_until: Instant::now() + self.plan.drain_timeout,
        });
    }

    /// Stops sending if the failures recorded so far end the run.
    fn check_failures(&mut self, now: Instant) {
        if self.stopping.is_none()
            && let Some(ending) = stop_reason(self.plan, self.recorder, now)
        {
            self.stop(ending);
        }
    }

    fn completed(&mut self, n: u64, intended: Intended, completed: &Completed) {
        let finished = Instant::now();
        self.outstanding.answered(n);
        self.recorder.record(intended.at, completed, finished);
        self.check_failures(finished);
    }

    /// Once a second: closes the recorder's interval and shows it.
    fn tick(&mut self, in_flight_requests: usize, progress: &mut impl FnMut(&IntervalSummary)) {
        let now = Instant::now();
        let rss = crate::usage::resident_bytes();
        let oldest = self.oldest_outstanding(now);
        if let Some(interval) = self
            .recorder
            .close_interval(now, in_flight_requests, rss, oldest)
        {
            progress(&interval);
        }
        self.check_failures(now);
    }

    /// How long ago the oldest operation due and unanswered was due: the oldest in flight, or the
    /// next one to send if the loop is behind schedule (it is older than any sent after it).
    fn oldest_outstanding(&self, now: Instant) -> Duration {
        let unsent = match self.next {
            Next::Due(at) | Next::Permits { due: Some(at), .. } if self.stopping.is_none() => {
                Some(at)
            }
            _ => None,
        };
        let oldest = match (self.outstanding.oldest(), unsent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        oldest.map_or(Duration::ZERO, |due| now.saturating_duration_since(due))
    }

    /// A Ctrl-C: the first stops sending; one during the drain abandons what is in flight, and
    /// the loop ends at once (`true`).
    fn interrupted(&mut self, in_flight: usize) -> bool {
        let Some(stop) = &mut self.stopping else {
            self.stop(Ending::Interrupted);
            return false;
        };
        if stop.ending == Ending::Finished {
            stop.ending = Ending::Interrupted;
        }
        self.abandoned = in_flight;
        self.stopped = self.stopped.min(Instant::now());
        true
    }

    /// The schedule's time ran out while the loop waited for permits, or drained.
    fn time_up(&mut self) {
        if self.stopping.is_none() {
            self.stop(Ending::Finished);
        }
    }

    /// The due time came: now the operation waits for its permits.
    fn turn_to_permits(&mut self, due: Option<Instant>) {
        self.next = Next::Permits {
            due,
            turned_to: Instant::now(),
        };
    }

    fn observe_in_flight(&mut self, requests: usize) {
        self.recorder.observe_in_flight(requests);
    }

    /// The permits came: records where the time behind schedule went, and hands out the next
    /// operation's number and intended start.
    fn launch(&mut self) -> (u64, Intended) {
        let acquired = Instant::now();
        let (due, turned_to) = match self.next {
            Next::Permits { due, turned_to } => (due, turned_to),
            _ => (None, acquired),
        };
        self.recorder
            .record_pacing(due, self.previous_start, turned_to, acquired);
        self.previous_start = acquired;
        // Unthrottled operations are due the moment they can start.
        let at = due.unwrap_or(acquired);
        let intended = Intended {
            at,
            wall: self.wall_start + (at - self.start),
        };
        let n = self.n;
        self.n += 1;
        self.outstanding.sent(n, at);
        self.next = Next::Ask;
        (n, intended)
    }

    /// How the run went; operations still in flight are recorded as abandoned, late by now.
    fn outcome(self) -> Outcome {
        if self.abandoned > 0 {
            let now = Instant::now();
            for due in self.outstanding.due_times() {
                self.recorder.record_abandoned(due, now);
            }
        }
        Outcome {
            ending: self.stopping.map_or(Ending::Finished, |stop| stop.ending),
            abandoned: self.abandoned,
            started: self.n,
            missed: self.missed,
            stopped: self.stopped,
        }
    }
}

/// Asks the schedule about operation `n` when the loop needs to know; `Some` when the schedule
/// is over (its operations sent, or its time up, however far behind the loop is).
fn turn(plan: &Plan, n: u64, now: Instant, next: &mut Next) -> Option<Ending> {
    if plan.schedule.end_instant().is_some_and(|end| now >= end) {
        return Some(Ending::Finished);
    }
    if let Next::Ask = next {
        *next = match plan.schedule.due(n, now) {
            Due::At(at) => Next::Due(at),
            Due::Now => Next::Permits {
                due: None,
                turned_to: now,
            },
            Due::Finished => return Some(Ending::Finished),
        };
    }
    None
}

/// Stops sending after `sent` operations: the moment sending stopped (the end of the schedule's
/// time when it ran out, else now) and the operations due before it that were never sent, which
/// are recorded as missed.
fn stop_sending(plan: &Plan, recorder: &mut Recorder, sent: u64, ran_out: bool) -> (Instant, u64) {
    let now = Instant::now();
    let stopped = match plan.schedule.end_instant() {
        Some(end) if ran_out && !plan.schedule.count_reached(sent) => end,
        Some(end) => now.min(end),
        None => now,
    };
    let due = plan.schedule.due_before(stopped);
    let missed = due.saturating_sub(sent);
    if missed > 0 {
        recorder.record_missed(&plan.schedule, sent..due, stopped);
    }
    (stopped, missed)
}

/// Whether the errors recorded so far, or an outage longer than the limit, end the run at `now`.
fn stop_reason(plan: &Plan, recorder: &Recorder, now: Instant) -> Option<Ending> {
    if let Some(fatal) = recorder.fatal() {
        return Some(Ending::Fatal(fatal.clone()));
    }
    if let Some((since, failure)) = recorder.outage()
        && now.saturating_duration_since(since) > plan.outage_limit
    {
        return Some(Ending::Outage {
            failure: failure.clone(),
            lasted: now - since,
            limit: plan.outage_limit,
        });
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

#[cfg(test)]
#[path = "drive_ending_tests.rs"]
mod ending_tests;
