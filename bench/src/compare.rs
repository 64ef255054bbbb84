//! `bench compare A B`: two reports, scenario by scenario, with the changes in throughput and
//! latency and whether they are more than noise.
//!
//! Every run records one sample per second (operations per second, mean response time); Welch's
//! t-test on those samples (unequal variances, unequal counts) gives the probability of seeing
//! such a difference if the two runs were alike. `--fail-if-slower 5%` turns a significant
//! slow-down beyond 5% into exit code 1, for CI.

use std::fmt::Write as _;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::suite_report::SuiteReport;
use driver::record::{IntervalSummary, RESPONSE};
use driver::report::RunReport;

/// Below this p-value a difference is called significant.
pub const ALPHA: f64 = 0.05;

/// Why two reports cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The reports hold different scenarios.
    #[error("the reports hold different scenarios: {0}; compare a subset with --scenario")]
    Mismatch(String),
    /// A requested scenario is missing.
    #[error("--scenario {name}: not in {which}")]
    Missing {
        /// The scenario.
        name: String,
        /// Which report lacks it (`A` or `B`).
        which: &'static str,
    },
}

/// Welch's t-test of two samples: the t statistic and the two-sided p-value. `None` with fewer
/// than two samples on a side.
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let variance =
        |x: &[f64], m: f64| x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (va, vb) = (
        variance(a, ma) / a.len() as f64,
        variance(b, mb) / b.len() as f64,
    );
    if va + vb == 0.0 {
        return Some(if ma == mb {
            (0.0, 1.0)
        } else {
            (f64::INFINITY.copysign(mb - ma), 0.0)
        });
    }
    let t = (mb - ma) / (va + vb).sqrt();
    let df =
        (va + vb).powi(2) / (va.powi(2) / (a.len() - 1) as f64 + vb.powi(2) / (b.len() - 1) as f64);
    let p = StudentsT::new(0.0, 1.0, df)
        .map(|dist| 2.0 * (1.0 - dist.cdf(t.abs())))
        .unwrap_or(1.0);
    Some((t, p))
}

/// One metric of one scenario, in A and in B.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The metric's name.
    pub metric: String,
    /// Its value in A.
    pub a: f64,
    /// Its value in B.
    pub b: f64,
    /// (B - A) / A, in percent.
    pub percent: f64,
    /// Welch's p-value, for metrics with per-second samples.
    pub p_value: Option<f64>,
    /// Whether a rise is bad (latency) rather than good (throughput).
    pub higher_is_worse: bool,
}

impl Change {
    fn new(metric: &str, a: f64, b: f64, p_value: Option<f64>, higher_is_worse: bool) -> Change {
        let percent = if a == 0.0 { 0.0 } else { (b - a) / a * 100.0 };
        Change {
            metric: metric.to_owned(),
            a,
            b,
            percent,
            p_value,
            higher_is_worse,
        }
    }

    /// A change for the worse beyond `threshold` percent that the test calls significant.
    pub fn is_regression(&self, threshold: f64) -> bool {
        let worse = if self.higher_is_worse {
            self.percent
        } else {
            -self.percent
        };
        worse > threshold && self.p_value.is_some_and(|p| p < ALPHA)
    }
}

/// The changes of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioChanges {
    /// The scenario.
    pub name: String,
    /// Its metrics.
    pub changes: Vec<Change>,
}

/// Compares the scenarios of two reports (all of them, or those named).
pub fn compare(
    a: &SuiteReport,
    b: &SuiteReport,
    only: &[String],
) -> Result<Vec<ScenarioChanges>, CompareError> {
    let names: Vec<String> = if only.is_empty() {
        let (in_a, in_b): (Vec<&str>, Vec<&str>) = (
            a.scenarios.iter().map(|s| s.name.as_str()).collect(),
            b.scenarios.iter().map(|s| s.name.as_str()).collect(),
        );
        let only_a: Vec<&str> = in_a.iter().filter(|n| !in_b.contains(n)).copied().collect();
        let only_b: Vec<&str> = in_b.iter().filter(|n| !in_a.contains(n)).copied().collect();
        if !only_a.is_empty() || !only_b.is_empty() {
            let side = |names: &[&str], label: &str| {
                if names.is_empty() {
                    None
                } else {
                    Some(format!("only {label} has {}", names.join(", ")))
                }
            };
            let parts: Vec<String> = [side(&only_a, "A"), side(&only_b, "B")]
                .into_iter()
                .flatten()
                .collect();
            return Err(CompareError::Mismatch(parts.join("; ")));
        }
        in_a.into_iter().map(str::to_owned).collect()
    } else {
        only.to_vec()
    };
    names
        .iter()
        .map(|name| {
            let left = a.scenario(name).ok_or_else(|| CompareError::Missing {
                name: name.clone(),
                which: "A",
            })?;
            let right = b.scenario(name).ok_or_else(|| CompareError::Missing {
                name: name.clone(),
                which: "B",
            })?;
            Ok(ScenarioChanges {
                name: name.clone(),
                changes: changes(&left.report, &right.report),
            })
        })
        .collect()
}

/// Whole seconds only: the last, partial interval would skew the samples.
fn samples(intervals: &[IntervalSummary], value: impl Fn(&IntervalSummary) -> f64) -> Vec<f64> {
    intervals
        .iter()
        .filter(|i| i.seconds >= 0.9)
        .map(value)
        .collect()
}

fn changes(a: &RunReport, b: &RunReport) -> Vec<Change> {
    let rate = |i: &IntervalSummary| (i.counts.ops + i.counts.ops_failed) as f64 / i.seconds;
    let mean_ms = |i: &IntervalSummary| i.response_us.mean / 1e3;
    let (rates_a, rates_b) = (samples(&a.intervals, rate), samples(&b.intervals, rate));
    let (lat_a, lat_b) = (
        samples(&a.intervals, mean_ms),
        samples(&b.intervals, mean_ms),
    );
    let mean = |x: &[f64]| {
        if x.is_empty() {
            0.0
        } else {
            x.iter().sum::<f64>() / x.len() as f64
        }
    };
    let (ra, rb) = (
        a.latency_us.get(RESPONSE).copied().unwrap_or_default(),
        b.latency_us.get(RESPONSE).copied().unwrap_or_default(),
    );
    let op = &a.names.op;
    vec![
        Change::new(
            &format!("{op}s/s"),
            a.achieved_rate,
            b.achieved_rate,
            welch(&rates_a, &rates_b).map(|(_, p)| p),
            false,
        ),
        Change::new(
            "mean response ms (per second)",
            mean(&lat_a),
            mean(&lat_b),
            welch(&lat_a, &lat_b).map(|(_, p)| p),
            true,
        ),
        Change::new("p50 response ms", ra.p50 / 1e3, rb.p50 / 1e3, None, true),
        Change::new("p99 response ms", ra.p99 / 1e3, rb.p99 / 1e3, None, true),
        Change::new(
            "p99.9 response ms",
            ra.p999 / 1e3,
            rb.p999 / 1e3,
            None,
            true,
        ),
        Change::new("max response ms", ra.max / 1e3, rb.max / 1e3, None, true),
        Change::new(
            "CPU µs per request",
            a.client.cpu_us_per_request,
            b.client.cpu_us_per_request,
            None,
            true,
        ),
    ]
}

/// The comparison as a text table; significant changes carry a `*`.
pub fn text(scenarios: &[ScenarioChanges]) -> String {
    let mut out = format!(
        "{:<22} {:<30} {:>12} {:>12} {:>9} {:>9}\n",
        "scenario", "metric", "A", "B", "change", "p-value"
    );
    for scenario in scenarios {
        for (i, change) in scenario.changes.iter().enumerate() {
            let name = if i == 0 { scenario.name.as_str() } else { "" };
            let p = change.p_value.map_or_else(String::new, |p| {
                format!("{p:.4}{}", if p < ALPHA { " *" } else { "" })
            });
            let _ = writeln!(
                out,
                "{name:<22} {:<30} {:>12.3} {:>12.3} {:>+8.1}% {:>9}",
                change.metric, change.a, change.b, change.percent, p
            );
        }
    }
    out.push_str("* significant: Welch's t-test on per-second samples, p < 0.05\n");
    out
}

/// `5%` or `5` as a percentage.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("'{text}' is not a percentage such as 5%")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_matches_a_textbook_case() {
        // Two samples with unequal variances; scipy.stats.ttest_ind(b, a, equal_var=False) gives
        // t = 2.455356, p = 0.021378 for these numbers.
        let a = [
            27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7,
            21.4,
        ];
        let b = [
            27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5,
            24.4,
        ];
        let (t, p) = welch(&a, &b).unwrap();
        assert!((t - 2.455356).abs() < 1e-5, "t = {t}");
        assert!((p - 0.021378).abs() < 1e-5, "p = {p}");
    }

    #[test]
    fn identical_samples_are_not_different() {
        let (t, p) = welch(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((t, p), (0.0, 1.0));
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn only_significant_slowdowns_beyond_the_threshold_are_regressions() {
        let slower = Change::new("p", 10.0, 11.0, Some(0.001), true);
        assert!(slower.is_regression(5.0));
        assert!(!slower.is_regression(20.0));
        assert!(
            !Change::new("p", 10.0, 11.0, Some(0.3), true).is_regression(5.0),
            "noise is not a regression"
        );
        assert!(
            Change::new("ops", 100.0, 90.0, Some(0.01), false).is_regression(5.0),
            "less throughput is worse"
        );
        assert!(!Change::new("ops", 100.0, 110.0, Some(0.01), false).is_regression(5.0));
        assert_eq!(parse_percent("5%").unwrap(), 5.0);
        assert!(parse_percent("fast").is_err());
    }
}
