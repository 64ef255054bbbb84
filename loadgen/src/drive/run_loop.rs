//! The state of [`super::drive`]'s loop between two turns, and what each turn does to it: ask
//! the schedule, stop sending (counting what was missed), take a completion, close a second,
//! hand out the next operation. `drive` itself keeps only the `select!` that reads as the pattern.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::outstanding::Outstanding;
use super::{Ending, Intended, Next, Outcome, Plan, Stopping};
use crate::record::{Completed, IntervalSummary, Recorder, Turn};
use crate::schedule::{Due, wall_clock_of};

/// The driver loop's state between two turns.
pub(super) struct Loop<'a> {
    plan: &'a Plan,
    recorder: &'a mut Recorder,
    pub(super) start: Instant,
    wall_start: SystemTime,
    /// The next operation's number.
    n: u64,
    next: Next,
    previous_start: Instant,
    /// When the pace window's batch under way goes out: operations due before then go out
    /// with it, and were meant to (the window's lateness is the plan, not the client's).
    batch_sends_at: Instant,
    pub(super) stopping: Option<Stopping>,
    stopped: Instant,
    missed: u64,
    abandoned: usize,
    /// Operations sent and not yet answered, with their due times.
    outstanding: Outstanding,
}

impl<'a> Loop<'a> {
    pub(super) fn new(plan: &'a Plan, recorder: &'a mut Recorder) -> Loop<'a> {
        let start = plan.schedule.start();
        Loop {
            plan,
            recorder,
            start,
            wall_start: wall_clock_of(start),
            n: 0,
            next: Next::Ask,
            previous_start: start,
            batch_sends_at: start,
            stopping: None,
            stopped: start,
            missed: 0,
            abandoned: 0,
            outstanding: Outstanding::default(),
        }
    }

    /// At the top of each turn: asks the schedule when needed, stops sending when it is over, and
    /// says whether the loop is done (drained, or its drain timed out).
    pub(super) fn over(&mut self, now: Instant, in_flight: usize) -> bool {
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

    pub(super) fn due_at(&self) -> Option<Instant> {
        match self.next {
            Next::Due(at) => Some(at),
            _ => None,
        }
    }

    /// When to wake for the operation due next: at its due time; with a pace window, if it was
    /// not yet due when the last operation went out, that much later, so that those due meanwhile
    /// go out with it (one due by then belongs to the batch that just went: at once). The last
    /// window before the end of the schedule's time is not batched: waking at the end would make
    /// its due operations missed ones.
    pub(super) fn wake_at(&self) -> Option<Instant> {
        let due = self.due_at()?;
        let wake = due + self.plan.pace_window;
        let batched = due > self.previous_start
            && self
                .plan
                .schedule
                .end_instant()
                .is_none_or(|end| wake < end);
        Some(if batched { wake } else { due })
    }

    pub(super) fn wants_permits(&self) -> bool {
        matches!(self.next, Next::Permits { .. })
    }

    /// Whether the loop turned to an operation that was due and wants its permits: one on a
    /// schedule, whose lateness is booked (an unthrottled one is due whenever it can start).
    pub(super) fn wants_permits_for_one_due(&self) -> bool {
        matches!(self.next, Next::Permits { due: Some(_), .. })
    }

    /// Stops sending: counts what was due and never sent, and starts the drain. A loop stopped
    /// while waiting for permits counts that wait too: it never got them.
    pub(super) fn stop(&mut self, ending: Ending) {
        let ran_out = ending == Ending::Finished;
        (self.stopped, self.missed) = stop_sending(self.plan, self.recorder, self.n, ran_out);
        if let Next::Permits {
            meant, turned_to, ..
        } = self.next
        {
            let acquired = self.stopped.max(turned_to);
            self.recorder.record_pacing(Turn {
                meant,
                could_start: self.previous_start,
                turned_to,
                acquired,
            });
        }
        self.stopping = Some(Stopping {
            ending,
            drain_until: Instant::now() + self.plan.drain_timeout,
        });
    }

    /// Stops sending if the failures recorded so far end the run.
    pub(super) fn check_failures(&mut self, now: Instant) {
        if self.stopping.is_none()
            && let Some(ending) = stop_reason(self.plan, self.recorder, now)
        {
            self.stop(ending);
        }
    }

    pub(super) fn completed(&mut self, n: u64, intended: Intended, completed: &Completed) {
        let finished = Instant::now();
        self.outstanding.answered(n);
        self.recorder.record(intended.at, completed, finished);
        self.check_failures(finished);
    }

    /// Once a second: closes the recorder's interval and shows it.
    pub(super) fn tick(
        &mut self,
        in_flight_requests: usize,
        progress: &mut impl FnMut(&IntervalSummary),
    ) {
        let now = Instant::now();
        let rss = crate::record::resident_bytes();
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
    pub(super) fn oldest_outstanding(&self, now: Instant) -> Duration {
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
    pub(super) fn interrupted(&mut self, in_flight: usize) -> bool {
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
    pub(super) fn time_up(&mut self) {
        if self.stopping.is_none() {
            self.stop(Ending::Finished);
        }
    }

    /// The due time came (or, with a pace window, the window's send time): now the operation
    /// waits for its permits. It was meant to go out with the batch under way, if it is due
    /// before that batch goes out; a wake-up that starts a batch moves that send time on.
    pub(super) fn turn_to_permits(&mut self, due: Option<Instant>) {
        let meant = due.map(|due| {
            if let Some(wake) = self.wake_at().filter(|wake| *wake > due) {
                self.batch_sends_at = wake;
            }
            due.max(self.batch_sends_at)
        });
        self.next = Next::Permits {
            due,
            meant,
            turned_to: Instant::now(),
        };
    }

    pub(super) fn observe_in_flight(&mut self, requests: usize) {
        self.recorder.observe_in_flight(requests);
    }

    /// The permits came: records where the time behind schedule went, and hands out the next
    /// operation's number and intended start.
    pub(super) fn launch(&mut self) -> (u64, Intended) {
        let acquired = Instant::now();
        let (due, meant, turned_to) = match self.next {
            Next::Permits {
                due,
                meant,
                turned_to,
            } => (due, meant, turned_to),
            _ => (None, None, acquired),
        };
        self.recorder.record_pacing(Turn {
            meant,
            could_start: self.previous_start,
            turned_to,
            acquired,
        });
        if let (Some(due), Some(meant)) = (due, meant) {
            self.recorder.record_sent(due, meant, acquired);
        }
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
    pub(super) fn outcome(self) -> Outcome {
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
                meant: None,
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
