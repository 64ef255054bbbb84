//! # The shop's pattern, alone: fan the reads out
//!
//! `shop` reads timesheets this way, with sampling, verifying, measuring and reporting around it.
//! Here is the pattern by itself:
//!
//! - a read of one employee's timesheet is one partition, summarised on the server;
//! - ten employees are ten independent partitions, so their ten reads go out **at once** and the
//!   whole costs about the slowest read, not the sum (`join_all` waits for every answer);
//! - **one after another**, the same ten reads cost ten round trips: on a real network, ten times
//!   the distance to the ring.
//!
//! Run it against a ring the factory has written to:
//!
//! ```sh
//! cargo run -p shop --example fanout -- 127.0.0.1:9042 pickle 10
//! ```
//!
//! The arguments are a contact point, the keyspace and how many employees. The shop itself adds
//! what an example leaves out: a bound on reads in flight (`--max-in-flight`), a schedule
//! (`--rate`), failures counted rather than ending the run, and the report.

use std::time::{Duration, Instant};

use futures::future::join_all;
use schema::model::Model;
use schema::reads::{ShopStatements, Staff, Timesheet};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).map_or(default, String::as_str).to_owned();
    let session = SessionBuilder::new()
        .known_node(arg(0, "127.0.0.1:9042"))
        .build()
        .await?;
    let (keyspace, employees) = (arg(1, "pickle"), arg(2, "10").parse()?);
    let reads = ShopStatements::prepare(&session, &keyspace, 1000, Model::Denormalized).await?;
    let staff = reads.sample_employees(&session, 0, employees).await?;
    let (at_once, together) = read_at_once(&session, &reads, &staff).await?;
    let (in_turn, one_by_one) = read_in_turn(&session, &reads, &staff).await?;
    assert_eq!(at_once, in_turn, "the same timesheets either way");
    let visits: i64 = at_once.iter().map(|t| t.visits).sum();
    println!(
        "{} timesheets ({visits} visits): at once {:.3} ms, one after another {:.3} ms",
        staff.len(),
        together.as_secs_f64() * 1e3,
        one_by_one.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Every employee's timesheet, all reads sent at once; and how long the whole took.
pub async fn read_at_once(
    session: &Session,
    reads: &ShopStatements,
    staff: &[Staff],
) -> anyhow::Result<(Vec<Timesheet>, Duration)> {
    let started = Instant::now();
    // One future per partition, all of them in flight together: the fan-out.
    let answers = join_all(
        staff
            .iter()
            .map(|s| reads.timesheet(session, s.employee_id)),
    )
    .await;
    let elapsed = started.elapsed();
    let timesheets = answers.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((timesheets, elapsed))
}

/// The same timesheets, each read awaited before the next is sent; and how long they took.
pub async fn read_in_turn(
    session: &Session,
    reads: &ShopStatements,
    staff: &[Staff],
) -> anyhow::Result<(Vec<Timesheet>, Duration)> {
    let started = Instant::now();
    let mut timesheets = Vec::with_capacity(staff.len());
    for employee in staff {
        timesheets.push(reads.timesheet(session, employee.employee_id).await?);
    }
    Ok((timesheets, started.elapsed()))
}
