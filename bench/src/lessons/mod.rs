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
//! 6. [`distance`]: LOCAL_QUORUM against QUORUM across datacenters, when distance can be made.

pub mod bound;
mod distance;
mod fanout;
mod page;
mod prepared;
mod routing;
mod window;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use cluster::{Connection, ConnectionArgs};
use hdrhistogram::Histogram;
use schema::model::Visit;
use schema::statements::{FactoryStatements, TableConsistency};
use schema::workforce::Workforce;
use serde::Serialize;
use tokio::time::Instant;

use driver::args::{RunArgs, TimerChoice};
use driver::drive::Intended;
use driver::measure::measure;
use driver::record::{Completed, Percentiles};
use driver::report::RunReport;
use driver::run::{Run, Workload};

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
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = driver::args::parse_positive_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "cluster::options::serialize_duration")]
    pub duration: Duration,

    /// Unmeasured warm-up before each variant.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = cluster::options::parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "cluster::options::serialize_duration")]
    pub warmup: Duration,

    /// Target visits per second of the window lesson; the routing lesson writes at half of it.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 2000.0, value_parser = driver::args::parse_rate)]
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

/// One lesson's result: what it claims, its table, its plot and its explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Lesson {
    /// Short name (`prepared`).
    pub name: &'static str,
    /// The claim, as a title.
    pub title: String,
    /// The table's header.
    pub columns: Vec<String>,
    /// The table's rows, one per variant.
    pub rows: Vec<Vec<String>>,
    /// File name of the plot (SVG) in the report folder.
    pub plot: Option<String>,
    /// The result and the reason behind it, in one paragraph.
    pub finding: String,
    /// Why the lesson was left out, when it was.
    pub left_out: Option<String>,
}

impl Lesson {
    fn measured(
        name: &'static str,
        title: &str,
        columns: &[&str],
        rows: Vec<Vec<String>>,
        plot: String,
        finding: String,
    ) -> Lesson {
        Lesson {
            name,
            title: title.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows,
            plot: Some(plot),
            finding,
            left_out: None,
        }
    }

    fn left_out(name: &'static str, title: &str, why: String) -> Lesson {
        Lesson {
            name,
            title: title.to_owned(),
            columns: Vec::new(),
            rows: Vec::new(),
            plot: None,
            finding: String::new(),
            left_out: Some(why),
        }
    }

    /// The lesson as text: title, table, finding.
    pub fn text(&self) -> String {
        let mut text = format!("\n== {}: {}\n", self.name, self.title);
        if let Some(why) = &self.left_out {
            let _ = writeln!(text, "left out: {why}");
            return text;
        }
        let header: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        let mut table = driver::table::new(&header, &[0]);
        for row in &self.rows {
            table.add_row(row);
        }
        text.push_str(&driver::table::render(&table, 2));
        let _ = writeln!(text, "{}", self.finding);
        text
    }
}

/// The whole run: the ring, and each lesson.
#[derive(Debug, Clone, Serialize)]
pub struct LessonsReport {
    /// Always `lessons`.
    pub kind: &'static str,
    /// When the run began (RFC 3339).
    pub started_at: String,
    /// Contact points.
    pub hosts: Vec<String>,
    /// The local datacenter.
    pub local_dc: String,
    /// Nodes per datacenter.
    pub nodes: Vec<(String, usize)>,
    /// The options.
    pub options: LessonsArgs,
    /// Each lesson.
    pub lessons: Vec<Lesson>,
}

/// What every experiment works with: one session, the lessons' keyspace, the factory's prepared
/// writes, seeded fake data, and the run's timing.
pub struct Lab {
    /// The session, routed to the local datacenter.
    pub cassandra: Connection,
    /// The keyspace (replication 1 in each datacenter, so where a request goes matters).
    pub keyspace: String,
    /// The factory's writes, prepared once.
    pub writes: FactoryStatements,
    /// Seeded employees and trees.
    pub workforce: Workforce,
    /// The options.
    pub args: LessonsArgs,
    /// Where plots go.
    pub folder: PathBuf,
}

impl Lab {
    /// The load options of one variant: measured `duration` after `warmup`, quiet, the precise
    /// timer (variants that pace themselves use it too, so none has a better clock).
    fn load(&self, rate: Option<f64>, max_in_flight: u32) -> RunArgs {
        RunArgs {
            rate,
            duration: Some(self.args.duration),
            warmup: self.args.warmup,
            max_in_flight,
            max_errors: None,
            drain_timeout: Duration::from_secs(30),
            outage_limit: Duration::from_secs(30),
            report: None,
            hdr_log: None,
            overwrite: false,
            metrics_addr: None,
            quiet: true,
            timer: TimerChoice::Precise,
        }
    }

    /// Like [`Lab::load`], for half the measured time: one of the two runs of a mirrored pair.
    fn half_load(&self, rate: Option<f64>, max_in_flight: u32) -> RunArgs {
        RunArgs {
            duration: Some(self.args.duration / 2),
            ..self.load(rate, max_in_flight)
        }
    }

    /// Drives `operation` on the apps' own loop (the schedule, the in-flight semaphore, the
    /// recorder: what factory and shop run) and returns its report.
    async fn drive<Op, Fut>(
        &self,
        load: RunArgs,
        workload: Workload,
        operation: Op,
    ) -> anyhow::Result<RunReport>
    where
        Op: FnMut(u64, Intended) -> Fut,
        Fut: Future<Output = Completed>,
    {
        let run = Run::new(&load, workload, &serde_json::json!({ "lesson": true }))?;
        let finished = run.drive(operation).await?;
        // Ctrl-C, a fatal error or too many errors end the lesson as they end an app's run.
        finished.result()?;
        Ok(finished.report)
    }

    /// A visit's three writes, all at once (the factory's way), each measured.
    async fn write_visit(&self, visit: Visit) -> Completed {
        let (session, writes) = (&self.cassandra.session, &self.writes);
        let sent = Instant::now();
        let (a, b, c) = futures::join!(
            measure(0, session.execute_unpaged(&writes.insert_timesheet, &visit)),
            measure(1, session.execute_unpaged(&writes.insert_tree, &visit)),
            measure(
                2,
                session.execute_unpaged(&writes.insert_production, visit.production())
            ),
        );
        Completed {
            sent,
            requests: vec![a, b, c],
        }
    }

    /// Writes a plot into the report folder and returns its file name.
    fn save_plot(&self, name: &str, svg: &str) -> anyhow::Result<String> {
        let file = format!("{name}.svg");
        driver::report::write_atomically(&self.folder.join(&file), svg.as_bytes())?;
        Ok(file)
    }
}

/// The runs of one variant taken together: operations over measured seconds, histograms added.
struct Combined {
    achieved_rate: f64,
    response: Histogram<u64>,
}

impl Combined {
    fn of(reports: &[RunReport]) -> Combined {
        let seconds: f64 = reports.iter().map(|r| r.measured_seconds).sum();
        let operations: f64 = reports
            .iter()
            .map(|r| r.achieved_rate * r.measured_seconds)
            .sum();
        let mut response = driver::record::new_histogram();
        for report in reports {
            driver::tally::add_into(&mut response, &response_histogram(report));
        }
        Combined {
            achieved_rate: operations / seconds.max(1e-9),
            response,
        }
    }

    fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.response)
    }
}

/// The tables a visit is written to, in the order of [`Lab::write_visit`]'s requests.
const VISIT_TABLES: [&str; 3] = ["timesheets", "trees", "production"];

/// A workload of visits (three writes each) named after the lesson.
fn visits(tool: &'static str) -> Workload {
    Workload {
        tool,
        op: "visit",
        request: "write",
        requests_per_op: VISIT_TABLES.len(),
        service_tags: VISIT_TABLES.to_vec(),
        operations: None,
    }
}

/// A single-write workload named after the lesson.
fn one_write(tool: &'static str) -> Workload {
    Workload {
        tool,
        op: "write",
        request: "write",
        requests_per_op: 1,
        service_tags: vec!["timesheets"],
        operations: None,
    }
}

/// Milliseconds, three decimals.
fn ms(microseconds: f64) -> String {
    format!("{:.3}", microseconds / 1e3)
}

/// The headline percentiles of a report (every operation, failed and missed too), microseconds.
fn response(report: &RunReport) -> Percentiles {
    report.headline()
}

/// The headline histogram of a report (empty if it has none).
fn response_histogram(report: &RunReport) -> Histogram<u64> {
    report
        .headline_histogram()
        .unwrap_or_else(driver::record::new_histogram)
}

/// Runs the lessons asked for and writes the report folder (`lessons.json`, `index.html` and one
/// SVG per plot).
pub async fn run(args: &LessonsArgs) -> anyhow::Result<(LessonsReport, PathBuf)> {
    let selected = select(&args.only);
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let folder = crate::suite::prepare_folder(Some(
        &args
            .out
            .clone()
            .unwrap_or_else(|| Path::new("reports").join(format!("lessons-{stamp}"))),
    ))?;
    let started_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let (cassandra, _) =
        crate::suite::reach_ring(&args.connection, !args.no_local_ring, 1, 1).await?;
    let nodes = schema::nodes_per_datacenter(&cassandra.session);
    let keyspace = crate::suite::stamped_keyspace("lessons", &started_at);
    let one_each = schema::Replication(nodes.keys().map(|dc| (dc.clone(), 1)).collect());
    schema::apply(
        &cassandra.session,
        &schema::project_schema()?,
        &keyspace,
        &one_each,
    )
    .await?;
    let writes = FactoryStatements::prepare(
        &cassandra.session,
        &keyspace,
        &TableConsistency::uniform(args.connection.consistency.0),
    )
    .await?;
    let lab = Lab {
        cassandra,
        keyspace: keyspace.clone(),
        writes,
        workforce: Workforce::generate(1, 100, 100),
        args: args.clone(),
        folder: folder.clone(),
    };
    eprintln!(
        "bench lessons: {} lesson(s), {} per variant after {} of warm-up, keyspace {keyspace} (replication 1 per datacenter), report in {}",
        selected.len(),
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup),
        folder.display()
    );
    let mut lessons = Vec::new();
    // A lesson that fails or is interrupted ends the run, but the lessons before it are kept:
    // the keyspace is dropped and the report written either way.
    let mut stopped = None;
    for name in selected {
        eprintln!("bench lessons: {name}...");
        let lesson = match name {
            LessonName::Prepared => prepared::run(&lab).await,
            LessonName::Window => window::run(&lab).await,
            LessonName::Fanout => fanout::run(&lab).await,
            LessonName::Routing => routing::run(&lab, &nodes).await,
            LessonName::Bound => bound::run(&lab).await,
            LessonName::Distance => Ok(distance::run(&nodes)),
        };
        match lesson {
            Ok(lesson) => {
                print!("{}", lesson.text());
                lessons.push(lesson);
            }
            Err(error) => {
                stopped = Some(error);
                break;
            }
        }
    }
    let _ = schema::drop_keyspace(&lab.cassandra.session, &keyspace).await;
    let report = LessonsReport {
        kind: "lessons",
        started_at,
        hosts: args.connection.contact_points(),
        local_dc: lab.cassandra.local_dc.clone(),
        nodes: nodes.into_iter().collect(),
        options: args.clone(),
        lessons,
    };
    driver::report::write_json(&folder.join("lessons.json"), &report)?;
    page::write(&folder, &report)?;
    match stopped {
        Some(error) => {
            eprintln!(
                "bench lessons: the lessons before it are in {}",
                folder.join(crate::html::PAGE).display()
            );
            Err(error)
        }
        None => Ok((report, folder)),
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
            [Prepared, Window, Fanout, Routing, Bound, Distance]
        );
        assert_eq!(select(&[Bound, Prepared, Bound]), [Prepared, Bound]);
        let parsed = LessonName::from_str("fanout", false);
        assert_eq!(parsed, Ok(Fanout));
        assert_eq!(Fanout.to_string(), "fanout");
    }

    #[test]
    fn a_lesson_prints_as_an_aligned_table_and_its_finding() {
        let lesson = Lesson::measured(
            "demo",
            "A demo",
            &["variant", "rate"],
            vec![
                vec!["a".to_owned(), "1".to_owned()],
                vec!["longer".to_owned(), "1000".to_owned()],
            ],
            "demo.svg".to_owned(),
            "Because.".to_owned(),
        );
        let text = lesson.text();
        assert!(text.contains("== demo: A demo"), "{text}");
        // Names on the left, numbers on the right, two spaces apart.
        assert!(text.contains("\n  variant  rate\n"), "{text}");
        assert!(text.contains("\n  a           1\n"), "{text}");
        assert!(text.contains("\n  longer   1000\n"), "{text}");
        assert!(text.ends_with("Because.\n"), "{text}");
        let left_out = Lesson::left_out("gone", "Gone", "no reason to run".to_owned());
        assert!(left_out.text().contains("left out: no reason to run"));
    }
}
