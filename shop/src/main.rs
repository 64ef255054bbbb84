//! # shop: the read-heavy pickle app
//!
//! The pickle shop looks up what its employees did: their timesheets. This program is that shop,
//! written as a lesson in reading from Cassandra well. Read it top to bottom:
//!
//! 1. **Connect** once, check the schema, **prepare** every read.
//! 2. **Sample employees by token range** (`staff.rs`): a few rows from one spot in the ring,
//!    never a scan of the whole `employees` table.
//! 3. **Fan out**: read every employee's timesheet at once (`read_concurrently`, next to
//!    `read_sequentially`). Independent reads run in parallel on the ring, so ten of them cost
//!    about one read's latency, not ten (`--compare` measures it, `compare.rs`). Each read is
//!    aggregated on the server (`GROUP BY`), one row per tree.
//! 4. **Verify** (`--verify`, `verify.rs`): a visit in `timesheets` must also be in `trees` and
//!    `production`, the other two copies the factory wrote.
//! 5. **Loop** (`--rate`, `--duration`, `load.rs`): many fan-outs on the factory's open-loop
//!    schedule, measured and reported the same way.
//!
//! Or, with `--similar-trees K` (`similar.rs`), another question altogether: the K trees most
//! like a tree, asked of the ring's vector index and checked against the exact answer.

mod compare;
mod fanout;
mod load;
mod show;
mod similar;
mod staff;
mod verify;

use std::process::ExitCode;

use clap::Parser;
use client::cli::{self, UsageError};
use client::{Connection, ConnectionArgs};
use loadgen::{Run, RunArgs, record::Request};
use schema::model::Model;
use schema::reads::{ShopStatements, Staff, Timesheet};
use schema::workforce::Workforce;
use serde::Serialize;

use crate::fanout::{Fanout, Tag};
use loadgen::measure_on;

/// Read employees' timesheets from Cassandra, all at once, and show that the fan-out costs about
/// one read's latency. With --rate or --duration, keep doing it and report like the factory.
#[derive(Debug, Parser, Serialize)]
#[command(version, about, long_about = None, allow_negative_numbers = true)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,

    #[command(flatten)]
    run: RunArgs,

    #[command(flatten)]
    shop: ShopArgs,
}

/// What the shop reads.
#[derive(Debug, clap::Args, Serialize)]
#[command(next_help_heading = "Shop (flags or environment)")]
struct ShopArgs {
    /// Employees whose timesheets one fan-out reads.
    #[arg(long, env = "SHOP_EMPLOYEES", value_name = "COUNT", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    employees: u32,

    /// Read the timesheets one after another instead of all at once (the slow way, to compare).
    #[arg(long, env = "SHOP_SEQUENTIAL")]
    sequential: bool,

    /// Measure both ways, concurrent and sequential, --rounds times each, and print the speedup.
    /// It measures one-off fan-outs: not with --rate or --duration.
    #[arg(long, env = "SHOP_COMPARE", conflicts_with_all = ["sequential", "rate", "duration"])]
    compare: bool,

    /// Rounds of each way for --compare.
    #[arg(long, env = "SHOP_ROUNDS", value_name = "COUNT", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rounds: u32,

    /// `--verify` and how much it checks.
    #[command(flatten)]
    #[serde(flatten)]
    check: verify::VerifyArgs,

    /// Rows per page when reading large partitions.
    #[arg(long, env = "SHOP_PAGE_SIZE", value_name = "ROWS", default_value_t = 5000, value_parser = clap::value_parser!(i32).range(1..=1_000_000))]
    page_size: i32,

    /// In loop mode, employees sampled once at the start; each fan-out draws from them.
    #[arg(long, env = "SHOP_POOL", value_name = "COUNT", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pool: u32,

    /// Seed of every random choice (the token to sample from, the employees of each fan-out).
    #[arg(long, env = "SHOP_SEED", value_name = "NUMBER", default_value_t = 1)]
    seed: u64,

    /// How the factory kept the visits (give the shop the factory's --model): `denormalized`,
    /// each question one partition of its own table; `sai`, each question asked of `visits`
    /// through its Storage-Attached Indexes, which every token range answers.
    #[arg(
        long,
        env = "SHOP_MODEL",
        value_name = "MODEL",
        default_value = "denormalized"
    )]
    model: Model,

    /// Instead of timesheets: ask the ring for the K trees most like a tree (an approximate
    /// nearest-neighbour search on tree_profiles' vector index), and measure the answers' recall
    /// against an exact search over the --trees trees of --factory-seed. 1 to 1000.
    #[arg(long, env = "SHOP_SIMILAR_TREES", value_name = "K", value_parser = clap::value_parser!(u32).range(1..=i64::from(similar::MOST)), conflicts_with_all = ["compare", "sequential", "verify"])]
    similar_trees: Option<u32>,

    /// With --similar-trees: ask the ring for K x this many trees (at most 1000) and keep the
    /// first K. An ANN index trades recall for speed, and asking for more is how to buy recall
    /// back (measured: recall@10 0.64 asking for 10 of 20,000 clustered trees, 0.97 for 50).
    #[arg(long, env = "SHOP_OVERQUERY", value_name = "FACTOR", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    overquery: u32,

    /// With --similar-trees: the trees the factory wrote (its --trees).
    #[arg(long, env = "SHOP_TREES", value_name = "COUNT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    trees: u32,

    /// With --similar-trees in a measured loop: follow a `factory --plant-trees` running beside
    /// it. Every 100 ms the shop asks tree_profiles whether trees number --trees, --trees + 1,
    /// ... are there yet, and adds each one it finds to the exact search, so that recall counts
    /// against the trees acknowledged before each query was sent (those reads are counted
    /// apart, not in the report's operations).
    #[arg(long, env = "SHOP_FOLLOW_PLANTING", requires = "similar_trees")]
    follow_planting: bool,

    /// With --similar-trees: how many numbers each tree's profile holds. By default the ring's
    /// (tree_profiles.profile, vector<float, N>); given, it must be the ring's.
    #[arg(long, env = "SHOP_DIMENSIONS", value_name = "N", value_parser = clap::value_parser!(u32).range(2..=8192), requires = "similar_trees")]
    dimensions: Option<u32>,

    /// With --similar-trees: the factory's --seed, from which every tree's profile comes.
    #[arg(
        long,
        env = "SHOP_FACTORY_SEED",
        value_name = "NUMBER",
        default_value_t = 1
    )]
    factory_seed: u64,

    /// Print the timesheets as JSON instead of a table.
    #[arg(long, env = "SHOP_JSON")]
    json: bool,
}

/// One timesheet read: the request, measured, and the timesheet when the read succeeded.
type TimesheetRead = (Request, Option<Timesheet>);

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::init_tracing();
    // One thread unless --threads says more: at a fixed rate a client spends most of its CPU
    // waking up, and every hand-off between threads is one more wake-up.
    let runtime = loadgen::schedule::on_threads(args.run.threads);
    cli::exit_code_on(runtime, run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Every option is checked before connecting: a typo costs nothing.
    let (keyspace, shop) = (&args.connection.keyspace, &args.shop);
    schema::validate_keyspace_name(keyspace).map_err(|e| UsageError(e.to_string()))?;
    let looping = args.run.rate.is_some() || args.run.duration.is_some();
    if shop.follow_planting && !looping {
        return Err(UsageError(
            "--follow-planting follows a planting during a measured loop: give --rate or \
             --duration"
                .to_owned(),
        )
        .into());
    }
    // In loop mode, from here on Ctrl-C and SIGTERM stop the run, in any phase, and it reports.
    let workload = looping
        .then(|| match shop.similar_trees {
            Some(_) => Ok(similar::workload()),
            None => load::workload(shop),
        })
        .transpose()?;
    let mut run = workload
        .map(|w| Run::new(&args.run, w, &args))
        .transpose()?;

    // 1. Connect once, check the tables, prepare every read once.
    let cassandra = args.connection.connect().await?;
    if let Some(run) = &mut run {
        // A measured loop reports the ring's side too: each node's own queues, once a second,
        // read by a session of its own so that watching never delays a read.
        run.watch_the_ring(&args.connection, &cassandra).await;
    }
    let session = &cassandra.session;
    let schema = schema::project_schema()?;

    // Or the other question: the trees most like a tree, from the vector index (its profiles
    // as long as the ring's).
    if let Some(k) = shop.similar_trees {
        let asked = shop.dimensions.map(|n| n as usize);
        let (schema, dimensions) = schema::project_schema_sized_to_ring(session, keyspace, asked)
            .await
            .map_err(cli::usage_if(schema::SchemaError::is_usage))?;
        schema::ensure_ready(session, &schema, keyspace, &["tree_profiles"]).await?;
        if let Some(run) = &mut run {
            run.note_ring_settings(&cassandra, keyspace, &["tree_profiles"])
                .await;
        }
        let trees = Workforce::generate(shop.factory_seed, 1, shop.trees as usize)
            .with_profile_dimensions(dimensions);
        let similar = similar::Similar::prepare(
            session,
            keyspace,
            &trees,
            (k, shop.overquery, shop.seed),
            args.connection.consistency,
        )
        .await?;
        return match run {
            None => similar::once(&cassandra, &similar, shop).await,
            Some(run) => similar::drive(run, &cassandra, &similar, shop.follow_planting).await,
        };
    }

    let tables: &[&str] = match shop.model {
        Model::Denormalized => &["employees", "timesheets", "trees", "production"],
        Model::Sai => &["employees", "visits"],
    };
    schema::ensure_ready(session, &schema, keyspace, tables).await?;
    if let Some(run) = &mut run {
        // The ring's settings for what is read (compaction, memtable, SSTable format), in the
        // report.
        run.note_ring_settings(&cassandra, keyspace, tables).await;
    }
    let reads = ShopStatements::prepare(session, keyspace, shop.page_size, shop.model).await?;

    // 2. Employees, from a random spot of the ring (in loop mode, a pool to draw fan-outs from).
    let staff = staff::sample(session, &reads, keyspace, shop, looping).await?;

    // 3-5. One fan-out, a comparison, or a measured loop of them.
    match run {
        None if shop.compare => compare::measure(&cassandra, &reads, &staff, shop.rounds).await,
        None => one_fanout(&cassandra, &reads, &staff, shop).await,
        Some(run) => load::drive(run, &cassandra, &reads, &staff, shop).await,
    }
}

/// The lesson: every timesheet read at once. The reads travel to their replicas in parallel, so
/// the whole fan-out takes about as long as its slowest read.
async fn read_concurrently(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
) -> Vec<TimesheetRead> {
    let session = &cassandra.session;
    let each = staff.iter().map(|person| {
        let read = reads.timesheet(session, person.employee_id);
        measure_on(cassandra, Tag::Timesheets.index(), read)
    });
    futures::future::join_all(each).await
}

/// The same reads one after another, for comparison: each waits for the one before, so their
/// latencies add up.
async fn read_sequentially(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
) -> Vec<TimesheetRead> {
    let session = &cassandra.session;
    let mut results = Vec::with_capacity(staff.len());
    for person in staff {
        let read = reads.timesheet(session, person.employee_id);
        results.push(measure_on(cassandra, Tag::Timesheets.index(), read).await);
    }
    results
}

/// The timesheets of `staff`, all at once or, when `sequential`, one after another.
async fn read_timesheets(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
    sequential: bool,
) -> Vec<TimesheetRead> {
    if sequential {
        read_sequentially(cassandra, reads, staff).await
    } else {
        read_concurrently(cassandra, reads, staff).await
    }
}

/// One fan-out, printed as a table (or JSON) with its latency next to its slowest read, then the
/// check of its copies when asked.
async fn one_fanout(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
    shop: &ShopArgs,
) -> anyhow::Result<()> {
    let began = tokio::time::Instant::now();
    let results = read_timesheets(cassandra, reads, staff, shop.sequential).await;
    let fanout = Fanout::read(shop.sequential, began.elapsed(), staff, results)?;
    let verification = if shop.check.verify {
        Some(verify::one_fanout(cassandra, reads, &fanout, &shop.check, shop.seed).await?)
    } else {
        None
    };
    show::fanout(&fanout, verification.as_ref(), shop.json)?;
    verification.map_or(Ok(()), |v| v.result())
}
