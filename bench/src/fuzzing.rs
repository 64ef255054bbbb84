//! The entry points of the fuzz targets (`fuzz/`): every file a user hands `bench`, read from
//! bytes exactly as the commands read it, so that a fuzzer can throw anything at them. Each must
//! return, whatever the bytes: an error is an answer, a panic, a hang or a gigabyte allocated is a
//! bug. Where a result is produced, its invariants are asserted here, so that the fuzzer finds
//! wrong answers too, not only crashes.
//!
//! Two-input targets take their files one after another, separated by NUL bytes (no report or log
//! holds one): `report A \0 log A \0 report B \0 log B`, an empty log for none.

use crate::report::suite_report::{self, log_matches};
use crate::stats::compare::rows::{Side, rows_with};
use crate::stats::compare::{ScenarioChanges, judge, standing, text};
use crate::stats::merge::{MergedRun, log_starts_with_report, merge_runs};
use crate::stats::tails::Seconds;
use loadgen::record::hdr_log::{self, IntervalLog};
use loadgen::report::RunReport;

/// Bootstrap replicates in the fuzz targets: the code paths are those of the two thousand a
/// comparison draws, at a hundredth of the cost.
const FEW_REPLICATES: usize = 20;

/// A report's bytes as `bench compare`, `merge` and `plot` read them: JSON, a suite's or a single
/// run's, checked; then its summary and table, as `bench show` and the suite print them.
pub fn report(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(suite) = suite_report::from_json(value) else {
        return;
    };
    for scenario in &suite.scenarios {
        let report = &scenario.report;
        let _ = report.summary();
        // A checked report holds every operation due in its headline.
        if let Some(all) = report.histogram(loadgen::record::ALL) {
            assert_eq!(all.len(), report.operations_due());
        }
    }
    let _ = suite.text_table();
}

/// An interval log's bytes as every reader of logs takes them, then the tails' bootstrap over
/// its seconds, as `compare` runs it.
pub fn interval_log(data: &[u8]) {
    let Ok(log) = hdr_log::parse(data) else {
        return;
    };
    let seconds: Vec<_> = log.untagged().map(|i| &i.histogram).collect();
    let series = Seconds::new(&seconds, 0.99);
    let replicates = series.bootstrap(&[0.99, 0.999], FEW_REPLICATES, 1);
    assert!(replicates.iter().all(|r| r.iter().all(|v| v.is_finite())));
}

/// A run read from a report's bytes and a log's, as a command finds them in a folder: the log
/// kept only if it is the report's.
fn run_of(report: &[u8], log: &[u8]) -> Option<(RunReport, Option<IntervalLog>)> {
    let value = serde_json::from_slice(report).ok()?;
    let run = RunReport::from_json(value).ok()?;
    let log = if log.is_empty() {
        None
    } else {
        let log = hdr_log::parse(log).ok()?;
        log_matches(&run, &log).ok()?;
        Some(log)
    };
    Some((run, log))
}

/// The two runs of a two-input target.
fn two_runs(data: &[u8]) -> Option<[(RunReport, Option<IntervalLog>); 2]> {
    let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let [ra, la, rb, lb] = parts[..] else {
        return None;
    };
    Some([run_of(ra, la)?, run_of(rb, lb)?])
}

/// Two runs merged as `bench merge` merges them, in memory; the merge of sound reports is
/// itself sound, and holds every operation both held.
pub fn merge(data: &[u8]) {
    let Some([(a, la), (b, lb)]) = two_runs(data) else {
        return;
    };
    let logs: Option<Vec<IntervalLog>> = match (la, lb) {
        (Some(la), Some(lb))
            if log_starts_with_report(&la, &a).is_ok()
                && log_starts_with_report(&lb, &b).is_ok() =>
        {
            Some(vec![la, lb])
        }
        _ => None,
    };
    for partial in [false, true] {
        let Ok(MergedRun { report, .. }) = merge_runs(&[&a, &b], logs.as_deref(), partial) else {
            continue;
        };
        report.check().expect("a merge of sound reports is sound");
        assert_eq!(
            report.operations_due(),
            a.operations_due() + b.operations_due()
        );
    }
}

/// Two runs compared as `bench compare` compares them, judged and printed.
pub fn compare(data: &[u8]) {
    let Some([(a, la), (b, lb)]) = two_runs(data) else {
        return;
    };
    let (standing, notes) = standing::of(&a, &b);
    let rows = rows_with(
        &Side {
            report: &a,
            log: la.as_ref(),
        },
        &Side {
            report: &b,
            log: lb.as_ref(),
        },
        FEW_REPLICATES,
    );
    let comparison = judge(
        vec![ScenarioChanges {
            name: "fuzzed".to_owned(),
            calibration: None,
            standing,
            notes,
            rows,
            ring: Vec::new(),
            ring_missing: None,
        }],
        5.0,
    );
    let _ = comparison.failures();
    let _ = text(&comparison);
}

/// CQL text as `schema` reads its `.cql` file: cut into statements, then into tables.
pub fn cql(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let statements = schema::cql::split_statements(text);
    assert!(
        statements
            .iter()
            .all(|s| !s.contains(';') || s.contains('\''))
    );
    let _ = schema::SchemaFile::parse(text);
}
