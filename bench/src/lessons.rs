//! `bench lessons`: each pattern the original apps preached, run as a small controlled experiment
//! on the user's own ring, and shown as a table, a plot and one paragraph that says why.
//!
//! Every experiment measures its variants side by side in one run, on one session, with the same
//! data: the numbers are ratios between variants, not absolute claims. Response times count from
//! each operation's intended start wherever there is a schedule, like everywhere else here.
//!
//! 1. [`prepared`]: prepared statements against unprepared ones;
//! 2. [`window`]: a sliding in-flight window against the original's stop-and-wait batches and
//!    against synchronous writes;
//! 3. [`fanout`]: N reads at once against N reads one after another, N = 1 to 50;
//! 4. [`routing`]: token-aware against round-robin coordinators;
//! 5. [`bound`]: an in-flight bound too small for the rate, and the report naming it;
//! 6. [`distance`]: LOCAL_QUORUM against QUORUM across datacenters (on a ring with distance);
//! 7. [`sai`]: denormalized tables against Storage-Attached Indexes, writes and reads.

pub mod bound;
mod distance;
mod fanout;
mod lab;
mod page;
mod prepared;
mod report;
mod routing;
mod sai;
mod window;

use crate::error::{BenchError, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use client::ConnectionArgs;
use serde::Serialize;

pub use lab::Lab;
pub use report::{Lesson, LessonsReport};

/// Threads of the runtime the lessons drive on: one, as the apps by default (`--threads`).
pub const THREADS: u16 = 1;

/// Options of `bench lessons`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct LessonsArgs {
    /// Where the ring is (a local one-node ring is started on loopback if nothing answers). The
    /// routing lesson needs at least two nodes in the local datacenter: `bench ring up --name
    /// lessons --nodes 3 --ip-prefix 127.0.4`, then `bench lessons --hosts 127.0.4.1`.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Lessons to run, comma-separated. [default: all]
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub only: Vec<LessonName>,

    /// Measured time of each variant; the whole run scales with it (about 14 variants).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = loadgen::args::parse_positive_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "client::options::serialize_duration")]
    pub duration: Duration,

    /// Unmeasured warm-up before each variant.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = client::options::parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "client::options::serialize_duration")]
    pub warmup: Duration,

    /// Target visits per second of the window lesson; the routing lesson writes at half of it.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 2000.0, value_parser = loadgen::args::parse_rate)]
    pub rate: f64,

    /// Rounds of each fan-out size in the fan-out lesson.
    #[arg(long, value_name = "COUNT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(5..=100_000))]
    pub rounds: u32,

    /// The report folder; it must not exist yet. [default: reports/lessons-<start time>]
    #[arg(long, value_name = "FOLDER")]
    pub out: Option<PathBuf>,

    /// Never start a local ring: fail if nothing answers.
    #[arg(long, env = "PICKLE_NO_LOCAL_RING")]
    pub no_local_ring: bool,
}

/// The lessons, in the order they run; `--only` takes their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LessonName {
    /// Prepared statements against unprepared ones.
    Prepared,
    /// The in-flight window against stop-and-wait and synchronous writes.
    Window,
    /// Fan-out reads all at once against one after another.
    Fanout,
    /// Token-aware routing against round robin.
    Routing,
    /// What too small an in-flight bound costs.
    Bound,
    /// LOCAL_QUORUM against QUORUM across datacenters.
    Distance,
    /// Denormalized tables against Storage-Attached Indexes (Cassandra 5.0).
    Sai,
}

impl std::fmt::Display for LessonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every variant has a name: none is marked `#[value(skip)]`.
        match self.to_possible_value() {
            Some(value) => f.write_str(value.get_name()),
            None => write!(f, "{self:?}"),
        }
    }
}

/// Runs the lessons asked for and writes the report folder (`lessons.json`, `index.html` and one
/// SVG per plot).
pub async fn run(args: &LessonsArgs) -> Result<(LessonsReport, PathBuf)> {
    let selected = select(&args.only);
    let folder = crate::suite::prepare_folder(Some(&report_folder(args)))?;
    let started_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let (lab, nodes) = Lab::set_up(args, &started_at, &folder).await?;
    if let Some(network) =
        client::local_network::describe_modelled_network(&args.connection.contact_points())
    {
        eprintln!("bench lessons: network delay added by {network}");
    }
    eprintln!(
        "bench lessons: {} lesson(s), {} per variant after {} of warm-up, keyspace {} (replication 1 per datacenter), report in {}",
        selected.len(),
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup),
        lab.keyspace,
        folder.display()
    );
    // A lesson that fails or is interrupted ends the run, but the lessons before it are kept:
    // the keyspace is dropped and the report written either way.
    let (lessons, stopped) = run_in_turn(&lab, &nodes, &selected).await;
    let _ = schema::drop_keyspace(&lab.cassandra.session, &lab.keyspace).await;
    let report = LessonsReport {
        kind: "lessons",
        started_at,
        hosts: args.connection.contact_points(),
        local_dc: lab.cassandra.local_dc.clone(),
        nodes: nodes.into_iter().collect(),
        modelled_network: client::local_network::describe_modelled_network(
            &args.connection.contact_points(),
        ),
        options: args.clone(),
        lessons,
    };
    loadgen::report::write_json(&folder.join("lessons.json"), &report)?;
    page::write(&folder, &report).map_err(BenchError::io(format!(
        "writing the page in {}",
        folder.display()
    )))?;
    match stopped {
        Some(error) => {
            eprintln!(
                "bench lessons: the lessons before it are in {}",
                folder.join(crate::report::html::PAGE).display()
            );
            Err(error)
        }
        None => Ok((report, folder)),
    }
}

/// The report folder: `--out`, or `reports/lessons-<start time>`.
fn report_folder(args: &LessonsArgs) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    args.out
        .clone()
        .unwrap_or_else(|| Path::new("reports").join(format!("lessons-{stamp}")))
}

/// Runs `selected` one after another, printing each lesson as it finishes. Stops at the first
/// that fails, and returns the lessons done so far with the error that stopped them.
async fn run_in_turn(
    lab: &Lab,
    nodes: &BTreeMap<String, usize>,
    selected: &[LessonName],
) -> (Vec<Lesson>, Option<BenchError>) {
    let mut lessons = Vec::new();
    for &name in selected {
        eprintln!("bench lessons: {name}...");
        match run_one(lab, nodes, name).await {
            Ok(lesson) => {
                print!("{}", lesson.text());
                lessons.push(lesson);
            }
            Err(error) => return (lessons, Some(error)),
        }
    }
    (lessons, None)
}

/// Runs the lesson named `name`.
async fn run_one(lab: &Lab, nodes: &BTreeMap<String, usize>, name: LessonName) -> Result<Lesson> {
    match name {
        LessonName::Prepared => prepared::run(lab).await,
        LessonName::Window => window::run(lab).await,
        LessonName::Fanout => fanout::run(lab).await,
        LessonName::Routing => routing::run(lab, nodes).await,
        LessonName::Bound => bound::run(lab).await,
        LessonName::Distance => distance::run(lab, nodes).await,
        LessonName::Sai => sai::run(lab).await,
    }
}

/// The lessons asked for, each once, in their own order (all of them if none was named).
fn select(only: &[LessonName]) -> Vec<LessonName> {
    let mut selected = if only.is_empty() {
        LessonName::value_variants().to_vec()
    } else {
        only.to_vec()
    };
    selected.sort();
    selected.dedup();
    selected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lessons_are_chosen_by_name_in_their_own_order() {
        use LessonName::*;
        assert_eq!(
            select(&[]),
            [Prepared, Window, Fanout, Routing, Bound, Distance, Sai]
        );
        assert_eq!(select(&[Bound, Prepared, Bound]), [Prepared, Bound]);
        let parsed = LessonName::from_str("fanout", false);
        assert_eq!(parsed, Ok(Fanout));
        assert_eq!(Fanout.to_string(), "fanout");
    }
}
