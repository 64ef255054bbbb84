//! `bench calibrate REPORT`: how far `bench compare`'s gate can be trusted on this ring, measured
//! rather than argued. One long run of an unchanged process is cut into windows; consecutive
//! windows are compared in pairs (A/A pairs: nothing changed between them) exactly as `bench
//! compare --fail-if-slower` would compare two reports; every failure of the gate on such a pair
//! is a false alarm. And each window's 95% intervals of p99 and p99.9 are held against the whole
//! run's: how often they hold it is their coverage, which should be about 95%.

pub mod plant;

use std::time::Duration;

use serde::Serialize;

use plant::{Plant, planted};

use super::compare::rows::{Side, rows};
use super::compare::{Judgement, ScenarioChanges, Standing, judge};
use super::tails::{REPLICATES, Seconds, percentile_interval};
use super::windows::{Window, cut};
use crate::report::suite_report::{Loaded, Scenario};
use loadgen::record::hdr_log::ReadLogError;

/// What a calibration found.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// The scenario calibrated.
    pub scenario: String,
    /// The windows' length, seconds.
    pub window_s: f64,
    /// Pairs of windows compared.
    pub pairs: usize,
    /// Pairs on which the gate failed: false alarms.
    pub false_alarms: usize,
    /// Per gated metric: pairs judged worse, better, and that could not be told.
    pub rows: Vec<RowCounts>,
    /// Per tail quantile: windows whose interval held the whole run's quantile, and windows.
    pub coverage: Vec<Coverage>,
    /// Per regression planted into B of every pair: the pairs on which the gate failed (hits).
    pub planted: Vec<Hits>,
}

/// How often the gate caught one planted regression.
#[derive(Debug, Clone, Serialize)]
pub struct Hits {
    /// The regression, in words.
    pub plant: String,
    /// Pairs on which the gate failed.
    pub hits: usize,
    /// Pairs.
    pub pairs: usize,
    /// Per gated metric, as for the unchanged pairs.
    pub rows: Vec<RowCounts>,
}

/// How one gated metric was judged over the pairs.
#[derive(Debug, Clone, Serialize)]
pub struct RowCounts {
    /// The metric.
    pub metric: String,
    /// Judged worse (significant for the family).
    pub worse: usize,
    /// Judged better.
    pub better: usize,
    /// Could not be told.
    pub cannot_tell: usize,
    /// Judged worse by a rule (a stall A never came near, a target A met), not by a test.
    pub by_rule: usize,
}

/// One tail quantile's coverage.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The quantile.
    pub quantile: f64,
    /// The whole run's value, ms.
    pub whole_ms: f64,
    /// Windows whose 95% interval held it.
    pub covered: usize,
    /// Windows with enough in the tail to have an interval.
    pub windows: usize,
}

/// Why a calibration cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The run wrote no interval log, or it cannot be read.
    #[error("{0}")]
    Log(#[from] ReadLogError),
    /// The run is too short for two windows.
    #[error("{0}")]
    TooShort(String),
}

/// Calibrates the gate on `scenario` of `loaded`, cut into windows of `window` after `skip`; and
/// counts its hits on each of `plants` planted into B of every pair.
pub fn calibrate(
    loaded: &Loaded,
    scenario: &Scenario,
    (window, skip): (Duration, Duration),
    threshold: f64,
    plants: &[Plant],
) -> Result<Calibration, CalibrateError> {
    let log = loaded.headline_log(scenario)?.ok_or_else(|| {
        CalibrateError::TooShort(format!(
            "scenario {} has no interval log: run it with --hdr-log",
            scenario.name
        ))
    })?;
    let windows = cut(
        &scenario.report,
        &log,
        window.as_secs_f64(),
        skip.as_secs_f64(),
    );
    if windows.len() < 2 {
        return Err(CalibrateError::TooShort(format!(
            "scenario {} holds {} window(s) of {} after {} skipped; a calibration needs at least \
             two, and forty pairs to be worth much",
            scenario.name,
            windows.len(),
            humantime::format_duration(window),
            humantime::format_duration(skip)
        )));
    }
    let pairs: Vec<(&Window, &Window)> = windows.chunks_exact(2).map(|p| (&p[0], &p[1])).collect();
    let (false_alarms, counts) = judge_pairs(&scenario.name, &pairs, threshold);
    let planted = plants
        .iter()
        .map(|&plant| {
            let changed: Vec<Window> = pairs.iter().map(|(_, b)| planted(b, plant)).collect();
            let pairs: Vec<(&Window, &Window)> =
                pairs.iter().map(|(a, _)| *a).zip(&changed).collect();
            let (hits, rows) = judge_pairs(&scenario.name, &pairs, threshold);
            Hits {
                plant: plant.to_string(),
                hits,
                pairs: pairs.len(),
                rows,
            }
        })
        .collect();
    Ok(Calibration {
        scenario: scenario.name.clone(),
        window_s: window.as_secs_f64(),
        pairs: pairs.len(),
        false_alarms,
        rows: counts,
        coverage: coverage(&windows),
        planted,
    })
}

/// Compares each pair as `compare --fail-if-slower` would: the pairs on which the gate failed,
/// and per gated metric how the pairs were judged.
fn judge_pairs(
    name: &str,
    pairs: &[(&Window, &Window)],
    threshold: f64,
) -> (usize, Vec<RowCounts>) {
    let mut counts: Vec<RowCounts> = Vec::new();
    let mut failed = 0;
    for (a, b) in pairs {
        let comparison = judge(
            vec![ScenarioChanges {
                name: name.to_owned(),
                standing: Standing::Comparable,
                notes: Vec::new(),
                rows: rows(&side(a), &side(b)),
                ring: Vec::new(),
                ring_missing: None,
            }],
            threshold,
        );
        failed += usize::from(!comparison.failures().is_empty());
        for row in comparison.scenarios[0].rows.iter().filter(|r| r.gated) {
            let index = match counts.iter().position(|c| c.metric == row.metric) {
                Some(index) => index,
                None => {
                    counts.push(RowCounts {
                        metric: row.metric.clone(),
                        worse: 0,
                        better: 0,
                        cannot_tell: 0,
                        by_rule: 0,
                    });
                    counts.len() - 1
                }
            };
            let c = &mut counts[index];
            match row.judgement {
                Judgement::Worse => {
                    c.worse += 1;
                    c.by_rule += usize::from(row.rule.is_some());
                }
                Judgement::Better => c.better += 1,
                Judgement::CannotTell(_) => c.cannot_tell += 1,
                Judgement::Same | Judgement::NotTested => {}
            }
        }
    }
    (failed, counts)
}

/// A window as one side of a comparison.
fn side(w: &Window) -> Side<'_> {
    Side {
        report: &w.report,
        log: Some(&w.log),
    }
}

/// Each window's tail intervals against the quantiles of all the windows together.
fn coverage(windows: &[Window]) -> Vec<Coverage> {
    let seconds = |w: &Window| -> Vec<hdrhistogram::Histogram<u64>> {
        w.log.untagged().map(|i| i.histogram.clone()).collect()
    };
    let all: Vec<_> = windows.iter().flat_map(seconds).collect();
    let whole = Seconds::new(&all, 0.99);
    let runs: Vec<Seconds> = windows
        .iter()
        .map(|w| Seconds::new(&seconds(w), 0.99))
        .collect();
    [0.99, 0.999]
        .into_iter()
        .map(|q| {
            let truth = whole.quantile(q) as f64;
            let (mut covered, mut counted) = (0, 0);
            for (i, run) in runs.iter().enumerate() {
                if super::tails::enough(run, q, "").is_err() {
                    continue;
                }
                let (low, high) =
                    percentile_interval(&run.bootstrap(&[q], REPLICATES, 100 + i as u64)[0]);
                counted += 1;
                covered += usize::from(low <= truth && truth <= high);
            }
            Coverage {
                quantile: q,
                whole_ms: truth / 1e6,
                covered,
                windows: counted,
            }
        })
        .collect()
}

impl Calibration {
    /// The calibration as text.
    pub fn text(&self) -> String {
        let share = |n: usize, of: usize| {
            if of == 0 {
                "-".to_owned()
            } else {
                format!("{:.1}%", n as f64 * 100.0 / of as f64)
            }
        };
        let mut out = format!(
            "{}: {} A/A pairs of {} s windows; the gate failed on {} ({}), against at most 5% \
             meant\n",
            self.scenario,
            self.pairs,
            self.window_s,
            self.false_alarms,
            share(self.false_alarms, self.pairs)
        );
        out.push_str(&row_table(&self.rows));
        for c in &self.coverage {
            out.push_str(&format!(
                "  p{}: the whole run's {:.3} ms lay in {} of {} windows' 95% intervals ({})\n",
                c.quantile * 100.0,
                c.whole_ms,
                c.covered,
                c.windows,
                share(c.covered, c.windows)
            ));
        }
        for planted in &self.planted {
            out.push_str(&format!(
                "planted in B, {}: the gate failed on {} of {} pairs ({})\n",
                planted.plant,
                planted.hits,
                planted.pairs,
                share(planted.hits, planted.pairs)
            ));
            out.push_str(&row_table(&planted.rows));
        }
        out
    }
}

/// How each gated metric was judged over the pairs, as a table.
fn row_table(rows: &[RowCounts]) -> String {
    let mut table = loadgen::report::table::new(
        &["metric", "worse", "by a rule", "better", "cannot tell"],
        &[0],
    );
    for row in rows {
        table.add_row([
            row.metric.clone(),
            row.worse.to_string(),
            row.by_rule.to_string(),
            row.better.to_string(),
            row.cannot_tell.to_string(),
        ]);
    }
    loadgen::report::table::render(&table, 2)
}
