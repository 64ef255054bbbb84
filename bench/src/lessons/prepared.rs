//! Lesson 1: prepare statements once.
//!
//! The same single-row write three ways, each as fast as 32 writes in flight allow, each twice
//! for half the time, in mirrored order (A B C C B A), so that none gains from running last:
//! - **prepared** once, then executed: the request carries the statement's id and the values;
//! - **unprepared, with bound values**: the driver must learn the values' types first, so it
//!   prepares the statement (one round trip) before every execution (another);
//! - **unprepared, values in the text**: one round trip, but the server parses the CQL every time,
//!   and the text is longer than an id (and an injection risk, in real code).
//!
//! Requests per write are counted by the ring itself: the native-transport requests every node
//! has served (`system_views.thread_pools`), before and after each run, over the writes made.
//! Bytes per write come from the kernel's count of bytes sent on loopback (`/proc/net/dev`)
//! during the variant, divided by the writes made: requests and responses, between the client
//! and the nodes and between nodes, at the session's compression. They are measured only when
//! the ring is on loopback.

use crate::error::Result;
use std::sync::atomic::{AtomicU64, Ordering};

use schema::model::Visit;
use scylla::client::session::Session;

use loadgen::measure;
use loadgen::record::Completed;
use loadgen::report::RunReport;

use loadgen::fair::mirrored;

use crate::report::plots::PlotError;

use super::lab::{Combined, Lab, one_write, tasks_completed};
use super::report::{Lesson, ms};

/// Writes in flight for every variant.
const IN_FLIGHT: u32 = 32;

/// The three ways to send the same write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Prepared,
    ValuesBound,
    ValuesInText,
}

impl Way {
    const ALL: [Way; 3] = [Way::Prepared, Way::ValuesBound, Way::ValuesInText];

    fn name(self) -> &'static str {
        match self {
            Way::Prepared => "prepared",
            Way::ValuesBound => "unprepared, values bound",
            Way::ValuesInText => "unprepared, values in text",
        }
    }
}

/// What the runs of one way add up to.
#[derive(Default)]
struct Tally {
    reports: Vec<RunReport>,
    writes: u64,
    bytes: u64,
    /// Requests the nodes served; `None` once a count could not be read.
    served: Option<u64>,
}

/// The columns every way writes: the timesheet row.
const TIMESHEET_COLUMNS: &str =
    "employee_id, pickle_tree_id, timestamp, pickle_count, pickle_avg_size, watered";

/// The table's header: one row per way.
const COLUMNS: [&str; 7] = [
    "variant",
    "writes/s",
    "vs prepared",
    "p50 ms",
    "p99 ms",
    "loopback bytes/write",
    "requests/write (server)",
];

pub(super) async fn run(lab: &Lab) -> Result<Lesson> {
    let tallies = tally_each_way(lab).await?;
    let variants = per_write(&tallies, on_loopback(lab));
    let plot = lab.save_plot("prepared", &plot(&variants)?)?;
    Ok(Lesson::measured(
        "prepared",
        "Prepare statements once",
        &COLUMNS,
        rows(&variants),
        plot,
        finding(&variants),
    ))
}

/// Runs each way twice for half the time, in mirrored order, and adds up what each run wrote,
/// sent over loopback and had the nodes serve.
async fn tally_each_way(lab: &Lab) -> Result<Vec<Tally>> {
    let session = &lab.cassandra.session;
    let with_markers = format!(
        "INSERT INTO {}.timesheets ({TIMESHEET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        lab.keyspace
    );
    let mut tallies: Vec<Tally> = Way::ALL
        .iter()
        .map(|_| Tally {
            served: Some(0),
            ..Tally::default()
        })
        .collect();
    for index in mirrored(Way::ALL.len()) {
        let way = Way::ALL[index];
        // Every write of the variant, warm-up included, goes through the socket: count them all.
        let started = AtomicU64::new(0);
        let written_before = bytes_written();
        let served_before = requests_served(session).await;
        let finished = lab
            .drive(
                lab.half_load(None, IN_FLIGHT),
                one_write("lesson-prepared"),
                |n, intended| {
                    started.fetch_add(1, Ordering::Relaxed);
                    let visit = lab.workforce.visit(n, intended.wall);
                    write_one(lab, way, &with_markers, visit)
                },
            )
            .await?;
        let served = requests_served(session)
            .await
            .zip(served_before)
            .map(|(after, before)| after.saturating_sub(before));
        let written = bytes_written()
            .zip(written_before)
            .map(|(after, before)| after.saturating_sub(before))
            .unwrap_or(0);
        let tally = &mut tallies[index];
        tally.reports.push(finished);
        tally.bytes += written;
        tally.writes += started.into_inner();
        tally.served = tally.served.zip(served).map(|(sum, more)| sum + more);
    }
    Ok(tallies)
}

/// One timesheet write, sent `way`: by the prepared statement's id, as CQL with markers and the
/// values bound, or as CQL with the values written into the text.
async fn write_one(lab: &Lab, way: Way, with_markers: &str, visit: Visit) -> Completed {
    let session = &lab.cassandra.session;
    let sent = tokio::time::Instant::now();
    let request = match way {
        Way::Prepared => {
            measure(
                0,
                session.execute_unpaged(&lab.writes.insert_timesheet, &visit),
            )
            .await
        }
        Way::ValuesBound => measure(0, session.query_unpaged(with_markers, &visit)).await,
        Way::ValuesInText => {
            let text = format!(
                "INSERT INTO {}.timesheets ({TIMESHEET_COLUMNS}) VALUES ({}, {}, {}, {}, {:?}, {})",
                lab.keyspace,
                visit.employee_id,
                visit.pickle_tree_id,
                visit.timestamp,
                visit.pickle_count,
                visit.pickle_avg_size,
                visit.watered
            );
            measure(0, session.query_unpaged(text, ())).await
        }
    };
    Completed {
        sent,
        requests: vec![request],
    }
}

/// Whether every contact point is on loopback: only then do loopback's byte counts mean the
/// ring's traffic.
fn on_loopback(lab: &Lab) -> bool {
    lab.args
        .connection
        .contact_points()
        .iter()
        .all(|host| host.starts_with("127."))
}

/// One way's result: its runs taken together, and what each write cost.
struct Variant {
    way: Way,
    combined: Combined,
    /// Bytes loopback carried per write; `None` off loopback or when nothing was counted.
    bytes: Option<f64>,
    /// Requests the nodes served per write; `None` when a count could not be read.
    requests: Option<f64>,
}

/// Each way's runs combined, and its bytes and requests divided by its writes.
fn per_write(tallies: &[Tally], on_loopback: bool) -> Vec<Variant> {
    let per_write = |count: u64, writes: u64| count as f64 / writes.max(1) as f64;
    Way::ALL
        .iter()
        .zip(tallies)
        .map(|(way, tally)| Variant {
            way: *way,
            combined: Combined::of(&tally.reports),
            bytes: (on_loopback && tally.bytes > 0).then(|| per_write(tally.bytes, tally.writes)),
            requests: tally.served.map(|served| per_write(served, tally.writes)),
        })
        .collect()
}

/// One row per way: its rate against prepared, its latency, and its cost per write.
fn rows(variants: &[Variant]) -> Vec<Vec<String>> {
    let base = variants[0].combined.achieved_rate.max(1e-9);
    variants
        .iter()
        .map(|variant| {
            let (report, p) = (&variant.combined, variant.combined.percentiles());
            vec![
                variant.way.name().to_owned(),
                format!("{:.0}", report.achieved_rate),
                format!("{:.2}x", report.achieved_rate / base),
                ms(p.p50),
                ms(p.p99),
                variant
                    .bytes
                    .map_or("n/a".to_owned(), |bytes| format!("{bytes:.0}")),
                variant
                    .requests
                    .map_or("n/a".to_owned(), |requests| format!("{requests:.2}")),
            ]
        })
        .collect()
}

/// Each way's response-time percentiles, as SVG.
fn plot(variants: &[Variant]) -> Result<String, PlotError> {
    let curves: Vec<_> = variants
        .iter()
        .map(|variant| {
            let name = variant.way.name().to_owned();
            (name, variant.combined.response.clone())
        })
        .collect();
    crate::report::plots::percentile_curves("Prepared vs unprepared: response time", &curves)
}

fn finding(variants: &[Variant]) -> String {
    let rate = |i: usize| variants[i].combined.achieved_rate;
    let served = |i: usize| {
        variants[i]
            .requests
            .map_or("an unknown number of".to_owned(), |r| format!("{r:.2}"))
    };
    format!(
        "Prepared writes ran at {:.0}/s; unprepared ones with bound values at {:.0}/s ({:.2}x) and \
         with the values in the text at {:.0}/s ({:.2}x), {IN_FLIGHT} in flight each. A prepared \
         statement is parsed and planned once: each request then carries a 16-byte id and the \
         values, and the driver knows the partition key, so it sends the write straight to a \
         replica. Unprepared with bound values, the driver prepares the statement before every \
         execution: the ring served {} requests per write, against {} prepared. With the values \
         in the text, the server parses every \
         statement, the request carries the whole CQL, and the driver cannot route by token. Bytes \
         per write count everything loopback carried meanwhile: both directions, and between \
         nodes.",
        rate(0),
        rate(1),
        rate(1) / rate(0).max(1e-9),
        rate(2),
        rate(2) / rate(0).max(1e-9),
        served(1),
        served(0),
    )
}

/// Requests the ring's nodes have finished serving so far: the native-transport pool's completed
/// tasks, asked of every node directly. `None` when a node cannot tell (one is down, say).
async fn requests_served(session: &Session) -> Option<u64> {
    tasks_completed(session, "Native-Transport-Requests").await
}

/// Bytes sent on the loopback interface so far (`/proc/net/dev`), or `None` off Linux.
fn bytes_written() -> Option<u64> {
    let dev = std::fs::read_to_string("/proc/net/dev").ok()?;
    dev.lines()
        .find_map(|line| line.trim_start().strip_prefix("lo:"))
        .and_then(|counters| counters.split_whitespace().nth(8)?.parse().ok())
}
