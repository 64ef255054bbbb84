//! # The factory's pattern, alone: a fixed rate behind a bounded window
//!
//! `factory` writes its visits this way, with the measuring, the reporting and the stopping
//! around it (in the `loadgen` crate). Here is the pattern by itself:
//!
//! - every visit has a **due time** on a fixed schedule, whether or not the ring keeps up;
//! - before it is sent it takes **permits** from a semaphore, one per write: at most `window`
//!   writes are out at once, so a slow ring makes the loop wait instead of piling up requests;
//! - its three writes go out **at once**, and its permits go back the moment all three answered;
//! - its latency counts from the **due time**, so a wait for permits, or a loop running late,
//!   is counted instead of hidden.
//!
//! Run it against a ring whose keyspace has the schema (`schema apply`):
//!
//! ```sh
//! cargo run -p factory --example window -- 127.0.0.1:9042 pickle 1000 5000
//! ```
//!
//! The arguments are a contact point, the keyspace, visits per second and visits. The factory
//! itself adds what an example leaves out: failures counted (here the first one stops the run),
//! visits never sent at the end counted as missed, Ctrl-C, and the report.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use schema::workforce::Workforce;
use schema::writes::{FactoryStatements, TableConsistency};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Consistency;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).map_or(default, String::as_str).to_owned();
    let session = SessionBuilder::new()
        .known_node(arg(0, "127.0.0.1:9042"))
        .build()
        .await?;
    let (keyspace, rate, visits) = (arg(1, "pickle"), arg(2, "1000"), arg(3, "5000"));
    let latency = write_visits(
        Arc::new(session),
        &keyspace,
        rate.parse()?,
        visits.parse()?,
        96,
    );
    let latency = latency.await?;
    let ms = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
    println!(
        "{} visits at {rate}/s; latency from each due time: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        latency.len(),
        ms(0.5),
        ms(0.99),
        latency.max() as f64 / 1000.0,
    );
    Ok(())
}

/// Writes `visits` visits at `rate` per second into `keyspace`, never more than `window` writes
/// in flight, and returns the latency of each (µs), counted from the visit's due time.
pub async fn write_visits(
    session: Arc<Session>,
    keyspace: &str,
    rate: f64,
    visits: u64,
    window: usize,
) -> anyhow::Result<Histogram<u64>> {
    let consistency = TableConsistency::uniform(Consistency::LocalQuorum);
    let writes = Arc::new(FactoryStatements::prepare(&session, keyspace, &consistency).await?);
    let workforce = Workforce::generate(1, 100, 100);
    let window = Arc::new(Semaphore::new(window));
    let mut in_flight = JoinSet::new();
    let mut latency = Histogram::<u64>::new(3)?;
    let (start, period) = (Instant::now(), Duration::from_secs_f64(1.0 / rate));

    for n in 0..visits {
        // The schedule: visit n is due at start + n periods.
        let due = start + period.mul_f64(n as f64);
        tokio::time::sleep_until(due).await;
        // The window: one permit per write, or wait here until earlier visits give theirs back.
        let permits = Arc::clone(&window).acquire_many_owned(3).await?;
        let visit = workforce.visit(n, SystemTime::now());
        let (session, writes) = (Arc::clone(&session), Arc::clone(&writes));
        in_flight.spawn(async move {
            // One visit, denormalized: three writes at once, done when the slowest answers.
            let written = tokio::try_join!(
                session.execute_unpaged(&writes.insert_timesheet, &visit),
                session.execute_unpaged(&writes.insert_tree, &visit),
                session.execute_unpaged(&writes.insert_production, visit.production()),
            );
            drop(permits); // the window reopens the moment the visit is done
            written.map(|_| due.elapsed())
        });
        // Take in the visits already done, so that finished tasks do not pile up.
        while let Some(done) = in_flight.try_join_next() {
            latency.record(micros(done??))?;
        }
    }
    while let Some(done) = in_flight.join_next().await {
        latency.record(micros(done??))?;
    }
    Ok(latency)
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}
