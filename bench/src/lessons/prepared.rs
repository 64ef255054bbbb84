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
//! Bytes per write come from the kernel's count of bytes sent on loopback (`/proc/net/dev`)
//! during the variant, divided by the writes made: requests and responses, between the client
//! and the nodes and between nodes, at the session's compression. They are measured only when
//! the ring is on loopback.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::measure::measure;
use crate::record::Completed;

use crate::report::RunReport;

use super::{Combined, Lab, Lesson, mirrored, ms, one_write};

/// Writes in flight for every variant.
const IN_FLIGHT: u32 = 32;

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
    let names = [
        "prepared",
        "unprepared, values bound",
        "unprepared, values in text",
    ];
    // Per variant: its runs, and the bytes and writes of all of them.
    let mut runs: Vec<(Vec<RunReport>, u64, u64)> = vec![(Vec::new(), 0, 0); names.len()];
    for index in mirrored(names.len()) {
        let variant = names[index];
        // Every write of the variant, warm-up included, goes through the socket: count them all.
        let started = AtomicU64::new(0);
        let written_before = bytes_written();
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
                        let request = match variant {
                            "prepared" => {
                                measure(0, session.execute_unpaged(prepared, visit.timesheet_row()))
                                    .await
                            }
                            "unprepared, values bound" => {
                                measure(0, session.query_unpaged(with_markers, visit.timesheet_row()))
                                    .await
                            }
                            _ => {
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
        let written = bytes_written()
            .zip(written_before)
            .map(|(after, before)| after.saturating_sub(before))
            .unwrap_or(0);
        let (reports, bytes, writes) = &mut runs[index];
        reports.push(finished);
        *bytes += written;
        *writes += started.into_inner();
    }
    let variants: Vec<(&str, Combined, Option<f64>)> = names
        .iter()
        .zip(&runs)
        .map(|(name, (reports, bytes, writes))| {
            let per_write =
                (on_loopback && *bytes > 0).then(|| *bytes as f64 / (*writes).max(1) as f64);
            (*name, Combined::of(reports), per_write)
        })
        .collect();

    let base = variants[0].1.achieved_rate.max(1e-9);
    let rows = variants
        .iter()
        .map(|(variant, report, written)| {
            let p = report.percentiles();
            vec![
                (*variant).to_owned(),
                format!("{:.0}", report.achieved_rate),
                format!("{:.2}x", report.achieved_rate / base),
                ms(p.p50),
                ms(p.p99),
                written.map_or("n/a".to_owned(), |bytes| format!("{bytes:.0}")),
                if *variant == "unprepared, values bound" {
                    "2"
                } else {
                    "1"
                }
                .to_owned(),
            ]
        })
        .collect();
    let curves: Vec<_> = variants
        .iter()
        .map(|(variant, report, _)| ((*variant).to_owned(), report.response.clone()))
        .collect();
    let plot = lab.save_plot(
        "prepared",
        &crate::plots::percentile_curves("Prepared vs unprepared: response time", &curves)?,
    )?;
    let rate = |i: usize| variants[i].1.achieved_rate;
    let finding = format!(
        "Prepared writes ran at {:.0}/s; unprepared ones with bound values at {:.0}/s ({:.2}x) and \
         with the values in the text at {:.0}/s ({:.2}x), {IN_FLIGHT} in flight each. A prepared \
         statement is parsed and planned once: each request then carries a 16-byte id and the \
         values, and the driver knows the partition key, so it sends the write straight to a \
         replica. Unprepared with bound values, the driver prepares the statement before every \
         execution (two round trips); with the values in the text, the server parses every \
         statement, the request carries the whole CQL, and the driver cannot route by token. Bytes \
         per write count everything loopback carried meanwhile: both directions, and between \
         nodes.",
        rate(0),
        rate(1),
        rate(1) / rate(0).max(1e-9),
        rate(2),
        rate(2) / rate(0).max(1e-9),
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
            "round trips",
        ],
        rows,
        plot,
        finding,
    ))
}

/// Bytes sent on the loopback interface so far (`/proc/net/dev`), or `None` off Linux.
fn bytes_written() -> Option<u64> {
    let dev = std::fs::read_to_string("/proc/net/dev").ok()?;
    dev.lines()
        .find_map(|line| line.trim_start().strip_prefix("lo:"))
        .and_then(|counters| counters.split_whitespace().nth(8)?.parse().ok())
}
