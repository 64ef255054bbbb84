//! When each operation is due: one global, open-loop schedule.
//!
//! Operation `n` is due at `start + n / rate`, computed from `n` every time rather than by adding
//! a period again and again, so a long run never drifts. The schedule never waits for the server:
//! when operations are late (a stall, a full in-flight window), the due times stay where they
//! were and the late operations are issued as soon as they can be, one after another, until the
//! run has caught up. Nothing is skipped, and each operation's latency is measured from its due
//! time, so the stall shows in the numbers (no coordinated omission).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// How fast operations are started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// A fixed number of operations per second.
    Fixed {
        /// Operations per second; any positive number, fractions included.
        per_second: f64,
    },
    /// As fast as the in-flight bound allows: each operation is due the moment a permit frees.
    Unthrottled,
}

/// When a schedule ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct End {
    /// No operation is due at or after `start + after`.
    pub after: Option<Duration>,
    /// No more than this many operations.
    pub operations: Option<u64>,
}

/// What the schedule says about operation `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Due at this instant (maybe already past).
    At(Instant),
    /// Due as soon as a permit is free (unthrottled).
    Now,
    /// The schedule has ended before operation `n`.
    Finished,
}

/// A global schedule: every operation's due time, from one start and one rate.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    pace: Pace,
    end: End,
}

impl Schedule {
    /// A schedule starting at `start`.
    pub fn new(start: Instant, pace: Pace, end: End) -> Schedule {
        Schedule { start, pace, end }
    }

    /// The first instant of the schedule.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The pace.
    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// The instant the schedule's time runs out, if it is bounded by time: no operation is sent
    /// at or after it.
    pub fn end_instant(&self) -> Option<Instant> {
        self.end.after.map(|after| self.start + after)
    }

    /// Whether `n` operations are all the schedule has (it is bounded by a count, and `n` is it).
    pub fn count_reached(&self, n: u64) -> bool {
        self.end.operations.is_some_and(|limit| n >= limit)
    }

    /// When operation `n` is due on a fixed schedule, ends aside; `None` when unthrottled.
    pub fn at(&self, n: u64) -> Option<Instant> {
        match self.pace {
            Pace::Fixed { per_second } => {
                Some(self.start + Duration::from_secs_f64(n as f64 / per_second))
            }
            Pace::Unthrottled => None,
        }
    }

    /// How many operations are due strictly before `instant` (within the schedule's ends): the
    /// first of them is operation 0. Always 0 when unthrottled, where nothing is due in advance.
    pub fn due_before(&self, instant: Instant) -> u64 {
        let Pace::Fixed { per_second } = self.pace else {
            return 0;
        };
        let instant = self.end_instant().map_or(instant, |end| instant.min(end));
        if instant <= self.start {
            return 0;
        }
        // A first guess from the rate, then the exact count from the due times themselves, which
        // are rounded to the nanosecond.
        let mut count = ((instant - self.start).as_secs_f64() * per_second).ceil() as u64;
        let before = |n: u64| self.at(n).is_some_and(|at| at < instant);
        while count > 0 && !before(count - 1) {
            count -= 1;
        }
        while count < u64::MAX && before(count) {
            count += 1;
        }
        self.end.operations.map_or(count, |limit| count.min(limit))
    }

    /// When operation `n` (0-based) is due. For an unthrottled schedule bounded by time, `now`
    /// decides whether the run is over.
    pub fn due(&self, n: u64, now: Instant) -> Due {
        if self.count_reached(n) {
            return Due::Finished;
        }
        let past_end = |at: Instant| self.end.after.is_some_and(|after| at >= self.start + after);
        match self.pace {
            Pace::Fixed { per_second } => {
                let at = self.start + Duration::from_secs_f64(n as f64 / per_second);
                if past_end(at) {
                    Due::Finished
                } else {
                    Due::At(at)
                }
            }
            Pace::Unthrottled if past_end(now) => Due::Finished,
            Pace::Unthrottled => Due::Now,
        }
    }
}

/// The wall-clock time of a monotonic instant (which may lie in the near future).
pub fn wall_clock_of(instant: Instant) -> SystemTime {
    let now = Instant::now();
    if instant >= now {
        SystemTime::now() + (instant - now)
    } else {
        SystemTime::now() - (now - instant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn due_times_come_from_n_not_from_a_running_sum() {
        let start = Instant::now();
        let schedule = Schedule::new(start, Pace::Fixed { per_second: 7.0 }, End::default());
        // 1/7 s is not a whole number of nanoseconds: adding it up would drift; computing it
        // from n does not.
        let Due::At(at) = schedule.due(7_000_000, start) else {
            panic!("not finished")
        };
        assert_eq!(at - start, Duration::from_secs(1_000_000));
        let Due::At(at) = schedule.due(1, start) else {
            panic!("not finished")
        };
        assert_eq!(at - start, Duration::from_nanos(142_857_143));
    }

    #[tokio::test(start_paused = true)]
    async fn schedules_end_by_count_or_by_time() {
        let start = Instant::now();
        let by_count = Schedule::new(
            start,
            Pace::Fixed { per_second: 10.0 },
            End {
                operations: Some(3),
                after: None,
            },
        );
        assert!(matches!(by_count.due(2, start), Due::At(_)));
        assert_eq!(by_count.due(3, start), Due::Finished);

        let by_time = Schedule::new(
            start,
            Pace::Fixed { per_second: 10.0 },
            End {
                after: Some(Duration::from_secs(1)),
                operations: None,
            },
        );
        assert!(matches!(by_time.due(9, start), Due::At(_)));
        assert_eq!(by_time.due(10, start), Due::Finished);

        let unthrottled = Schedule::new(
            start,
            Pace::Unthrottled,
            End {
                after: Some(Duration::from_secs(1)),
                operations: None,
            },
        );
        assert_eq!(unthrottled.due(1_000_000, start), Due::Now);
        assert_eq!(
            unthrottled.due(0, start + Duration::from_secs(1)),
            Due::Finished
        );
    }

    #[tokio::test(start_paused = true)]
    async fn operations_due_before_an_instant_are_counted_exactly() {
        let start = Instant::now();
        let end = End {
            after: Some(Duration::from_secs(10)),
            operations: None,
        };
        let schedule = Schedule::new(start, Pace::Fixed { per_second: 7.0 }, end);
        assert_eq!(schedule.due_before(start), 0);
        // Operation 0 is due at the start itself.
        assert_eq!(schedule.due_before(start + Duration::from_nanos(1)), 1);
        assert_eq!(schedule.due_before(start + Duration::from_secs(1)), 7);
        // Operation 7 is due at exactly 1 s: not before it, but before a nanosecond later.
        assert_eq!(
            schedule.due_before(start + Duration::from_secs(1) + Duration::from_nanos(1)),
            8
        );
        // Nothing is due after the end of the schedule's time.
        assert_eq!(schedule.due_before(start + Duration::from_secs(99)), 70);
        assert_eq!(
            schedule.end_instant(),
            Some(start + Duration::from_secs(10))
        );
        let unthrottled = Schedule::new(start, Pace::Unthrottled, end);
        assert_eq!(unthrottled.due_before(start + Duration::from_secs(5)), 0);
    }
}
