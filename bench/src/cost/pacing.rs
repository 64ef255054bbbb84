//! `bench overhead --rates ...`: what pacing costs. At a fixed rate the factory sleeps until each
//! visit is due and wakes to send it; unthrottled, it never sleeps. Each round runs the factory at
//! one rate and then unthrottled (the other way round every other round, so neither always meets
//! the warmer ring), and compares their CPU per write, with how late the paced visits went out
//! (the report's `wait`: from the due time to the send). A cheaper pacer that sends later is no
//! better: both numbers are printed side by side.
//!
//! Beside each round, what one wake-up costs this machine ([`wake_up_cost`]): a thread that does
//! nothing but sleep on a kernel timer at the same rate. A paced client wakes at least once per
//! visit, so the unthrottled cost plus one wake-up per visit is the least pacing can cost without
//! sending visits together (`--pace-window`), and the table shows how near the factory is to it.
//!
//! One after the other, not at once as the floor comparison does: an unthrottled factory takes
//! all the ring can give, and a paced one beside it only measures how it starves (tried: at
//! 5000 visits/s it sent 0.14 to 1.2 s late, at 20,000 it finished nothing in two rounds of three).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use loadgen::report::RunReport;

use crate::apps::quiet_factory;
use crate::error::{BenchError, Result};

/// One round at one rate: the paced factory and an unthrottled one, side by side.
#[derive(Debug, Clone, Copy)]
pub struct PacedRound {
    /// The paced factory's target, visits per second.
    pub rate: f64,
    /// What it achieved, visits per second.
    pub achieved: f64,
    /// Its CPU µs per write.
    pub paced_us: f64,
    /// The unthrottled factory's CPU µs per write, in the same seconds.
    pub unthrottled_us: f64,
    /// How late the paced visits were sent, median and p99, milliseconds.
    pub late_ms: [f64; 2],
    /// How many times the paced factory's threads slept and were woken, per visit.
    pub wake_ups_per_visit: f64,
    /// CPU µs one wake-up cost, measured right after at the same rate ([`wake_up_cost`]).
    pub wake_up_us: f64,
    /// Writes per visit in the paced run (3, or 4 with the production_by_day table): a wake-up
    /// per visit costs each write that share of it.
    pub writes_per_visit: f64,
}

/// How long each round measures the cost of a wake-up.
const WAKING: Duration = Duration::from_secs(3);

/// Runs `rounds` rounds at each of `rates`, every one beside an unthrottled factory; `common`
/// are both processes' flags (where, how many in flight, how long).
pub fn measure(
    factory: &Path,
    common: &[String],
    folder: &Path,
    rates: &[f64],
    rounds: u32,
) -> Result<Vec<PacedRound>> {
    let mut measured = Vec::new();
    for &rate in rates {
        for round in 0..rounds {
            eprintln!(
                "pacing at {rate} visits/s, round {} of {rounds}: paced and unthrottled in turn",
                round + 1
            );
            let paced_report = folder.join(format!("paced-{rate}-{round}.json"));
            let free_report = folder.join(format!("unthrottled-{rate}-{round}.json"));
            let rate_flag = ["--rate".to_owned(), rate.to_string()];
            let runs = [(&rate_flag[..], &paced_report), (&[][..], &free_report)];
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let (extra, report) = runs[which];
                run(factory, common, extra, report)?;
            }
            let (paced, free) = (
                RunReport::read(&paced_report)?,
                RunReport::read(&free_report)?,
            );
            let wait = paced.latency_us.get("wait").copied().unwrap_or_default();
            let wake_up_us = wake_up_cost(rate, WAKING)?;
            measured.push(PacedRound {
                rate,
                achieved: paced.achieved_rate,
                paced_us: paced.client.cpu_us_per_request,
                unthrottled_us: free.client.cpu_us_per_request,
                late_ms: [wait.p50 / 1e3, wait.p99 / 1e3],
                wake_ups_per_visit: paced.client.wake_ups_per_op,
                wake_up_us,
                writes_per_visit: paced.counts.requests as f64 / paced.counts.ops.max(1) as f64,
            });
        }
    }
    Ok(measured)
}

/// What one wake-up costs this machine, CPU µs: a thread that does nothing but sleep on a kernel
/// timer firing `per_second` times a second, for `length`; its own CPU over its wake-ups. It
/// counts what the kernel charges a thread for going to sleep and being woken (on a virtual
/// machine, tens of µs), which a client paced to send at due times pays once per operation.
pub fn wake_up_cost(per_second: f64, length: Duration) -> Result<f64> {
    let waker = std::thread::Builder::new()
        .name("wake-up-cost".into())
        .spawn(move || -> nix::Result<f64> {
            // A kernel timer like the pacer's own, re-armed by the kernel every period.
            let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_CLOEXEC)?;
            let period = TimeSpec::from_duration(Duration::from_secs_f64(1.0 / per_second));
            timer.set(Expiration::Interval(period), TimerSetTimeFlags::empty())?;
            let before = thread_cpu_us()?;
            let start = Instant::now();
            let mut wake_ups = 0u64;
            while start.elapsed() < length {
                timer.wait()?;
                wake_ups += 1;
            }
            Ok((thread_cpu_us()? - before) / wake_ups.max(1) as f64)
        })
        .map_err(BenchError::io("starting a thread to time wake-ups"))?;
    match waker.join() {
        Ok(cost) => cost.map_err(|e| {
            BenchError::Failed(format!("cannot time wake-ups with a kernel timer: {e}"))
        }),
        Err(_) => Err(BenchError::Failed(
            "the wake-up timing thread panicked".into(),
        )),
    }
}

/// CPU µs (user and system) this thread has used.
fn thread_cpu_us() -> nix::Result<f64> {
    let usage = getrusage(UsageWho::RUSAGE_THREAD)?;
    let micros = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1e6 + t.tv_usec() as f64;
    Ok(micros(usage.user_time()) + micros(usage.system_time()))
}

/// Runs one factory with `common` and `extra` flags to its end, its report written to `report`.
fn run(factory: &Path, common: &[String], extra: &[String], report: &Path) -> Result<()> {
    let status = quiet_factory(factory, common, report)
        .args(extra)
        .status()
        .map_err(BenchError::io("running factory"))?;
    if !status.success() {
        return Err(BenchError::Failed(format!(
            "factory {} exited with {status}",
            extra.join(" ")
        )));
    }
    Ok(())
}

/// The rounds as a table, then each rate's median ratio of CPU per write, paced / unthrottled.
pub fn print(rounds: &[PacedRound]) {
    let header = [
        "visits/s",
        "achieved",
        "paced µs/write",
        "unthrottled µs/write",
        "ratio",
        "sent late p50 ms",
        "p99 ms",
        "wake-ups/visit",
        "wake-up µs",
        "floor µs/write",
        "paced / floor",
    ];
    let mut table = loadgen::report::table::new(&header, &[]);
    for round in rounds {
        table.add_row([
            format!("{:.0}", round.rate),
            format!("{:.0}", round.achieved),
            format!("{:.2}", round.paced_us),
            format!("{:.2}", round.unthrottled_us),
            ratio(round).map_or_else(|| "-".to_owned(), |r| format!("{r:.3}")),
            format!("{:.3}", round.late_ms[0]),
            format!("{:.3}", round.late_ms[1]),
            format!("{:.2}", round.wake_ups_per_visit),
            format!("{:.1}", round.wake_up_us),
            format!("{:.2}", floor_us(round)),
            format!("{:.3}", round.paced_us / floor_us(round)),
        ]);
    }
    print!("{}", loadgen::report::table::render(&table, 0));
    let mut rates: Vec<f64> = rounds.iter().map(|r| r.rate).collect();
    rates.dedup();
    for rate in rates {
        let at_rate = || rounds.iter().filter(move |r| r.rate == rate);
        let unthrottled = median(at_rate().filter_map(ratio));
        let floor = median(
            at_rate()
                .filter(|r| r.paced_us > 0.0)
                .map(|r| r.paced_us / floor_us(r)),
        );
        match (unthrottled, floor) {
            (Some(unthrottled), Some(floor)) => println!(
                "at {rate:.0} visits/s: median CPU per write, paced / unthrottled {unthrottled:.3}, \
                 paced / (unthrottled + a wake-up per visit) {floor:.3}"
            ),
            _ => println!("at {rate:.0} visits/s: no round wrote anything to compare"),
        }
    }
}

/// The median of some numbers, if there are any.
fn median(numbers: impl Iterator<Item = f64>) -> Option<f64> {
    let mut numbers: Vec<f64> = numbers.collect();
    numbers.sort_by(f64::total_cmp);
    numbers.get(numbers.len() / 2).copied()
}

/// The least a paced write can cost without sending visits together: unthrottled, plus its share
/// of one wake-up per visit.
fn floor_us(round: &PacedRound) -> f64 {
    round.unthrottled_us + round.wake_up_us / round.writes_per_visit.max(1.0)
}

/// Paced CPU per write over unthrottled, when both wrote something.
fn ratio(round: &PacedRound) -> Option<f64> {
    (round.paced_us > 0.0 && round.unthrottled_us > 0.0)
        .then(|| round.paced_us / round.unthrottled_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_that_wrote_nothing_has_no_ratio() {
        let round = |paced_us| PacedRound {
            rate: 1000.0,
            achieved: 0.0,
            paced_us,
            unthrottled_us: 10.0,
            late_ms: [0.0, 0.0],
            wake_ups_per_visit: 1.0,
            wake_up_us: 30.0,
            writes_per_visit: 3.0,
        };
        assert_eq!(ratio(&round(0.0)), None);
        assert_eq!(ratio(&round(13.0)), Some(1.3));
        assert_eq!(floor_us(&round(13.0)), 20.0);
    }

    #[test]
    fn a_wake_up_costs_something_and_is_counted_once_per_wake_up() {
        // 2000 wake-ups in a second: each costs more than nothing, and far less than the half
        // millisecond between two of them (a thread that never slept would show that).
        let cost = wake_up_cost(2000.0, Duration::from_millis(500)).unwrap();
        assert!(cost > 0.0 && cost < 500.0, "{cost} µs per wake-up");
    }
}
