//! `bench check REPORT --p99 15ms --per 10s`: a run judged window by window, as large test
//! harnesses judge long runs ("p99 under 15 ms in every 10-minute window, rate drop at most
//! 5%"). A run whose p99 over the whole hour is fine can still have had a ten-minute stretch
//! that was not; a whole-run number averages it away, a window does not.
//!
//! Each window is cut from the run's interval log ([`crate::stats::windows`]): its percentiles are
//! those of exactly the operations that ended in it, failed and missed ones included; its rate is
//! the operations sent and ended in it per second; its errors, the share of its operations due
//! that failed, were missed or abandoned. A rate drop is measured against the target (open loop)
//! or against the run's own rate (closed loop). Works the same on a merged report of shards.

use std::time::Duration;

use serde::Serialize;

use crate::report::suite_report::{Loaded, Scenario};
use crate::stats::windows::{Window, cut_all};
use loadgen::record::hdr_log::ReadLogError;

/// The bounds every window must meet; `None` bounds are not checked.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Bounds {
    /// Highest p99, ms.
    pub p99_ms: Option<f64>,
    /// Highest p99.9, ms.
    pub p999_ms: Option<f64>,
    /// Largest drop of the rate, percent.
    pub rate_drop_percent: Option<f64>,
    /// Highest share of errors, percent.
    pub errors_percent: Option<f64>,
}

/// One window, judged.
#[derive(Debug, Clone, Serialize)]
pub struct WindowVerdict {
    /// Start, seconds after measurement began.
    pub from_s: f64,
    /// End.
    pub to_s: f64,
    /// Operations due in it.
    pub operations: u64,
    /// Operations sent and ended per second.
    pub rate: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// p99.9, ms.
    pub p999_ms: f64,
    /// Share of errors, percent.
    pub errors_percent: f64,
    /// The bounds it broke, each with its number.
    pub broken: Vec<String>,
}

/// A scenario's windows, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The scenario.
    pub scenario: String,
    /// The windows' length, seconds.
    pub per_s: f64,
    /// The rate a drop is measured against, and what it is.
    pub reference_rate: f64,
    /// `target` or `the run's own`.
    pub reference: &'static str,
    /// Every window.
    pub windows: Vec<WindowVerdict>,
}

/// Why a check cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The interval log cannot be read.
    #[error(transparent)]
    Log(#[from] ReadLogError),
    /// No interval log, or too short a run: what is missing.
    #[error("{0}")]
    Unusable(String),
}

/// Checks `scenario` of `loaded` window by window.
pub fn check(
    loaded: &Loaded,
    scenario: &Scenario,
    per: Duration,
    bounds: &Bounds,
) -> Result<Checked, CheckError> {
    let log = loaded.headline_log(scenario)?.ok_or_else(|| {
        CheckError::Unusable(format!(
            "scenario {} has no interval log, which windows are cut from: run it with --hdr-log",
            scenario.name
        ))
    })?;
    let report = &scenario.report;
    let per_s = per.as_secs_f64();
    let run_s = log
        .intervals
        .iter()
        .map(|i| i.start_s + i.length.as_secs_f64())
        .fold(0.0, f64::max);
    if per_s > run_s + 1e-6 {
        return Err(CheckError::Unusable(format!(
            "--per {}: longer than the run of scenario {} ({run_s:.1} s); a window must fit in it",
            humantime::format_duration(per),
            scenario.name
        )));
    }
    let (reference_rate, reference) = match report.target_rate {
        Some(target) => (target, "target"),
        None => (report.achieved_rate, "the run's own"),
    };
    let windows = cut_all(report, &log, per_s)
        .iter()
        .map(|w| judge(w, bounds, reference_rate))
        .collect();
    Ok(Checked {
        scenario: scenario.name.clone(),
        per_s,
        reference_rate,
        reference,
        windows,
    })
}

/// One window against the bounds.
fn judge(window: &Window, bounds: &Bounds, reference_rate: f64) -> WindowVerdict {
    let report = &window.report;
    let headline = report.headline();
    let (p99_ms, p999_ms) = (headline.p99 / 1e3, headline.p999 / 1e3);
    let errors_percent = report.error_rate() * 100.0;
    let rate = report.achieved_rate;
    let drop = (1.0 - rate / reference_rate.max(f64::MIN_POSITIVE)) * 100.0;
    let mut broken = Vec::new();
    let mut over = |name: &str, value: f64, bound: Option<f64>, unit: &str| {
        if let Some(bound) = bound
            && value > bound
        {
            broken.push(format!("{name} {value:.3}{unit} > {bound}{unit}"));
        }
    };
    over("p99", p99_ms, bounds.p99_ms, " ms");
    over("p99.9", p999_ms, bounds.p999_ms, " ms");
    over("rate drop", drop, bounds.rate_drop_percent, "%");
    over("errors", errors_percent, bounds.errors_percent, "%");
    WindowVerdict {
        from_s: window.from_s,
        to_s: window.to_s,
        operations: report.operations_due(),
        rate,
        p99_ms,
        p999_ms,
        errors_percent,
        broken,
    }
}

impl Checked {
    /// The windows that broke a bound.
    pub fn failing(&self) -> Vec<&WindowVerdict> {
        self.windows
            .iter()
            .filter(|w| !w.broken.is_empty())
            .collect()
    }

    /// The windows as a table, and a line on what the rate drop is measured against.
    pub fn text(&self) -> String {
        let mut table = loadgen::report::table::new(
            &[
                "window s", "ops", "rate/s", "p99 ms", "p99.9 ms", "errors %", "verdict",
            ],
            &[0, 6],
        );
        for w in &self.windows {
            table.add_row([
                format!("{:.0}-{:.0}", w.from_s, w.to_s),
                w.operations.to_string(),
                format!("{:.1}", w.rate),
                format!("{:.3}", w.p99_ms),
                format!("{:.3}", w.p999_ms),
                format!("{:.3}", w.errors_percent),
                if w.broken.is_empty() {
                    "ok".to_owned()
                } else {
                    w.broken.join(", ")
                },
            ]);
        }
        format!(
            "{}: {} windows of {} s; a rate drop is against the {} rate, {:.1}/s\n{}",
            self.scenario,
            self.windows.len(),
            self.per_s,
            self.reference,
            self.reference_rate,
            loadgen::report::table::render(&table, 2)
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::suite_report::SuiteReport;
    use loadgen::record::hdr_log::HdrLog;
    use loadgen::record::{ALL, Counts, IntervalSummary, Percentiles, new_histogram};
    use loadgen::report::RunReport;

    /// A run of 60 s at 500/s, each visit 1 ms, written with its log into `folder`; with a pause,
    /// the visits of seconds 30 and 31 wait for it to end, up to 2 s.
    fn run(folder: &std::path::Path, pause: bool) -> Loaded {
        let start = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_200);
        let log_path = folder.join("run.hlog");
        let mut log = HdrLog::create(&log_path, start, "a test").unwrap();
        let mut report = crate::stats::merge::tests::report_of(&[]);
        report.started_at = "2026-12-01T00:00:00.000Z".into();
        report.config = serde_json::json!({"run": {"hdr_log": log_path.display().to_string()}});
        let mut total = new_histogram();
        for s in 0..60u64 {
            let mut second = new_histogram();
            for i in 0..500u64 {
                let waited = if pause && (30..32).contains(&s) {
                    (32 - s) * 1_000_000_000 - i * 2_000_000
                } else {
                    0
                };
                second.record(1_000_000 + waited).unwrap();
            }
            log.write(ALL, &second, Duration::from_secs(s), Duration::from_secs(1));
            total.add(&second).unwrap();
            let counts = Counts {
                ops: 500,
                requests: 1500,
                ..Counts::default()
            };
            report.counts.add(&counts);
            report.intervals.push(IntervalSummary {
                at: (s + 1) as f64,
                seconds: 1.0,
                counts,
                response_us: Percentiles::of(&second),
                all_us: Percentiles::of(&second),
                oldest_outstanding_us: 0.0,
                in_flight: 0,
                rss_bytes: 0,
                errors: BTreeMap::new(),
            });
        }
        log.finish().unwrap();
        report.histograms = BTreeMap::from([(ALL.to_owned(), RunReport::encode(&total))]);
        report.check().unwrap();
        Loaded {
            suite: SuiteReport::of_run(report, Some("run.hlog".into())),
            folder: folder.to_path_buf(),
        }
    }

    fn checked(pause: bool) -> Checked {
        let folder = tempfile::tempdir().unwrap();
        let loaded = run(folder.path(), pause);
        let bounds = Bounds {
            p99_ms: Some(15.0),
            rate_drop_percent: Some(5.0),
            errors_percent: Some(0.1),
            ..Bounds::default()
        };
        check(
            &loaded,
            &loaded.suite.scenarios[0],
            Duration::from_secs(10),
            &bounds,
        )
        .unwrap()
    }

    #[test]
    fn a_run_with_a_two_second_pause_fails_in_its_window_only() {
        let checked = checked(true);
        assert_eq!(checked.windows.len(), 6);
        let failing = checked.failing();
        assert_eq!(failing.len(), 1, "{:?}", checked.windows);
        assert_eq!((failing[0].from_s, failing[0].to_s), (30.0, 40.0));
        assert!(
            failing[0].broken[0].starts_with("p99 "),
            "{:?}",
            failing[0].broken
        );
        assert!(checked.text().contains("30-40"));
    }

    #[test]
    fn the_same_run_without_the_pause_passes() {
        let checked = checked(false);
        assert!(checked.failing().is_empty(), "{:?}", checked.windows);
        assert!(checked.windows.iter().all(|w| w.operations == 5000));
    }
}
