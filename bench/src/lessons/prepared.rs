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

use std::sync::atomic::{AtomicU64, Ordering};

use scylla::client::session::Session;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::statement::unprepared::Statement;

use driver::measure::measure;
use driver::record::Completed;
use driver::report::RunReport;

use driver::fair::mirrored;

use super::{Combined, Lab, Lesson, ms, one_write};

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

pub(super) async fn run(lab: &Lab) -> anyhow::Result<Lesson> {
    let session = &lab.cassandra.session;
    let workforce = &lab.workforce;
    let prepared = &lab.writes.insert_timesheet;
    let columns = "employee_id, pickle_tree_id, timestamp, pickle_count, pickle_avg_size, watered";
    let with_markers = format!(
        "INSERT INTO {}.timesheets ({columns}) VALUES (?, ?, ?, ?, ?, ?)",
        lab.keyspace
    );
    let on_loopback = lab
        .args
        .connection
        .contact_points()
        .iter()
        .all(|host| host.starts_with("127."));
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
                    let visit = workforce.visit(n, intended.wall);
                    let with_markers = with_markers.as_str();
                    let keyspace = lab.keyspace.as_str();
                    async move {
                        let sent = tokio::time::Instant::now();
                        let request = match way {
                            Way::Prepared => {
                                measure(0, session.execute_unpaged(prepared, &visit))
                                    .await
                            }
                            Way::ValuesBound => {
                                measure(0, session.query_unpaged(with_markers, &visit))
                                    .await
                            }
                            Way::ValuesInText => {
                                let text = format!(
                                    "INSERT INTO {keyspace}.timesheets ({columns}) VALUES ({}, {}, {}, {}, {:?}, {})",
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
    let per_write = |count: u64, writes: u64| count as f64 / writes.max(1) as f64;
    let variants: Vec<(Way, Combined, Option<f64>, Option<f64>)> = Way::ALL
        .iter()
        .zip(&tallies)
        .map(|(way, tally)| {
            let bytes =
                (on_loopback && tally.bytes > 0).then(|| per_write(tally.bytes, tally.writes));
            let requests = tally.served.map(|served| per_write(served, tally.writes));
            (*way, Combined::of(&tally.reports), bytes, requests)
        })
        .collect();

    let base = variants[0].1.achieved_rate.max(1e-9);
    let rows = variants
        .iter()
        .map(|(way, report, bytes, requests)| {
            let p = report.percentiles();
            vec![
                way.name().to_owned(),
                format!("{:.0}", report.achieved_rate),
                format!("{:.2}x", report.achieved_rate / base),
                ms(p.p50),
                ms(p.p99),
                bytes.map_or("n/a".to_owned(), |bytes| format!("{bytes:.0}")),
                requests.map_or("n/a".to_owned(), |requests| format!("{requests:.2}")),
            ]
        })
        .collect();
    let curves: Vec<_> = variants
        .iter()
        .map(|(way, report, _, _)| (way.name().to_owned(), report.response.clone()))
        .collect();
    let plot = lab.save_plot(
        "prepared",
        &crate::plots::percentile_curves("Prepared vs unprepared: response time", &curves)?,
    )?;
    let rate = |i: usize| variants[i].1.achieved_rate;
    let served = |i: usize| {
        variants[i]
            .3
            .map_or("an unknown number of".to_owned(), |r| format!("{r:.2}"))
    };
    let finding = format!(
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
    );
    Ok(Lesson::measured(
        "prepared",
        "Prepare statements once",
        &[
            "variant",
            "writes/s",
            "vs prepared",
            "p50 ms",
            "p99 ms",
            "loopback bytes/write",
            "requests/write (server)",
        ],
        rows,
        plot,
        finding,
    ))
}

/// Requests the ring's nodes have finished serving so far: the native-transport pool's completed
/// tasks, asked of every node directly. `None` when a node cannot tell (one is down, say).
async fn requests_served(session: &Session) -> Option<u64> {
    let mut total = 0;
    for node in session.get_cluster_state().get_nodes_info() {
        let mut count = Statement::new(
            "SELECT completed_tasks FROM system_views.thread_pools \
             WHERE name = 'Native-Transport-Requests'",
        );
        count.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
            NodeIdentifier::Node(node.clone()),
            None,
        )));
        let rows = session.query_unpaged(count, ()).await.ok()?;
        let (completed,): (i64,) = rows.into_rows_result().ok()?.single_row().ok()?;
        total += u64::try_from(completed).ok()?;
    }
    Some(total)
}

/// Bytes sent on the loopback interface so far (`/proc/net/dev`), or `None` off Linux.
fn bytes_written() -> Option<u64> {
    let dev = std::fs::read_to_string("/proc/net/dev").ok()?;
    dev.lines()
        .find_map(|line| line.trim_start().strip_prefix("lo:"))
        .and_then(|counters| counters.split_whitespace().nth(8)?.parse().ok())
}
