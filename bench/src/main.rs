//! `bench`: the workload driver's front door.
//!
//! - `bench` (or `bench run`): the standard suite against a ring, started locally if need be,
//!   with a report folder (`report.json`, HDR logs, `index.html`);
//! - `bench compare A B`, `bench merge OUT IN...`, `bench plot REPORT`, `bench show REPORT`;
//! - `bench lessons`: each pattern of the sample apps as an experiment with numbers;
//! - `bench ring ...`: a real local Cassandra ring;
//! - `bench floor`, `bench overhead`: the factory's cost against the bare driver.

use std::path::PathBuf;
use std::process::ExitCode;

use bench::cost::floor::{FloorArgs, write_visits_raw};
use bench::cost::overhead::{OverheadArgs, measure_overhead};
use bench::lessons::LessonsArgs;
use bench::report::suite_report;
use bench::ring_command::RingCommand;
use bench::stats::compare::{self, parse_percent};
use bench::suite::{self, SuiteArgs};
use clap::{Parser, Subcommand};
use client::ConnectionArgs;
use client::cli::{self, UsageError};
use loadgen::report::RunReport;

/// Benchmark a Cassandra ring with the pickle factory and shop: `bench` alone runs the standard
/// suite (starting a local ring if nothing answers) and writes a report folder.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about = None,
    allow_negative_numbers = true,
    subcommand_value_name = "COMMAND",
    after_help = "`bench` alone is `bench run`, and so are the suite's options without a command: \
                  `bench --duration 5s` is `bench run --duration 5s` (see `bench run --help`)."
)]
struct Bench {
    #[command(subcommand)]
    command: Command,
}

/// The command line with `run` put in where no command was named: `bench` alone, or the suite's
/// options alone, run the suite. The suite's options (the connection's among them) so belong to
/// `run` only, and the offline commands (`compare`, `merge`...) list no flag they would ignore.
fn with_implied_run(mut argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory as _;
    let first = argv.get(1).and_then(|word| word.to_str());
    let named = first.is_some_and(|word| {
        Bench::command().find_subcommand(word).is_some()
            || matches!(word, "help" | "-h" | "--help" | "-V" | "--version")
            || word == cli::PRINT_ENV_VARS
    });
    if !named {
        argv.insert(1.min(argv.len()), "run".into());
    }
    argv
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the standard suite and write a report folder (what `bench` alone does).
    Run(SuiteArgs),
    /// Compare two reports (files or folders) scenario by scenario, with Welch's t-test.
    Compare(CompareArgs),
    /// Run each pattern the original apps preached as a small experiment on this ring (prepared
    /// statements, the in-flight window, fan-out reads, token-aware routing, the bound), with a
    /// table, a plot and an explanation each, in a report folder.
    Lessons(LessonsArgs),
    /// Merge reports of processes that ran the same scenarios at once into one report folder.
    Merge(MergeArgs),
    /// Measure how far `compare --fail-if-slower` can be trusted here: cut one long run of an
    /// unchanged process into windows (or take separate runs of one build whole, A1 B1 A2 B2
    /// ...), compare them in pairs (A/A: every failure is a false alarm), and check how often
    /// each window's tail intervals hold the whole run's tails and the pairs' p50 intervals
    /// hold no change; `--json` writes the widening that makes them.
    Calibrate(CalibrateArgs),
    /// Judge a run window by window: exit 1 naming every window whose p99, p99.9, rate drop or
    /// errors broke its bound ("p99 under 15 ms in every 10-minute window"). Works on merged
    /// shard reports; needs the run's interval log.
    Check(CheckArgs),
    /// Find the highest rate the ring serves within an SLA: the app at fixed rates, open loop,
    /// growing then bisecting, each step judged on every window (`--p99 10ms` in every 10 s).
    /// A step the loader could not drive (its own CPU) ends the search, said so.
    Findmax(FindmaxArgs),
    /// Write the HTML page (with its plots) of a report.
    Plot(PlotArgs),
    /// Print a run report's summary, and its memory over time.
    Show(ShowArgs),
    /// Capacity on paper: how many loader processes and cores a target rate needs, from reports
    /// measured on such a loader and this ring, and whether the loaders or the ring come first.
    Plan(PlanArgs),
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
}

#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// The baseline report.
    a: PathBuf,
    /// The report compared with it.
    b: PathBuf,
    /// Exit with code 1 when a scenario is surely worse by more than this (less throughput
    /// achieved, a higher mean, p50, p99 or p99.9 latency, or more errors: significant with
    /// every test of the comparison held to one family-wise error of 5%, and the whole 95%
    /// interval of the change beyond it; or a rule broken), or when a scenario cannot be judged
    /// (a run that did not finish, runs at different rates or loops). Also the resolution of
    /// "same": a change this large ruled out. [default resolution: 5%]
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, env = "PICKLE_FAIL_IF_SLOWER")]
    fail_if_slower: Option<f64>,
    /// Compare only these scenarios.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    scenario: Vec<String>,
    /// Also write the comparison, every row with its test and judgement, as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// A calibration of this ring (`bench calibrate --json`): widen each calibrated scenario's
    /// p99 and p99.9 intervals as far as it measured, so that they hold a run's tail as often
    /// as they say (a run's seconds cannot show the stalls it did not hold), and its p50's, so
    /// that two runs of unchanged code are not called different for the ring's own drift.
    #[arg(long, value_name = "FILE", env = "PICKLE_CALIBRATION")]
    calibration: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CalibrateArgs {
    /// One long run's report (a file or a folder) with its interval log (--hdr-log): tens of
    /// minutes of one unchanged process, at the rate the gate will judge, cut into windows.
    /// Or separate runs of one build, made as the gate's A and B are (each with --hdr-log),
    /// given in the order they ran, A1 B1 A2 B2 ...: each run is taken whole and paired with
    /// the next, as `compare` would read them; alternate A and B, so that a drift of the ring
    /// falls on both sides.
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// The length of each window cut from one long run: the length of the runs the gate will
    /// compare. [default: 60s] (Separate runs are taken whole.)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, env = "PICKLE_CALIBRATE_WINDOW")]
    window: Option<std::time::Duration>,
    /// Leave this much of one long run's start out (a fresh node's warm-up). [default: 0s]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, env = "PICKLE_CALIBRATE_SKIP")]
    skip: Option<std::time::Duration>,
    /// The gate's threshold, as `compare --fail-if-slower` takes it.
    #[arg(long, value_name = "PERCENT", default_value = "5%", value_parser = parse_percent, env = "PICKLE_FAIL_IF_SLOWER")]
    fail_if_slower: f64,
    /// Calibrate only these scenarios of a suite's report. [default: all]
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    scenario: Vec<String>,
    /// Also plant this regression into B of every pair and count the gate's hits: `slower=10%`
    /// (every operation slower by a share) or `pause=2s` (the node paused in the middle of B).
    /// Repeatable.
    #[arg(long, value_name = "REGRESSION")]
    plant: Vec<bench::stats::calibrate::plant::Plant>,
    /// Also write the calibration as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The report (a file or a folder) with its interval log.
    report: PathBuf,
    /// The windows' length: every window of the run must meet every bound.
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, env = "PICKLE_CHECK_PER")]
    per: std::time::Duration,
    /// Highest p99 of a window (latency from each due time, every operation due counted).
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, env = "PICKLE_CHECK_P99")]
    p99: Option<std::time::Duration>,
    /// Highest p99.9 of a window.
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, env = "PICKLE_CHECK_P999")]
    p999: Option<std::time::Duration>,
    /// Largest drop of a window's rate below the target (or, unthrottled, the run's own rate).
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, env = "PICKLE_CHECK_RATE_DROP")]
    rate_drop: Option<f64>,
    /// Highest share of a window's operations that failed, were missed or abandoned.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, env = "PICKLE_CHECK_ERRORS")]
    errors: Option<f64>,
    /// Check only these scenarios of a suite's report. [default: all]
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    scenario: Vec<String>,
    /// Also write every window's numbers and verdict as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  bench findmax --p99 10ms                          # the factory, p99 under 10 ms in every 10 s
  bench findmax --p99 10ms --p999 50ms --errors 0.1% --step 60s --max-rate 20000
  bench findmax --app shop --p99 20ms -- --employees 50    # flags after -- go to every step's app
  # two loaders searching together, one folder both see (NFS, a shared volume):
  bench findmax --p99 10ms --shard 0/2 --start-at 2026-12-07T10:00:00Z --out /shared/fm   # loader A
  bench findmax --p99 10ms --shard 1/2 --start-at 2026-12-07T10:00:00Z --out /shared/fm   # loader B

Each step runs the app for --warmup, then --step measured, at one rate; it passes when every
--window of it met every bound (latency from each due time, failed and missed operations
counted). The rate grows by --growth until a step fails, then is bisected until the highest
passing and the lowest failing rates are within --resolution. The report folder holds every
step's report, interval log and output, findmax.json, and index.html (rate against p99, p99.9
and errors for every step and window, the knee marked, the ring's side at the first failing
step). With --shard I/N, N loaders run every step together on the schedule --start-at sets, each
its share of the rate, and judge the step's merged windows: every loader reaches the same
answer; shard 0 writes the merged steps, findmax.json and the page. Exit 0 with an answer, 1
when no rate passed, the loader was the limit, or the search was stopped before any rate
passed.")]
struct FindmaxArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The app whose rate is searched: `factory` (visits/s) or `shop` (fan-outs/s).
    #[arg(long, value_name = "APP", default_value = "factory", value_parser = ["factory", "shop"], env = "PICKLE_FINDMAX_APP")]
    app: String,
    /// Highest p99 of every window (latency from each due time, every operation due counted).
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, allow_hyphen_values = true, env = "PICKLE_FINDMAX_P99")]
    p99: Option<std::time::Duration>,
    /// Highest p99.9 of every window.
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, allow_hyphen_values = true, env = "PICKLE_FINDMAX_P999")]
    p999: Option<std::time::Duration>,
    /// Highest share of every window's operations that failed, were missed or abandoned.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, default_value = "1%", env = "PICKLE_FINDMAX_ERRORS")]
    errors: f64,
    /// The windows every step is judged on.
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, default_value = "10s", env = "PICKLE_FINDMAX_WINDOW")]
    window: std::time::Duration,
    /// Each step's measured length.
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, default_value = "30s", env = "PICKLE_FINDMAX_STEP")]
    step: std::time::Duration,
    /// Each step's warm-up, not measured, at the step's rate.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s", env = "PICKLE_FINDMAX_WARMUP")]
    warmup: std::time::Duration,
    /// The first rate tried.
    #[arg(
        long,
        value_name = "RATE",
        default_value_t = 1000.0,
        env = "PICKLE_FINDMAX_START_RATE"
    )]
    start_rate: f64,
    /// The highest rate tried: a search whose steps all pass stops there.
    #[arg(
        long,
        value_name = "RATE",
        default_value_t = 1_000_000.0,
        env = "PICKLE_FINDMAX_MAX_RATE"
    )]
    max_rate: f64,
    /// The factor the rate grows by while steps pass.
    #[arg(
        long,
        value_name = "FACTOR",
        default_value_t = 2.0,
        env = "PICKLE_FINDMAX_GROWTH"
    )]
    growth: f64,
    /// Stop when the lowest failing rate is within this share above the highest passing one.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, default_value = "5%", env = "PICKLE_FINDMAX_RESOLUTION")]
    resolution: f64,
    /// The whole search's time limit: no step starts that would end after it.
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, default_value = "30m", env = "PICKLE_FINDMAX_TIME_LIMIT")]
    time_limit: std::time::Duration,
    /// Run a step that failed on a window again, up to this many times: its rate fails only if
    /// every run of it failed (one step is one draw of the ring's stalls).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=5), env = "PICKLE_FINDMAX_RETRIES")]
    retries: u8,
    /// The report folder to write (it must not exist; with --shard, a folder every loader sees,
    /// which may exist). [default: reports/<date-time>]
    #[arg(long, value_name = "FOLDER", env = "PICKLE_FINDMAX_OUT")]
    out: Option<PathBuf>,
    /// This loader's share of a search N loaders run together: shard I (0-based) of N runs its
    /// share of every step's rate. Every loader needs the same flags, --start-at and --out.
    #[arg(
        long,
        value_name = "I/N",
        requires = "start_at",
        env = "PICKLE_FINDMAX_SHARD"
    )]
    shard: Option<loadgen::schedule::Shard>,
    /// When a sharded search's first step starts, on the wall clock (RFC 3339), the same for
    /// every loader; shard 0 readies the ring before it (the shop's visits take a minute or two).
    #[arg(long, value_name = "TIME", requires = "shard", value_parser = loadgen::schedule::parse_start_at, env = "PICKLE_FINDMAX_START_AT")]
    start_at: Option<std::time::SystemTime>,
    /// With --shard: the pause between one step's end and the next one's start, in which the
    /// loaders exchange their reports and start the next step's processes.
    #[arg(long, value_name = "DURATION", value_parser = loadgen::args::parse_positive_duration, default_value = "15s", env = "PICKLE_FINDMAX_BETWEEN_STEPS")]
    between_steps: std::time::Duration,
    /// Flags for every step's app (after `--`), as `factory --help` or `shop --help` lists them;
    /// not --rate, --duration, --warmup, --report, --hdr-log, --shard or --start-at, which each
    /// step sets.
    #[arg(last = true, value_name = "APP FLAGS")]
    app_flags: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// The folder to write; it must not exist yet.
    out: PathBuf,
    /// The reports (files or folders), two or more. Shards of one run (--shard) must all be
    /// there, once each.
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Merge the shards that are there when some are missing; the report's ending names the
    /// missing ones.
    #[arg(long)]
    partial: bool,
}

#[derive(Debug, clap::Args)]
struct PlotArgs {
    /// The report (a file or a folder).
    report: PathBuf,
    /// Where to write index.html. [default: the report's folder]
    #[arg(long, value_name = "FOLDER")]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    /// The target rate of the whole run, operations per second.
    #[arg(long, value_name = "PER_SECOND", value_parser = loadgen::args::parse_rate)]
    rate: f64,
    /// Reports of runs on a machine like the loaders, against the ring to load (factory
    /// --report files, or bench report folders): the more rates they cover, the better the plan.
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// Cores per loader machine. [default: this machine's]
    #[arg(long, value_name = "CORES")]
    cores: Option<f64>,
    /// The share of a loader's cores to count on (the rest absorbs spikes).
    #[arg(long, value_name = "SHARE", default_value_t = bench::cost::plan::DEFAULT_HEADROOM)]
    headroom: f64,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// The JSON report (`--report` of factory or shop).
    report: PathBuf,
}

fn main() -> ExitCode {
    let bench: Bench = cli::parse_args_from(with_implied_run(std::env::args_os().collect()));
    cli::init_tracing();
    let command = bench.command;
    // The floor and the lessons drive Cassandra the apps' way, on one thread unless told
    // otherwise; rings, suites and reports run on tokio's usual runtime.
    let runtime = match &command {
        Command::Floor { floor, .. } => loadgen::schedule::on_threads(floor.threads),
        Command::Lessons(_) => loadgen::schedule::on_threads(bench::lessons::THREADS),
        _ => tokio::runtime::Runtime::new(),
    };
    cli::exit_code_on(runtime, run(command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run_suite(args).await,
        Command::Lessons(args) => lessons(args).await,
        Command::Compare(args) => compare(args),
        Command::Merge(args) => merge(args),
        Command::Calibrate(args) => calibrate(args),
        Command::Check(args) => check(args),
        Command::Findmax(args) => findmax(args).await,
        Command::Plot(args) => plot(args),
        Command::Show(args) => show(args),
        Command::Plan(args) => plan(args),
        Command::Ring(ring) => Ok(ring.run().await?),
        Command::Floor { connection, floor } => floor_loop(connection, floor).await,
        Command::Overhead {
            connection,
            overhead,
        } => {
            let cassandra = connection.connect().await?;
            measure_overhead(&connection, &cassandra, &overhead).await?;
            Ok(())
        }
    }
}

/// `bench run`: the suite's scenarios, then their table and the page's path.
async fn run_suite(args: SuiteArgs) -> anyhow::Result<()> {
    if args.list {
        let mut table = loadgen::report::table::new(&["scenario", "what it runs"], &[0, 1]);
        for spec in bench::suite::scenario::SCENARIOS {
            table.add_row([spec.name, spec.description]);
        }
        print!("{}", loadgen::report::table::render(&table, 0));
        return Ok(());
    }
    let folder = suite::prepare_folder(args.out.as_deref())?;
    let report = suite::run_suite(&args, &folder).await?;
    print!("{}", report.text_table());
    println!(
        "report: {}",
        folder.join(bench::report::html::PAGE).display()
    );
    Ok(())
}

/// `bench lessons`: each pattern as an experiment, in a report folder.
async fn lessons(args: LessonsArgs) -> anyhow::Result<()> {
    let (_, folder) = bench::lessons::run(&args).await?;
    println!(
        "\nlessons: {}",
        folder.join(bench::report::html::PAGE).display()
    );
    Ok(())
}

/// `bench compare A B`: the changes, scenario by scenario, judged; with `--fail-if-slower`, an
/// error when one is significantly slower by more than that, or a scenario could not be judged.
fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let (a, b) = (suite_report::load(&args.a)?, suite_report::load(&args.b)?);
    let threshold = args.fail_if_slower.unwrap_or(compare::DEFAULT_THRESHOLD);
    let calibration: Option<Vec<bench::stats::calibrate::Calibration>> = match &args.calibration {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                UsageError(format!(
                    "--calibration {}: cannot read it: {e}",
                    path.display()
                ))
            })?;
            Some(serde_json::from_str(&text).map_err(|e| {
                UsageError(format!(
                    "--calibration {}: not a calibration (bench calibrate --json): {e}",
                    path.display()
                ))
            })?)
        }
        None => None,
    };
    let comparison = compare::compare(&a, &b, &args.scenario, threshold, calibration.as_deref())?;
    print!("{}", compare::text(&comparison));
    if let Some(path) = &args.json {
        loadgen::report::write_json(path, &comparison)?;
    }
    let Some(threshold) = args.fail_if_slower else {
        return Ok(());
    };
    let (regressions, unjudged): (Vec<String>, Vec<String>) = comparison
        .failures()
        .into_iter()
        .partition(|f| !f.contains(" not judged: "));
    if regressions.is_empty() && unjudged.is_empty() {
        let untold = comparison.untold();
        let untold = if untold.is_empty() {
            String::new()
        } else {
            format!("; could not tell (not gated): {}", untold.join(", "))
        };
        println!(
            "gate passed: nothing significantly slower by more than {threshold}% in {} tests{untold}",
            comparison.tests
        );
        return Ok(());
    }
    let mut parts = Vec::new();
    if !regressions.is_empty() {
        parts.push(format!(
            "significantly slower by more than {threshold}%: {}",
            regressions.join(", ")
        ));
    }
    parts.extend(unjudged);
    anyhow::bail!("gate failed: {}", parts.join("; "))
}

/// `bench calibrate REPORT...`: the gate's false alarms on A/A pairs of windows (or of whole
/// runs), the tails' coverage and the p50's.
fn calibrate(args: CalibrateArgs) -> anyhow::Result<()> {
    use bench::stats::calibrate::CalibrateError;
    let mut runs = Vec::with_capacity(args.reports.len());
    let mut seen = std::collections::HashSet::new();
    for path in &args.reports {
        if !seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())) {
            return Err(UsageError(format!(
                "{} is given twice: an A/A pair of a run with itself differs in nothing",
                path.display()
            ))
            .into());
        }
        runs.push((path.display().to_string(), suite_report::load(path)?));
    }
    if runs.len() > 1 && (args.window.is_some() || args.skip.is_some()) {
        return Err(UsageError(
            "--window and --skip cut one long run; separate runs are taken whole, as compare \
             reads them"
                .to_owned(),
        )
        .into());
    }
    let window = args.window.unwrap_or(std::time::Duration::from_secs(60));
    let skip = args.skip.unwrap_or_default();
    let loaded = &runs[0].1;
    let mut results = Vec::new();
    for scenario in &loaded.suite.scenarios {
        if !args.scenario.is_empty() && !args.scenario.contains(&scenario.name) {
            continue;
        }
        let calibration = if runs.len() == 1 {
            bench::stats::calibrate::calibrate(
                loaded,
                scenario,
                (window, skip),
                args.fail_if_slower,
                &args.plant,
            )?
        } else {
            bench::stats::calibrate::calibrate_runs(
                &runs,
                &scenario.name,
                args.fail_if_slower,
                &args.plant,
            )
            .map_err(|e| match e {
                CalibrateError::NotPairs(why) => anyhow::Error::from(UsageError(why)),
                other => other.into(),
            })?
        };
        print!("{}", calibration.text());
        results.push(calibration);
    }
    if results.is_empty() {
        return Err(UsageError(format!(
            "--scenario {}: none of them is in the report",
            args.scenario.join(",")
        ))
        .into());
    }
    if let Some(path) = &args.json {
        loadgen::report::write_json(path, &results)?;
    }
    Ok(())
}

/// `bench check REPORT --per D --p99 D ...`: every window against the bounds; an error naming the
/// windows that broke one.
fn check(args: CheckArgs) -> anyhow::Result<()> {
    use bench::capacity::check::{Bounds, check};
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let bounds = Bounds {
        p99_ms: ms(args.p99),
        p999_ms: ms(args.p999),
        rate_drop_percent: args.rate_drop,
        errors_percent: args.errors,
    };
    if bounds.p99_ms.is_none()
        && bounds.p999_ms.is_none()
        && bounds.rate_drop_percent.is_none()
        && bounds.errors_percent.is_none()
    {
        return Err(UsageError(
            "give at least one bound: --p99, --p999, --rate-drop or --errors".to_owned(),
        )
        .into());
    }
    let loaded = suite_report::load(&args.report)?;
    let mut checked = Vec::new();
    for scenario in &loaded.suite.scenarios {
        if !args.scenario.is_empty() && !args.scenario.contains(&scenario.name) {
            continue;
        }
        let result = check(&loaded, scenario, args.per, &bounds).map_err(|e| match e {
            bench::capacity::check::CheckError::Unusable(why) => {
                anyhow::Error::new(UsageError(why))
            }
            other => other.into(),
        })?;
        print!("{}", result.text());
        checked.push(result);
    }
    if checked.is_empty() {
        return Err(UsageError(format!(
            "--scenario {}: none of them is in the report",
            args.scenario.join(",")
        ))
        .into());
    }
    if let Some(path) = &args.json {
        loadgen::report::write_json(path, &checked)?;
    }
    let failing: Vec<String> = checked
        .iter()
        .flat_map(|c| {
            c.failing().into_iter().map(move |w| {
                format!(
                    "{} {:.0}-{:.0} s ({})",
                    c.scenario,
                    w.from_s,
                    w.to_s,
                    w.broken.join(", ")
                )
            })
        })
        .collect();
    let windows: usize = checked.iter().map(|c| c.windows.len()).sum();
    if failing.is_empty() {
        println!("check passed: every one of {windows} windows met every bound");
        return Ok(());
    }
    anyhow::bail!(
        "{} of {windows} windows broke a bound: {}",
        failing.len(),
        failing.join("; ")
    )
}

/// `bench findmax`: the search, its table, and its answer.
async fn findmax(args: FindmaxArgs) -> anyhow::Result<()> {
    use bench::capacity::check::Bounds;
    use bench::capacity::findmax::{findmax, prepare};
    use bench::capacity::search::{Answer, SearchSettings};
    use bench::capacity::steps::Plan;
    use bench::capacity::steps::Sharded;
    let usage = |why: &str| Err(UsageError(why.to_owned()).into());
    if args.p99.is_none() && args.p999.is_none() {
        return usage("give the SLA's latency: --p99 or --p999 (or both)");
    }
    if args.window > args.step {
        return usage(&format!(
            "--window {} is longer than --step {}: a step holds whole windows",
            humantime::format_duration(args.window),
            humantime::format_duration(args.step)
        ));
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !positive(args.start_rate) || !positive(args.max_rate) {
        return usage("--start-rate and --max-rate must be rates above 0");
    }
    if args.max_rate < args.start_rate {
        return usage(&format!(
            "--max-rate {} is below --start-rate {}",
            args.max_rate, args.start_rate
        ));
    }
    if !(args.growth.is_finite() && args.growth > 1.0) {
        return usage("--growth must be above 1 (2 doubles the rate each step)");
    }
    if !(args.resolution > 0.0 && args.resolution < 100.0) {
        return usage("--resolution must be above 0% and below 100%");
    }
    let set_by_steps = [
        "--rate",
        "--duration",
        "--warmup",
        "--report",
        "--hdr-log",
        "--shard",
        "--start-at",
        "--run-id",
    ];
    if let Some(flag) =
        (args.app_flags.iter()).find(|f| set_by_steps.iter().any(|s| f.starts_with(s)))
    {
        return usage(&format!("{flag} after --: each step sets it itself"));
    }
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let sharded = match (args.shard, args.start_at) {
        (Some(_), Some(start_at)) if start_at < std::time::SystemTime::now() => {
            return usage(&format!(
                "--start-at {} has passed: give every loader the same time ahead",
                humantime::format_rfc3339_seconds(start_at)
            ));
        }
        (Some(shard), Some(start_at)) => Some(Sharded {
            shard,
            start_at,
            between: args.between_steps,
        }),
        _ => None,
    };
    let out = match (&sharded, &args.out) {
        (None, out) => suite::prepare_folder(out.as_deref())?,
        (Some(_), None) => {
            return usage("--shard needs --out: a folder every loader of the search shares");
        }
        (Some(_), Some(out)) => {
            std::fs::create_dir_all(out)
                .map_err(|e| anyhow::anyhow!("cannot make {}: {e}", out.display()))?;
            out.clone()
        }
    };
    let mut plan = Plan {
        app: args.app.clone(),
        flags: Vec::new(),
        step: args.step,
        warmup: args.warmup,
        window: args.window,
        bounds: Bounds {
            p99_ms: ms(args.p99),
            p999_ms: ms(args.p999),
            rate_drop_percent: None,
            errors_percent: Some(args.errors),
        },
        settings: SearchSettings {
            start: args.start_rate,
            growth: args.growth,
            max_rate: args.max_rate,
            resolution: args.resolution / 100.0,
        },
        time_limit: args.time_limit,
        retries: usize::from(args.retries),
        out: out.clone(),
        sharded,
    };
    plan.flags = prepare(&args.connection, &plan, &args.app_flags).await?;
    plan.flags.extend(args.app_flags.iter().cloned());
    let found = findmax(&plan).await?;
    if plan.sharded.is_none_or(|s| s.shard.index == 0) {
        bench::capacity::page::write_page(&out, &found)?;
    }
    print!("{}", found.text());
    println!("report: {}", out.display());
    match found.answer {
        Answer::Between {
            passed: Some(_), ..
        }
        | Answer::AtLeast { .. } => Ok(()),
        Answer::LoaderBound { .. } => {
            anyhow::bail!("the loader was the limit: its ceiling is not the ring's capacity")
        }
        _ => anyhow::bail!("no rate passed within the SLA"),
    }
}

/// `bench merge OUT IN...`: reports of processes that ran at once, added up into a new folder.
fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let loaded = args
        .inputs
        .iter()
        .map(|p| suite_report::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let folder = suite::prepare_folder(Some(&args.out))?;
    let merged = match bench::stats::merge::merge_into(&folder, &loaded, args.partial) {
        Ok(merged) => merged,
        Err(error) => {
            // A refused merge leaves no folder behind (only an empty one can be removed).
            let _ = std::fs::remove_dir(&folder);
            return Err(error.into());
        }
    };
    bench::report::html::write_page(&folder, &merged)?;
    print!("{}", merged.text_table());
    print!("{}", bench::stats::merge::shard_tables(&loaded));
    println!("merged report: {}", folder.display());
    Ok(())
}

/// `bench plot REPORT`: the report's page and plots.
fn plot(args: PlotArgs) -> anyhow::Result<()> {
    let loaded = suite_report::load(&args.report)?;
    let folder = args.out.unwrap_or(loaded.folder.clone());
    if !folder.is_dir() {
        return Err(UsageError(format!("--out {}: not a folder", folder.display())).into());
    }
    bench::report::html::write_page(&folder, &loaded.suite)?;
    println!("{}", folder.join(bench::report::html::PAGE).display());
    Ok(())
}

/// `bench plan --rate R REPORT...`: loaders and cores for a rate, and which bound comes first.
fn plan(args: PlanArgs) -> anyhow::Result<()> {
    use bench::cost::plan::{Measured, plan};
    if !(args.headroom > 0.0 && args.headroom <= 1.0) {
        return Err(UsageError(format!(
            "--headroom {}: a share of the cores, above 0 and at most 1",
            args.headroom
        ))
        .into());
    }
    let cores = args
        .cores
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64));
    if !(cores.is_finite() && cores > 0.0) {
        return Err(UsageError(format!("--cores {cores}: a number of cores above 0")).into());
    }
    let mut measured = Vec::new();
    for path in &args.reports {
        let loaded = suite_report::load(path)?;
        for scenario in loaded.suite.scenarios {
            measured.push(Measured {
                name: format!("{} {}", path.display(), scenario.name),
                report: scenario.report,
            });
        }
    }
    let op = measured
        .first()
        .map_or("operation".to_owned(), |m| m.report.names.op.clone());
    let plan = plan(args.rate, &measured, cores, args.headroom)?;
    print!("{}", plan.describe(&op));
    Ok(())
}

/// `bench show REPORT`: a run report's summary, and its memory each minute.
fn show(args: ShowArgs) -> anyhow::Result<()> {
    let report = RunReport::read(&args.report)?;
    print!("{}", report.summary());
    let minutes: Vec<String> = report
        .intervals
        .iter()
        .filter(|i| i.rss_bytes > 0 && i.at >= 30.0 && (i.at.round() as u64).is_multiple_of(60))
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

/// `bench floor`: visits written by the bare driver, and its CPU per write.
async fn floor_loop(connection: ConnectionArgs, floor: FloorArgs) -> anyhow::Result<()> {
    let cassandra = connection.connect().await?;
    let tables = ["timesheets", "trees", "production"];
    let schema = schema::project_schema()?;
    schema::ensure_ready(&cassandra.session, &schema, &connection.keyspace, &tables).await?;
    let consistency = connection.consistency.0;
    let result = write_visits_raw(
        &cassandra.session,
        &connection.keyspace,
        consistency,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Bench, clap::Error> {
        Bench::try_parse_from(with_implied_run(
            words.iter().map(std::ffi::OsString::from).collect(),
        ))
    }

    #[test]
    fn options_alone_mean_the_suite() {
        assert!(matches!(
            parse(&["bench"]).unwrap().command,
            Command::Run(_)
        ));
        let Command::Run(shortened) = parse(&["bench", "--duration", "5s"]).unwrap().command else {
            panic!("the suite's options alone run the suite");
        };
        assert_eq!(shortened.duration, std::time::Duration::from_secs(5));
        assert!(matches!(
            parse(&["bench", "ring", "up"]).unwrap().command,
            Command::Ring(_)
        ));
        // The suite's options and another command do not mix.
        assert!(parse(&["bench", "--duration", "5s", "show", "r.json"]).is_err());
    }

    #[test]
    fn offline_commands_take_no_connection_flag() {
        use clap::CommandFactory as _;
        for name in ["compare", "merge", "plot", "show", "plan", "calibrate"] {
            let command = Bench::command();
            let sub = command.find_subcommand(name).expect(name);
            assert!(
                sub.get_arguments().all(|a| a.get_id() != "hosts"),
                "{name} lists --hosts"
            );
        }
        assert!(parse(&["bench", "compare", "a", "b", "--hosts", "10.0.0.1"]).is_err());
        assert!(parse(&["bench", "run", "--hosts", "10.0.0.1"]).is_ok());
    }
}
