//! # factory: the write-heavy pickle app
//!
//! The pickle factory records every visit of an employee to a pickle tree. This program is that
//! factory, written as a lesson in writing to Cassandra well. Read it top to bottom:
//!
//! 1. **Connect** once: token-aware, preferring the local datacenter.
//! 2. **Check the schema**, so that a forgotten `schema apply` is one clear line, not a million
//!    failed writes.
//! 3. **Prepare** every statement once, before the first write.
//! 4. **Register the workforce** (seeded fake data) and await every write: the original sent
//!    its employee writes and never looked at the answers. A write that times out is sent again
//!    (it is idempotent), so a busy moment of the ring does not undo a registration of millions.
//! 5. **Write visits** at a fixed rate, each one denormalized into three tables concurrently,
//!    never more than `--max-in-flight` writes outstanding. (Or, with `--model sai`, each one
//!    written once to `visits`, whose Storage-Attached Indexes answer the same questions. Or,
//!    with `--plant-trees`, new trees instead of visits, for the shop's vector search to find
//!    while the orchard grows.)
//! 6. **Report** honestly: latency from each visit's intended start, and what limited the rate.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use client::cli::{self, UsageError};
use client::{Connection, ConnectionArgs};
use futures::{StreamExt, TryStreamExt};
use loadgen::schedule::Shard;
use loadgen::{Completed, Intended, Run, RunArgs, Workload, measure_write};
use schema::model::{Model, Visit};
use schema::registry::Registry;
use schema::workforce::Workforce;
use schema::writes::{FactoryStatements, TableLevel, VisitTable};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use serde::Serialize;

/// Write pickle-tree visits to Cassandra at a fixed rate, denormalized into three tables, and
/// report the latency of every visit from its intended start.
#[derive(Debug, Parser, Serialize)]
#[command(version, about, long_about = None, allow_negative_numbers = true)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,

    #[command(flatten)]
    run: RunArgs,

    #[command(flatten)]
    factory: FactoryArgs,
}

/// What the factory writes.
#[derive(Debug, clap::Args, Serialize)]
#[command(next_help_heading = "Factory (flags or environment)")]
struct FactoryArgs {
    /// Employees to register (fake names, emails and hire dates).
    #[arg(long, env = "FACTORY_EMPLOYEES", value_name = "COUNT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    employees: u32,

    /// Pickle trees the employees visit.
    #[arg(long, env = "FACTORY_TREES", value_name = "COUNT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    trees: u32,

    /// Seed of every random choice: the same seed registers the same employees and trees and
    /// makes visit n pick the same employee, tree and pickle count.
    #[arg(long, env = "FACTORY_SEED", value_name = "NUMBER", default_value_t = 1)]
    seed: u64,

    /// Stop after this many visits (plantings, with --plant-trees; warm-up included) instead of
    /// after --duration.
    #[arg(long, env = "FACTORY_VISITS", value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    visits: Option<u64>,

    /// Consistency per table, overriding --consistency: TABLE=LEVEL,... The original wrote
    /// timesheets at QUORUM and trees and production at ONE; in a multi-DC ring that is
    /// --table-consistency trees=LOCAL_ONE,production=LOCAL_ONE with the default LOCAL_QUORUM.
    #[arg(
        long,
        env = "FACTORY_TABLE_CONSISTENCY",
        value_name = "TABLE=LEVEL,...",
        value_delimiter = ','
    )]
    table_consistency: Vec<TableLevel>,

    /// Also write each visit to production_by_day, the day-bucketed copy of production.
    #[arg(long, env = "FACTORY_PRODUCTION_BY_DAY")]
    production_by_day: bool,

    /// How visits are kept: `denormalized`, one copy per question in timesheets, trees and
    /// production, each read one partition; or `sai`, one row in visits, each question asked
    /// through a Storage-Attached Index (Cassandra 5.0). Give the shop the same --model.
    #[arg(
        long,
        env = "FACTORY_MODEL",
        value_name = "MODEL",
        default_value = "denormalized"
    )]
    model: Model,

    /// Register the employees: auto, once per keyspace, seed and size (the registrations table
    /// remembers a workforce written in full); always, on every run; never, trusting that an
    /// earlier run did (the first and last employee are checked).
    #[arg(
        long,
        env = "FACTORY_REGISTER",
        value_name = "WHEN",
        default_value = "auto"
    )]
    register: Register,

    /// How many numbers each tree's profile holds. By default the ring's: tree_profiles.profile
    /// is vector<float, 64> from schema.cql, or what `schema apply --dimensions N` made; given,
    /// it must be the ring's.
    #[arg(long, env = "FACTORY_DIMENSIONS", value_name = "N", value_parser = clap::value_parser!(u32).range(2..=8192))]
    dimensions: Option<u32>,

    /// Plant new trees instead of writing visits: operation n writes the profile of tree number
    /// --trees + n (drawn from the seed, as every tree's) to tree_profiles, at --rate, one write
    /// each. Run it beside `shop --similar-trees K --follow-planting` to measure the vector
    /// search's recall while the orchard grows. A second run plants the same trees again (the
    /// same rows): give the shop the same --trees.
    #[arg(long, env = "FACTORY_PLANT_TREES")]
    plant_trees: bool,
}

/// When the factory registers its employees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Register {
    /// Unless the registry says this seed and size were registered in full.
    Auto,
    /// On every run.
    Always,
    /// Never; the first and last employee must be there.
    Never,
}

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
    let keyspace = &args.connection.keyspace;
    schema::validate_keyspace_name(keyspace).map_err(|e| UsageError(e.to_string()))?;
    let consistency = schema::writes::table_consistency(
        args.connection.consistency.0,
        &args.factory.table_consistency,
        &VisitTable::NAMES,
    )
    .map_err(UsageError)?;
    let model = args.factory.model;
    if model == Model::Sai && args.factory.production_by_day {
        return Err(UsageError(
            "--production-by-day is a table of the denormalized model; with --model sai, \
             visits' index on day answers its question"
                .to_owned(),
        )
        .into());
    }
    let planting = args.factory.plant_trees;
    if planting && (model == Model::Sai || args.factory.production_by_day) {
        return Err(UsageError(
            "--plant-trees writes trees' profiles, not visits: --model sai and \
             --production-by-day say how visits are kept"
                .to_owned(),
        )
        .into());
    }
    // What each operation writes: a visit's copies, or with --plant-trees a tree's profile.
    let tables = if planting {
        &["tree_profiles"][..]
    } else {
        VisitTable::written(model, args.factory.production_by_day)
    };
    let workload = Workload {
        tool: "factory",
        op: if planting { "planting" } else { "visit" },
        request: "write",
        requests_per_op: tables.len(),
        service_tags: tables.to_vec(),
        operations: args.factory.visits,
    };
    // From here on, Ctrl-C and SIGTERM stop the run, in whatever phase, and still report.
    let mut run = Run::new(&args.run, workload, &args)?;

    // 1. Connect once; the session is shared by every write of the run. (How far the ring's
    //    clock is from ours goes in the report: shards of one run meet at a wall-clock instant.)
    let cassandra = args.connection.connect().await?;
    run.note_clock_offset(cassandra.clock_offset_ms().await);
    //    The ring's side goes in the report too: each node's own queues, once a second, read
    //    by a session of its own so that watching never delays a write.
    run.watch_the_ring(&args.connection, &cassandra).await;
    let session = &cassandra.session;

    // 2. The tables must exist and match schema.cql (its trees' profiles as long as the ring's).
    let asked = args.factory.dimensions.map(|n| n as usize);
    let (schema, dimensions) = schema::project_schema_sized_to_ring(session, keyspace, asked)
        .await
        .map_err(cli::usage_if(schema::SchemaError::is_usage))?;
    let needed = [tables, &["employees", "registrations", "tree_profiles"]].concat();
    schema::ensure_ready(session, &schema, keyspace, &needed).await?;
    //    What the ring does with them (compaction, memtable, compression, SSTable format) goes in
    //    the report: two runs on rings set up differently measure different things.
    run.note_ring_settings(&cassandra, keyspace, tables).await;

    // 3. Prepare once: the server parses each INSERT once, requests carry only values, and the
    //    driver can route each write to a replica of its partition.
    let writes = FactoryStatements::prepare(session, keyspace, &consistency).await?;
    let insert_visit = match model {
        Model::Sai => {
            Some(schema::writes::prepare_indexed_visit(session, keyspace, &consistency).await?)
        }
        Model::Denormalized => None,
    };

    // 4. The workforce: the same seed gives the same employees and trees, run after run.
    let workforce = Workforce::generate(
        args.factory.seed,
        args.factory.employees as usize,
        args.factory.trees as usize,
    )
    .with_profile_dimensions(dimensions);
    //    Registered once per keyspace, seed and size, not on every run: a million employees
    //    take half a minute to write (a shard, --shard I/N, writes every N-th). Ctrl-C while
    //    registering stops at once; the report then says nothing was measured.
    let registry = Registry::prepare(session, keyspace).await?;
    let (when, shard) = (args.factory.register, run.shard());
    let registered = async {
        register_once(session, &writes, &registry, &workforce, when, shard).await?;
        //  Each tree's profile too (what "the trees most like this one" compares), unless the
        //  last one is there already.
        plant_trees(session, &writes, &registry, &workforce, when, shard).await
    };
    run.before_start(registered).await?;

    // 5. Visits at the target rate, behind the in-flight window: visit n is due at start + n/rate;
    //    it waits for one permit per write (--max-in-flight permits in all), its writes go out at
    //    once, and its permits return when the last one answers; its latency counts from its due
    //    time. `drive` is the loop of examples/window.rs, with the measuring and stopping added.
    eprintln!("{}", run.describe());
    let by_day = args.factory.production_by_day;
    let (cassandra, writes, insert_visit) = (&cassandra, &writes, insert_visit.as_ref());
    let workforce = &workforce;
    let finished = run
        .drive(|n, intended: Intended| {
            async move {
                if planting {
                    // --plant-trees: a new tree, number --trees + n.
                    return plant_tree(cassandra, writes, workforce, n).await;
                }
                let visit = workforce.visit(n, intended.wall);
                match insert_visit {
                    // Denormalized: one copy per question, all at once.
                    None => write_visit(cassandra, writes, visit, by_day).await,
                    // SAI: one row; its indexes are updated by the ring as it writes it.
                    Some(insert) => write_indexed_visit(cassandra, insert, visit).await,
                }
            }
        })
        .await?;

    // 6. The report: printed, and written as JSON and an HDR log when asked.
    print!("{}", finished.report.summary());
    finished.save()?;
    let what = if planting {
        "planting trees"
    } else {
        "writing visits"
    };
    finished
        .result()
        .with_context(|| format!("{what} in datacenter {}", cassandra.local_dc))
}

/// Registers the workforce (a shard: its share of it) unless `when` and the registry say it is
/// there already; records it in the registry once every employee was acknowledged by this one
/// process (a shard cannot know that the others finished theirs, so it records nothing).
async fn register_once(
    session: &Session,
    writes: &FactoryStatements,
    registry: &Registry,
    workforce: &Workforce,
    when: Register,
    shard: Shard,
) -> anyhow::Result<()> {
    let (seed, count) = (workforce.seed, workforce.employee_count());
    let size = u32::try_from(count).context("the workforce's size")?;
    match when {
        Register::Always => {}
        Register::Auto => {
            if let Some(at) = registry.registered_at(session, seed, size).await? {
                eprintln!(
                    "factory: the {size} employees of seed {seed} were registered at {}: not \
                     written again (--register always writes them)",
                    humantime::format_rfc3339_seconds(at)
                );
                return Ok(());
            }
        }
        Register::Never => {
            // The first and the last employee must be there, or the run stops before its first
            // visit names an employee that does not exist.
            for index in [0, count.saturating_sub(1)] {
                let employee = workforce.employee(index).employee_id;
                anyhow::ensure!(
                    registry.employee_exists(session, employee).await?,
                    "--register never: employee {index} of seed {seed} is not in employees; \
                     run once with --register auto"
                );
            }
            eprintln!(
                "factory: --register never: employees 0 and {} of seed {seed} are there",
                count.saturating_sub(1)
            );
            return Ok(());
        }
    }
    register_employees(session, writes, workforce, shard).await?;
    if shard.is_whole() {
        registry.record(session, seed, size).await?;
    }
    Ok(())
}

/// Registers every employee, at most 64 writes at a time, and waits for every answer: an
/// employee missing from the registry would be a silent hole in the shop's reads.
async fn register_employees(
    session: &Session,
    writes: &FactoryStatements,
    workforce: &Workforce,
    shard: Shard,
) -> anyhow::Result<()> {
    let began = Instant::now();
    // Each employee is made from the seed when its turn comes, so a million cost no memory.
    let count = workforce.employee_count();
    let ours = (0..count).filter(|&i| shard.owns(i as u64));
    let retried = std::sync::atomic::AtomicU64::new(0);
    futures::stream::iter(ours.map(|i| workforce.employee(i)))
        .map(|employee| write_employee(session, writes, employee, &retried))
        .buffer_unordered(64)
        .try_for_each(|_| async { Ok(()) })
        .await
        .context("registering the employees")?;
    let share = if shard.is_whole() {
        String::new()
    } else {
        format!(" (shard {shard}: {} of them)", shard.share_of(count as u64))
    };
    let retried = match retried.into_inner() {
        0 => String::new(),
        n => format!("; {n} writes were sent again after a timeout"),
    };
    eprintln!(
        "factory: registered {} employees{share} and {} trees (seed {}) in {:.2} s{retried}",
        count,
        workforce.tree_count(),
        workforce.seed,
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Writes every tree's profile (a shard: its share), at most 64 writes at a time, each awaited:
/// with `--register always`; with `auto`, unless the last tree's profile is there already; with
/// `never`, not at all.
async fn plant_trees(
    session: &Session,
    writes: &FactoryStatements,
    registry: &Registry,
    workforce: &Workforce,
    when: Register,
    shard: Shard,
) -> anyhow::Result<()> {
    let count = workforce.tree_count();
    let last = workforce.tree(count.saturating_sub(1));
    let there = match when {
        Register::Always => false,
        Register::Auto => registry.tree_profile_exists(session, last).await?,
        Register::Never => true,
    };
    if there {
        return Ok(());
    }
    let began = Instant::now();
    let ours = (0..count).filter(|&i| shard.owns(i as u64));
    futures::stream::iter(ours)
        .map(|i| {
            let row = schema::model::TreeProfile {
                pickle_tree_id: workforce.tree(i),
                profile: workforce.tree_profile(i),
            };
            async move {
                session
                    .execute_unpaged(&writes.insert_tree_profile, row)
                    .await
            }
        })
        .buffer_unordered(64)
        .try_for_each(|_| async { Ok(()) })
        .await
        .context("writing the trees' profiles")?;
    eprintln!(
        "factory: wrote the profiles of {count} trees (seed {}) in {:.2} s",
        workforce.seed,
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Planting `n` of `--plant-trees`: the profile of tree number --trees + n, one write. The trees
/// registered before the run are numbers 0 to --trees - 1, so the orchard only grows.
async fn plant_tree(
    cassandra: &Connection,
    writes: &FactoryStatements,
    workforce: &Workforce,
    n: u64,
) -> Completed {
    let number = (workforce.tree_count()).saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
    let row = schema::model::TreeProfile {
        pickle_tree_id: workforce.tree(number),
        profile: workforce.tree_profile(number),
    };
    let sent = tokio::time::Instant::now();
    let write = cassandra
        .session
        .execute_unpaged(&writes.insert_tree_profile, row);
    Completed {
        sent,
        requests: vec![measure_write(cassandra, 0, write).await],
    }
}

/// How many times an employee's write is sent before its timeout ends the registration.
const EMPLOYEE_WRITE_ATTEMPTS: u32 = 5;

/// One employee's row, sent again when it times out: the write is idempotent (the same row twice
/// is one row), so a node that was too busy for a moment (a flush, a GC pause, under a
/// registration of millions) costs a retry after a short pause, not the whole registration. Any
/// other error, or a timeout on the last attempt, is returned.
async fn write_employee(
    session: &Session,
    writes: &FactoryStatements,
    employee: schema::model::Employee,
    retried: &std::sync::atomic::AtomicU64,
) -> Result<(), scylla::errors::ExecutionError> {
    use loadgen::errors::{ErrorKind, classify};
    let mut attempt = 1;
    loop {
        let error = match session
            .execute_unpaged(&writes.insert_employee, &employee)
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let timed_out = matches!(
            classify(&error).kind,
            ErrorKind::WriteTimeout | ErrorKind::ClientTimeout | ErrorKind::Overloaded
        );
        if !timed_out || attempt == EMPLOYEE_WRITE_ATTEMPTS {
            return Err(error);
        }
        retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
        attempt += 1;
    }
}

/// One visit, denormalized: the same event written to each table that answers one question about
/// it, all at once. The visit is done when every table has acknowledged its copy; its latency is
/// that of the slowest write, not the sum.
async fn write_visit(
    cassandra: &Connection,
    writes: &FactoryStatements,
    visit: Visit,
    by_day: bool,
) -> Completed {
    let session = &cassandra.session;
    let sent = tokio::time::Instant::now();
    let timesheet = measure_write(
        cassandra,
        VisitTable::Timesheets.tag(),
        session.execute_unpaged(&writes.insert_timesheet, &visit),
    );
    let tree = measure_write(
        cassandra,
        VisitTable::Trees.tag(),
        session.execute_unpaged(&writes.insert_tree, &visit),
    );
    let production = measure_write(
        cassandra,
        VisitTable::Production.tag(),
        session.execute_unpaged(&writes.insert_production, visit.production()),
    );
    let production_by_day = async {
        if by_day {
            let row = visit.production_by_day();
            Some(
                measure_write(
                    cassandra,
                    VisitTable::ProductionByDay.tag(),
                    session.execute_unpaged(&writes.insert_production_by_day, row),
                )
                .await,
            )
        } else {
            None
        }
    };
    let (timesheet, tree, production, by_day) =
        futures::join!(timesheet, tree, production, production_by_day);
    let mut requests = vec![timesheet, tree, production];
    requests.extend(by_day);
    Completed { sent, requests }
}

/// One visit, kept the SAI way: one row in `visits`, one write. Each replica updates the row's
/// indexes (employee, tree, count, day) as part of the write, so the visit is findable by each of
/// them once this one write is acknowledged; the cost moves to reads (see `shop --model sai`).
async fn write_indexed_visit(
    cassandra: &Connection,
    insert_visit: &PreparedStatement,
    visit: Visit,
) -> Completed {
    let sent = tokio::time::Instant::now();
    let write = cassandra
        .session
        .execute_unpaged(insert_visit, visit.indexed());
    let request = measure_write(cassandra, VisitTable::Visits.tag(), write).await;
    Completed {
        sent,
        requests: vec![request],
    }
}
