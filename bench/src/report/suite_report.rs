//! The report of a suite: several scenarios (each a factory or shop run), with the ring they ran
//! on. `bench compare`, `merge` and `plot` read it, and read a single run's report as a suite of
//! one scenario, so any report can be compared with any other of the same scenarios.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use loadgen::record::hdr_log::{self, IntervalLog, ReadLogError};
use loadgen::report::{FORMAT, ReportError, RunReport};

/// The file name of a suite's report inside its folder.
pub const SUITE_FILE: &str = "report.json";

/// Where a suite ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RingInfo {
    /// Contact points.
    pub hosts: Vec<String>,
    /// The datacenter the apps treated as local.
    pub local_dc: String,
    /// Every datacenter of the ring.
    pub datacenters: Vec<String>,
    /// Nodes the driver saw.
    pub nodes: usize,
    /// Cassandra's `release_version`, as the coordinator reports it.
    pub cassandra_version: Option<String>,
    /// Whether `bench` started the ring itself (a local ring of JVMs on this machine).
    pub started_locally: bool,
    /// The delay a local ring models between its clients and nodes (and its DCs), when the
    /// contact points are such a ring: every number of the report carries it.
    #[serde(default)]
    pub modelled_network: Option<String>,
}

/// One scenario of a suite.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    /// Its name (`factory-5000`, `shop-10-sequential`).
    pub name: String,
    /// What it does, in a few words.
    pub description: String,
    /// The HDR interval log beside the report, if there is one (a file name in the same folder).
    pub hdr_log: Option<String>,
    /// The run's own report.
    pub report: RunReport,
}

/// A suite's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteReport {
    /// Report format version.
    pub format: u32,
    /// Always `suite`: tells a suite's report from a single run's.
    pub kind: String,
    /// When the suite began (RFC 3339).
    pub started_at: String,
    /// The ring.
    pub ring: RingInfo,
    /// The keyspace the scenarios used.
    pub keyspace: String,
    /// The suite's own settings.
    pub config: serde_json::Value,
    /// The scenarios, in the order they ran.
    pub scenarios: Vec<Scenario>,
}

impl SuiteReport {
    /// A suite's report around one run's report (a scenario named after the tool).
    pub fn of_run(report: RunReport, hdr_log: Option<String>) -> SuiteReport {
        SuiteReport {
            format: FORMAT,
            kind: "suite".to_owned(),
            started_at: report.started_at.clone(),
            ring: RingInfo::default(),
            keyspace: report.config["connection"]["keyspace"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            config: serde_json::Value::Null,
            scenarios: vec![Scenario {
                name: report.tool.clone(),
                description: format!("a {} run", report.tool),
                hdr_log,
                report,
            }],
        }
    }

    /// The scenario called `name`.
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// Writes the report into `folder` as `report.json`, atomically.
    pub fn write(&self, folder: &Path) -> Result<(), ReportError> {
        loadgen::report::write_json(&folder.join(SUITE_FILE), self)
    }
}

/// A report read from disk: the suite, and the folder its HDR logs are in.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The report, as a suite.
    pub suite: SuiteReport,
    /// The folder of the report file (where its HDR logs are).
    pub folder: PathBuf,
}

impl Loaded {
    /// Where `scenario`'s interval log is: beside the report, or (for a single run's report)
    /// where the run wrote it, if it is not beside the report. `None` when no log was written.
    pub fn log_path(&self, scenario: &Scenario) -> Option<PathBuf> {
        let name = scenario.hdr_log.as_ref()?;
        let beside = self.folder.join(name);
        let written = scenario.report.config["run"]["hdr_log"]
            .as_str()
            .map(PathBuf::from)
            .filter(|p| p.file_name() == Some(std::ffi::OsStr::new(name)) && p.is_file());
        Some(match written {
            Some(written) if !beside.is_file() => written,
            _ => beside,
        })
    }

    /// `scenario`'s interval log, read and checked against its report: its untagged histograms
    /// must add up to the report's headline (the same operations, the same slowest). `None` when
    /// the run wrote no log; an error, naming the file, when it wrote one that cannot be read or
    /// is not this run's.
    pub fn interval_log(&self, scenario: &Scenario) -> Result<Option<IntervalLog>, ReadLogError> {
        self.log_of(scenario, |_| true)
    }

    /// [`Loaded::interval_log`] with only its untagged histograms (the headline): what the
    /// comparisons read, an eighth of the memory.
    pub fn headline_log(&self, scenario: &Scenario) -> Result<Option<IntervalLog>, ReadLogError> {
        self.log_of(scenario, |tag| tag.is_none())
    }

    fn log_of(
        &self,
        scenario: &Scenario,
        keep: impl Fn(Option<&str>) -> bool,
    ) -> Result<Option<IntervalLog>, ReadLogError> {
        let Some(path) = self.log_path(scenario) else {
            return Ok(None);
        };
        let log = hdr_log::read_tags(&path, keep)?;
        log_matches(&scenario.report, &log)
            .map_err(|reason| ReadLogError::NotOfItsReport { path, reason })?;
        Ok(Some(log))
    }
}

/// Whether `log` is `report`'s: its untagged histograms add up to the report's headline (the same
/// operations, the same slowest); what differs, if anything.
pub fn log_matches(report: &RunReport, log: &IntervalLog) -> Result<(), String> {
    let mut total = loadgen::record::new_histogram();
    for interval in log.untagged() {
        if total.add(&interval.histogram).is_err() {
            return Err("a histogram holds values beyond an hour".to_owned());
        }
    }
    let headline = report.headline_histogram();
    let (count, max) = headline.as_ref().map_or((0, 0), |h| {
        (h.len(), if h.is_empty() { 0 } else { h.max() })
    });
    let log_max = if total.is_empty() { 0 } else { total.max() };
    if total.len() != count || !total.equivalent(log_max, max) {
        return Err(format!(
            "its untagged histograms hold {} operations up to {:.3} ms, and the report's \
             headline {count} up to {:.3} ms",
            total.len(),
            log_max as f64 / 1e6,
            max as f64 / 1e6
        ));
    }
    Ok(())
}

/// Reads a report: a suite's folder or `report.json`, or a single run's `--report` file. Every
/// run report in it is checked ([`RunReport::check`]).
pub fn load(path: &Path) -> Result<Loaded, ReportError> {
    let file = if path.is_dir() {
        path.join(SUITE_FILE)
    } else {
        path.to_path_buf()
    };
    let value = loadgen::report::read_json(&file)?;
    let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let suite = from_json(value).map_err(|reason| ReportError::Foreign {
        path: file.display().to_string(),
        reason,
    })?;
    Ok(Loaded { suite, folder })
}

/// A report's JSON (a suite's, or a single run's as a suite of one), checked; what is wrong, if
/// anything.
pub fn from_json(value: serde_json::Value) -> Result<SuiteReport, String> {
    let suite = if value.get("kind").and_then(serde_json::Value::as_str) == Some("suite") {
        let suite: SuiteReport = serde_json::from_value(value).map_err(|e| e.to_string())?;
        for scenario in &suite.scenarios {
            scenario
                .report
                .check()
                .map_err(|why| format!("scenario {}: {why}", scenario.name))?;
            if let Some(log) = &scenario.hdr_log
                && Path::new(log).file_name() != Some(std::ffi::OsStr::new(log))
            {
                return Err(format!(
                    "scenario {}: its log '{log}' is not a file name in the report's folder",
                    scenario.name
                ));
            }
        }
        suite
    } else {
        let report = RunReport::from_json(value)?;
        let log = report.config["run"]["hdr_log"]
            .as_str()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned());
        SuiteReport::of_run(report, log)
    };
    Ok(suite)
}

/// `text` in lines of at most `width` characters (a longer word gets a line of its own), each
/// ending in a newline.
pub(crate) fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The target of an unthrottled scenario, in the summary table.
pub const CLOSED_LOOP: &str = "closed loop";

/// Why closed-loop rows cannot be set beside the others.
const CLOSED_LOOP_NOTE: &str = " Closed-loop rows (unthrottled) send each operation when a permit \
     frees, so they have no schedule to fall behind: their latency is service time, which leaves out \
     the queueing a user on a schedule would wait through, and is not comparable with the \
     open-loop rows' response time from each due time.";

/// One line of the summary table, on the terminal and on the page.
#[derive(Debug, Clone)]
pub struct SummaryRow {
    /// Scenario name.
    pub name: String,
    /// Target rate, or `closed loop` when unthrottled.
    pub target: String,
    /// Achieved operations per second.
    pub achieved: f64,
    /// Headline latency percentiles, milliseconds: p50, p99, p99.9, max, of every operation due
    /// (failed, missed and abandoned too): response time from the due time in an open loop,
    /// service time from the send in a closed one.
    pub response_ms: [f64; 4],
    /// The share of operations due that failed, were missed or abandoned, percent.
    pub errors_percent: f64,
    /// CPU microseconds per request.
    pub cpu_us_per_request: f64,
    /// What limited the rate (the verdict's name).
    pub limited_by: String,
}

impl SuiteReport {
    /// The summary table's rows, one per scenario.
    pub fn summary_rows(&self) -> Vec<SummaryRow> {
        self.scenarios
            .iter()
            .map(|scenario| {
                let report = &scenario.report;
                let response = report.headline();
                SummaryRow {
                    name: scenario.name.clone(),
                    target: report
                        .target_rate
                        .map_or_else(|| CLOSED_LOOP.to_owned(), |rate| format!("{rate:.0}")),
                    achieved: report.achieved_rate,
                    response_ms: [response.p50, response.p99, response.p999, response.max]
                        .map(|us| us / 1e3),
                    errors_percent: report.error_rate() * 100.0,
                    cpu_us_per_request: report.client.cpu_us_per_request,
                    limited_by: report.limiter.verdict.describe().to_owned(),
                }
            })
            .collect()
    }

    /// What the table's numbers count, in a sentence under it; the closed-loop part only when a
    /// scenario ran closed loop.
    pub fn table_note(&self) -> String {
        let mut note = String::from(
            "Latency counts every operation due, failed, missed and abandoned ones too; errors % is \
             the share of them that did not succeed.",
        );
        if self.scenarios.iter().any(|s| !s.report.is_open_loop()) {
            note.push_str(CLOSED_LOOP_NOTE);
        }
        note
    }

    /// The summary as a text table.
    pub fn text_table(&self) -> String {
        let header = [
            "scenario",
            "target/s",
            "achieved/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "errors %",
            "CPU µs",
            "limited by",
        ];
        let mut table = loadgen::report::table::new(&header, &[0, 9]);
        for row in self.summary_rows() {
            let ms = row.response_ms.map(|ms| format!("{ms:.3}"));
            let mut cells = vec![row.name, row.target, format!("{:.1}", row.achieved)];
            cells.extend(ms);
            cells.extend([
                format!("{:.2}", row.errors_percent),
                format!("{:.1}", row.cpu_us_per_request),
                row.limited_by,
            ]);
            table.add_row(cells);
        }
        let mut text = loadgen::report::table::render(&table, 0);
        text.push_str(&wrap(&self.table_note(), 100));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_wrap_at_word_boundaries() {
        let wrapped = wrap("one two three four five", 9);
        assert_eq!(wrapped, "one two\nthree\nfour five\n");
        assert_eq!(wrap("", 9), "");
    }
}
