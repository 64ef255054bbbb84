//! The standard suite: what `bench` runs with no arguments.
//!
//! It finds a ring (or starts a local one when nothing answers on loopback), applies the schema
//! in a fresh keyspace, then runs each scenario as its own `factory` or `shop` process, so each
//! measures its own CPU and memory exactly as a user's run would, and collects their reports,
//! HDR logs and printed summaries into one folder with `report.json` and `index.html`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clap::Args;
use clap::builder::PossibleValuesParser;
use cluster::ConnectionArgs;
use cluster::cli::{Interrupted, UsageError};
use cluster::local::{Home, IpPrefix, LocalRing, RingSpec, Shape};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::overhead::sibling_binary;
use crate::suite_report::{RingInfo, Scenario, SuiteReport};
use driver::report::RunReport;

/// Options of the suite.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct SuiteArgs {
    /// Where the ring is (a local one is started on loopback if nothing answers).
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Scenarios to run, comma-separated (--list says what each does). [default: all]
    #[arg(
        long,
        env = "PICKLE_SCENARIOS",
        value_name = "NAME,...",
        value_delimiter = ',',
        value_parser = PossibleValuesParser::new(SCENARIOS.iter().map(|s| s.name)),
    )]
    pub scenario: Vec<String>,

    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,

    /// Measured time of each scenario; the whole suite scales with it.
    #[arg(long, env = "PICKLE_SUITE_DURATION", value_name = "DURATION", default_value = "20s", value_parser = driver::args::parse_positive_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "cluster::options::serialize_duration")]
    pub duration: Duration,

    /// Unmeasured warm-up before each scenario.
    #[arg(long, env = "PICKLE_SUITE_WARMUP", value_name = "DURATION", default_value = "5s", value_parser = cluster::options::parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "cluster::options::serialize_duration")]
    pub warmup: Duration,

    /// The report folder; it must not exist yet. [default: reports/<start time>]
    #[arg(long, env = "PICKLE_REPORT_DIR", value_name = "FOLDER")]
    pub out: Option<PathBuf>,

    /// Nodes of the local ring started when nothing answers on loopback.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub nodes: u8,

    /// Datacenters of that local ring.
    #[arg(long, value_name = "D", default_value_t = 1)]
    pub dcs: u8,

    /// Never start a local ring: fail if nothing answers (what the compose `bench` service uses).
    #[arg(long, env = "PICKLE_NO_LOCAL_RING")]
    pub no_local_ring: bool,

    /// Keep the suite's keyspace (and its data) instead of dropping it at the end.
    #[arg(long, env = "PICKLE_KEEP_KEYSPACE")]
    pub keep_keyspace: bool,
}

/// Which app a scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// `factory`.
    Factory,
    /// `shop`.
    Shop,
}

/// One scenario of the standard suite.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its name.
    pub name: &'static str,
    /// The app.
    pub app: App,
    /// The app's own flags.
    pub flags: &'static [&'static str],
    /// What it shows.
    pub description: &'static str,
}

/// The standard suite: the factory at a ladder of rates, then shop fan-outs of 1, 10 and 50
/// reads, all at once and one after another, one fan-out at a time (so each fan-out's latency is
/// its own, not a queue's).
pub const SCENARIOS: &[Spec] = &[
    Spec {
        name: "factory-1000",
        app: App::Factory,
        flags: &["--rate", "1000"],
        description: "factory at 1000 visits/s",
    },
    Spec {
        name: "factory-5000",
        app: App::Factory,
        flags: &["--rate", "5000"],
        description: "factory at 5000 visits/s",
    },
    Spec {
        name: "factory-max",
        app: App::Factory,
        flags: &[],
        description: "factory as fast as 256 writes in flight allow",
    },
    Spec {
        name: "shop-1",
        app: App::Shop,
        flags: &["--employees", "1", "--max-in-flight", "1"],
        description: "one timesheet read at a time",
    },
    Spec {
        name: "shop-10",
        app: App::Shop,
        flags: &["--employees", "10", "--max-in-flight", "10"],
        description: "fan-outs of 10 reads all at once, one fan-out at a time",
    },
    Spec {
        name: "shop-10-sequential",
        app: App::Shop,
        flags: &["--employees", "10", "--max-in-flight", "10", "--sequential"],
        description: "10 reads one after another, one fan-out at a time",
    },
    Spec {
        name: "shop-50",
        app: App::Shop,
        flags: &["--employees", "50", "--max-in-flight", "50"],
        description: "fan-outs of 50 reads all at once, one fan-out at a time",
    },
    Spec {
        name: "shop-50-sequential",
        app: App::Shop,
        flags: &["--employees", "50", "--max-in-flight", "50", "--sequential"],
        description: "50 reads one after another, one fan-out at a time",
    },
];

/// The scenarios asked for (clap has checked their names), in suite order; all if none was named.
pub fn select(names: &[String]) -> Vec<&'static Spec> {
    SCENARIOS
        .iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
        .collect()
}

/// The report folder: given, or `reports/<start time>`; it must not exist and must be creatable.
pub fn prepare_folder(out: Option<&Path>) -> Result<PathBuf, UsageError> {
    let folder = match out {
        Some(folder) => folder.to_path_buf(),
        None => {
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace(':', "-");
            PathBuf::from("reports").join(stamp)
        }
    };
    if folder.exists() {
        return Err(UsageError(format!(
            "--out {}: already exists; give a new folder",
            folder.display()
        )));
    }
    std::fs::create_dir_all(&folder).map_err(|error| {
        UsageError(format!(
            "--out {}: cannot create the report folder: {error}",
            folder.display()
        ))
    })?;
    Ok(folder)
}

/// Whether `bench` may start a local ring: when allowed, and only for loopback contact points.
fn may_start_local_ring(connection: &ConnectionArgs, allowed: bool) -> bool {
    allowed
        && connection.contact_points().iter().all(|cp| {
            cp.starts_with("127.") || cp.starts_with("localhost:") || cp.starts_with("[::1]")
        })
}

/// Runs the suite and returns its report (also written, with the page, into the folder).
pub async fn run_suite(args: &SuiteArgs, folder: &Path) -> anyhow::Result<SuiteReport> {
    let specs = select(&args.scenario);
    let started_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let (cassandra, started_locally) =
        reach_ring(&args.connection, !args.no_local_ring, args.nodes, args.dcs).await?;
    let session = &cassandra.session;
    let keyspace = stamped_keyspace("bench", &started_at);
    let replication =
        schema::Replication::derived_from_ring(&schema::nodes_per_datacenter(session));
    schema::apply(session, &schema::project_schema()?, &keyspace, &replication).await?;
    let ring = RingInfo {
        hosts: args.connection.contact_points(),
        local_dc: cassandra.local_dc.clone(),
        datacenters: cassandra.datacenters.clone(),
        nodes: session.get_cluster_state().get_nodes_info().len(),
        cassandra_version: release_version(session).await,
        started_locally,
    };
    eprintln!(
        "bench: {} scenario(s) of {} + {} warm-up each, keyspace {keyspace}, report in {}",
        specs.len(),
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup),
        folder.display()
    );
    // The shop reads a keyspace of its own, written once with the original's shape (100,000
    // visits of 100 employees to 100 trees: about 1,000 rows per timesheet), so that its numbers
    // do not depend on how much the factory scenarios managed to write before it.
    let shop_keyspace = format!("{keyspace}_shop");
    let common = common_flags(args, &cassandra.local_dc, &keyspace);
    let shop_common = common_flags(args, &cassandra.local_dc, &shop_keyspace);
    let bar = progress_bar(specs.len());
    let mut scenarios = Vec::new();
    let mut interrupted = false;
    let mut shop_data = false;
    for spec in specs {
        if spec.app == App::Shop && !shop_data {
            bar.set_message("writing 100,000 visits for the shop to read (unmeasured)");
            schema::apply(
                session,
                &schema::project_schema()?,
                &shop_keyspace,
                &replication,
            )
            .await?;
            populate(&shop_common).await?;
            shop_data = true;
        }
        let common = if spec.app == App::Shop {
            &shop_common
        } else {
            &common
        };
        bar.set_message(format!("{}: {}", spec.name, spec.description));
        if bar.is_hidden() {
            eprintln!("bench: running {}: {}", spec.name, spec.description);
        }
        match run_scenario(spec, common, args, folder, &bar).await? {
            Ran::Done(scenario) => scenarios.push(*scenario),
            Ran::Interrupted(scenario) => {
                scenarios.extend(scenario.map(|s| *s));
                interrupted = true;
                break;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let suite = SuiteReport {
        format: driver::report::FORMAT,
        kind: "suite".to_owned(),
        started_at,
        ring,
        keyspace: keyspace.clone(),
        config: serde_json::to_value(args).unwrap_or_default(),
        scenarios,
    };
    suite.write(folder)?;
    crate::html::write_page(folder, &suite)?;
    if !args.keep_keyspace {
        schema::drop_keyspace(session, &keyspace).await?;
        schema::drop_keyspace(session, &shop_keyspace).await?;
    }
    if interrupted {
        print!("{}", suite.text_table());
        return Err(Interrupted.into());
    }
    Ok(suite)
}

/// A keyspace name for a run that began at `started_at` (RFC 3339): `prefix_YYYYMMDDhhmmss`.
pub(crate) fn stamped_keyspace(prefix: &str, started_at: &str) -> String {
    let digits: String = started_at
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    format!("{prefix}_{digits}")
}

/// Connects; when nothing answers on loopback and `may_start` allows it, starts the local ring
/// (`nodes` nodes in `dcs` datacenters) first. Returns whether it started one.
pub async fn reach_ring(
    args: &ConnectionArgs,
    may_start: bool,
    nodes: u8,
    dcs: u8,
) -> anyhow::Result<(cluster::Connection, bool)> {
    match args.connect().await {
        Ok(connection) => Ok((connection, false)),
        Err(cluster::ConnectError::Unreachable { .. }) if may_start_local_ring(args, may_start) => {
            let shape = Shape::new(nodes, dcs, IpPrefix::DEFAULT).map_err(UsageError)?;
            eprintln!(
                "bench: nothing answers at {}; starting a local ring ({shape})",
                args.contact_points().join(",")
            );
            let ring = LocalRing::new(Home::from_env(), "local")?;
            let spec = RingSpec {
                name: "local".to_owned(),
                shape,
                heap: None,
                cassandra_version: cluster::local::DEFAULT_CASSANDRA_VERSION.to_owned(),
                timeout: Duration::from_secs(300),
                security: cluster::local::Security::default(),
            };
            let (state, _) = ring.up(&spec).await?;
            eprintln!(
                "bench: the local ring is up; it keeps running for the next run (`bench ring down` stops it)"
            );
            let mut connection = args.clone();
            if connection.hosts.is_empty() {
                connection.hosts = state
                    .nodes
                    .iter()
                    .filter_map(|n| n.plan.address.to_string().parse().ok())
                    .collect();
            }
            Ok((connection.connect().await?, true))
        }
        Err(error) => Err(error.into()),
    }
}

async fn release_version(session: &scylla::client::session::Session) -> Option<String> {
    let result = session
        .query_unpaged("SELECT release_version FROM system.local", &[])
        .await
        .ok()?;
    let (version,): (String,) = result.into_rows_result().ok()?.single_row().ok()?;
    Some(version)
}

/// Connection flags every scenario gets: the suite's own connection options, with the local DC
/// it found and the scenario's keyspace.
fn common_flags(args: &SuiteArgs, local_dc: &str, keyspace: &str) -> Vec<String> {
    ConnectionArgs {
        dc: Some(local_dc.to_owned()),
        keyspace: keyspace.to_owned(),
        ..args.connection.clone()
    }
    .to_flags()
}

fn progress_bar(scenarios: usize) -> ProgressBar {
    let bar = ProgressBar::new(scenarios as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{pos}/{len}] {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix("bench");
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// Prints a line above the progress bar, or plainly when there is no terminal to draw it on.
fn say(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Writes the shop's data, unmeasured: one run of the original factory's size.
async fn populate(common: &[String]) -> anyhow::Result<()> {
    let status = app_command("factory")?
        .args(common)
        .args([
            "--visits",
            "100000",
            "--employees",
            "100",
            "--trees",
            "100",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(
        status.success(),
        "writing visits for the shop failed ({status})"
    );
    Ok(())
}

/// A process of `app` (next to this binary) for the suite. The scenario's flags define the
/// workload, so the caller's PICKLE_*, FACTORY_* and SHOP_* variables (a compose env file's, say)
/// do not leak into it; CASSANDRA_* ones (where the ring is, the password) do.
fn app_command(app: &str) -> anyhow::Result<tokio::process::Command> {
    let mut command = tokio::process::Command::new(sibling_binary(app)?);
    for (name, _) in std::env::vars_os() {
        let leaks = ["PICKLE_", "FACTORY_", "SHOP_"]
            .iter()
            .any(|prefix| name.to_string_lossy().starts_with(prefix));
        if leaks {
            command.env_remove(&name);
        }
    }
    Ok(command)
}

/// How a scenario went.
enum Ran {
    Done(Box<Scenario>),
    Interrupted(Option<Box<Scenario>>),
}

/// Runs one scenario's process, showing its live line, and reads back its report.
async fn run_scenario(
    spec: &Spec,
    common: &[String],
    args: &SuiteArgs,
    folder: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<Ran> {
    let app = match spec.app {
        App::Factory => "factory",
        App::Shop => "shop",
    };
    let (report_path, log_name) = (
        folder.join(format!("{}.json", spec.name)),
        format!("{}.hlog", spec.name),
    );
    let mut child = app_command(app)?
        .args(common)
        .args(spec.flags)
        .args([
            "--duration".to_owned(),
            humantime::format_duration(args.duration).to_string(),
        ])
        .args([
            "--warmup".to_owned(),
            humantime::format_duration(args.warmup).to_string(),
        ])
        .arg("--report")
        .arg(&report_path)
        .arg("--hdr-log")
        .arg(folder.join(&log_name))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stderr = child.stderr.take().map(|e| BufReader::new(e).lines());
    let mut last_line = String::new();
    // The scenario has a known length; a process far past it is stuck, and is killed.
    let limit = args.warmup + args.duration + Duration::from_secs(120);
    let finished = tokio::time::timeout(limit, async {
        if let Some(lines) = stderr.as_mut() {
            while let Ok(Some(line)) = lines.next_line().await {
                bar.set_message(format!("{}: {}", spec.name, line.trim()));
                last_line = line;
            }
        }
        child.wait_with_output().await
    })
    .await;
    let output = match finished {
        Ok(output) => output?,
        Err(_) => anyhow::bail!(
            "scenario {} did not end within {}",
            spec.name,
            humantime::format_duration(limit)
        ),
    };
    std::fs::write(folder.join(format!("{}.txt", spec.name)), &output.stdout)?;
    let report = RunReport::read(&report_path).ok();
    let scenario = report.map(|report| {
        Box::new(Scenario {
            name: spec.name.to_owned(),
            description: spec.description.to_owned(),
            hdr_log: Some(log_name),
            report,
        })
    });
    match (output.status.code(), scenario) {
        (Some(130), scenario) => Ok(Ran::Interrupted(scenario)),
        (_, Some(scenario)) => {
            say(
                bar,
                &format!(
                    "bench: {} done: {}",
                    spec.name, scenario.report.limiter.explanation
                ),
            );
            Ok(Ran::Done(scenario))
        }
        (code, None) => anyhow::bail!(
            "scenario {} failed (exit code {code:?}): {last_line}",
            spec.name
        ),
    }
}
