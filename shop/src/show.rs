//! What the shop prints: a timesheet table with the fan-out's latency next to its slowest read,
//! the same as JSON, the verification's outcome, and the concurrent-versus-sequential comparison.

use std::time::{Duration, SystemTime};

use driver::record::{Percentiles, new_histogram};
use hdrhistogram::Histogram;
use schema::model::timeuuid_time;
use schema::reads::{Mismatch, Staff, Timesheet};
use serde::Serialize;

/// One fan-out: the timesheets read, each read's own time, and the whole fan-out's time.
pub struct Fanout {
    /// Whether the reads went one after another.
    pub sequential: bool,
    /// From the first read sent to the last answer.
    pub elapsed: Duration,
    /// Each employee, their timesheet, and how long its read took.
    pub timesheets: Vec<(Staff, Timesheet, Duration)>,
}

impl Fanout {
    fn slowest(&self) -> Duration {
        self.timesheets
            .iter()
            .map(|(_, _, took)| *took)
            .max()
            .unwrap_or_default()
    }

    fn sum(&self) -> Duration {
        self.timesheets.iter().map(|(_, _, took)| *took).sum()
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// Prints the timesheets as a table, then the latency line.
pub fn table(fanout: &Fanout) {
    println!(
        "{:<36}  {:<24} {:>8} {:>9} {:>6}  last visit",
        "employee", "name", "visits", "pickles", "trees"
    );
    for (person, timesheet, _) in &fanout.timesheets {
        let last = timesheet
            .last_visit()
            .map_or_else(|| "never".to_owned(), |t| rfc3339(timeuuid_time(t)));
        let name: String = person
            .name
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(24)
            .collect();
        println!(
            "{:<36}  {name:<24} {:>8} {:>9} {:>6}  {last}",
            person.employee_id,
            timesheet.visits,
            timesheet.pickles,
            timesheet.trees.len()
        );
    }
    let how = if fanout.sequential {
        "one after another"
    } else {
        "all at once"
    };
    println!(
        "{} timesheet reads {how}: {:.3} ms in all; the slowest single read took {:.3} ms, the reads add up to {:.3} ms",
        fanout.timesheets.len(),
        ms(fanout.elapsed),
        ms(fanout.slowest()),
        ms(fanout.sum())
    );
}

/// The timesheets and the latencies as JSON.
pub fn json(fanout: &Fanout, verification: Option<&Verification>) -> serde_json::Value {
    let employees: Vec<serde_json::Value> = fanout
        .timesheets
        .iter()
        .map(|(person, timesheet, took)| {
            serde_json::json!({
                "employee_id": person.employee_id,
                "name": person.name,
                "visits": timesheet.visits,
                "pickles": timesheet.pickles,
                "trees": timesheet.trees.len(),
                "last_visit": timesheet.last_visit().map(|t| rfc3339(timeuuid_time(t))),
                "read_ms": ms(*took),
            })
        })
        .collect();
    serde_json::json!({
        "sequential": fanout.sequential,
        "employees": employees,
        "fan_out_ms": ms(fanout.elapsed),
        "slowest_read_ms": ms(fanout.slowest()),
        "sum_of_reads_ms": ms(fanout.sum()),
        "verification": verification,
    })
}

/// How many visits were checked and what disagreed.
#[derive(Debug, Default, Serialize)]
pub struct Verification {
    /// Visits whose copies were checked.
    pub checked: u64,
    /// Copies missing or different.
    pub mismatches: u64,
    /// The first mismatches, with their keys (at most [`Verification::KEPT`]).
    pub examples: Vec<String>,
}

impl Verification {
    /// Mismatches kept with their keys; the rest are only counted.
    pub const KEPT: usize = 20;

    /// Adds one checked visit and whatever disagreed about it.
    pub fn add(&mut self, mismatches: Vec<Mismatch>) {
        self.checked += 1;
        for mismatch in mismatches {
            self.mismatches += 1;
            if self.examples.len() < Self::KEPT {
                self.examples.push(format!(
                    "{} of employee {} to tree {} at {}: {}",
                    mismatch.table,
                    mismatch.employee_id,
                    mismatch.pickle_tree_id,
                    mismatch.timestamp,
                    mismatch.problem
                ));
            }
        }
    }

    /// One line, then one line per kept mismatch.
    pub fn summary(&self) -> String {
        if self.mismatches == 0 {
            return format!(
                "verify: {} visits checked in trees and production: every copy agrees",
                self.checked
            );
        }
        let mut text = format!(
            "verify: {} visits checked, {} copies missing or different:",
            self.checked, self.mismatches
        );
        for example in &self.examples {
            text.push_str(&format!("\n  {example}"));
        }
        text
    }

    /// An error (exit code 1) when any copy disagreed.
    pub fn result(&self) -> anyhow::Result<()> {
        if self.mismatches == 0 {
            Ok(())
        } else {
            anyhow::bail!(
                "{} denormalized copies are missing or different (see above)",
                self.mismatches
            )
        }
    }
}

/// `--compare`: latencies of single reads, of fan-outs and of sequential rounds.
pub struct Comparison {
    employees: usize,
    single: Histogram<u64>,
    concurrent: Histogram<u64>,
    sequential: Histogram<u64>,
}

impl Comparison {
    /// An empty comparison of fan-outs over `employees` employees.
    pub fn new(employees: usize) -> Comparison {
        Comparison {
            employees,
            single: new_histogram(),
            concurrent: new_histogram(),
            sequential: new_histogram(),
        }
    }

    /// Records one round: its whole time, and each read's time.
    pub fn record(
        &mut self,
        sequential: bool,
        elapsed: Duration,
        reads: impl Iterator<Item = Duration>,
    ) {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        let round = if sequential {
            &mut self.sequential
        } else {
            &mut self.concurrent
        };
        round.saturating_record(nanos(elapsed));
        if sequential {
            // Reads in a sequential round run alone: their times are those of a single read.
            for read in reads {
                self.single.saturating_record(nanos(read));
            }
        }
    }
}

/// Prints the comparison and the ratios the lesson is about.
pub fn comparison(c: &Comparison) {
    let (single, concurrent, sequential) = (
        Percentiles::of(&c.single),
        Percentiles::of(&c.concurrent),
        Percentiles::of(&c.sequential),
    );
    let n = c.employees;
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>8}",
        "latency (ms)", "p50", "p90", "p99", "count"
    );
    for (label, p) in [
        ("one read alone".to_owned(), single),
        (format!("{n} reads all at once"), concurrent),
        (format!("{n} reads one after another"), sequential),
    ] {
        println!(
            "{label:<34} {:>10.3} {:>10.3} {:>10.3} {:>8}",
            p.p50 / 1e3,
            p.p90 / 1e3,
            p.p99 / 1e3,
            p.count
        );
    }
    let ratio = |p: Percentiles| {
        if single.p50 > 0.0 {
            p.p50 / single.p50
        } else {
            0.0
        }
    };
    println!(
        "at the median, {n} reads all at once cost {:.2}x one read; one after another, {:.2}x",
        ratio(concurrent),
        ratio(sequential)
    );
}
