//! Lesson 3: fan reads out.
//!
//! N employees' timesheets (the shop's read, aggregated on the server) read all at once and one
//! after another, for N = 1, 2, 5, 10, 20, 50. The two ways alternate round by round, and which
//! goes first alternates too, so that neither always finds the caches the other warmed. The
//! title says what the numbers say: "about one read" only when ten at once cost at most 1.5x one.

use crate::error::Result;
use futures::StreamExt;
use hdrhistogram::Histogram;
use schema::reads::ShopStatements;
use schema::workforce::Workforce;
use tokio::time::Instant;

use loadgen::record::{Percentiles, new_histogram};

use crate::report::plots::PlotError;

use super::lab::Lab;
use super::report::{Lesson, ms};

/// The fan-out sizes.
const SIZES: [usize; 6] = [1, 2, 5, 10, 20, 50];
/// Visits written per employee before reading.
const VISITS_PER_EMPLOYEE: u64 = 20;

/// The table's header: one row per fan-out size.
const COLUMNS: [&str; 6] = [
    "N",
    "at once p50 ms",
    "at once p99 ms",
    "in turn p50 ms",
    "in turn p99 ms",
    "in turn / at once",
];

pub(super) async fn run(lab: &Lab) -> Result<Lesson> {
    let sizes = time_each_size(lab).await?;
    let medians = Medians::of(&sizes);
    let plot = lab.save_plot("fanout", &medians.plot()?)?;
    Ok(Lesson::measured(
        "fanout",
        &medians.title(),
        &COLUMNS,
        rows(&sizes),
        plot,
        medians.finding(),
    ))
}

/// How long N reads took, both ways, for one N.
struct Timed {
    size: usize,
    at_once: Percentiles,
    in_turn: Percentiles,
}

/// Writes the timesheets, warms up, then times N reads at once and N one after another for each
/// N in [`SIZES`].
async fn time_each_size(lab: &Lab) -> Result<Vec<Timed>> {
    let session = &lab.cassandra.session;
    // Employees of their own (another seed), so that each timesheet holds exactly the visits
    // written here, whatever the other lessons wrote.
    let workforce = Workforce::generate(2, 100, 100);
    let employees: Vec<_> = (0..workforce.employee_count())
        .map(|i| workforce.employee_id(i))
        .collect();
    write_timesheets(
        lab,
        &workforce,
        employees.len() as u64 * VISITS_PER_EMPLOYEE,
    )
    .await?;
    let reads = ShopStatements::prepare(
        session,
        &lab.keyspace,
        5000,
        schema::model::Model::Denormalized,
    )
    .await?;

    // Unmeasured rounds first, so that connections, caches and the server's JIT are warm.
    for round in 0..(lab.args.rounds as usize).div_ceil(5) {
        let group = employees.iter().cycle().skip(round).take(10);
        for result in futures::future::join_all(group.map(|id| reads.timesheet(session, *id))).await
        {
            result?;
        }
    }
    let mut timed = Vec::new();
    for (round_size, size) in SIZES.iter().copied().enumerate() {
        let (mut concurrent, mut sequential) = (new_histogram(), new_histogram());
        for round in 0..lab.args.rounds as usize {
            // A different group of employees each round, the same group for both ways.
            let first = (round * 7 + round_size) % employees.len();
            let group: Vec<_> = employees.iter().cycle().skip(first).take(size).collect();
            for in_turn in loadgen::fair::alternating(round) {
                let started = Instant::now();
                if in_turn {
                    for id in &group {
                        reads.timesheet(session, **id).await?;
                    }
                    record(&mut sequential, started);
                } else {
                    let all = futures::future::join_all(
                        group.iter().map(|id| reads.timesheet(session, **id)),
                    );
                    for result in all.await {
                        result?;
                    }
                    record(&mut concurrent, started);
                }
            }
        }
        timed.push(Timed {
            size,
            at_once: Percentiles::of(&concurrent),
            in_turn: Percentiles::of(&sequential),
        });
    }
    Ok(timed)
}

/// One row per size: both ways' median and p99, and how many times longer in turn took.
fn rows(sizes: &[Timed]) -> Vec<Vec<String>> {
    sizes
        .iter()
        .map(|timed| {
            let (c, s) = (&timed.at_once, &timed.in_turn);
            vec![
                timed.size.to_string(),
                ms(c.p50),
                ms(c.p99),
                ms(s.p50),
                ms(s.p99),
                format!("{:.1}x", s.p50 / c.p50.max(1e-9)),
            ]
        })
        .collect()
}

/// The median time to read N timesheets, in milliseconds, against N: the lines of the plot.
struct Medians {
    at_once: Vec<(f64, f64)>,
    in_turn: Vec<(f64, f64)>,
}

impl Medians {
    fn of(sizes: &[Timed]) -> Medians {
        Medians {
            at_once: sizes
                .iter()
                .map(|timed| (timed.size as f64, timed.at_once.p50 / 1e3))
                .collect(),
            in_turn: sizes
                .iter()
                .map(|timed| (timed.size as f64, timed.in_turn.p50 / 1e3))
                .collect(),
        }
    }

    fn plot(&self) -> Result<String, PlotError> {
        crate::report::plots::lines(
            "N timesheets: median time to read them all",
            ("N (employees read)", "median ms"),
            &[
                ("all at once (fan-out)".to_owned(), self.at_once.clone()),
                ("one after another".to_owned(), self.in_turn.clone()),
            ],
        )
    }

    /// The median of one read, which the others are compared with.
    fn one(&self) -> f64 {
        self.at_once[0].1.max(1e-9)
    }

    /// Where N = 10 is in [`SIZES`].
    fn ten() -> usize {
        SIZES.iter().position(|&n| n == 10).unwrap_or(3)
    }

    fn finding(&self) -> String {
        let (at_once, in_turn) = (&self.at_once, &self.in_turn);
        let (one, ten) = (self.one(), Medians::ten());
        let last = SIZES.len() - 1;
        format!(
            "One read took a median {:.3} ms. Ten at once took {:.3} ms ({:.1}x one read), ten one \
             after another {:.3} ms ({:.1}x); at fifty, {:.3} ms against {:.3} ms. One after another, \
             the latencies add up: O(N). At once, the reads overlap, on the network and on the \
             replicas, so N reads cost about the slowest of them, O(max), until the client or the \
             ring runs out of parallelism: on a node with few cores the server's CPU work for each \
             read still adds up, which is where the concurrent line bends upward.",
            at_once[0].1,
            at_once[ten].1,
            at_once[ten].1 / one,
            in_turn[ten].1,
            in_turn[ten].1 / one,
            at_once[last].1,
            in_turn[last].1,
        )
    }

    /// The claim as the numbers allow it: "about one read" only when ten at once cost at most
    /// 1.5x one.
    fn title(&self) -> String {
        let (one, ten) = (self.one(), Medians::ten());
        if self.at_once[ten].1 / one <= 1.5 {
            "Fan reads out: N reads at once cost about one".to_owned()
        } else {
            format!(
                "Fan reads out: ten at once cost {:.1}x one read, ten in turn {:.1}x",
                self.at_once[ten].1 / one,
                self.in_turn[ten].1 / one
            )
        }
    }
}

fn record(histogram: &mut Histogram<u64>, started: Instant) {
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    histogram.saturating_record(nanos.max(1));
}

/// Writes `visits` visits (timesheet rows only), 64 at a time, so that every employee has a
/// timesheet to read.
async fn write_timesheets(lab: &Lab, workforce: &Workforce, visits: u64) -> Result<()> {
    let session = &lab.cassandra.session;
    let now = std::time::SystemTime::now();
    let mut writes = futures::stream::iter(0..visits)
        .map(|n| {
            let visit = workforce.visit(n, now);
            async move {
                session
                    .execute_unpaged(&lab.writes.insert_timesheet, &visit)
                    .await
            }
        })
        .buffer_unordered(64);
    while let Some(result) = writes.next().await {
        result?;
    }
    Ok(())
}
