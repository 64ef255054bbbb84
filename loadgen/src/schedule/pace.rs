//! When each operation is due: one global, open-loop schedule.
//!
//! Operation `n` is due at `start + n / rate`, computed from `n` every time rather than by adding
//! a period again and again, so a long run never drifts. The schedule never waits for the server:
//! when operations are late (a stall, a full in-flight window), the due times stay where they
//! were and the late operations are issued as soon as they can be, one after another, until the
//! run has caught up. Nothing is skipped, and each operation's latency is measured from its due
//! time, so the stall shows in the numbers (no coordinated omission).
//!
//! A ramp (`--rate 1000..5000 --ramp 60s`) is one schedule too: the rate holds at its start
//! through the warm-up, grows linearly over the ramp, then holds at its end. Operation `n`'s due
//! time is the inverse of the count of operations due by time `t` (a quadratic during the ramp),
//! in closed form, so a ramp drifts no more than a fixed rate does.

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
    /// A rate that holds at `from` for `hold` (the warm-up), grows linearly to `to` over
    /// `over`, then holds at `to`.
    Ramp {
        /// The rate at the start, operations per second.
        from: f64,
        /// The rate at the end of the ramp.
        to: f64,
        /// How long the rate holds at `from` before it grows.
        hold: Duration,
        /// How long it takes to grow.
        over: Duration,
    },
    /// As fast as the in-flight bound allows: each operation is due the moment a permit frees.
    Unthrottled,
}

impl Pace {
    /// How many operations are due in the first `t` seconds (a real number; `None` when
    /// unthrottled).
    pub fn count_by(&self, t: f64) -> Option<f64> {
        let t = t.max(0.0);
        match *self {
            Pace::Fixed { per_second } => Some(t * per_second),
            Pace::Ramp {
                from,
                to,
                hold,
                over,
            } => {
                let (hold, over) = (hold.as_secs_f64(), over.as_secs_f64());
                let held = t.min(hold) * from;
                let s = (t - hold).clamp(0.0, over);
                let slope = if over > 0.0 { (to - from) / over } else { 0.0 };
                let ramped = from * s + slope * s * s / 2.0;
                Some(held + ramped + (t - hold - over).max(0.0) * to)
            }
            Pace::Unthrottled => None,
        }
    }

    /// When operation `n` is due, seconds from the start (`None` when unthrottled): the inverse
    /// of [`Pace::count_by`].
    pub fn seconds_of(&self, n: u64) -> Option<f64> {
        let n = n as f64;
        match *self {
            Pace::Fixed { per_second } => Some(n / per_second),
            Pace::Ramp {
                from,
                to,
                hold,
                over,
            } => {
                let (hold, over) = (hold.as_secs_f64(), over.as_secs_f64());
                let in_hold = from * hold;
                if n < in_hold {
                    return Some(n / from);
                }
                let m = n - in_hold;
                let in_ramp = (from + to) / 2.0 * over;
                if m < in_ramp {
                    // (slope/2) s² + from s = m, solved in the form that stays exact as the slope
                    // goes to 0.
                    let slope = (to - from) / over;
                    let s = 2.0 * m / (from + (from * from + 2.0 * slope * m).sqrt());
                    return Some(hold + s);
                }
                Some(hold + over + (m - in_ramp) / to)
            }
            Pace::Unthrottled => None,
        }
    }

    /// The mean rate due between `a` and `b` seconds from the start (`None` when unthrottled).
    pub fn mean_rate(&self, a: f64, b: f64) -> Option<f64> {
        if b <= a {
            return None;
        }
        Some((self.count_by(b)? - self.count_by(a)?) / (b - a))
    }
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
        self.pace
            .seconds_of(n)
            .map(|seconds| self.start + Duration::from_secs_f64(seconds))
    }

    /// How many operations are due strictly before `instant` (within the schedule's ends): the
    /// first of them is operation 0. Always 0 when unthrottled, where nothing is due in advance.
    pub fn due_before(&self, instant: Instant) -> u64 {
        let instant = self.end_instant().map_or(instant, |end| instant.min(end));
        if instant <= self.start {
            return 0;
        }
        // A first guess from the rate, then the exact count from the due times themselves, which
        // are rounded to the nanosecond.
        let Some(guess) = self.pace.count_by((instant - self.start).as_secs_f64()) else {
            return 0;
        };
        let mut count = guess.ceil() as u64;
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
        match self.at(n) {
            Some(at) if past_end(at) => Due::Finished,
            Some(at) => Due::At(at),
            None if past_end(now) => Due::Finished,
            None => Due::Now,
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
    async fn a_ramp_holds_then_grows_linearly_then_holds_and_its_due_times_invert_its_counts() {
        let pace = Pace::Ramp {
            from: 1000.0,
            to: 5000.0,
            hold: Duration::from_secs(10),
            over: Duration::from_secs(60),
        };
        // 10 s at 1000/s, then 60 s from 1000 to 5000 (3000/s on average), then 5000/s.
        assert_eq!(pace.count_by(10.0), Some(10_000.0));
        assert_eq!(pace.count_by(70.0), Some(10_000.0 + 180_000.0));
        assert_eq!(pace.count_by(71.0), Some(195_000.0));
        // Halfway up, the rate is 3000/s: one second about there holds about 3000.
        let second = pace.mean_rate(39.5, 40.5).unwrap();
        assert!((second - 3000.0).abs() < 1e-6, "{second}");
        for n in [
            0, 1, 9_999, 10_000, 10_001, 100_000, 189_999, 190_000, 190_001, 1_000_000,
        ] {
            let t = pace.seconds_of(n).unwrap();
            let back = pace.count_by(t).unwrap();
            assert!(
                (back - n as f64).abs() < 1e-6,
                "n {n}: t {t}, counted back {back}"
            );
        }
        // Due times never go backwards.
        let mut last = -1.0;
        for n in (0..400_000).step_by(997) {
            let t = pace.seconds_of(n).unwrap();
            assert!(t > last, "n {n}");
            last = t;
        }
        // A schedule of it counts operations due before an instant exactly, as for a fixed rate.
        let start = Instant::now();
        let schedule = Schedule::new(start, pace, End::default());
        for seconds in [5.0, 10.0, 40.0, 70.0, 75.5] {
            let instant = start + Duration::from_secs_f64(seconds);
            let count = schedule.due_before(instant);
            assert!(schedule.at(count - 1).unwrap() < instant);
            assert!(schedule.at(count).unwrap() >= instant);
        }
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
