//! `--compare`: the lesson's number. The same employees' timesheets are read all at once and one
//! after another, alternately, `--rounds` times each, and which way goes first alternates too (so
//! neither always finds the caches the other warmed); the table shows one read alone against both
//! ways, and the last line the ratios: about one read's latency for the fan-out, the sum for the
//! sequential reads.

use std::time::Duration;

use client::Connection;
use hdrhistogram::Histogram;
use loadgen::record::{Percentiles, new_histogram};
use schema::reads::{ShopStatements, Staff};

use crate::read_timesheets;

/// Unmeasured fan-outs before the first measured round: connections and the server's caches warm
/// up, so the first rounds do not time the start.
const WARM_UP_ROUNDS: u32 = 3;

/// Measures `rounds` fan-outs each way over `staff`, then prints the comparison. Any failed read
/// ends it: a comparison with holes would flatter one side.
pub async fn measure(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
    rounds: u32,
) -> anyhow::Result<()> {
    let mut comparison = Comparison::new(staff.len());
    for _ in 0..WARM_UP_ROUNDS {
        read_timesheets(cassandra, reads, staff, false).await;
    }
    for round in 0..rounds as usize {
        // The fan-out first in even rounds, the sequential reads first in odd ones.
        for sequential in loadgen::fair::alternating(round) {
            let began = tokio::time::Instant::now();
            let results = read_timesheets(cassandra, reads, staff, sequential).await;
            let elapsed = began.elapsed();
            for (request, _) in &results {
                if let Some(failure) = &request.error {
                    anyhow::bail!(
                        "a timesheet read failed during --compare ({})",
                        failure.kind
                    );
                }
            }
            comparison.record(sequential, elapsed, results.iter().map(|(r, _)| r.service));
        }
    }
    comparison.print();
    Ok(())
}

/// Latencies of single reads, of fan-outs and of sequential rounds.
struct Comparison {
    employees: usize,
    single: Histogram<u64>,
    concurrent: Histogram<u64>,
    sequential: Histogram<u64>,
}

impl Comparison {
    /// An empty comparison of fan-outs over `employees` employees.
    fn new(employees: usize) -> Comparison {
        Comparison {
            employees,
            single: new_histogram(),
            concurrent: new_histogram(),
            sequential: new_histogram(),
        }
    }

    /// Records one round: its whole time, and each read's time.
    fn record(
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

    /// Prints the percentiles of each way, and the ratios the lesson is about.
    fn print(&self) {
        let (single, concurrent, sequential) = (
            Percentiles::of(&self.single),
            Percentiles::of(&self.concurrent),
            Percentiles::of(&self.sequential),
        );
        let n = self.employees;
        let mut table =
            loadgen::report::table::new(&["latency (ms)", "p50", "p90", "p99", "count"], &[0]);
        for (label, p) in [
            ("one read alone".to_owned(), single),
            (format!("{n} reads all at once"), concurrent),
            (format!("{n} reads one after another"), sequential),
        ] {
            let ms = |us: f64| format!("{:.3}", us / 1e3);
            table.add_row([label, ms(p.p50), ms(p.p90), ms(p.p99), p.count.to_string()]);
        }
        print!("{}", loadgen::report::table::render(&table, 0));
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
}
