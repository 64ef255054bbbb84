//! The comparison as text: a table of every row, then what could not be told and why, then how
//! the decision was made.

use super::{ALPHA, Comparison, Judgement, Row, Standing};

/// `12.345`, or `-` for no value.
fn value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

/// A row's value with its 95% interval, when it has one.
fn with_interval(v: Option<f64>, interval: Option<(f64, f64)>) -> String {
    match interval {
        Some((low, high)) => format!("{} ({low:.3}-{high:.3})", value(v)),
        None => value(v),
    }
}

fn verdict(row: &Row) -> &'static str {
    match (&row.judgement, row.new) {
        (Judgement::Worse, true) => "new *",
        (Judgement::Worse, false) => "worse *",
        (Judgement::Better, _) => "better *",
        (Judgement::Same, _) => "same",
        (Judgement::CannotTell(_), _) => "cannot tell",
        (Judgement::NotTested, _) => "",
    }
}

fn cells(name: &str, row: &Row) -> [String; 8] {
    let change = match (row.change(), row.new) {
        (_, true) => "new".to_owned(),
        (Some(c), _) => format!("{c:+.1}%"),
        (None, _) => "-".to_owned(),
    };
    let interval = row.change_interval.map_or_else(String::new, |(low, high)| {
        format!("{low:+.1}% to {high:+.1}%")
    });
    let p = match (row.p_adjusted, row.p_value) {
        (Some(adjusted), _) => format!("{adjusted:.4}"),
        (None, Some(p)) => format!("{p:.4} raw"),
        (None, None) => String::new(),
    };
    [
        name.to_owned(),
        row.metric.clone(),
        with_interval(row.a, row.intervals.map(|[a, _]| a)),
        with_interval(row.b, row.intervals.map(|[_, b]| b)),
        change,
        interval,
        p,
        verdict(row).to_owned(),
    ]
}

/// The comparison as a text table, the rows it could not tell with why, what the tests were,
/// and the scenarios it could not compare.
pub fn text(comparison: &Comparison) -> String {
    let header = [
        "scenario", "metric", "A", "B", "change", "95% CI", "p", "verdict",
    ];
    let mut table = loadgen::report::table::new(&header, &[0, 1, 5, 7]);
    let mut below = Vec::new();
    for scenario in &comparison.scenarios {
        let mut first = true;
        let mut name = || {
            let shown = if first { scenario.name.as_str() } else { "" };
            first = false;
            shown.to_owned()
        };
        if let Standing::Unfinished(why) | Standing::Apart(why) = &scenario.standing {
            table.add_row([name(), "not compared".to_owned(), why.clone()]);
            below.push(format!("{}: not compared: {why}.", scenario.name));
        }
        for row in scenario.rows.iter().chain(&scenario.ring) {
            table.add_row(cells(&name(), row));
            if let (Some(rule), Judgement::Worse) = (&row.rule, &row.judgement) {
                below.push(format!("{} {}: worse: {rule}.", scenario.name, row.metric));
            }
            if let (Judgement::CannotTell(why), true) = (&row.judgement, row.gated) {
                below.push(format!(
                    "{} {}: cannot tell: {why}.",
                    scenario.name, row.metric
                ));
            }
        }
        if let Some(calibration) = &scenario.calibration {
            below.push(format!("{}: {calibration}.", scenario.name));
        }
        for note in &scenario.notes {
            below.push(format!("{}: set-up differs: {note}.", scenario.name));
        }
        if let Some(why) = &scenario.ring_missing {
            below.push(format!("{}: no ring rows: {why}.", scenario.name));
        }
    }
    let mut out = loadgen::report::table::render(&table, 0);
    for line in below {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&method(comparison));
    out
}

/// How the decision was made, in a paragraph.
fn method(comparison: &Comparison) -> String {
    let scenarios = comparison
        .scenarios
        .iter()
        .filter(|s| s.standing == Standing::Comparable)
        .count();
    let calibrated = comparison.scenarios.iter().any(|s| s.calibration.is_some());
    let uncalibrated = if calibrated {
        ""
    } else {
        " Uncalibrated: the intervals hold what each run's own seconds vary by, and two separate \
         runs of one build vary more (on one local node, 148 separate runs' p99 intervals held \
         their pooled p99 in 66% of them, in 93% once calibrated): `bench calibrate` measures \
         how much on your ring and `compare --calibration` widens by it (docs/comparing.md)."
    };
    crate::report::suite_report::wrap(
        &format!(
            "How: {} gated tests over {scenarios} scenario(s) (throughput, mean latency, p50, p99, \
         p99.9, errors) held to a family-wise error of {:.0}% by Holm's method; p is Holm-adjusted \
         (\"raw\": the ring's rows, evidence never gated). Throughput counts operations sent and \
         ended, per whole second (two runs that kept one target are the same by their schedule); \
         means: Welch's t-test on per-second samples at their effective \
         size; p50: the same on the logarithms of the seconds' medians; p99 and p99.9: a block bootstrap over whole seconds of the interval logs (95% \
         intervals in brackets); errors (failed, missed, abandoned): counts, conditional binomial \
         test scaled by A's dispersion. \"same\": a change beyond ±{}% is ruled out; \"cannot \
         tell\": it is not; the gate fails on \"worse\" with the whole interval beyond it. Latency counts every operation due, from its due time.{uncalibrated}\n",
            comparison.tests,
            ALPHA * 100.0,
            comparison.threshold
        ),
        100,
    )
}
