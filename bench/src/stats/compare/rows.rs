//! The rows of one scenario: each metric in A and in B, its change, and the test that says
//! whether the change is more than noise.
//!
//! - **Throughput** is what was achieved: operations that were sent and ended, per whole second;
//!   operations never sent (missed) are not throughput. Beside it, each run's share of its
//!   target.
//! - **Mean latency**: the per-second means, Welch's test at their effective size
//!   ([`crate::stats::means`]).
//! - **p99, p99.9**: a block bootstrap over whole seconds of the interval logs
//!   ([`crate::stats::tails`]); without a log, or with too little in the tail, "cannot tell".
//!   Beside the test, one rule: when 1% of B's operations were slower than A's slowest (a node
//!   that paused two seconds in B, say), p99 is worse, significant or not. One stall in one run
//!   is one event, and no test of two runs can tell one event from chance; but a stall that
//!   long, in that many operations, is what a gate is for, and a run of the unchanged process
//!   seldom holds one (docs/comparing.md gives how seldom, measured with `bench calibrate`).
//! - **Errors**: operations that failed, were missed or abandoned, as counts
//!   ([`crate::stats::counts`]); a rise from none is new.
//! - **p50**: the run's median, tested on the logarithms of its seconds' medians as the mean is
//!   (Welch at their effective size). The mean and the tails belong to the stalls, and a run's stalls come
//!   and go: without this row, a planted slowdown of every operation by 100% went unseen by the
//!   gate in half the pairs of 60 s windows of one unchanged run (docs/comparing.md). Seconds'
//!   medians, not a bootstrap of the run's: the median drifts from minute to minute (by up to
//!   20% on a local node), and a bootstrap within one run held the whole run's median in a
//!   quarter of 60 s windows only; the seconds' autocorrelation counts the drift in.
//! - Max and CPU are shown, not tested.

use hdrhistogram::Histogram;

use crate::stats::counts::{SecondCount, compare_totals, dispersion};
use crate::stats::means::welch_autocorrelated;
use crate::stats::tails::{Seconds, TailJudgement, compare_tails_widened};
use loadgen::record::IntervalSummary;
use loadgen::record::hdr_log::IntervalLog;
use loadgen::report::RunReport;

use super::Row;

/// A run that achieved this share of its target kept up with it (the verdict's own line).
const KEPT_UP: f64 = 0.99;

/// The tail quantiles tested, and their rows' names.
const TAILS: [(f64, &str); 2] = [(0.99, "p99 latency ms"), (0.999, "p99.9 latency ms")];

/// One side of the comparison: its report and, if it wrote one, its interval log.
pub struct Side<'a> {
    /// The run's report.
    pub report: &'a RunReport,
    /// Its interval log.
    pub log: Option<&'a IntervalLog>,
}

/// Whole seconds only (a partial last interval would skew the samples), and only those for which
/// `value` has something to say.
pub fn samples(
    intervals: &[IntervalSummary],
    value: impl Fn(&IntervalSummary) -> Option<f64>,
) -> Vec<f64> {
    intervals
        .iter()
        .filter(|i| i.seconds >= 0.9)
        .filter_map(value)
        .collect()
}

/// A row of a metric with one sample per second, tested for a change in its mean.
pub fn per_second(
    metric: &str,
    (a, b): (&[IntervalSummary], &[IntervalSummary]),
    value: impl Fn(&IntervalSummary) -> Option<f64>,
    higher_is_worse: bool,
) -> Row {
    let (sa, sb) = (samples(a, &value), samples(b, &value));
    let mut row = Row::new(metric, mean(&sa), mean(&sb), higher_is_worse);
    match welch_autocorrelated(&sa, &sb) {
        Some(test) if test.mean_a != 0.0 => {
            row.p_value = Some(test.p);
            row.change_interval = Some((
                test.interval.0 / test.mean_a * 100.0,
                test.interval.1 / test.mean_a * 100.0,
            ));
        }
        Some(_) => row.unknown = Some("A's mean is 0".to_owned()),
        None => row.unknown = Some("fewer than two whole seconds with a value".to_owned()),
    }
    row
}

fn mean(x: &[f64]) -> Option<f64> {
    (!x.is_empty()).then(|| x.iter().sum::<f64>() / x.len() as f64)
}

/// Every row of one scenario, the gated ones marked.
pub fn rows(a: &Side, b: &Side) -> Vec<Row> {
    rows_with(a, b, crate::stats::tails::REPLICATES)
}

/// [`rows`] with `replicates` bootstrap replicates a side for the tails.
pub fn rows_with(a: &Side, b: &Side, replicates: usize) -> Vec<Row> {
    rows_widened(a, b, replicates, Widening::NONE)
}

/// How much wider than the runs alone say a calibration (`bench calibrate`) found the intervals
/// must be on this ring: the p50's, where runs of unchanged code differ by more than their
/// seconds do, and the p99's and p99.9's, where a window's tail misses the ring's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Widening {
    /// The p50's interval (and its p-value's standard error).
    pub median: f64,
    /// The p99's and the p99.9's (see [`crate::stats::tails::compare_tails_widened`]).
    pub tails: [f64; 2],
}

impl Widening {
    /// No calibration: the intervals as the runs give them.
    pub const NONE: Widening = Widening {
        median: 1.0,
        tails: [1.0, 1.0],
    };
}

/// [`rows_with`] with the p50's, the p99's and the p99.9's intervals widened by a calibration.
pub fn rows_widened(a: &Side, b: &Side, replicates: usize, widen: Widening) -> Vec<Row> {
    let (ra, rb) = (a.report, b.report);
    let op = &ra.names.op;
    let achieved = |i: &IntervalSummary| {
        Some((i.counts.ops + i.counts.ops_failed) as f64 / i.seconds.max(f64::MIN_POSITIVE))
    };
    let mean_ms = |i: &IntervalSummary| i.headline().map(|p| p.mean / 1e3);
    let (ha, hb) = (ra.headline(), rb.headline());
    let mut rows = vec![
        per_second(
            &format!("{op}s/s achieved"),
            (&ra.intervals, &rb.intervals),
            achieved,
            false,
        )
        .gated(),
    ];
    if let (Some(ta), Some(tb)) = (ra.target_rate, rb.target_rate) {
        let (share_a, share_b) = (ra.achieved_rate / ta, rb.achieved_rate / tb);
        // The rule: a schedule A kept and B did not is a regression, whatever the seconds'
        // spread (a run that falls behind sends in fits and starts, and a short one has few
        // seconds to test).
        if share_a >= KEPT_UP && share_b < KEPT_UP {
            rows[0].rule = Some(format!(
                "A achieved its target ({:.1}%) and B {:.1}% of it",
                share_a * 100.0,
                share_b * 100.0
            ));
        } else if share_a >= KEPT_UP && share_b >= KEPT_UP {
            // Both kept one schedule: their throughput was the schedule's, and the seconds'
            // spread (a second's ticks are not whole seconds) is no evidence of anything.
            rows[0].p_value = None;
            rows[0].change_interval = None;
            rows[0].unknown = None;
            rows[0].kept_schedule = true;
        }
        rows.push(Row::new(
            "achieved % of target",
            Some(share_a * 100.0),
            Some(share_b * 100.0),
            false,
        ));
    }
    rows.push(
        per_second(
            "mean latency ms (per second)",
            (&ra.intervals, &rb.intervals),
            mean_ms,
            true,
        )
        .gated(),
    );
    rows.push(median(ra, rb, widen.median));
    rows.extend(tails(a, b, replicates, widen.tails));
    rows.push(Row::new(
        "max latency ms",
        Some(ha.max / 1e3),
        Some(hb.max / 1e3),
        true,
    ));
    rows.push(errors(ra, rb));
    rows.push(Row::new(
        "CPU µs per request",
        Some(ra.client.cpu_us_per_request),
        Some(rb.client.cpu_us_per_request),
        true,
    ));
    let seconds = ra.measured_seconds.min(rb.measured_seconds);
    for row in &mut rows {
        row.seconds = seconds;
    }
    rows
}

/// The p50 row: the runs' medians, tested on the logarithms of their seconds' medians. A
/// slowdown of every operation moves each second's median by one factor; a stall moves one or
/// two seconds' medians by a hundred, which on a log scale weigh as a few outliers, not as the
/// whole variance. A calibration's `widen` widens the test's standard error.
fn median(a: &RunReport, b: &RunReport, widen: f64) -> Row {
    let log_median = |i: &IntervalSummary| {
        i.headline()
            .map(|p| p.p50)
            .filter(|&v| v > 0.0)
            .map(f64::ln)
    };
    let (sa, sb) = (
        samples(&a.intervals, log_median),
        samples(&b.intervals, log_median),
    );
    let (ha, hb) = (a.headline(), b.headline());
    let mut row = Row::new(
        "p50 latency ms",
        Some(ha.p50 / 1e3),
        Some(hb.p50 / 1e3),
        true,
    )
    .gated();
    match welch_autocorrelated(&sa, &sb).map(|test| test.widened(widen)) {
        Some(test) => {
            row.p_value = Some(test.p);
            let percent = |log_ratio: f64| (log_ratio.exp() - 1.0) * 100.0;
            row.change_interval = Some((percent(test.interval.0), percent(test.interval.1)));
            row.calibrated = widen > 1.0;
        }
        None => row.unknown = Some("fewer than two whole seconds with a value".to_owned()),
    }
    row
}

/// The p99 and p99.9 rows: the reports' values, judged from the interval logs.
fn tails(a: &Side, b: &Side, replicates: usize, widen: [f64; 2]) -> Vec<Row> {
    let (ha, hb) = (a.report.headline(), b.report.headline());
    let values = [(ha.p99, hb.p99), (ha.p999, hb.p999)];
    let mut rows: Vec<Row> = TAILS
        .iter()
        .zip(values)
        .map(|((_, name), (va, vb))| Row::new(name, Some(va / 1e3), Some(vb / 1e3), true).gated())
        .collect();
    let (Some(la), Some(lb)) = (a.log, b.log) else {
        let which = match (a.log, b.log) {
            (None, None) => "A and B have",
            (None, _) => "A has",
            _ => "B has",
        };
        for row in &mut rows {
            row.unknown = Some(format!(
                "{which} no interval log, which tails are judged from (run with --hdr-log)"
            ));
        }
        return rows;
    };
    let seconds = |log: &IntervalLog| {
        let histograms: Vec<&Histogram<u64>> = log.untagged().map(|i| &i.histogram).collect();
        Seconds::new(&histograms, 0.99)
    };
    let (sa, sb) = (seconds(la), seconds(lb));
    let quantiles: Vec<f64> = TAILS.iter().map(|(q, _)| *q).collect();
    // The stall rule: 1% of B's operations slower than A's slowest.
    if let Some(row) = rows.first_mut() {
        let (slowest_a, p99_b) = (sa.quantile(1.0), sb.quantile(0.99));
        if p99_b > slowest_a && slowest_a > 0 {
            row.rule = Some(format!(
                "1% of B's operations took {:.3} ms or more, longer than A's slowest ({:.3} ms): \
                 B stalled where A never did",
                p99_b as f64 / 1e6,
                slowest_a as f64 / 1e6
            ));
        }
    }
    for ((row, judgement), factor) in rows
        .iter_mut()
        .zip(compare_tails_widened(
            &sa, &sb, &quantiles, replicates, &widen,
        ))
        .zip(widen)
    {
        row.calibrated = factor > 1.0;
        match judgement {
            TailJudgement::TooShort(why) => row.unknown = Some(why),
            TailJudgement::Tested(test) => {
                row.p_value = Some(test.p);
                let ms = |(low, high): (f64, f64)| (low / 1e6, high / 1e6);
                row.intervals = Some([ms(test.interval_a), ms(test.interval_b)]);
                let (low, high) = test.ratio_interval;
                row.change_interval = Some(((low - 1.0) * 100.0, (high - 1.0) * 100.0));
            }
        }
    }
    rows
}

/// The errors row: the share of operations due that did not succeed, tested on the counts. The
/// dispersion comes from A's failed operations second by second: those fail when they fail, while
/// missed and abandoned ones are all booked when the run ends, one lump in its last second that
/// says nothing of bursts.
fn errors(a: &RunReport, b: &RunReport) -> Row {
    let whole = |r: &RunReport| (r.operations_due() - r.counts.ops, r.operations_due());
    let failed_per_second: Vec<SecondCount> = a
        .intervals
        .iter()
        .map(|i| {
            let c = &i.counts;
            SecondCount {
                events: c.ops_failed,
                due: c.ops + c.ops_failed,
            }
        })
        .collect();
    let test = compare_totals(whole(a), whole(b), dispersion(&failed_per_second));
    let mut row = Row::new(
        "errors %",
        Some(test.share_a() * 100.0),
        Some(test.share_b() * 100.0),
        true,
    )
    .gated();
    row.p_value = Some(test.p);
    row.new = test.a.0 == 0 && test.b.0 > 0;
    row.change_interval = test
        .ratio_interval
        .map(|(low, high)| ((low - 1.0) * 100.0, (high - 1.0) * 100.0));
    if test.a.0 == 0 && test.b.0 == 0 {
        // Nothing failed on either side: nothing to test, and nothing changed.
        row.p_value = None;
    }
    row
}
