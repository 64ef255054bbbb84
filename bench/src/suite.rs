//! The standard suite: what `bench` runs with no arguments.
//!
//! It finds a ring (or starts a local one when nothing answers on loopback), applies the schema
//! in a fresh keyspace, then runs each scenario as its own `factory` or `shop` process, so each
//! measures its own CPU and memory exactly as a user's run would, and collects their reports,
//! HDR logs and printed summaries into one folder with `report.json` and `index.html`.

pub mod scenario;
pub mod setup;

use crate::error::Result;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use clap::builder::PossibleValuesParser;
use client::ConnectionArgs;
use client::cli::Interrupted;
use indicatif::{ProgressBar, ProgressStyle};

use crate::apps::connection_flags;
use crate::report::suite_report::{RingInfo, Scenario, SuiteReport};
use crate::suite::scenario::{App, Ran, SCENARIOS, Spec, populate, run_scenario};
pub(crate) use crate::suite::setup::stamped_keyspace;
pub use crate::suite::setup::{prepare_folder, reach_ring};

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
    #[arg(long, env = "PICKLE_SUITE_DURATION", value_name = "DURATION", default_value = "20s", value_parser = loadgen::args::parse_positive_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "client::options::serialize_duration")]
    pub duration: Duration,

    /// Unmeasured warm-up before each scenario.
    #[arg(long, env = "PICKLE_SUITE_WARMUP", value_name = "DURATION", default_value = "5s", value_parser = client::options::parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "client::options::serialize_duration")]
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

/// The scenarios asked for (clap has checked their names), in suite order; all if none was named.
pub fn select(names: &[String]) -> Vec<&'static Spec> {
    SCENARIOS
        .iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
        .collect()
}

/// Runs the suite and returns its report (also written, with the page, into the folder).
pub async fn run_suite(args: &SuiteArgs, folder: &Path) -> Result<SuiteReport> {
    let specs = select(&args.scenario);
    let started_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let (cassandra, started_locally) =
        reach_ring(&args.connection, !args.no_local_ring, args.nodes, args.dcs).await?;
    let session = &cassandra.session;
    let keyspaces = Keyspaces::for_run(&started_at, session);
    schema::apply(
        session,
        &schema::project_schema()?,
        &keyspaces.factory,
        &keyspaces.replication,
    )
    .await?;
    let ring = RingInfo {
        hosts: args.connection.contact_points(),
        local_dc: cassandra.local_dc.clone(),
        datacenters: cassandra.datacenters.clone(),
        nodes: session.get_cluster_state().get_nodes_info().len(),
        cassandra_version: crate::suite::setup::release_version(session).await,
        started_locally,
        modelled_network: client::local_network::describe_modelled_network(
            &args.connection.contact_points(),
        ),
    };
    eprintln!(
        "bench: {} scenario(s) of {} + {} warm-up each, keyspace {}, report in {}",
        specs.len(),
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup),
        keyspaces.factory,
        folder.display()
    );
    let (scenarios, interrupted) =
        run_scenarios(&specs, args, &cassandra, &keyspaces, folder).await?;
    let suite = SuiteReport {
        format: loadgen::report::FORMAT,
        kind: "suite".to_owned(),
        started_at,
        ring,
        keyspace: keyspaces.factory.clone(),
        config: serde_json::to_value(args).unwrap_or_default(),
        scenarios,
    };
    suite.write(folder)?;
    crate::report::html::write_page(folder, &suite)?;
    if !args.keep_keyspace {
        schema::drop_keyspace(session, &keyspaces.factory).await?;
        schema::drop_keyspace(session, &keyspaces.shop).await?;
    }
    if interrupted {
        print!("{}", suite.text_table());
        return Err(Interrupted.into());
    }
    Ok(suite)
}

/// The suite's two keyspaces. The shop reads one of its own, written once with the original's
/// shape (100,000 visits of 100 employees to 100 trees: about 1,000 rows per timesheet), so that
/// its numbers do not depend on how much the factory scenarios managed to write before it.
struct Keyspaces {
    factory: String,
    shop: String,
    replication: schema::Replication,
}

impl Keyspaces {
    fn for_run(started_at: &str, session: &scylla::client::session::Session) -> Keyspaces {
        let factory = stamped_keyspace("bench", started_at);
        Keyspaces {
            shop: format!("{factory}_shop"),
            factory,
            replication: schema::Replication::derived_from_ring(&schema::nodes_per_datacenter(
                session,
            )),
        }
    }
}

/// Runs the scenarios one after the other, writing the shop's data before the first shop
/// scenario. Returns what ran, and whether Ctrl-C stopped it.
async fn run_scenarios(
    specs: &[&Spec],
    args: &SuiteArgs,
    cassandra: &client::Connection,
    keyspaces: &Keyspaces,
    folder: &Path,
) -> Result<(Vec<Scenario>, bool)> {
    let factory_flags = connection_flags(&args.connection, &cassandra.local_dc, &keyspaces.factory);
    let shop_flags = connection_flags(&args.connection, &cassandra.local_dc, &keyspaces.shop);
    let bar = progress_bar(specs.len());
    let mut scenarios = Vec::new();
    let mut shop_data = false;
    for spec in specs {
        if spec.app == App::Shop && !shop_data {
            bar.set_message("writing 100,000 visits for the shop to read (unmeasured)");
            let schema = schema::project_schema()?;
            schema::apply(
                &cassandra.session,
                &schema,
                &keyspaces.shop,
                &keyspaces.replication,
            )
            .await?;
            populate(&shop_flags).await?;
            shop_data = true;
        }
        let flags = match spec.app {
            App::Shop => &shop_flags,
            App::Factory => &factory_flags,
        };
        bar.set_message(format!("{}: {}", spec.name, spec.description));
        if bar.is_hidden() {
            eprintln!("bench: running {}: {}", spec.name, spec.description);
        }
        match run_scenario(spec, flags, (args.warmup, args.duration), folder, &bar).await? {
            Ran::Done(scenario) => scenarios.push(*scenario),
            Ran::Interrupted(scenario) => {
                scenarios.extend(scenario.map(|s| *s));
                bar.finish_and_clear();
                return Ok((scenarios, true));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((scenarios, false))
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
