//! `bench compare A B`: two reports, scenario by scenario, with the changes in throughput,
//! latency, tails and errors, and whether they are more than noise.
//!
//! - **Means** (operations per second, mean latency): Welch's t-test on one sample per second.
//!   Per-second samples of a run are autocorrelated (a slow second is followed by slow seconds),
//!   so each side counts as its *effective* sample size, `n (1 - r) / (1 + r)` with `r` its
//!   lag-1 autocorrelation, as latte does; otherwise every drift would look significant. Seconds
//!   in which nothing ended have no latency and are left out, never counted as 0 ms.
//! - **Tails** (p99, p99.9): a 95% confidence interval of each quantile, from the order
//!   statistics of its histogram with the count shrunk by the same autocorrelation factor; a
//!   change is significant when the two intervals do not overlap.
//! - **Errors**: the share of operations due that failed, were missed or abandoned, per second,
//!   by the same test as the means.
//!
//! - **The ring's side** (when both reports sampled it): the nodes' own counts, every node
//!   together, one sample per second, by the same test as the means. Evidence, shown beside
//!   the client's numbers; `--fail-if-slower` does not weigh it.
//!
//! Latency here is the headline: every operation, from its due time to its outcome.
//! `--fail-if-slower 5%` turns a significant change for the worse beyond 5%, in any of these
//! (a p99 regression included), into exit code 1, for CI.

use serde::Serialize;

use crate::report::suite_report::SuiteReport;
use crate::stats::{effective_size, quantile_interval, welch_autocorrelated};
use cluster::ring_view::CLIENT_REQUESTS;
use driver::record::IntervalSummary;
use driver::report::RunReport;
use driver::ring_side::{NodeSecond, RingSide};

/// Below this p-value a difference is called significant; confidence intervals are at 1 - ALPHA.
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
    /// 95% confidence intervals of A and B, for tail quantiles.
    pub intervals: Option<[(f64, f64); 2]>,
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
            intervals: None,
            higher_is_worse,
        }
    }

    /// The same change with its percentage recomputed from `a` and `b`.
    fn with_percent(self) -> Change {
        Change::new(
            &self.metric,
            self.a,
            self.b,
            self.p_value,
            self.higher_is_worse,
        )
    }

    /// A tail quantile, significant when its confidence intervals in A and B do not overlap.
    fn tail(metric: &str, a: f64, b: f64, intervals: Option<[(f64, f64); 2]>) -> Change {
        Change {
            intervals,
            ..Change::new(metric, a, b, None, true)
        }
    }

    /// Whether the difference is more than noise: Welch's p-value below [`ALPHA`], or confidence
    /// intervals that do not overlap.
    pub fn is_significant(&self) -> bool {
        self.p_value.is_some_and(|p| p < ALPHA)
            || self
                .intervals
                .is_some_and(|[(a_low, a_high), (b_low, b_high)]| a_high < b_low || b_high < a_low)
    }

    /// A change for the worse beyond `threshold` percent that is significant. A rise from zero
    /// (errors where there were none) counts as beyond any threshold.
    pub fn is_regression(&self, threshold: f64) -> bool {
        let rise = if self.a == 0.0 && self.b > 0.0 {
            f64::INFINITY
        } else {
            self.percent
        };
        let worse = if self.higher_is_worse {
            rise
        } else {
            -self.percent
        };
        worse > threshold && self.is_significant()
    }
}

/// The changes of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioChanges {
    /// The scenario.
    pub name: String,
    /// Its metrics.
    pub changes: Vec<Change>,
    /// What the ring said about itself in A and in B ([`ring_changes`]): evidence beside the
    /// client's numbers, never a regression of their own.
    pub ring: Vec<Change>,
    /// Why there are no ring rows, when there are none.
    pub ring_missing: Option<String>,
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
            let (ring, ring_missing) = match ring_changes(&left.report, &right.report) {
                Ok(ring) => (ring, None),
                Err(why) => (Vec::new(), Some(why)),
            };
            Ok(ScenarioChanges {
                name: name.clone(),
                changes: changes(&left.report, &right.report),
                ring,
                ring_missing,
            })
        })
        .collect()
}

/// Whole seconds only (the last, partial interval would skew the samples), and only those for
/// which `value` has something to say.
fn samples(
    intervals: &[IntervalSummary],
    value: impl Fn(&IntervalSummary) -> Option<f64>,
) -> Vec<f64> {
    intervals
        .iter()
        .filter(|i| i.seconds >= 0.9)
        .filter_map(value)
        .collect()
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// A metric with one sample per second, tested for a change in its mean.
fn per_second(
    metric: &str,
    (a, b): (&RunReport, &RunReport),
    value: impl Fn(&IntervalSummary) -> Option<f64>,
    higher_is_worse: bool,
) -> Change {
    let (sa, sb) = (samples(&a.intervals, &value), samples(&b.intervals, &value));
    let p = welch_autocorrelated(&sa, &sb).map(|(_, p)| p);
    Change::new(metric, mean(&sa), mean(&sb), p, higher_is_worse)
}

/// The share of a run's values worth an independent one: its per-second mean latencies' effective
/// size over their count.
fn effective_share(report: &RunReport) -> f64 {
    let means = samples(&report.intervals, |i| i.headline().map(|p| p.mean));
    if means.len() < 3 {
        return 1.0;
    }
    effective_size(&means) / means.len() as f64
}

fn changes(a: &RunReport, b: &RunReport) -> Vec<Change> {
    let op = &a.names.op;
    let rate = |i: &IntervalSummary| {
        Some((i.counts.ops + i.counts.ops_failed + i.counts.missed) as f64 / i.seconds)
    };
    let mean_ms = |i: &IntervalSummary| i.headline().map(|p| p.mean / 1e3);
    let errors = |i: &IntervalSummary| {
        let c = &i.counts;
        let due = c.ops + c.ops_failed + c.missed + c.abandoned;
        (due > 0).then(|| (due - c.ops) as f64 * 100.0 / due as f64)
    };
    let (ra, rb) = (a.headline(), b.headline());
    let (ha, hb) = (a.headline_histogram(), b.headline_histogram());
    let (share_a, share_b) = (effective_share(a), effective_share(b));
    let tail = |name: &str, quantile: f64, va: f64, vb: f64| {
        let intervals = match (&ha, &hb) {
            (Some(ha), Some(hb)) => quantile_interval(ha, quantile, share_a)
                .zip(quantile_interval(hb, quantile, share_b))
                .map(|(ia, ib)| [ia, ib]),
            _ => None,
        };
        Change::tail(name, va / 1e3, vb / 1e3, intervals)
    };
    vec![
        per_second(&format!("{op}s/s"), (a, b), rate, false),
        per_second("mean latency ms (per second)", (a, b), mean_ms, true),
        Change::new("p50 latency ms", ra.p50 / 1e3, rb.p50 / 1e3, None, true),
        tail("p99 latency ms", 0.99, ra.p99, rb.p99),
        tail("p99.9 latency ms", 0.999, ra.p999, rb.p999),
        Change::new("max latency ms", ra.max / 1e3, rb.max / 1e3, None, true),
        // The whole run's share beside it; the per-second shares decide the significance.
        Change {
            a: a.error_rate() * 100.0,
            b: b.error_rate() * 100.0,
            ..per_second("errors %", (a, b), errors, true)
        }
        .with_percent(),
        Change::new(
            "CPU µs per request",
            a.client.cpu_us_per_request,
            b.client.cpu_us_per_request,
            None,
            true,
        ),
    ]
}

/// A metric with one sample per round of the ring's own view, tested for a change in its mean.
fn per_round(
    metric: &str,
    (a, b): (&RingSide, &RingSide),
    value: impl Fn(&NodeSecond) -> f64,
    higher_is_worse: bool,
) -> Change {
    let (sa, sb) = (a.per_round(&value), b.per_round(&value));
    let p = welch_autocorrelated(&sa, &sb).map(|(_, p)| p);
    Change::new(metric, mean(&sa), mean(&sb), p, higher_is_worse)
}

/// The ring's own numbers in A and in B, every node together, once a second: the client
/// requests the nodes served, the tasks they queued, the compactions they ran and the hint files
/// they kept; or why a side has none.
fn ring_changes(a: &RunReport, b: &RunReport) -> Result<Vec<Change>, String> {
    let sampled = |report: &RunReport, which: &str| match &report.ring {
        Some(ring) if !ring.nodes.is_empty() => Ok(ring.clone()),
        Some(ring) => Err(format!("{which}'s ring was {}", ring.how)),
        None => Err(format!("{which} has no ring's side (an older report)")),
    };
    let (ra, rb) = (sampled(a, "A")?, sampled(b, "B")?);
    let most = |ring: &RingSide| {
        ring.per_round(NodeSecond::queued)
            .into_iter()
            .fold(0.0, f64::max)
    };
    Ok(vec![
        per_round(
            "ring: requests served/s",
            (&ra, &rb),
            |s| s.completed_per_s(CLIENT_REQUESTS),
            false,
        ),
        per_round("ring: tasks queued", (&ra, &rb), NodeSecond::queued, true),
        Change::new("ring: most tasks queued", most(&ra), most(&rb), None, true),
        per_round(
            "ring: compactions running",
            (&ra, &rb),
            |s| f64::from(s.compactions),
            true,
        ),
        per_round(
            "ring: hint files",
            (&ra, &rb),
            |s| s.hint_files as f64,
            true,
        ),
    ])
}

/// The comparison as a text table; significant changes carry a `*`.
pub fn text(scenarios: &[ScenarioChanges]) -> String {
    let header = ["scenario", "metric", "A", "B", "change", "evidence"];
    let mut table = driver::table::new(&header, &[0, 1, 5]);
    let mut ring_missing = Vec::new();
    for scenario in scenarios {
        if let Some(why) = &scenario.ring_missing {
            ring_missing.push(format!("{}: {why}", scenario.name));
        }
        for (i, change) in scenario.changes.iter().chain(&scenario.ring).enumerate() {
            let name = if i == 0 { scenario.name.as_str() } else { "" };
            let mark = if change.is_significant() { " *" } else { "" };
            let evidence = match (change.p_value, change.intervals) {
                (Some(p), _) => format!("p {p:.4}{mark}"),
                (None, Some([(a_low, a_high), (b_low, b_high)])) => {
                    format!("95% CI A {a_low:.3}-{a_high:.3}, B {b_low:.3}-{b_high:.3}{mark}")
                }
                (None, None) => String::new(),
            };
            table.add_row([
                name.to_owned(),
                change.metric.to_string(),
                format!("{:.3}", change.a),
                format!("{:.3}", change.b),
                format!("{:+.1}%", change.percent),
                evidence,
            ]);
        }
    }
    let mut out = driver::table::render(&table, 0);
    out.push_str(
        "* significant: Welch's t-test on per-second samples counted at their effective size \
         (autocorrelation), p < 0.05; for p99 and p99.9, 95% confidence intervals that do not \
         overlap. Latency counts every operation due, failed and missed ones too.\n\
         ring: the nodes' own counts (system_views, once a second, every node together; a second \
         in which a node did not answer is left out): evidence beside the client's numbers, which \
         --fail-if-slower does not weigh.\n",
    );
    if !ring_missing.is_empty() {
        out.push_str(&format!("No ring rows for {}.\n", ring_missing.join("; ")));
    }
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
#[path = "compare_tests.rs"]
mod tests;
