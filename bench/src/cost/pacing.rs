//! `bench overhead --rates ...`: what pacing costs. At a fixed rate the factory sleeps until each
//! visit is due and wakes to send it; unthrottled, it never sleeps. Each round runs the factory at
//! one rate and then unthrottled (the other way round every other round, so neither always meets
//! the warmer ring), and compares their CPU per write, with how late the paced visits went out
//! (the report's `wait`: from the due time to the send). A cheaper pacer that sends later is no
//! better: both numbers are printed side by side.
//!
//! One after the other, not at once as the floor comparison does: an unthrottled factory takes
//! all the ring can give, and a paced one beside it only measures how it starves (tried: at
//! 5000 visits/s it sent 0.14 to 1.2 s late, at 20,000 it finished nothing in two rounds of three).

use std::path::Path;

use driver::report::RunReport;

use crate::cost::overhead::quiet_factory;
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
}

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
            measured.push(PacedRound {
                rate,
                achieved: paced.achieved_rate,
                paced_us: paced.client.cpu_us_per_request,
                unthrottled_us: free.client.cpu_us_per_request,
                late_ms: [wait.p50 / 1e3, wait.p99 / 1e3],
            });
        }
    }
    Ok(measured)
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
    ];
    let mut table = driver::table::new(&header, &[]);
    for round in rounds {
        table.add_row([
            format!("{:.0}", round.rate),
            format!("{:.0}", round.achieved),
            format!("{:.2}", round.paced_us),
            format!("{:.2}", round.unthrottled_us),
            ratio(round).map_or_else(|| "-".to_owned(), |r| format!("{r:.3}")),
            format!("{:.3}", round.late_ms[0]),
            format!("{:.3}", round.late_ms[1]),
        ]);
    }
    print!("{}", driver::table::render(&table, 0));
    let mut rates: Vec<f64> = rounds.iter().map(|r| r.rate).collect();
    rates.dedup();
    for rate in rates {
        let mut ratios: Vec<f64> = rounds
            .iter()
            .filter(|r| r.rate == rate)
            .filter_map(ratio)
            .collect();
        ratios.sort_by(f64::total_cmp);
        match ratios.get(ratios.len() / 2) {
            Some(median) => println!(
                "at {rate:.0} visits/s: median ratio of CPU per write, paced / unthrottled: {median:.3}"
            ),
            None => println!("at {rate:.0} visits/s: no round wrote anything to compare"),
        }
    }
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
        };
        assert_eq!(ratio(&round(0.0)), None);
        assert_eq!(ratio(&round(13.0)), Some(1.3));
    }
}
