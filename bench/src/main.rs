//! `bench`: the workload driver's front door.
//!
//! Today it runs the local ring (`bench ring up | status | down | list`); the benchmark suite,
//! report comparison and plots build on the same binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cluster::cli;
use cluster::ring_cli::RingCommand;

/// Benchmark a Cassandra ring with the pickle factory and shop, and run a real local ring to do it
/// on.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Bench {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start, inspect and stop a real Cassandra 5.0 ring on this machine (no Docker needed).
    #[command(subcommand)]
    Ring(RingCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let bench: Bench = cli::parse_args();
    cli::init_tracing();
    cli::exit_code(match bench.command {
        Command::Ring(ring) => ring.run().await,
    })
}
