//! Lesson 7: denormalize, or index (Cassandra 5.0's Storage-Attached Indexes).
//!
//! The same visits kept both ways the schema offers, and the same question asked of each, at the
//! same fixed rates, each variant twice for half the time in mirrored order (A B B A):
//! - **writes** at half of `--rate` visits/s: denormalized (three writes: `timesheets`, `trees`,
//!   `production`) against SAI (one write to `visits`, whose four indexes the ring updates as it
//!   writes the row);
//! - **reads** at a tenth of `--rate`, each an employee's timesheet, of the visits just written:
//!   one partition of `timesheets`, summed on the server (`GROUP BY`), against every visit found
//!   through `visits_by_employee`, summed on the client.
//!
//! Latency counts from each operation's due time. What the ring did for each operation is counted
//! by the ring itself, before and after each run, from its table metrics (`system_views`, every
//! node): the writes its replicas applied per visit (`local_write_latency` of the tables written),
//! and the reads they ran per timesheet (`local_read_latency` and `local_scan_latency` of the
//! table read): a partition read is one replica's read, an index read a range read on a replica
//! of every token range, so that number grows with the ring (run it on three nodes to see).

use crate::error::Result;
use std::sync::atomic::{AtomicU64, Ordering};

use schema::model::Model;
use schema::reads::ShopStatements;
use scylla::client::session::Session;
use tokio::time::Instant;

use loadgen::fair::mirrored;
use loadgen::measure;
use loadgen::record::Completed;
use loadgen::report::RunReport;

use crate::report::plots::PlotError;

use super::lab::{Combined, Lab, table_counts, visits};
use super::report::{Lesson, ms};

/// The four variants: two ways to write a visit, two ways to read a timesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    WriteDenormalized,
    WriteIndexed,
    ReadPartition,
    ReadIndex,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::WriteDenormalized => "write: denormalized, 3 tables",
            Variant::WriteIndexed => "write: SAI, 1 table + 4 indexes",
            Variant::ReadPartition => "read: one partition (GROUP BY)",
            Variant::ReadIndex => "read: through the employee index",
        }
    }

    /// What the ring counts of it: the table-metrics views, and the tables.
    fn counted(self) -> (&'static [&'static str], &'static [&'static str]) {
        const WRITES: &[&str] = &["local_write_latency"];
        const READS: &[&str] = &["local_read_latency", "local_scan_latency"];
        match self {
            Variant::WriteDenormalized => (WRITES, &["timesheets", "trees", "production"]),
            Variant::WriteIndexed => (WRITES, &["visits"]),
            Variant::ReadPartition => (READS, &["timesheets"]),
            Variant::ReadIndex => (READS, &["visits"]),
        }
    }

    /// The ring's count, in words.
    fn counted_as(self) -> &'static str {
        match self {
            Variant::WriteDenormalized | Variant::WriteIndexed => "replica writes",
            Variant::ReadPartition | Variant::ReadIndex => "replica reads and scans",
        }
    }
}

/// What the runs of one variant add up to.
struct Tally {
    variant: Variant,
    reports: Vec<RunReport>,
    /// Operations started, warm-up included: what the ring's tasks are divided by.
    operations: u64,
    /// What the ring's nodes counted of the variant's tables; `None` once a count failed.
    tasks: Option<u64>,
}

const COLUMNS: [&str; 6] = [
    "variant",
    "per second",
    "p50 ms",
    "p99 ms",
    "on the ring, per operation",
    "counted",
];

pub(super) async fn run(lab: &Lab) -> Result<Lesson> {
    let session = &lab.cassandra.session;
    let partition = ShopStatements::prepare(session, &lab.keyspace, 5000, Model::Denormalized);
    let index = ShopStatements::prepare(session, &lab.keyspace, 5000, Model::Sai);
    let (partition, index) = (partition.await?, index.await?);
    let insert_visit = schema::writes::prepare_indexed_visit(
        session,
        &lab.keyspace,
        &schema::writes::TableConsistency::uniform(lab.args.connection.consistency.0),
    )
    .await?;
    let writes = [Variant::WriteDenormalized, Variant::WriteIndexed];
    let reads = [Variant::ReadPartition, Variant::ReadIndex];
    let mut tallies = Vec::new();
    // Writes first (the reads read what they wrote), then reads; each pair mirrored.
    for pair in [writes, reads] {
        let mut tally: Vec<Tally> = pair
            .iter()
            .map(|&variant| Tally {
                variant,
                reports: Vec::new(),
                operations: 0,
                tasks: Some(0),
            })
            .collect();
        for index_in_pair in mirrored(pair.len()) {
            let variant = pair[index_in_pair];
            // Every operation of the run, warm-up included, is counted by the ring: count them all.
            let started = AtomicU64::new(0);
            let count = |n: u64| {
                started.fetch_add(1, Ordering::Relaxed);
                n
            };
            let (views, tables) = variant.counted();
            let before = table_counts(session, &lab.keyspace, views, tables).await;
            let report = match variant {
                Variant::WriteDenormalized => {
                    let load = lab.half_load(Some(write_rate(lab)), 256);
                    lab.drive(load, visits("lesson-sai"), |n, intended| {
                        lab.write_visit(lab.workforce.visit(count(n), intended.wall))
                    })
                    .await?
                }
                Variant::WriteIndexed => {
                    let load = lab.half_load(Some(write_rate(lab)), 256);
                    lab.drive(load, one_visit(), |n, intended| {
                        let visit = lab.workforce.visit(count(n), intended.wall);
                        let insert = &insert_visit;
                        async move {
                            let sent = Instant::now();
                            let write = session.execute_unpaged(insert, visit.indexed());
                            Completed {
                                sent,
                                requests: vec![measure(0, write).await],
                            }
                        }
                    })
                    .await?
                }
                Variant::ReadPartition | Variant::ReadIndex => {
                    let reads = match variant {
                        Variant::ReadPartition => &partition,
                        _ => &index,
                    };
                    let load = lab.half_load(Some(read_rate(lab)), 256);
                    lab.drive(load, timesheet_reads(), |n, _| {
                        read_timesheet(lab, reads, count(n))
                    })
                    .await?
                }
            };
            let after = table_counts(session, &lab.keyspace, views, tables).await;
            let entry = &mut tally[index_in_pair];
            entry.operations += started.into_inner();
            entry.tasks = entry
                .tasks
                .zip(after.zip(before).map(|(a, b)| a.saturating_sub(b)))
                .map(|(sum, more)| sum + more);
            entry.reports.push(report);
        }
        tallies.extend(tally);
    }
    let plot = lab.save_plot("sai", &plot(&tallies)?)?;
    let nodes = session.get_cluster_state().get_nodes_info().len();
    Ok(Lesson::measured(
        "sai",
        &title(&tallies),
        &COLUMNS,
        rows(&tallies),
        plot,
        finding(&tallies, nodes),
    ))
}

fn write_rate(lab: &Lab) -> f64 {
    lab.args.rate / 2.0
}

fn read_rate(lab: &Lab) -> f64 {
    (lab.args.rate / 10.0).max(1.0)
}

/// One write per visit (the SAI model's).
fn one_visit() -> loadgen::Workload {
    loadgen::Workload {
        tool: "lesson-sai",
        op: "visit",
        request: "write",
        requests_per_op: 1,
        service_tags: vec!["visits"],
        operations: None,
    }
}

fn timesheet_reads() -> loadgen::Workload {
    loadgen::Workload {
        tool: "lesson-sai",
        op: "timesheet",
        request: "read",
        requests_per_op: 1,
        service_tags: vec!["timesheet"],
        operations: None,
    }
}

/// Timesheet `n`: of employee `n` mod the workforce, read the way `reads` reads.
async fn read_timesheet(lab: &Lab, reads: &ShopStatements, n: u64) -> Completed {
    let session: &Session = &lab.cassandra.session;
    let employees = lab.workforce.employee_count() as u64;
    let employee = lab.workforce.employee_id((n % employees.max(1)) as usize);
    let sent = Instant::now();
    let read = reads.timesheet(session, employee);
    Completed {
        sent,
        requests: vec![measure(0, read).await],
    }
}

/// Each variant's runs combined, and the ring's tasks per operation.
fn rows(tallies: &[Tally]) -> Vec<Vec<String>> {
    tallies
        .iter()
        .map(|tally| {
            let combined = Combined::of(&tally.reports);
            let p = combined.percentiles();
            vec![
                tally.variant.name().to_owned(),
                format!("{:.0}", combined.achieved_rate),
                ms(p.p50),
                ms(p.p99),
                tasks_per_operation(tally).map_or("n/a".to_owned(), |tasks| format!("{tasks:.2}")),
                tally.variant.counted_as().to_owned(),
            ]
        })
        .collect()
}

/// The ring's tasks per operation, both counted over the whole runs, warm-up included.
fn tasks_per_operation(tally: &Tally) -> Option<f64> {
    (tally.tasks).map(|tasks| tasks as f64 / tally.operations.max(1) as f64)
}

fn plot(tallies: &[Tally]) -> Result<String, PlotError> {
    let curves: Vec<_> = tallies
        .iter()
        .map(|t| {
            (
                t.variant.name().to_owned(),
                Combined::of(&t.reports).response,
            )
        })
        .collect();
    crate::report::plots::percentile_curves(
        "Denormalized or SAI: response time from the due time",
        &curves,
    )
}

/// The p50 of a variant, ms.
fn p50(tallies: &[Tally], variant: Variant) -> f64 {
    tallies
        .iter()
        .find(|t| t.variant == variant)
        .map_or(0.0, |t| Combined::of(&t.reports).percentiles().p50 / 1e3)
}

/// Which is faster, by at least a tenth, in words; `None` when neither is.
fn faster(a: (&str, f64), b: (&str, f64)) -> Option<String> {
    if a.1 * 1.1 < b.1 {
        Some(a.0.to_owned())
    } else if b.1 * 1.1 < a.1 {
        Some(b.0.to_owned())
    } else {
        None
    }
}

/// The title says which way wins where, and only where the medians differ by a tenth or more.
fn title(tallies: &[Tally]) -> String {
    let writes = faster(
        ("denormalized", p50(tallies, Variant::WriteDenormalized)),
        ("SAI", p50(tallies, Variant::WriteIndexed)),
    );
    let reads = faster(
        ("denormalized", p50(tallies, Variant::ReadPartition)),
        ("SAI", p50(tallies, Variant::ReadIndex)),
    );
    match (writes, reads) {
        (None, None) => "Denormalize or index: no difference of a tenth at the median".to_owned(),
        (Some(w), None) => format!("Denormalize or index: {w} writes faster, reads alike"),
        (None, Some(r)) => format!("Denormalize or index: writes alike, {r} reads faster"),
        (Some(w), Some(r)) if w == r => format!("Denormalize or index: {w} is faster both ways"),
        (Some(w), Some(r)) => format!("Denormalize or index: {w} writes faster, {r} reads faster"),
    }
}

fn finding(tallies: &[Tally], nodes: usize) -> String {
    let tasks = |variant: Variant| {
        tallies
            .iter()
            .find(|t| t.variant == variant)
            .and_then(tasks_per_operation)
            .map_or("an unknown number of".to_owned(), |t| format!("{t:.2}"))
    };
    format!(
        "On {nodes} node(s): a denormalized visit took a median {:.3} ms (three writes at once, \
         {} replica writes per visit), an indexed one {:.3} ms (one write, {} replica writes; \
         the ring updates the row's four indexes as part of it). A timesheet read from its \
         partition took {:.3} ms ({} replica reads per timesheet), through the employee's index \
         {:.3} ms ({} replica reads and scans): an index read has no partition to go to, so \
         the coordinator asks a replica of every token range and merges what their indexes \
         found, and sums nothing on the server (GROUP BY groups only by primary key). The more \
         nodes, the more ranges an index read asks: denormalize for questions asked often and \
         fast, index for questions asked rarely or added late.",
        p50(tallies, Variant::WriteDenormalized),
        tasks(Variant::WriteDenormalized),
        p50(tallies, Variant::WriteIndexed),
        tasks(Variant::WriteIndexed),
        p50(tallies, Variant::ReadPartition),
        tasks(Variant::ReadPartition),
        p50(tallies, Variant::ReadIndex),
        tasks(Variant::ReadIndex),
    )
}
