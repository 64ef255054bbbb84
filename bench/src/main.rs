//! `bench`: the workload driver's front door.
//!
//! - `bench ring ...`: a real local Cassandra ring;
//! - `bench floor`: the raw driver write loop, the least a client can do;
//! - `bench overhead`: the factory's CPU per write against that floor, side by side;
//! - `bench show REPORT`: a run report's summary and memory over time.

use std::path::PathBuf;
use std::process::ExitCode;

use bench::floor::{FloorArgs, write_visits_raw};
use bench::overhead::{OverheadArgs, measure_overhead};
use bench::report::RunReport;
use clap::{Parser, Subcommand};
use cluster::ConnectionArgs;
use cluster::cli;
use cluster::ring_cli::RingCommand;

/// Benchmark a Cassandra ring with the pickle factory and shop, and run a real local ring to do it
/// on.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, allow_negative_numbers = true)]
struct Bench {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start, inspect and stop a real Cassandra 5.0 ring on this machine (no Docker needed).
    #[command(subcommand)]
    Ring(RingCommand),
    /// Write visits with the bare driver (no schedule, no histograms) and print its CPU per write.
    Floor {
        #[command(flatten)]
        connection: ConnectionArgs,
        #[command(flatten)]
        floor: FloorArgs,
    },
    /// Measure the factory's CPU per write against the bare driver loop, side by side.
    Overhead {
        #[command(flatten)]
        connection: ConnectionArgs,
        #[command(flatten)]
        overhead: OverheadArgs,
    },
    /// Print a run report's summary, and its memory over time.
    Show {
        /// The JSON report (`--report` of factory or shop).
        report: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let bench: Bench = cli::parse_args();
    cli::init_tracing();
    cli::exit_code(run(bench.command).await)
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Ring(ring) => ring.run().await,
        Command::Floor { connection, floor } => {
            let cassandra = connection.connect().await?;
            schema::ensure_ready(
                &cassandra.session,
                &schema::project_schema()?,
                &connection.keyspace,
                &["timesheets", "trees", "production"],
            )
            .await?;
            let result = write_visits_raw(
                &cassandra.session,
                &connection.keyspace,
                connection.consistency.0,
                &floor,
            )
            .await?;
            if floor.json {
                println!("{}", serde_json::to_string(&result)?);
                return Ok(());
            }
            println!(
                "raw driver loop: {} visits, {} writes in {:.1} s ({:.0} writes/s), {} failed; {:.2} CPU µs per write",
                result.visits,
                result.writes,
                result.seconds,
                result.writes_per_second,
                result.failed,
                result.cpu_us_per_write
            );
            Ok(())
        }
        Command::Overhead {
            connection,
            overhead,
        } => {
            let cassandra = connection.connect().await?;
            measure_overhead(&connection, &cassandra, &overhead)
                .await
                .map(|_| ())
        }
        Command::Show { report } => {
            let report = RunReport::read(&report)?;
            print!("{}", report.summary());
            let minutes: Vec<String> = report
                .intervals
                .iter()
                .filter(|i| {
                    i.rss_bytes > 0 && i.at >= 30.0 && (i.at.round() as u64).is_multiple_of(60)
                })
                .map(|i| {
                    format!(
                        "{:.0} min {:.1} MiB",
                        i.at / 60.0,
                        i.rss_bytes as f64 / (1 << 20) as f64
                    )
                })
                .collect();
            if !minutes.is_empty() {
                println!("  memory (RSS) each minute: {}", minutes.join(", "));
            }
            Ok(())
        }
    }
}
