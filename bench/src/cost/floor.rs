//! `bench floor`: the least a client can do to write the factory's visits, so that the factory's
//! own cost can be measured against it.
//!
//! The same prepared statements, the same seeded visits, the same number of writes in flight,
//! and nothing else: no schedule, no semaphore, no histograms, no report; just the driver and a
//! `FuturesUnordered`. What the factory spends above this per write is the price of measuring
//! honestly.

use std::time::{Duration, SystemTime};

use clap::Args;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use schema::workforce::Workforce;
use schema::writes::{FactoryStatements, TableConsistency};
use scylla::client::session::Session;
use scylla::statement::Consistency;
use serde::Serialize;
use tokio::time::Instant;

use loadgen::record::Usage;

/// Options of the raw write loop.
#[derive(Debug, Clone, Args, Serialize)]
pub struct FloorArgs {
    /// Writes in flight, as the factory's --max-in-flight counts them (a visit is three writes).
    #[arg(long, value_name = "REQUESTS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(3..))]
    pub max_in_flight: u32,

    /// How long to measure.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = loadgen::args::parse_positive_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "client::options::serialize_duration")]
    pub duration: Duration,

    /// How long to write before measuring.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = client::options::parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "client::options::serialize_duration")]
    pub warmup: Duration,

    /// Threads of the runtime, as the factory's --threads (1: tokio's current-thread runtime).
    #[arg(long, value_name = "COUNT", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,

    /// Print the result as JSON (for `bench overhead`).
    #[arg(long)]
    pub json: bool,
}

/// What the raw loop achieved and cost.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct FloorResult {
    /// Visits written in the measured time.
    pub visits: u64,
    /// Writes acknowledged in the measured time.
    pub writes: u64,
    /// Visits with a failed write.
    pub failed: u64,
    /// Measured seconds.
    pub seconds: f64,
    /// Writes per second.
    pub writes_per_second: f64,
    /// CPU microseconds of this process per write.
    pub cpu_us_per_write: f64,
}

/// Writes visits as fast as `max_in_flight` allows for the warm-up plus the duration.
pub async fn write_visits_raw(
    session: &Session,
    keyspace: &str,
    consistency: Consistency,
    args: &FloorArgs,
) -> Result<FloorResult, schema::SchemaError> {
    let writes =
        FactoryStatements::prepare(session, keyspace, &TableConsistency::uniform(consistency))
            .await?;
    let workforce = Workforce::generate(1, 100, 100);
    let visits_at_once = (args.max_in_flight / 3).max(1) as usize;
    let write_visit = |n: u64| {
        let visit = workforce.visit(n, SystemTime::now());
        let writes = &writes;
        async move {
            // Boxed, as the factory's are: the driver's request futures are large, and moving them
            // whole through try_join! and the FuturesUnordered costs more than the allocation.
            futures::try_join!(
                Box::pin(session.execute_unpaged(&writes.insert_timesheet, &visit)),
                Box::pin(session.execute_unpaged(&writes.insert_tree, &visit)),
                Box::pin(session.execute_unpaged(&writes.insert_production, visit.production())),
            )
            .is_ok()
        }
    };
    let measure_from = Instant::now() + args.warmup;
    let end = measure_from + args.duration;
    let mut measured: Option<(Usage, Instant)> = None;
    let (mut visits, mut failed, mut n) = (0u64, 0u64, 0u64);
    let mut in_flight = FuturesUnordered::new();
    loop {
        let now = Instant::now();
        if measured.is_none() && now >= measure_from {
            measured = Some((Usage::now(), now));
        }
        while in_flight.len() < visits_at_once && now < end {
            in_flight.push(write_visit(n));
            n += 1;
        }
        match in_flight.next().await {
            Some(ok) if measured.is_some() => {
                if ok {
                    visits += 1;
                } else {
                    failed += 1;
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    let (start_usage, started) = measured.unwrap_or((Usage::now(), Instant::now()));
    let seconds = started.elapsed().as_secs_f64();
    let cpu = Usage::now()
        .cpu
        .saturating_sub(start_usage.cpu)
        .as_secs_f64();
    let writes_done = visits * 3;
    Ok(FloorResult {
        visits,
        writes: writes_done,
        failed,
        seconds,
        writes_per_second: if seconds > 0.0 {
            writes_done as f64 / seconds
        } else {
            0.0
        },
        cpu_us_per_write: if writes_done > 0 {
            cpu * 1e6 / writes_done as f64
        } else {
            0.0
        },
    })
}
