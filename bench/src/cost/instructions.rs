//! `bench overhead --instructions VISITS`: the factory's cost as a count of instructions, which
//! does not move with the neighbours the way CPU time does on a shared machine.
//!
//! The factory runs under valgrind's callgrind (every thread's instructions counted, the kernel's
//! not) twice: writing a quarter of VISITS, then all of them, to the same ring. What the two runs
//! share (start-up, connecting, preparing) cancels in the difference, so the instructions per
//! visit are `(I(VISITS) - I(VISITS / 4)) / (3/4 VISITS)`. The ring's side is off (it samples by
//! wall time, and a program under valgrind runs tens of times slower); so is the warm-up. With
//! `--rates`, the same at each fixed rate: what pacing costs in the process's own instructions
//! (the kernel's thread switches, which are most of it, do not show here; the CPU rounds show
//! them). Each count leaves its callgrind file for `callgrind_annotate`, to find where a change
//! went.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::apps::quiet_factory_under_callgrind;
use crate::error::{BenchError, Result};

/// One mode of the factory measured in instructions.
#[derive(Debug, Clone)]
pub struct Counted {
    /// `unthrottled`, or the rate.
    pub mode: String,
    /// The round (1-based).
    pub round: u32,
    /// Instructions of the short run and of the long one.
    pub instructions: [u64; 2],
    /// Visits of the short run and of the long one.
    pub visits: [u64; 2],
    /// The long run's callgrind file.
    pub file: PathBuf,
    /// The long run's achieved share of its target rate (1 when unthrottled): under valgrind a
    /// paced factory that falls behind never sleeps, and counts a different program.
    pub kept: f64,
}

impl Counted {
    /// Instructions per visit: the difference of the two runs over the difference of their
    /// visits.
    pub fn per_visit(&self) -> f64 {
        let [short, long] = self.instructions;
        long.saturating_sub(short) as f64 / (self.visits[1] - self.visits[0]) as f64
    }
}

/// Counts `rounds` times, unthrottled and at each of `rates`. `connection` are the factory's
/// flags to reach the ring and its keyspace; `in_flight` its --max-in-flight.
pub fn count(
    factory: &Path,
    connection: &[String],
    in_flight: u32,
    folder: &Path,
    visits: u64,
    rates: &[f64],
    rounds: u32,
) -> Result<Vec<Counted>> {
    let valgrind = ring::find_on_path("valgrind").ok_or_else(|| {
        BenchError::Failed(
            "--instructions runs the factory under valgrind, which is not installed: \
             apt-get install valgrind"
                .to_owned(),
        )
    })?;
    let modes: Vec<(String, Vec<String>)> = std::iter::once(("unthrottled".to_owned(), vec![]))
        .chain(rates.iter().map(|rate| {
            (
                format!("{rate} visits/s"),
                vec!["--rate".to_owned(), rate.to_string()],
            )
        }))
        .collect();
    let lengths = [visits / 4, visits];
    let mut counted = Vec::new();
    for round in 1..=rounds {
        for (mode, extra) in &modes {
            eprintln!(
                "instructions, round {round} of {rounds}: the factory {mode}, under callgrind"
            );
            let mut instructions = [0; 2];
            let mut file = PathBuf::new();
            let report = folder.join("instructions-run.json");
            for (i, &length) in lengths.iter().enumerate() {
                file = folder.join(format!(
                    "callgrind.{}.{round}.{length}.out",
                    mode.replace([' ', '/'], "-")
                ));
                let mut command =
                    quiet_factory_under_callgrind(&valgrind, &file, factory, connection, &report);
                command
                    .args(["--max-in-flight", &in_flight.to_string()])
                    .args(["--visits", &length.to_string(), "--warmup", "0s"])
                    .arg("--no-ring-view")
                    .args(extra)
                    .stderr(Stdio::piped());
                let output = command
                    .output()
                    .map_err(BenchError::io("running the factory under valgrind"))?;
                if !output.status.success() {
                    return Err(BenchError::Failed(format!(
                        "the factory under valgrind exited with {}: {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    )));
                }
                instructions[i] = total_instructions(&file)?;
            }
            let run = loadgen::report::RunReport::read(&report)?;
            let kept = match run.target_rate {
                Some(target) if target > 0.0 => run.achieved_rate / target,
                _ => 1.0,
            };
            counted.push(Counted {
                mode: mode.clone(),
                round,
                instructions,
                visits: lengths,
                file,
                kept,
            });
        }
    }
    Ok(counted)
}

/// The total instructions a callgrind file counted (its `summary:` line).
fn total_instructions(file: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(file)
        .map_err(BenchError::io(format!("reading {}", file.display())))?;
    summary_of(&text).ok_or_else(|| {
        BenchError::Failed(format!(
            "{} has no summary line of callgrind's",
            file.display()
        ))
    })
}

/// The first number of the `summary:` (or `totals:`) line of a callgrind file.
fn summary_of(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// The counts as a table, then each mode's median per visit and per write.
pub fn print(counted: &[Counted], writes_per_visit: f64) {
    let header = [
        "mode",
        "round",
        "visits",
        "instructions",
        "per visit",
        "per write",
        "rate kept",
    ];
    let mut table = loadgen::report::table::new(&header, &[0]);
    for c in counted {
        table.add_row([
            c.mode.clone(),
            c.round.to_string(),
            format!("{} and {}", c.visits[0], c.visits[1]),
            format!("{} and {}", c.instructions[0], c.instructions[1]),
            format!("{:.0}", c.per_visit()),
            format!("{:.0}", c.per_visit() / writes_per_visit),
            format!("{:.0}%", c.kept * 100.0),
        ]);
    }
    print!("{}", loadgen::report::table::render(&table, 0));
    let mut modes: Vec<&str> = counted.iter().map(|c| c.mode.as_str()).collect();
    modes.sort_unstable();
    modes.dedup();
    for mode in modes {
        let mut per_visit: Vec<f64> = counted
            .iter()
            .filter(|c| c.mode == mode)
            .map(Counted::per_visit)
            .collect();
        per_visit.sort_by(f64::total_cmp);
        let median = per_visit[per_visit.len() / 2];
        let spread = per_visit.last().unwrap_or(&median) / per_visit[0] - 1.0;
        println!(
            "{mode}: {median:.0} instructions per visit, {:.0} per write (median; rounds within {:.1}%)",
            median / writes_per_visit,
            spread * 100.0
        );
    }
    if counted.iter().any(|c| c.kept < 0.99) {
        println!(
            "a paced run fell behind its rate under valgrind (it then never sleeps, which is not \
             the program a paced run is): pick a lower rate"
        );
    }
    if let Some(last) = counted.last() {
        println!(
            "where they went: callgrind_annotate {} (callgrind counts this process's instructions, not the kernel's)",
            last.file.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_gives_the_total_and_the_difference_gives_a_visit() {
        let file = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 123456789\ntotals: 123456789\n";
        assert_eq!(summary_of(file), Some(123_456_789));
        assert_eq!(summary_of("events: Ir\n"), None);
        let counted = Counted {
            mode: "unthrottled".to_owned(),
            round: 1,
            instructions: [1_000_000, 4_000_000],
            visits: [250, 1000],
            file: PathBuf::new(),
            kept: 1.0,
        };
        assert_eq!(counted.per_visit(), 4000.0);
    }
}
