//! `bench compare A B`: two reports, scenario by scenario, with the change in throughput,
//! latency, tails and errors, and whether each change is more than noise; and the gate
//! `--fail-if-slower` rests on.
//!
//! Each gated row gets a test fit for what it measures ([`rows`]); then all the gated tests of
//! the comparison, every scenario together, are held to one family-wise error of 5% by Holm's
//! method ([`crate::stats::family`]), so that forty tests do not add up to a false alarm in most
//! pairs of unchanged runs. Every row then gets a judgement:
//! - **worse** or **better**: the change is significant for the family;
//! - **same**: not significant, and its 95% interval lies within the resolution asked for (the
//!   `--fail-if-slower` threshold, 5% by default): a change that large is ruled out;
//! - **cannot tell**: not significant, but the interval reaches beyond the resolution (the runs are
//!   too short or too noisy to rule a change out), with the length of run that would do; or no
//!   test could be made (no interval log, too little in the tail), with why.
//!
//! Before any of that, the runs must be comparable ([`standing`]); a pair that is not is named
//! and never judged. The gate fails on a regression beyond the threshold: a row judged worse
//! whose whole 95% interval of the change lies beyond it, or a rule broken by more than it (a
//! rise of errors from none counts as beyond any), and on any scenario it could not judge: a gate passes only what it
//! checked. Rows it could not tell are listed, not failed: a short run's p99.9 is "cannot tell",
//! not a star either way.

pub mod rows;
pub mod standing;
mod text;

use serde::Serialize;

use crate::report::suite_report::Loaded;
use crate::stats::calibrate::{Calibration, widening};
use crate::stats::family::holm;
use crate::stats::means::welch_autocorrelated;
use crate::stats::tails::seconds_to_text;
use client::ring_view::CLIENT_REQUESTS;
use loadgen::record::hdr_log::ReadLogError;
use loadgen::report::{NodeSecond, RingSide, RunReport};
pub use standing::Standing;
pub use text::text;

/// The family-wise error rate of the gated tests; intervals are at 95%.
pub const ALPHA: f64 = 0.05;

/// The resolution without `--fail-if-slower`: changes within it are "the same".
pub const DEFAULT_THRESHOLD: f64 = 5.0;

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
    /// A scenario's interval log could not be read, or is not its report's.
    #[error(transparent)]
    Log(#[from] ReadLogError),
}

/// What a row's numbers say.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "judgement", content = "why", rename_all = "snake_case")]
pub enum Judgement {
    /// Significantly worse, for the family.
    Worse,
    /// Significantly better, for the family.
    Better,
    /// Not significant, and any change beyond the resolution is ruled out.
    Same,
    /// Not significant, and a change beyond the resolution is not ruled out, or nothing could be
    /// tested: why, and what would do.
    CannotTell(String),
    /// Shown, not tested.
    NotTested,
}

/// One metric of one scenario, in A and in B.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The metric.
    pub metric: String,
    /// Its value in A (`None`: none).
    pub a: Option<f64>,
    /// Its value in B.
    pub b: Option<f64>,
    /// Whether a rise is bad (latency) rather than good (throughput).
    pub higher_is_worse: bool,
    /// Whether `--fail-if-slower` weighs it.
    pub gated: bool,
    /// 95% intervals of A's and B's values (the tails).
    pub intervals: Option<[(f64, f64); 2]>,
    /// The 95% interval of the change, percent.
    pub change_interval: Option<(f64, f64)>,
    /// The test's p-value.
    pub p_value: Option<f64>,
    /// The p-value adjusted for the family (Holm), for gated rows.
    pub p_adjusted: Option<f64>,
    /// A rise from zero (errors where there were none).
    pub new: bool,
    /// Why the row could not be tested, when it could not.
    pub unknown: Option<String>,
    /// A rule beside the test, when B broke it (see [`rows`]): a stall A never came near, a
    /// target A met and B did not. One event in one run, or a schedule not kept, is beyond what
    /// a test of two runs' samples can call significant, but is what a gate is for.
    pub rule: Option<String>,
    /// The shorter run's measured seconds.
    pub seconds: f64,
    /// Both runs kept one schedule (open loop, 99% of one target): the row is the same by
    /// construction.
    pub kept_schedule: bool,
    /// The interval was widened by a calibration (`compare --calibration`) of runs as long as
    /// its windows: a longer run does not narrow it as the square root of its length would.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub calibrated: bool,
    /// What the numbers say (in JSON, `judgement` and, when there is one, `why`).
    #[serde(flatten)]
    pub judgement: Judgement,
}

impl Row {
    /// A row shown and not tested, until a test fills it in.
    pub fn new(metric: &str, a: Option<f64>, b: Option<f64>, higher_is_worse: bool) -> Row {
        Row {
            metric: metric.to_owned(),
            a,
            b,
            higher_is_worse,
            gated: false,
            intervals: None,
            change_interval: None,
            p_value: None,
            p_adjusted: None,
            new: false,
            unknown: None,
            rule: None,
            seconds: 0.0,
            kept_schedule: false,
            calibrated: false,
            judgement: Judgement::NotTested,
        }
    }

    /// The same row, weighed by the gate.
    pub fn gated(self) -> Row {
        Row {
            gated: true,
            ..self
        }
    }

    /// (B - A) / A in percent; `None` when A is 0 (and B is not) or either is missing.
    pub fn change(&self) -> Option<f64> {
        match (self.a?, self.b?) {
            (a, b) if a == b => Some(0.0),
            (0.0, _) => None,
            (a, b) => Some((b - a) / a * 100.0),
        }
    }

    /// Judges the row (see the module documentation) at `threshold` percent.
    fn judge(&mut self, threshold: f64) {
        let worse_beyond = self.change().is_some_and(|c| {
            if self.higher_is_worse {
                c > threshold
            } else {
                -c > threshold
            }
        });
        self.judgement = if self.rule.is_some() && worse_beyond {
            Judgement::Worse
        } else if self.kept_schedule {
            Judgement::Same
        } else if let Some(why) = &self.unknown {
            Judgement::CannotTell(why.clone())
        } else if let Some(p) = self.p_adjusted.or(self.p_value) {
            let rose = self.new || self.change().is_some_and(|c| c > 0.0);
            if p < ALPHA {
                if rose == self.higher_is_worse {
                    Judgement::Worse
                } else {
                    Judgement::Better
                }
            } else if self.new {
                Judgement::CannotTell("new, but too few to tell from chance".to_owned())
            } else {
                self.within(threshold)
            }
        } else if self.gated && self.a.is_some() && self.a == self.b {
            Judgement::Same
        } else {
            Judgement::NotTested
        };
    }

    /// Same when the change's interval lies within `threshold`; otherwise how long a run would
    /// resolve it (intervals narrow with the square root of the run's length).
    fn within(&self, threshold: f64) -> Judgement {
        let Some((low, high)) = self.change_interval else {
            return if self.a == self.b {
                Judgement::Same
            } else {
                Judgement::CannotTell(
                    "A's mean is 0, so no change can be put in percent".to_owned(),
                )
            };
        };
        if -threshold <= low && high <= threshold {
            return Judgement::Same;
        }
        if self.calibrated {
            return Judgement::CannotTell(format!(
                "the change could be anywhere from {low:+.1}% to {high:+.1}%, as widened by the \
                 calibration: on this ring, runs of this length cannot rule out ±{threshold}%; \
                 longer runs need a calibration of their own length to say whether they can"
            ));
        }
        let half = (high - low) / 2.0;
        let needed = self.seconds * (half / threshold.max(f64::MIN_POSITIVE)).powi(2);
        Judgement::CannotTell(format!(
            "the change could be anywhere from {low:+.1}% to {high:+.1}%; ruling out ±{threshold}% \
             would take runs of about {}",
            seconds_to_text(needed)
        ))
    }

    /// A change for the worse beyond `threshold` percent, significant for the family: the
    /// whole 95% interval of the change lies beyond the threshold (B is worse by more than it,
    /// not only worse), or B broke a rule by more than it; a rise from zero counts as beyond any
    /// threshold. The interval, not the point: a run's median drifts from minute to minute by
    /// more than its own seconds can show, and a significant 6% in an interval of +1% to +11%
    /// is a false alarm one pair of unchanged runs in sixteen (docs/comparing.md).
    pub fn is_regression(&self, threshold: f64) -> bool {
        let worse_by = |c: f64| if self.higher_is_worse { c } else { -c };
        let beyond = self.new
            || match (&self.rule, self.change_interval) {
                (None, Some((low, high))) => worse_by(low).min(worse_by(high)) > threshold,
                _ => self.change().is_some_and(|c| worse_by(c) > threshold),
            };
        self.gated && self.judgement == Judgement::Worse && beyond
    }
}

/// The rows of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioChanges {
    /// The scenario.
    pub name: String,
    /// Whether its runs could be compared.
    pub standing: Standing,
    /// Set-up that differs, worth saying.
    pub notes: Vec<String>,
    /// How a calibration widened its tails, when one was given (`compare --calibration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
    /// Its metrics (none when its runs could not be compared).
    pub rows: Vec<Row>,
    /// What the ring said about itself in A and in B: evidence beside the client's numbers,
    /// never weighed by the gate.
    pub ring: Vec<Row>,
    /// Why there are no ring rows, when there are none.
    pub ring_missing: Option<String>,
}

/// A whole comparison, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Every scenario.
    pub scenarios: Vec<ScenarioChanges>,
    /// The resolution, percent: `--fail-if-slower`, or [`DEFAULT_THRESHOLD`].
    pub threshold: f64,
    /// How many gated tests the family held.
    pub tests: usize,
}

impl Comparison {
    /// Why the gate fails: every regression, and every scenario it could not judge; empty when
    /// it passes.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for scenario in &self.scenarios {
            match &scenario.standing {
                Standing::Comparable => {}
                Standing::Unfinished(why) | Standing::Apart(why) => {
                    failures.push(format!("{} not judged: {why}", scenario.name));
                }
            }
            for row in &scenario.rows {
                if row.is_regression(self.threshold) {
                    failures.push(format!("{} {}", scenario.name, row.metric));
                }
            }
        }
        failures
    }

    /// The gated rows the comparison could not tell, as `scenario metric`.
    pub fn untold(&self) -> Vec<String> {
        self.scenarios
            .iter()
            .flat_map(|s| {
                s.rows
                    .iter()
                    .filter(|r| r.gated && matches!(r.judgement, Judgement::CannotTell(_)))
                    .map(move |r| format!("{} {}", s.name, r.metric))
            })
            .collect()
    }
}

/// Compares the scenarios of two reports (all of them, or those named), judging every change at
/// `threshold` percent; with `calibration` (`bench calibrate --json`), each calibrated
/// scenario's tail intervals widened as it measured.
pub fn compare(
    a: &Loaded,
    b: &Loaded,
    only: &[String],
    threshold: f64,
    calibration: Option<&[Calibration]>,
) -> Result<Comparison, CompareError> {
    let names = scenario_names(a, b, only)?;
    let mut scenarios = Vec::new();
    for name in &names {
        let missing = |which| CompareError::Missing {
            name: name.clone(),
            which,
        };
        let left = a.suite.scenario(name).ok_or_else(|| missing("A"))?;
        let right = b.suite.scenario(name).ok_or_else(|| missing("B"))?;
        let (standing, notes) = standing::of(&left.report, &right.report);
        let widen = calibration.and_then(|c| widening(c, name));
        let calibrated = match (calibration, widen) {
            (Some(_), Some(w)) => Some(format!(
                "intervals widened as calibrated: p50 {:.2}x, p99 {:.2}x, p99.9 {:.2}x",
                w.median, w.tails[0], w.tails[1]
            )),
            (Some(_), None) => {
                Some("the calibration holds no such scenario: it is judged uncalibrated".to_owned())
            }
            _ => None,
        };
        let rows = if standing == Standing::Comparable {
            let (la, lb) = (a.headline_log(left)?, b.headline_log(right)?);
            rows::rows_widened(
                &rows::Side {
                    report: &left.report,
                    log: la.as_ref(),
                },
                &rows::Side {
                    report: &right.report,
                    log: lb.as_ref(),
                },
                crate::stats::tails::REPLICATES,
                widen.unwrap_or(rows::Widening::NONE),
            )
        } else {
            Vec::new()
        };
        let (ring, ring_missing) = match ring_rows(&left.report, &right.report) {
            Ok(ring) => (ring, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        scenarios.push(ScenarioChanges {
            name: name.clone(),
            standing,
            notes,
            calibration: calibrated,
            rows,
            ring,
            ring_missing,
        });
    }
    Ok(judge(scenarios, threshold))
}

/// Adjusts the gated rows' p-values for the family and judges every row.
pub fn judge(mut scenarios: Vec<ScenarioChanges>, threshold: f64) -> Comparison {
    let gated: Vec<(usize, usize)> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(s, scenario)| {
            scenario
                .rows
                .iter()
                .enumerate()
                .filter(|(_, row)| row.gated && row.unknown.is_none() && row.p_value.is_some())
                .map(move |(r, _)| (s, r))
        })
        .collect();
    let p_values: Vec<f64> = gated
        .iter()
        .map(|&(s, r)| scenarios[s].rows[r].p_value.unwrap_or(1.0))
        .collect();
    for (&(s, r), adjusted) in gated.iter().zip(holm(&p_values)) {
        scenarios[s].rows[r].p_adjusted = Some(adjusted);
    }
    for scenario in &mut scenarios {
        for row in scenario.rows.iter_mut().chain(&mut scenario.ring) {
            row.judge(threshold);
        }
    }
    Comparison {
        scenarios,
        threshold,
        tests: gated.len(),
    }
}

/// The scenarios to compare: those named, or all, which must then be the same in both.
fn scenario_names(a: &Loaded, b: &Loaded, only: &[String]) -> Result<Vec<String>, CompareError> {
    if !only.is_empty() {
        return Ok(only.to_vec());
    }
    let in_a: Vec<&str> = a.suite.scenarios.iter().map(|s| s.name.as_str()).collect();
    let in_b: Vec<&str> = b.suite.scenarios.iter().map(|s| s.name.as_str()).collect();
    let only_in = |x: &[&str], y: &[&str], label: &str| {
        let names: Vec<&str> = x.iter().filter(|n| !y.contains(n)).copied().collect();
        (!names.is_empty()).then(|| format!("only {label} has {}", names.join(", ")))
    };
    let parts: Vec<String> = [only_in(&in_a, &in_b, "A"), only_in(&in_b, &in_a, "B")]
        .into_iter()
        .flatten()
        .collect();
    if !parts.is_empty() {
        return Err(CompareError::Mismatch(parts.join("; ")));
    }
    Ok(in_a.into_iter().map(str::to_owned).collect())
}

/// A metric with one sample per round of the ring's own view, tested for a change in its mean.
fn per_round(
    metric: &str,
    (a, b): (&RingSide, &RingSide),
    value: impl Fn(&NodeSecond) -> f64,
    higher_is_worse: bool,
) -> Row {
    let (sa, sb) = (a.per_round(&value), b.per_round(&value));
    let mean = |x: &[f64]| (!x.is_empty()).then(|| x.iter().sum::<f64>() / x.len() as f64);
    let mut row = Row::new(metric, mean(&sa), mean(&sb), higher_is_worse);
    if let Some(test) = welch_autocorrelated(&sa, &sb) {
        row.p_value = Some(test.p);
        if test.mean_a != 0.0 {
            row.change_interval = Some((
                test.interval.0 / test.mean_a * 100.0,
                test.interval.1 / test.mean_a * 100.0,
            ));
        }
    }
    row
}

/// The ring's own numbers in A and in B, every node together, once a second: the client
/// requests the nodes served, the tasks they queued, the compactions they ran and the hint files
/// they kept; or why a side has none.
fn ring_rows(a: &RunReport, b: &RunReport) -> Result<Vec<Row>, String> {
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
    let rings = (&ra, &rb);
    Ok(vec![
        per_round(
            "ring: requests served/s",
            rings,
            |s| s.completed_per_s(CLIENT_REQUESTS),
            false,
        ),
        per_round("ring: tasks queued", rings, NodeSecond::queued, true),
        Row::new(
            "ring: most tasks queued",
            Some(most(&ra)),
            Some(most(&rb)),
            true,
        ),
        per_round(
            "ring: compactions running",
            rings,
            |s| f64::from(s.compactions),
            true,
        ),
        per_round("ring: hint files", rings, |s| s.hint_files as f64, true),
    ])
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
