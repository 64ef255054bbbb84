//! `bench merge OUT IN...`: one report from several processes that ran the same scenarios at the
//! same time (factories scaled out across containers, say).
//!
//! Percentiles are never averaged: the histograms of every input are added, and the merged
//! percentiles are read from the sum, exactly as if one process had recorded everything. Counts,
//! rates and CPU are added; the per-second series is aligned on the wall clock, and its
//! percentiles come from the inputs' HDR logs, merged the same way, when every input has one.
//!
//! What is not a sum is not summed: requests in flight are added per second (peaks reached at
//! different times do not add), a second's length is the longest any input gives it (a warm-up
//! sliver does not turn a bucket of whole seconds into a rate spike), the verdict is that of the
//! input furthest short of its target, and inputs that did not run at the same time are refused.
//!
//! `shards` checks that the inputs are every shard of one run, once each; `series` rebuilds the
//! per-second series from the inputs' HDR logs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

mod series;
mod shards;

use crate::report::suite_report::{Loaded, Scenario, SuiteReport};
use loadgen::record::hdr_log::{self, IntervalLog, ReadLogError};
use loadgen::record::{ClientCost, Counts, Pacing, new_histogram};
use loadgen::report::{Limiter, ReportError, RingSide, RunReport};
pub use series::Tag;
use series::{fill_interval_percentiles, merge_intervals, merge_logs, write_log};

/// Why reports cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Fewer than two inputs.
    #[error("merging needs at least two reports")]
    TooFew,
    /// The inputs hold different scenarios, or different tools under one name.
    #[error("the reports cannot be merged: {0}")]
    Mismatch(String),
    /// Two inputs did not run at the same time: adding their rates would describe a run that
    /// never happened.
    #[error(
        "the reports cannot be merged: {0}; merge only processes that ran at once (compare runs made one after another with `bench compare`)"
    )]
    Apart(String),
    /// The inputs are not the shards of one run, each once.
    #[error("the reports cannot be merged: {0}")]
    Shards(String),
    /// A report or log could not be read or written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// An HDR log could not be read.
    #[error(transparent)]
    Log(#[from] hdr_log::ReadLogError),
    /// The merged HDR log could not be written.
    #[error("cannot write the merged HDR log {path}: {source}")]
    WriteLog {
        /// The log.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// How far a log's start may be from its report's: the same instant, written twice, to the
/// millisecond; a second allows for rounding.
const LOG_START_SLACK_S: f64 = 1.0;

/// Merges `inputs` into a suite report written into `out` (with merged HDR logs where every
/// input has one) and returns it. Sharded inputs must be every shard of one run, once each;
/// with `partial`, those there are merged and the report says which are missing. Every log an
/// input names must be there and be its report's; when an input wrote none, the merged seconds
/// have no percentiles (n/a), never zeros.
pub fn merge_into(out: &Path, inputs: &[Loaded], partial: bool) -> Result<SuiteReport, MergeError> {
    let first = inputs.first().ok_or(MergeError::TooFew)?;
    if inputs.len() < 2 {
        return Err(MergeError::TooFew);
    }
    let names: Vec<&str> = first
        .suite
        .scenarios
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    for input in &inputs[1..] {
        let theirs: Vec<&str> = input
            .suite
            .scenarios
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        if theirs != names {
            return Err(MergeError::Mismatch(format!(
                "one has scenarios [{}], another [{}]",
                names.join(", "),
                theirs.join(", ")
            )));
        }
    }
    let mut scenarios = Vec::new();
    for name in names {
        let parts: Vec<(&Scenario, &Loaded)> = inputs
            .iter()
            .filter_map(|i| i.suite.scenario(name).map(|s| (s, i)))
            .collect();
        let reports: Vec<&RunReport> = parts.iter().map(|(s, _)| &s.report).collect();
        let mut logs = Vec::new();
        for (scenario, loaded) in &parts {
            if let Some(log) = loaded.interval_log(scenario)? {
                log_starts_with_report(&log, &scenario.report).map_err(|reason| {
                    MergeError::Log(ReadLogError::NotOfItsReport {
                        path: loaded.log_path(scenario).unwrap_or_default(),
                        reason,
                    })
                })?;
                logs.push(log);
            }
        }
        let every_log = (logs.len() == parts.len()).then_some(logs.as_slice());
        let MergedRun { report, log } = merge_runs(&reports, every_log, partial)?;
        let mut hdr_log = None;
        if let Some(MergedLog {
            seconds,
            lengths,
            base,
        }) = log
        {
            let file = format!("{name}.hlog");
            write_log(&out.join(&file), (&seconds, &lengths), base)?;
            hdr_log = Some(file);
        }
        scenarios.push(Scenario {
            name: name.to_owned(),
            description: format!(
                "{} (merged from {} processes)",
                parts[0].0.description,
                parts.len()
            ),
            hdr_log,
            report,
        });
    }
    let suite = SuiteReport {
        format: loadgen::report::FORMAT,
        kind: "suite".to_owned(),
        started_at: first.suite.started_at.clone(),
        ring: first.suite.ring.clone(),
        keyspace: first.suite.keyspace.clone(),
        config: serde_json::json!({ "merged_from": inputs.iter().map(|i| i.folder.display().to_string()).collect::<Vec<_>>() }),
        scenarios,
    };
    suite.write(out)?;
    Ok(suite)
}

/// A log must start when its report says measurement began: one that does not is another run's.
pub fn log_starts_with_report(log: &IntervalLog, report: &RunReport) -> Result<(), String> {
    let report_start = started(report)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    if (log.start_time_s - report_start).abs() <= LOG_START_SLACK_S {
        return Ok(());
    }
    Err(format!(
        "it starts at {:.3} s since the epoch, and its report at {report_start:.3} ({})",
        log.start_time_s, report.started_at
    ))
}

/// The per-second histograms of merged logs, by tag and second, from `base`.
pub struct MergedLog {
    /// Each tag's histogram of each second (`None`: the untagged headline).
    pub seconds: BTreeMap<(Tag, u64), Histogram<u64>>,
    /// How long each second is: the longest interval of an input that fell into it (a run's
    /// last tick is a sliver of a few milliseconds, and stays one when merged).
    pub lengths: BTreeMap<u64, f64>,
    /// When second 0 began.
    pub base: SystemTime,
}

/// One run merged from several, in memory.
pub struct MergedRun {
    /// The merged report, its per-second percentiles filled from the merged log if there is one.
    pub report: RunReport,
    /// The merged log, when every input had one.
    pub log: Option<MergedLog>,
}

/// Merges runs that ran at once (see [`merge_reports`]) and, when `logs` gives every run's
/// interval log in the same order, their logs second by second.
pub fn merge_runs(
    reports: &[&RunReport],
    logs: Option<&[IntervalLog]>,
    partial: bool,
) -> Result<MergedRun, MergeError> {
    let mut report = merge_reports(reports, partial)?;
    let base = reports
        .iter()
        .map(|r| started(r))
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let log = logs.filter(|l| l.len() == reports.len()).map(|logs| {
        let (seconds, lengths) = merge_logs(logs, base);
        fill_interval_percentiles(&mut report.intervals, &seconds);
        MergedLog {
            seconds,
            lengths,
            base,
        }
    });
    Ok(MergedRun { report, log })
}

/// When measurement began; every report given to a merge has been checked to hold a time there
/// ([`RunReport::check`]).
fn started(report: &RunReport) -> SystemTime {
    humantime::parse_rfc3339_weak(&report.started_at).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The per-input rows of every scenario of `inputs`, as text: shard, host, rate, p99.
pub fn shard_tables(inputs: &[Loaded]) -> String {
    let Some(first) = inputs.first() else {
        return String::new();
    };
    let mut out = String::new();
    for scenario in &first.suite.scenarios {
        let reports: Vec<&RunReport> = inputs
            .iter()
            .filter_map(|i| i.suite.scenario(&scenario.name).map(|s| &s.report))
            .collect();
        out.push_str(&format!("{}, by input:\n", scenario.name));
        out.push_str(&shards::shard_table(&reports));
    }
    out
}

/// The ring's side of merged processes: each watched the same ring, so the first one's samples,
/// named as such, not their sum.
fn merged_ring(reports: &[&RunReport]) -> Option<RingSide> {
    let (report, ring) = reports
        .iter()
        .find_map(|r| Some((r, r.ring.as_ref().filter(|ring| !ring.nodes.is_empty())?)))?;
    let mut ring = ring.clone();
    ring.how = format!("as the process on {} saw it: {}", report.run.host, ring.how);
    Some(ring)
}

/// One report from several: histograms added, counts and rates summed, intervals aligned.
/// Sharded reports must be every shard of one run, once each (see [`merge_into`]).
pub fn merge_reports(reports: &[&RunReport], partial: bool) -> Result<RunReport, MergeError> {
    let first = reports.first().ok_or(MergeError::TooFew)?;
    for (i, report) in reports.iter().enumerate() {
        report
            .check()
            .map_err(|why| MergeError::Mismatch(format!("input {}: {why}", i + 1)))?;
    }
    check_one_kind(reports)?;
    let coverage = shards::check_shards(reports, partial)?;
    check_overlap(reports)?;
    let (latency_us, encoded) = RunReport::tagged(&summed_histograms(reports)?);
    let Totals {
        counts,
        errors,
        mut pacing,
        client,
    } = Totals::of(reports);
    let endings: Vec<&str> = reports.iter().map(|r| r.ending.as_str()).collect();
    let targets: Option<Vec<f64>> = reports.iter().map(|r| r.target_rate).collect();
    let intervals = merge_intervals(reports);
    // Requests in flight at once, across the processes: the largest per-second sum.
    pacing.peak_in_flight = intervals
        .iter()
        .map(|i| i.in_flight)
        .fold(pacing.peak_in_flight, usize::max);
    let merged = RunReport {
        format: first.format,
        tool: first.tool.clone(),
        version: first.version.clone(),
        started_at: reports
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        run: coverage.identity(reports),
        names: first.names.clone(),
        config: serde_json::json!({ "merged_from": reports.iter().map(|r| r.config.clone()).collect::<Vec<_>>() }),
        ending: {
            let ending = if endings.iter().all(|e| *e == "finished") {
                "finished".to_owned()
            } else {
                endings.join("; ")
            };
            match coverage.note() {
                Some(note) => format!("{ending} ({note})"),
                None => ending,
            }
        },
        latency_from: RunReport::latency_from(targets.as_ref().map(|_| 0.0)).to_owned(),
        target_rate: targets.map(|t| t.iter().sum()),
        achieved_rate: reports.iter().map(|r| r.achieved_rate).sum(),
        achieved_request_rate: reports.iter().map(|r| r.achieved_request_rate).sum(),
        measured_seconds: reports
            .iter()
            .map(|r| r.measured_seconds)
            .fold(0.0, f64::max),
        wall_seconds: reports.iter().map(|r| r.wall_seconds).fold(0.0, f64::max),
        counts,
        abandoned: reports.iter().map(|r| r.abandoned).sum(),
        errors,
        latency_us,
        histograms: encoded,
        intervals,
        pacing,
        client,
        limiter: merged_limiter(reports),
        ring: merged_ring(reports),
        modelled_network: reports.iter().find_map(|r| r.modelled_network.clone()),
        ring_settings: reports.iter().find_map(|r| r.ring_settings.clone()),
        app: shards::shard_rows(reports),
    };
    // What was added up must itself be a sound report: every visit due in the headline, no
    // count beyond what a report holds.
    merged.check().map_err(|why| {
        MergeError::Mismatch(format!("the merged report would not be sound: {why}"))
    })?;
    Ok(merged)
}

/// Refuses inputs that were not one kind of run: other tools or operations, open loop with
/// closed, other modelled networks.
fn check_one_kind(reports: &[&RunReport]) -> Result<(), MergeError> {
    let first = reports[0];
    let refuse = |i: usize, what: String| {
        Err(MergeError::Mismatch(format!(
            "input 1 and input {}: {what}",
            i + 1
        )))
    };
    for (i, other) in reports.iter().enumerate().skip(1) {
        if other.tool != first.tool || other.names.op != first.names.op {
            return refuse(
                i,
                format!("a {} report and a {} report", first.tool, other.tool),
            );
        }
        if other.is_open_loop() != first.is_open_loop() {
            return refuse(
                i,
                "one ran open loop (a target rate) and the other closed loop (unthrottled): their \
                 latencies count from different instants"
                    .to_owned(),
            );
        }
        if other.modelled_network != first.modelled_network {
            let network = |r: &RunReport| {
                r.modelled_network
                    .clone()
                    .unwrap_or_else(|| "none".to_owned())
            };
            return refuse(
                i,
                format!(
                    "modelled networks differ ({} and {})",
                    network(first),
                    network(other)
                ),
            );
        }
    }
    Ok(())
}

/// Each tag's histograms, added up: percentiles of the whole, never averages of percentiles. A
/// histogram that cannot be read or added is an error, never a part quietly left out.
fn summed_histograms(
    reports: &[&RunReport],
) -> Result<BTreeMap<String, Histogram<u64>>, MergeError> {
    let mut histograms: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for (i, report) in reports.iter().enumerate() {
        for tag in report.histograms.keys() {
            let refuse = |what: String| {
                MergeError::Mismatch(format!("input {}: histogram '{tag}' {what}", i + 1))
            };
            let histogram = report
                .histogram(tag)
                .ok_or_else(|| refuse("is not a readable HDR histogram".to_owned()))?;
            let total = histograms.entry(tag.clone()).or_insert_with(new_histogram);
            total
                .add(&histogram)
                .map_err(|e| refuse(format!("cannot be added ({e:?}): values beyond an hour?")))?;
        }
    }
    Ok(histograms)
}

/// What adds up across processes: counts, errors by kind, time waited, the client's cost.
struct Totals {
    counts: Counts,
    errors: BTreeMap<String, u64>,
    pacing: Pacing,
    client: ClientCost,
}

impl Totals {
    fn of(reports: &[&RunReport]) -> Totals {
        let mut counts = Counts::default();
        let mut errors = BTreeMap::new();
        let mut pacing = Pacing::default();
        let mut client = ClientCost::default();
        for report in reports {
            counts.add(&report.counts);
            for (kind, n) in &report.errors {
                *errors.entry(kind.clone()).or_insert(0) += n;
            }
            pacing.waiting_for_permits_s += report.pacing.waiting_for_permits_s;
            pacing.late_with_free_permits_s += report.pacing.late_with_free_permits_s;
            // Peaks reached at different times do not add; see the per-second sums instead.
            pacing.peak_in_flight = pacing.peak_in_flight.max(report.pacing.peak_in_flight);
            client.cpu_seconds += report.client.cpu_seconds;
            client.wake_ups += report.client.wake_ups;
            client.cores_busy += report.client.cores_busy;
            client.rss_start_bytes += report.client.rss_start_bytes;
            client.rss_end_bytes += report.client.rss_end_bytes;
            client.peak_rss_bytes += report.client.peak_rss_bytes;
        }
        let per = |total: u64| {
            if total > 0 {
                client.cpu_seconds * 1e6 / total as f64
            } else {
                0.0
            }
        };
        client.cpu_us_per_request = per(counts.requests + counts.requests_failed);
        let ops = counts.ops + counts.ops_failed;
        client.cpu_us_per_op = per(ops);
        client.wake_ups_per_op = if ops > 0 {
            client.wake_ups as f64 / ops as f64
        } else {
            0.0
        };
        Totals {
            counts,
            errors,
            pacing,
            client,
        }
    }
}

/// The merged run's verdict, and every process's explanation beside it.
fn merged_limiter(reports: &[&RunReport]) -> Limiter {
    let verdicts: Vec<String> = reports
        .iter()
        .map(|r| r.limiter.explanation.clone())
        .collect();
    Limiter {
        verdict: merged_verdict(reports),
        explanation: format!(
            "merged from {} processes: {}",
            reports.len(),
            verdicts.join(" | ")
        ),
        warning: reports.iter().find_map(|r| r.limiter.warning.clone()),
    }
}

/// The verdict of processes that ran as one: theirs if they agree, else that of the one that fell
/// furthest short of its target (the merged run is as short as its slowest process).
fn merged_verdict(reports: &[&RunReport]) -> loadgen::report::Verdict {
    let share = |r: &RunReport| r.target_rate.map_or(1.0, |t| r.achieved_rate / t.max(1e-9));
    reports
        .iter()
        .min_by(|a, b| share(a).total_cmp(&share(b)))
        .map(|r| r.limiter.verdict)
        .filter(|_| {
            reports
                .windows(2)
                .any(|w| w[0].limiter.verdict != w[1].limiter.verdict)
        })
        .unwrap_or(reports[0].limiter.verdict)
}

/// Refuses inputs whose measured times do not overlap: from `started_at`, for `wall_seconds`.
fn check_overlap(reports: &[&RunReport]) -> Result<(), MergeError> {
    let span = |r: &RunReport| {
        let start = started(r);
        let seconds = r.wall_seconds.max(r.measured_seconds);
        (start, start + Duration::from_secs_f64(seconds.max(0.0)))
    };
    for (i, a) in reports.iter().enumerate() {
        for (j, b) in reports.iter().enumerate().skip(i + 1) {
            let ((a_start, a_end), (b_start, b_end)) = (span(a), span(b));
            if a_end <= b_start || b_end <= a_start {
                return Err(MergeError::Apart(format!(
                    "input {} ran {} to {} and input {} {} to {}, apart",
                    i + 1,
                    a.started_at,
                    humantime::format_rfc3339_millis(a_end),
                    j + 1,
                    b.started_at,
                    humantime::format_rfc3339_millis(b_end)
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "merge_tests.rs"]
pub(crate) mod tests;
