//! `bench overhead`: the factory's CPU per write next to the raw driver loop's, measured side by
//! side in one run on the same ring.
//!
//! Both write the same visits with the same statements at the same concurrency (unthrottled,
//! `--max-in-flight` writes outstanding), in a throwaway keyspace, **at the same time**: two
//! processes, `bench floor` and `factory`, started together, so that both meet the same server,
//! the same compactions and the same neighbours; each measures its own CPU. On a shared machine,
//! runs taken one after the other differ by tens of percent for reasons of the server's alone.
//! With `--rates`, it also measures what pacing costs ([`crate::cost::pacing`]).

use crate::error::{BenchError, Result};
use std::path::Path;

use clap::Args;
use client::{Connection, ConnectionArgs};

use crate::apps::{bench_floor, connection_flags, quiet_factory, sibling_binary};
use crate::cost::floor::{FloorArgs, FloorResult};
use loadgen::report::RunReport;

/// Options of `bench overhead`.
#[derive(Debug, Clone, Args)]
pub struct OverheadArgs {
    /// How many rounds of floor and factory side by side.
    #[arg(long, value_name = "COUNT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,

    /// Also what pacing costs: the factory at each of these rates (visits per second,
    /// comma-separated), every round beside an unthrottled factory, with how late it sent.
    #[arg(long, value_name = "PER_SECOND,...", value_delimiter = ',', value_parser = loadgen::args::parse_rate)]
    pub rates: Vec<f64>,

    /// Count instead the factory's instructions per visit under valgrind's callgrind, a number
    /// that does not move with the machine's neighbours: runs of VISITS/4 and VISITS visits,
    /// unthrottled (and at each of --rates), --rounds times; their difference is what a visit
    /// costs, start-up cancelled out. Needs valgrind; a round of 4000 visits took 20 s here.
    #[arg(long, value_name = "VISITS", value_parser = clap::value_parser!(u64).range(100..))]
    pub instructions: Option<u64>,

    /// Concurrency, duration and warm-up, shared by both sides.
    #[command(flatten)]
    pub floor: FloorArgs,
}

/// One round's numbers.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// The raw loop's CPU µs per write.
    pub floor_us: f64,
    /// The factory's CPU µs per write.
    pub factory_us: f64,
    /// The raw loop's writes per second.
    pub floor_rate: f64,
    /// The factory's writes per second.
    pub factory_rate: f64,
}

/// Runs the rounds and prints a table and the median ratio (or, with `--instructions`, counts
/// instructions instead).
pub async fn measure_overhead(
    connection: &ConnectionArgs,
    cassandra: &Connection,
    args: &OverheadArgs,
) -> Result<()> {
    let factory = sibling_binary("factory")?;
    let session = &cassandra.session;
    // A keyspace of this run's own (dropped at the end), so that runs never share rows.
    let keyspace = format!("bench_overhead_{}", std::process::id());
    let replication =
        schema::Replication::derived_from_ring(&schema::nodes_per_datacenter(session));
    schema::apply(session, &schema::project_schema()?, &keyspace, &replication).await?;
    let folder = std::env::temp_dir().join(&keyspace);
    std::fs::create_dir_all(&folder)
        .map_err(BenchError::io(format!("creating {}", folder.display())))?;
    let common = shared_flags(connection, cassandra, &args.floor, &keyspace);
    if let Some(visits) = args.instructions {
        let flags = connection_flags(connection, &cassandra.local_dc, &keyspace);
        let counted = count_instructions(&factory, flags, args, &folder, visits);
        schema::drop_keyspace(session, &keyspace).await?;
        crate::cost::instructions::print(&counted?, 3.0);
        println!("(the callgrind files are in {})", folder.display());
        return Ok(());
    }
    let result = run_rounds(args, &factory, &common, &folder).await;
    let paced = match (&result, args.rates.is_empty()) {
        (Ok(_), false) => Some(crate::cost::pacing::measure(
            &factory,
            &common,
            &folder,
            &args.rates,
            args.rounds,
        )),
        _ => None,
    };
    let _ = std::fs::remove_dir_all(&folder);
    schema::drop_keyspace(session, &keyspace).await?;
    let rounds = result?;

    let header = [
        "round",
        "floor µs/write",
        "factory µs/write",
        "ratio",
        "floor writes/s",
        "factory writes/s",
    ];
    let mut table = loadgen::report::table::new(&header, &[]);
    let mut ratios = Vec::new();
    for (i, round) in rounds.iter().enumerate() {
        let ratio = round.factory_us / round.floor_us;
        ratios.push(ratio);
        table.add_row([
            (i + 1).to_string(),
            format!("{:.2}", round.floor_us),
            format!("{:.2}", round.factory_us),
            format!("{ratio:.3}"),
            format!("{:.0}", round.floor_rate),
            format!("{:.0}", round.factory_rate),
        ]);
    }
    print!("{}", loadgen::report::table::render(&table, 0));
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!("median ratio of CPU per write, factory / raw driver loop: {median:.3}");
    if let Some(paced) = paced {
        println!();
        crate::cost::pacing::print(&paced?);
    }
    Ok(())
}

/// `--instructions`: registers the workforce once (outside valgrind, so that every counted run
/// does the same start-up), then counts.
fn count_instructions(
    factory: &Path,
    mut flags: Vec<String>,
    args: &OverheadArgs,
    folder: &Path,
    visits: u64,
) -> Result<Vec<crate::cost::instructions::Counted>> {
    let registered = quiet_factory(factory, &flags, &folder.join("register.json"))
        .args(["--visits", "1", "--warmup", "0s", "--no-ring-view"])
        .status()
        .map_err(BenchError::io("registering the workforce"))?;
    if !registered.success() {
        return Err(BenchError::Failed(format!(
            "registering the workforce: factory exited with {registered}"
        )));
    }
    flags.extend(["--register".to_owned(), "never".to_owned()]);
    crate::cost::instructions::count(
        factory,
        &flags,
        args.floor.max_in_flight,
        folder,
        visits,
        &args.rates,
        args.rounds,
    )
}

async fn run_rounds(
    args: &OverheadArgs,
    factory: &Path,
    common: &[String],
    folder: &Path,
) -> Result<Vec<Round>> {
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let mut floor_loop = bench_floor(common)?;
        eprintln!(
            "round {} of {}: raw driver loop and factory, side by side",
            round + 1,
            args.rounds
        );
        let report_path = folder.join(format!("factory-{round}.json"));
        // The factory is started first and waited for last: `output()` blocks until the floor ends.
        let mut factory_child = quiet_factory(factory, common, &report_path)
            .spawn()
            .map_err(BenchError::io("starting factory"))?;
        let floor = floor_loop
            .output()
            .map_err(BenchError::io("running bench floor"))?;
        let factory_status = factory_child
            .wait()
            .map_err(BenchError::io("waiting for factory"))?;
        if !floor.status.success() {
            return Err(BenchError::Failed(format!(
                "bench floor failed: {}",
                String::from_utf8_lossy(&floor.stderr)
            )));
        }
        if !factory_status.success() {
            return Err(BenchError::Failed(format!(
                "factory exited with {factory_status}"
            )));
        }
        let floor: FloorResult = serde_json::from_slice(&floor.stdout)
            .map_err(|e| BenchError::Failed(format!("bench floor printed no result: {e}")))?;
        let report = RunReport::read(&report_path)?;
        rounds.push(Round {
            floor_us: floor.cpu_us_per_write,
            factory_us: report.client.cpu_us_per_request,
            floor_rate: floor.writes_per_second,
            factory_rate: report.achieved_request_rate,
        });
    }
    Ok(rounds)
}

/// The flags both processes share: where, what, how many at once, on how many threads, how long.
fn shared_flags(
    connection: &ConnectionArgs,
    cassandra: &Connection,
    floor: &FloorArgs,
    keyspace: &str,
) -> Vec<String> {
    let mut flags = connection_flags(connection, &cassandra.local_dc, keyspace);
    flags.extend(
        [
            ("--max-in-flight", floor.max_in_flight.to_string()),
            ("--threads", floor.threads.to_string()),
            (
                "--duration",
                humantime::format_duration(floor.duration).to_string(),
            ),
            (
                "--warmup",
                humantime::format_duration(floor.warmup).to_string(),
            ),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value]),
    );
    flags
}
