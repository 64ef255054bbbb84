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

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use crate::suite_report::{Loaded, Scenario, SuiteReport};
use driver::hdr_log::{self, HdrLog, LoggedInterval};
use driver::limiter::Limiter;
use driver::record::{ALL, Counts, IntervalSummary, Pacing, Percentiles, RESPONSE, new_histogram};
use driver::report::{ReportError, RunReport};
use driver::tally::add_into;
use driver::usage::ClientCost;

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

/// Merges `inputs` into a suite report written into `out` (with merged HDR logs where every
/// input has one) and returns it.
pub fn merge_into(out: &Path, inputs: &[Loaded]) -> Result<SuiteReport, MergeError> {
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
        let parts: Vec<(&Scenario, &Path)> = inputs
            .iter()
            .filter_map(|i| i.suite.scenario(name).map(|s| (s, i.folder.as_path())))
            .collect();
        let logs: Option<Vec<(Vec<LoggedInterval>, SystemTime)>> = parts
            .iter()
            .map(|(scenario, folder)| {
                let log = scenario.hdr_log.as_ref()?;
                let intervals = hdr_log::read(&folder.join(log)).ok()?;
                Some((intervals, started(&scenario.report)))
            })
            .collect();
        let reports: Vec<&RunReport> = parts.iter().map(|(s, _)| &s.report).collect();
        let mut report = merge_reports(&reports)?;
        let base = reports
            .iter()
            .map(|r| started(r))
            .min()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut hdr_log = None;
        if let Some(logs) = logs {
            let merged = merge_logs(&logs, base);
            fill_interval_percentiles(&mut report.intervals, &merged);
            let file = format!("{name}.hlog");
            write_log(&out.join(&file), &merged, base)?;
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
        format: driver::report::FORMAT,
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

fn started(report: &RunReport) -> SystemTime {
    humantime::parse_rfc3339(&report.started_at).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// One report from several: histograms added, counts and rates summed, intervals aligned.
pub fn merge_reports(reports: &[&RunReport]) -> Result<RunReport, MergeError> {
    let first = reports.first().ok_or(MergeError::TooFew)?;
    if let Some(other) = reports.iter().find(|r| r.tool != first.tool) {
        return Err(MergeError::Mismatch(format!(
            "a {} report and a {} report",
            first.tool, other.tool
        )));
    }
    check_overlap(reports)?;
    let mut histograms: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for report in reports {
        for tag in report.histograms.keys() {
            if let Some(histogram) = report.histogram(tag) {
                let total = histograms.entry(tag.clone()).or_insert_with(new_histogram);
                add_into(total, &histogram);
            }
        }
    }
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
        // Peaks reached at different times do not add; see the per-second sums below.
        pacing.peak_in_flight = pacing.peak_in_flight.max(report.pacing.peak_in_flight);
        client.cpu_seconds += report.client.cpu_seconds;
        client.cores_busy += report.client.cores_busy;
        client.rss_start_bytes += report.client.rss_start_bytes;
        client.rss_end_bytes += report.client.rss_end_bytes;
        client.peak_rss_bytes += report.client.peak_rss_bytes;
    }
    let (requests, ops) = (
        counts.requests + counts.requests_failed,
        counts.ops + counts.ops_failed,
    );
    client.cpu_us_per_request = if requests > 0 {
        client.cpu_seconds * 1e6 / requests as f64
    } else {
        0.0
    };
    client.cpu_us_per_op = if ops > 0 {
        client.cpu_seconds * 1e6 / ops as f64
    } else {
        0.0
    };
    let verdicts: Vec<String> = reports
        .iter()
        .map(|r| r.limiter.explanation.clone())
        .collect();
    let endings: Vec<&str> = reports.iter().map(|r| r.ending.as_str()).collect();
    let targets: Option<Vec<f64>> = reports.iter().map(|r| r.target_rate).collect();
    let intervals = merge_intervals(reports);
    // Requests in flight at once, across the processes: the largest per-second sum.
    pacing.peak_in_flight = intervals
        .iter()
        .map(|i| i.in_flight)
        .fold(pacing.peak_in_flight, usize::max);
    Ok(RunReport {
        format: first.format,
        tool: first.tool.clone(),
        version: first.version.clone(),
        started_at: reports
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        names: first.names.clone(),
        config: serde_json::json!({ "merged_from": reports.iter().map(|r| r.config.clone()).collect::<Vec<_>>() }),
        ending: if endings.iter().all(|e| *e == "finished") {
            "finished".to_owned()
        } else {
            endings.join("; ")
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
        latency_us: histograms
            .iter()
            .map(|(tag, h)| (tag.clone(), Percentiles::of(h)))
            .collect(),
        histograms: histograms
            .iter()
            .map(|(tag, h)| (tag.clone(), RunReport::encode(h)))
            .collect(),
        intervals,
        pacing,
        client,
        limiter: Limiter {
            verdict: merged_verdict(reports),
            explanation: format!(
                "merged from {} processes: {}",
                reports.len(),
                verdicts.join(" | ")
            ),
            warning: reports.iter().find_map(|r| r.limiter.warning.clone()),
        },
        app: serde_json::Value::Null,
    })
}

/// The verdict of processes that ran as one: theirs if they agree, else that of the one that fell
/// furthest short of its target (the merged run is as short as its slowest process).
fn merged_verdict(reports: &[&RunReport]) -> driver::limiter::Verdict {
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

/// The per-second series of all reports on one wall clock: counts added per second. Percentiles
/// cannot be added; they stay empty until HDR logs fill them in.
fn merge_intervals(reports: &[&RunReport]) -> Vec<IntervalSummary> {
    let base = reports
        .iter()
        .map(|r| started(r))
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut seconds: BTreeMap<u64, IntervalSummary> = BTreeMap::new();
    for report in reports {
        let offset = started(report)
            .duration_since(base)
            .unwrap_or_default()
            .as_secs_f64();
        // In flight and memory are snapshots: one per process and second (the larger, when a
        // sliver and a whole second of one process fall into one), then added across processes.
        let mut snapshots: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
        for interval in &report.intervals {
            let bucket = (interval.at + offset).round().max(1.0) as u64;
            let snapshot = snapshots.entry(bucket).or_default();
            snapshot.0 = snapshot.0.max(interval.in_flight);
            snapshot.1 = snapshot.1.max(interval.rss_bytes);
        }
        for interval in &report.intervals {
            let at = interval.at + offset;
            let bucket = at.round().max(1.0) as u64;
            let merged = seconds.entry(bucket).or_insert_with(|| IntervalSummary {
                at: bucket as f64,
                seconds: interval.seconds,
                counts: Counts::default(),
                response_us: Percentiles::default(),
                all_us: Percentiles::default(),
                oldest_outstanding_us: 0.0,
                in_flight: 0,
                rss_bytes: 0,
                errors: BTreeMap::new(),
            });
            // A sliver (the first interval can end a millisecond after the warm-up) must not
            // stand for a bucket to which others bring whole seconds: that would be a
            // thousandfold rate spike.
            merged.seconds = merged.seconds.max(interval.seconds);
            merged.counts.add(&interval.counts);
            // The oldest operation out anywhere is the oldest of the merged run.
            merged.oldest_outstanding_us = merged
                .oldest_outstanding_us
                .max(interval.oldest_outstanding_us);
            for (kind, count) in &interval.errors {
                *merged.errors.entry(*kind).or_insert(0) += count;
            }
        }
        for (bucket, (in_flight, rss_bytes)) in snapshots {
            if let Some(merged) = seconds.get_mut(&bucket) {
                merged.in_flight += in_flight;
                merged.rss_bytes += rss_bytes;
            }
        }
    }
    seconds.into_values().collect()
}

/// HDR logs merged: each input's intervals shifted onto the common base time and added per tag
/// and per second.
fn merge_logs(
    logs: &[(Vec<LoggedInterval>, SystemTime)],
    base: SystemTime,
) -> BTreeMap<(String, u64), Histogram<u64>> {
    let mut merged: BTreeMap<(String, u64), Histogram<u64>> = BTreeMap::new();
    for (intervals, start) in logs {
        let offset = start.duration_since(base).unwrap_or_default();
        for interval in intervals {
            let second = (interval.start + offset).as_secs_f64().round() as u64;
            let total = merged
                .entry((interval.tag.clone(), second))
                .or_insert_with(new_histogram);
            add_into(total, &interval.histogram);
        }
    }
    merged
}

/// Fills each merged second's percentiles (the headline, `all`, and the successful-only
/// `response`) from the merged logs.
fn fill_interval_percentiles(
    intervals: &mut [IntervalSummary],
    logs: &BTreeMap<(String, u64), Histogram<u64>>,
) {
    for interval in intervals {
        // The interval ending at second s started at s - 1.
        let start = (interval.at.round() as u64).saturating_sub(1);
        if let Some(histogram) = logs.get(&(RESPONSE.to_owned(), start)) {
            interval.response_us = Percentiles::of(histogram);
        }
        if let Some(histogram) = logs.get(&(ALL.to_owned(), start)) {
            interval.all_us = Percentiles::of(histogram);
        }
    }
}

fn write_log(
    path: &Path,
    merged: &BTreeMap<(String, u64), Histogram<u64>>,
    base: SystemTime,
) -> Result<(), MergeError> {
    let fail = |source| MergeError::WriteLog {
        path: path.display().to_string(),
        source,
    };
    let mut log = HdrLog::create(
        path,
        base,
        &format!("pickle bench merge {}", env!("CARGO_PKG_VERSION")),
    )
    .map_err(fail)?;
    let mut in_time_order: Vec<(&(String, u64), &Histogram<u64>)> = merged.iter().collect();
    in_time_order.sort_by_key(|((tag, second), _)| (*second, tag.clone()));
    for ((tag, second), histogram) in in_time_order {
        log.write(
            tag,
            histogram,
            Duration::from_secs(*second),
            Duration::from_secs(1),
        );
    }
    log.finish().map_err(fail)
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};

    use super::*;
    use driver::limiter::Verdict;
    use driver::report::Names;

    /// A report holding `latencies` (nanoseconds) as its response histogram.
    fn report_of(latencies: &[u64]) -> RunReport {
        let mut histogram = new_histogram();
        latencies
            .iter()
            .for_each(|l| histogram.saturating_record(*l));
        let count = latencies.len() as u64;
        RunReport {
            format: driver::report::FORMAT,
            tool: "factory".into(),
            version: "test".into(),
            started_at: "2026-11-22T06:00:00.000Z".into(),
            names: Names {
                op: "visit".into(),
                request: "write".into(),
            },
            config: serde_json::Value::Null,
            ending: "finished".into(),
            target_rate: Some(500.0),
            latency_from: String::new(),
            achieved_rate: count as f64 / 10.0,
            achieved_request_rate: 3.0 * count as f64 / 10.0,
            measured_seconds: 10.0,
            wall_seconds: 10.0,
            counts: Counts {
                ops: count,
                ops_failed: 0,
                requests: 3 * count,
                requests_failed: 0,
                requests_remote: 0,
                missed: 0,
                abandoned: 0,
            },
            abandoned: 0,
            errors: BTreeMap::new(),
            latency_us: BTreeMap::from([(RESPONSE.to_owned(), Percentiles::of(&histogram))]),
            histograms: BTreeMap::from([(RESPONSE.to_owned(), RunReport::encode(&histogram))]),
            intervals: Vec::new(),
            pacing: Pacing::default(),
            client: ClientCost {
                cpu_seconds: count as f64 / 1e4,
                ..ClientCost::default()
            },
            limiter: Limiter {
                verdict: Verdict::KeptUp,
                explanation: "kept up".into(),
                warning: None,
            },
            app: serde_json::Value::Null,
        }
    }

    #[test]
    fn two_halves_merge_into_the_percentiles_of_the_whole() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        // A long-tailed latency distribution: mostly ~1 ms, some up to a second.
        let latencies: Vec<u64> = (0..20_000)
            .map(|_| {
                if rng.random_bool(0.01) {
                    rng.random_range(10_000_000..1_000_000_000)
                } else {
                    rng.random_range(200_000..2_000_000)
                }
            })
            .collect();
        let whole = report_of(&latencies);
        let (first, second) = latencies.split_at(latencies.len() / 3);
        let merged = merge_reports(&[&report_of(first), &report_of(second)]).unwrap();

        let (expected, got) = (whole.latency_us[RESPONSE], merged.latency_us[RESPONSE]);
        assert_eq!(
            got, expected,
            "percentiles of the sum equal those of the whole"
        );
        assert_eq!(merged.counts, whole.counts);
        assert_eq!(merged.target_rate, Some(1000.0));
        // Averaging the halves' p99s would not: the halves differ.
        let averaged = (report_of(first).latency_us[RESPONSE].p99
            + report_of(second).latency_us[RESPONSE].p99)
            / 2.0;
        assert_ne!(averaged, expected.p99);
        let expected_cpu = whole.client.cpu_seconds * 1e6 / whole.counts.requests as f64;
        assert!((merged.client.cpu_us_per_request - expected_cpu).abs() < 1e-9);
    }

    /// A second of `ops` visits ending at `at`, `seconds` long, with `in_flight` out at its end.
    fn second(at: f64, seconds: f64, ops: u64, in_flight: usize) -> IntervalSummary {
        IntervalSummary {
            at,
            seconds,
            counts: Counts {
                ops,
                ..Counts::default()
            },
            response_us: Percentiles::default(),
            all_us: Percentiles::default(),
            oldest_outstanding_us: 0.0,
            in_flight,
            rss_bytes: 0,
            errors: BTreeMap::new(),
        }
    }

    #[test]
    fn the_edges_of_a_merge_are_what_ran() {
        // A's first interval is a 1 ms sliver after its warm-up; B's seconds are whole.
        let mut a = report_of(&[1_000_000; 2001]);
        a.intervals = vec![
            second(0.001, 0.001, 1, 10),
            second(1.001, 1.0, 1000, 50),
            second(2.001, 1.0, 1000, 10),
        ];
        a.pacing.peak_in_flight = 50;
        let mut b = report_of(&[1_000_000; 2000]);
        b.intervals = vec![second(1.0, 1.0, 1000, 10), second(2.0, 1.0, 1000, 50)];
        b.pacing.peak_in_flight = 50;
        a.limiter.verdict = Verdict::KeptUp;
        b.limiter.verdict = Verdict::ServerLatency;
        b.achieved_rate = 100.0;
        let merged = merge_reports(&[&a, &b]).unwrap();
        let top_rate = merged
            .intervals
            .iter()
            .map(|i| i.counts.ops as f64 / i.seconds)
            .fold(0.0, f64::max);
        assert!(
            top_rate <= 2001.0,
            "a sliver made a spike: {:?}",
            merged.intervals
        );
        // Both peaked at 50, a second apart: never 100 at once.
        assert_eq!(merged.pacing.peak_in_flight, 60);
        assert_eq!(
            merged.limiter.verdict,
            Verdict::ServerLatency,
            "the slower one's"
        );

        // Runs an hour apart are refused, naming both.
        b.started_at = "2026-11-22T07:00:00.000Z".into();
        let error = merge_reports(&[&a, &b]).unwrap_err().to_string();
        assert!(
            error.contains("input 1 ran 2026-11-22T06:00:00.000Z") && error.contains("apart"),
            "{error}"
        );
    }

    #[test]
    fn different_tools_do_not_merge() {
        let mut shop = report_of(&[1, 2, 3]);
        shop.tool = "shop".into();
        assert!(matches!(
            merge_reports(&[&report_of(&[1]), &shop]),
            Err(MergeError::Mismatch(_))
        ));
    }
}
