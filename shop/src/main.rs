//! # shop: the read-heavy pickle app
//!
//! The pickle shop looks up what its employees did: their timesheets. This program is that shop,
//! written as a lesson in reading from Cassandra well. Read it top to bottom:
//!
//! 1. **Connect** once, check the schema, **prepare** every read.
//! 2. **Sample employees by token range**: a few rows from one spot in the ring, never a scan of
//!    the whole `employees` table.
//! 3. **Fan out**: read every employee's timesheet at once. Independent reads run in parallel
//!    on the ring, so ten of them cost about one read's latency, not ten (`--compare` measures
//!    it). Each read is aggregated on the server (`GROUP BY`), one row per tree.
//! 4. **Verify** (`--verify`): a visit in `timesheets` must also be in `trees` and `production`,
//!    the other two copies the factory wrote.
//! 5. **Loop** (`--rate`, `--duration`): many fan-outs on the factory's open-loop schedule,
//!    measured and reported the same way.

mod show;

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Parser;
use cluster::cli::{self, UsageError};
use cluster::options::parse_duration;
use cluster::{Connection, ConnectionArgs};
use driver::{Completed, Run, RunArgs, Workload, measure_on};
use futures::StreamExt;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use schema::reads::{Mismatch, ShopStatements, Staff, Timesheet};
use scylla::client::session::Session;
use serde::Serialize;

use crate::show::{Fanout, Verification};

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
    #[arg(long, env = "SHOP_COMPARE", conflicts_with = "sequential")]
    compare: bool,

    /// Rounds of each way for --compare.
    #[arg(long, env = "SHOP_ROUNDS", value_name = "COUNT", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rounds: u32,

    /// Check the denormalized copies: each verified visit of timesheets must be in trees (same
    /// values) and in production. Mismatches are reported with their keys.
    #[arg(long, env = "SHOP_VERIFY")]
    verify: bool,

    /// Visits verified per employee: a number (the latest visit to that many random trees) or
    /// `all` (every visit, for a one-off audit).
    #[arg(long, env = "SHOP_VERIFY_VISITS", value_name = "COUNT|all", default_value = "1", value_parser = parse_verify_visits)]
    verify_visits: VerifyVisits,

    /// Visits younger than this are not verified: their three writes may still be in flight.
    #[arg(long, env = "SHOP_VERIFY_GRACE", value_name = "DURATION", default_value = "15s", value_parser = parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "cluster::options::serialize_duration")]
    verify_grace: Duration,

    /// Rows per page when reading large partitions.
    #[arg(long, env = "SHOP_PAGE_SIZE", value_name = "ROWS", default_value_t = 5000, value_parser = clap::value_parser!(i32).range(1..=1_000_000))]
    page_size: i32,

    /// In loop mode, employees sampled once at the start; each fan-out draws from them.
    #[arg(long, env = "SHOP_POOL", value_name = "COUNT", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pool: u32,

    /// Seed of every random choice (the token to sample from, the employees of each fan-out).
    #[arg(long, env = "SHOP_SEED", value_name = "NUMBER", default_value_t = 1)]
    seed: u64,

    /// Print the timesheets as JSON instead of a table.
    #[arg(long, env = "SHOP_JSON")]
    json: bool,
}

/// How many visits `--verify` checks per employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum VerifyVisits {
    /// The latest visit to this many random trees.
    Some(u32),
    /// Every visit.
    All,
}

fn parse_verify_visits(text: &str) -> Result<VerifyVisits, String> {
    match text.trim() {
        "all" => Ok(VerifyVisits::All),
        number => match number.parse::<u32>() {
            Ok(n) if n > 0 => Ok(VerifyVisits::Some(n)),
            _ => Err(format!(
                "'{text}' is neither a positive number of visits nor 'all'"
            )),
        },
    }
}

/// Service-time tags: the timesheet reads, then the verification reads.
const TAGS: [&str; 4] = [
    "timesheets",
    "verify-timesheets",
    "verify-trees",
    "verify-production",
];
const TIMESHEETS: usize = 0;
const VERIFY_TIMESHEETS: usize = 1;
const VERIFY_TREES: usize = 2;
const VERIFY_PRODUCTION: usize = 3;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::init_tracing();
    cli::exit_code(run(args).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let keyspace = &args.connection.keyspace;
    schema::validate_keyspace_name(keyspace).map_err(|e| UsageError(e.to_string()))?;
    let looping = args.run.rate.is_some() || args.run.duration.is_some();
    if looping && args.shop.compare {
        return Err(UsageError(
            "--compare measures one-off fan-outs; drop --rate and --duration to use it".into(),
        )
        .into());
    }
    if looping && args.shop.verify_visits == VerifyVisits::All {
        return Err(UsageError(
            "--verify-visits all is a one-off audit; in loop mode give a number".into(),
        )
        .into());
    }
    let shop = &args.shop;
    let reads_per_fanout = shop.employees as usize * if shop.verify { 4 } else { 1 };
    let workload = Workload {
        tool: "shop",
        op: "fan-out",
        request: "read",
        requests_per_op: reads_per_fanout,
        service_tags: if shop.verify {
            TAGS.to_vec()
        } else {
            TAGS[..1].to_vec()
        },
        operations: None,
    };
    let run = looping
        .then(|| Run::new(&args.run, workload, &args))
        .transpose()?;

    // 1. Connect, check the tables, prepare every read once.
    let cassandra = args.connection.connect().await?;
    let session = &cassandra.session;
    let schema = schema::project_schema()?;
    schema::ensure_ready(
        session,
        &schema,
        keyspace,
        &["employees", "timesheets", "trees", "production"],
    )
    .await?;
    let reads = ShopStatements::prepare(session, keyspace, shop.page_size).await?;

    // 2. Employees, from a random spot of the ring.
    let mut rng = SmallRng::seed_from_u64(shop.seed);
    let wanted = if looping {
        shop.pool.max(shop.employees)
    } else {
        shop.employees
    };
    let staff = sample_staff(session, &reads, rng.random(), wanted, keyspace).await?;

    // 3-5. One fan-out, a comparison, or a measured loop of them.
    let Some(run) = run else {
        return if shop.compare {
            show::comparison(&compare(&cassandra, &reads, &staff, shop.rounds).await?);
            Ok(())
        } else {
            one_fanout(&cassandra, &reads, &staff, shop).await
        };
    };
    eprintln!("{}", run.describe());
    let verification = Mutex::new(Verification::default());
    let per_fanout = (shop.employees as usize).min(staff.len());
    let mut finished = run
        .drive(|n, _| {
            let chosen = choose(&staff, per_fanout, shop.seed, n);
            loop_fanout(&cassandra, &reads, chosen, shop, n, &verification)
        })
        .await?;
    let verification = verification
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if shop.verify {
        finished.report.app = serde_json::json!({ "verification": verification });
    }
    print!("{}", finished.report.summary());
    if shop.verify {
        println!("  {}", verification.summary());
    }
    finished.save()?;
    finished
        .result()
        .with_context(|| format!("reading timesheets in datacenter {}", cassandra.local_dc))?;
    verification.result()
}

/// Up to `wanted` employees by token range, saying so when there are fewer.
async fn sample_staff(
    session: &Session,
    reads: &ShopStatements,
    token: i64,
    wanted: u32,
    keyspace: &str,
) -> anyhow::Result<Vec<Staff>> {
    let staff = reads
        .sample_employees(session, token, i32::try_from(wanted).unwrap_or(i32::MAX))
        .await
        .context("sampling employees")?;
    match staff.len() {
        0 => {
            anyhow::bail!("keyspace {keyspace} has no employees: run `factory` first to write some")
        }
        found if found < wanted as usize => {
            eprintln!(
                "shop: only {found} employees exist in keyspace {keyspace}; reading those {found}"
            );
        }
        _ => {}
    }
    Ok(staff)
}

/// Reads every timesheet at once: the reads travel to their replicas in parallel, so the whole
/// fan-out takes about as long as its slowest read.
async fn read_concurrently(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
) -> Vec<(driver::record::Request, Option<Timesheet>)> {
    let session = &cassandra.session;
    let each = staff.iter().map(|person| {
        measure_on(
            cassandra,
            TIMESHEETS,
            reads.timesheet(session, person.employee_id),
        )
    });
    futures::future::join_all(each).await
}

/// Reads the timesheets one after another, for comparison: the latencies add up.
async fn read_sequentially(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
) -> Vec<(driver::record::Request, Option<Timesheet>)> {
    let session = &cassandra.session;
    let mut results = Vec::with_capacity(staff.len());
    for person in staff {
        results.push(
            measure_on(
                cassandra,
                TIMESHEETS,
                reads.timesheet(session, person.employee_id),
            )
            .await,
        );
    }
    results
}

/// One fan-out, printed as a table (or JSON), with its latency next to its slowest read.
async fn one_fanout(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
    shop: &ShopArgs,
) -> anyhow::Result<()> {
    let session = &cassandra.session;
    let began = tokio::time::Instant::now();
    let results = if shop.sequential {
        read_sequentially(cassandra, reads, staff).await
    } else {
        read_concurrently(cassandra, reads, staff).await
    };
    let elapsed = began.elapsed();
    let mut timesheets = Vec::with_capacity(staff.len());
    for (person, (request, timesheet)) in staff.iter().zip(results) {
        let timesheet = timesheet.ok_or_else(|| {
            let kind = request
                .error
                .map(|f| f.kind.to_string())
                .unwrap_or_default();
            anyhow::anyhow!(
                "reading the timesheet of {} failed ({kind})",
                person.employee_id
            )
        })?;
        timesheets.push((person.clone(), timesheet, request.service));
    }
    let fanout = Fanout {
        sequential: shop.sequential,
        elapsed,
        timesheets,
    };
    let verification = if shop.verify {
        Some(verify(session, reads, &fanout, shop).await?)
    } else {
        None
    };
    if shop.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&show::json(&fanout, verification.as_ref()))?
        );
    } else {
        show::table(&fanout);
        if let Some(verification) = &verification {
            println!("{}", verification.summary());
        }
    }
    verification.map_or(Ok(()), |v| v.result())
}

/// Checks each employee's visits against their copies in `trees` and `production`.
async fn verify(
    session: &Session,
    reads: &ShopStatements,
    fanout: &Fanout,
    shop: &ShopArgs,
) -> anyhow::Result<Verification> {
    let before = SystemTime::now() - shop.verify_grace;
    let mut verification = Verification::default();
    let mut rng = SmallRng::seed_from_u64(shop.seed ^ 0x5EED);
    for (person, timesheet, _) in &fanout.timesheets {
        let visits = match shop.verify_visits {
            VerifyVisits::All => reads.all_visits(session, person.employee_id).await?,
            VerifyVisits::Some(count) => {
                let mut visits = Vec::new();
                for tree in pick_trees(timesheet, count as usize, &mut rng) {
                    visits.extend(
                        reads
                            .visit_before(session, person.employee_id, tree, before)
                            .await?,
                    );
                }
                visits
            }
        };
        let old_enough = visits
            .into_iter()
            .filter(|v| schema::model::timeuuid_time(v.timestamp) < before);
        let checks = futures::stream::iter(old_enough)
            .map(|visit| async move {
                let (tree, production) = futures::join!(
                    reads.check_tree_copy(session, person.employee_id, &visit),
                    reads.check_production_copy(session, person.employee_id, &visit),
                );
                Ok::<_, schema::reads::ReadError>([tree?, production?])
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
        for outcome in checks {
            verification.add(outcome?.into_iter().flatten().collect());
        }
    }
    Ok(verification)
}

/// Up to `count` distinct trees of a timesheet, at random.
fn pick_trees(timesheet: &Timesheet, count: usize, rng: &mut SmallRng) -> Vec<uuid::Uuid> {
    let picks =
        rand::seq::index::sample(rng, timesheet.trees.len(), count.min(timesheet.trees.len()));
    picks.into_iter().map(|i| timesheet.trees[i].0).collect()
}

/// `count` employees of `staff` for fan-out `n`, the same for the same seed.
fn choose(staff: &[Staff], count: usize, seed: u64, n: u64) -> Vec<Staff> {
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n);
    rand::seq::index::sample(&mut rng, staff.len(), count)
        .into_iter()
        .map(|i| staff[i].clone())
        .collect()
}

/// One fan-out of the loop, with its verification when asked: every request is measured.
async fn loop_fanout(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: Vec<Staff>,
    shop: &ShopArgs,
    n: u64,
    verification: &Mutex<Verification>,
) -> Completed {
    let sent = tokio::time::Instant::now();
    let results = if shop.sequential {
        read_sequentially(cassandra, reads, &staff).await
    } else {
        read_concurrently(cassandra, reads, &staff).await
    };
    let mut requests: Vec<_> = results.iter().map(|(request, _)| request.clone()).collect();
    if shop.verify {
        let before = SystemTime::now() - shop.verify_grace;
        let mut rng = SmallRng::seed_from_u64(shop.seed ^ n.rotate_left(32));
        let checks = staff
            .iter()
            .zip(&results)
            .filter_map(|(person, (_, timesheet))| {
                let tree = *pick_trees(timesheet.as_ref()?, 1, &mut rng).first()?;
                Some(check_latest_visit(
                    cassandra,
                    reads,
                    person.employee_id,
                    tree,
                    before,
                ))
            });
        for (measured, checked) in futures::future::join_all(checks).await {
            requests.extend(measured);
            if let (Some(mismatches), Ok(mut tally)) = (checked, verification.lock()) {
                tally.add(mismatches);
            }
        }
    }
    Completed { sent, requests }
}

/// Reads the latest old-enough visit of an employee to a tree, then checks its two copies; every
/// read is measured. `None` when there was no visit to check (none old enough, or a failed read).
async fn check_latest_visit(
    cassandra: &Connection,
    reads: &ShopStatements,
    employee_id: uuid::Uuid,
    tree: uuid::Uuid,
    before: SystemTime,
) -> (Vec<driver::record::Request>, Option<Vec<Mismatch>>) {
    let session = &cassandra.session;
    let (request, visit) = measure_on(
        cassandra,
        VERIFY_TIMESHEETS,
        reads.visit_before(session, employee_id, tree, before),
    )
    .await;
    let Some(Some(visit)) = visit else {
        return (vec![request], None);
    };
    let (tree_copy, production_copy) = futures::join!(
        measure_on(
            cassandra,
            VERIFY_TREES,
            reads.check_tree_copy(session, employee_id, &visit)
        ),
        measure_on(
            cassandra,
            VERIFY_PRODUCTION,
            reads.check_production_copy(session, employee_id, &visit)
        ),
    );
    // A failed check read is counted as an error of its kind, not as a mismatch.
    let checked = match (tree_copy.1, production_copy.1) {
        (Some(tree), Some(production)) => Some(tree.into_iter().chain(production).collect()),
        _ => None,
    };
    (vec![request, tree_copy.0, production_copy.0], checked)
}

/// `--compare`: the same employees read concurrently and sequentially, alternately, `rounds`
/// times each.
async fn compare(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
    rounds: u32,
) -> anyhow::Result<show::Comparison> {
    let mut comparison = show::Comparison::new(staff.len());
    // A few unmeasured rounds first: connections and the server's caches warm up.
    for _ in 0..3 {
        read_concurrently(cassandra, reads, staff).await;
    }
    for _ in 0..rounds {
        for sequential in [false, true] {
            let began = tokio::time::Instant::now();
            let results = if sequential {
                read_sequentially(cassandra, reads, staff).await
            } else {
                read_concurrently(cassandra, reads, staff).await
            };
            let elapsed = began.elapsed();
            for (request, _) in &results {
                if let Some(failure) = &request.error {
                    anyhow::bail!(
                        "a timesheet read failed during --compare ({})",
                        failure.kind
                    );
                }
            }
            comparison.record(sequential, elapsed, results.iter().map(|(r, _)| r.service));
        }
    }
    Ok(comparison)
}
