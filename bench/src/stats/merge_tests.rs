//! The tests of `merge`.

use rand::{RngExt, SeedableRng};

use super::*;
use loadgen::record::{IntervalSummary, Percentiles, RESPONSE};
use loadgen::report::{Names, RunIdentity, Verdict};
use loadgen::schedule::Shard;

/// A report holding `latencies` (nanoseconds) as its response histogram.
pub(crate) fn report_of(latencies: &[u64]) -> RunReport {
    let mut histogram = new_histogram();
    latencies
        .iter()
        .for_each(|l| histogram.saturating_record(*l));
    let count = latencies.len() as u64;
    RunReport {
        format: loadgen::report::FORMAT,
        tool: "factory".into(),
        version: "test".into(),
        started_at: "2026-11-22T06:00:00.000Z".into(),
        run: RunIdentity::default(),
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
            wake_ups: 2 * count,
            ..ClientCost::default()
        },
        limiter: Limiter {
            verdict: Verdict::KeptUp,
            explanation: "kept up".into(),
            warning: None,
        },
        ring: None,
        modelled_network: None,
        ring_settings: None,
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
    let merged = merge_reports(&[&report_of(first), &report_of(second)], false).unwrap();

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
    // Wake-ups add up, and so per visit they are the whole's two.
    assert_eq!(merged.client.wake_ups, 2 * whole.counts.ops);
    assert!((merged.client.wake_ups_per_op - 2.0).abs() < 1e-9);
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
    let merged = merge_reports(&[&a, &b], false).unwrap();
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
    let error = merge_reports(&[&a, &b], false).unwrap_err().to_string();
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
        merge_reports(&[&report_of(&[1]), &shop], false),
        Err(MergeError::Mismatch(_))
    ));
}

/// Shard `index` of `count` of run `id`, holding one response time.
fn shard_of(id: &str, index: u32, count: u32) -> RunReport {
    let mut report = report_of(&[1_000_000 * u64::from(index + 1)]);
    report.run = RunIdentity {
        id: id.into(),
        shard: Some(Shard::new(index, count).unwrap()),
        host: format!("loader-{index}"),
        ..RunIdentity::default()
    };
    report
}

#[test]
fn every_shard_of_one_run_merges_into_the_whole() {
    let shards: Vec<RunReport> = (0..3).map(|i| shard_of("run-a", i, 3)).collect();
    let merged = merge_reports(&shards.iter().collect::<Vec<_>>(), false).unwrap();
    assert_eq!(merged.counts.ops, 3);
    assert_eq!(merged.ending, "finished");
    assert_eq!(merged.run.id, "run-a");
    assert_eq!(merged.run.host, "loader-0, loader-1, loader-2");
    assert_eq!(merged.app["shards"].as_array().map(Vec::len), Some(3));
    let table = shards::shard_table(&shards.iter().collect::<Vec<_>>());
    assert!(
        table.contains("2/3") && table.contains("loader-2"),
        "{table}"
    );
}

#[test]
fn a_missing_shard_is_refused_by_name_unless_partial() {
    let (a, c) = (shard_of("run-a", 0, 3), shard_of("run-a", 2, 3));
    let error = merge_reports(&[&a, &c], false).unwrap_err().to_string();
    assert!(
        error.contains("shard 1/3 of run run-a") && error.contains("--partial"),
        "{error}"
    );
    let merged = merge_reports(&[&a, &c], true).unwrap();
    assert_eq!(merged.ending, "finished (partial: shard 1 of 3 missing)");
    assert_eq!(merged.counts.ops, 2);
}

#[test]
fn a_shard_twice_another_runs_shard_or_a_lone_run_is_refused() {
    let a = shard_of("run-a", 0, 2);
    let refused = |reports: &[&RunReport]| merge_reports(reports, true).unwrap_err().to_string();
    let twice = refused(&[&a, &shard_of("run-a", 0, 2)]);
    assert!(
        twice.contains("shard 0/2 of run run-a is given twice: inputs 1 and 2"),
        "{twice}"
    );
    let foreign = refused(&[&a, &shard_of("run-b", 1, 2)]);
    assert!(
        foreign.contains("input 2 is shard 1/2 of run run-b, not of run run-a"),
        "{foreign}"
    );
    let counts = refused(&[&a, &shard_of("run-a", 1, 3)]);
    assert!(counts.contains("one number of shards"), "{counts}");
    let alone = refused(&[&a, &report_of(&[1])]);
    assert!(alone.contains("input 2 ran alone"), "{alone}");
}

/// A log of whole seconds from `offset` (one operation of 1 ms each), ending with a sliver of
/// `sliver` seconds holding one more, as a run's last tick does.
fn log_of(seconds: u64, offset: f64, sliver: f64) -> IntervalLog {
    use loadgen::record::hdr_log::LoggedInterval;
    let one = || {
        let mut h = new_histogram();
        h.record(1_000_000).unwrap();
        h
    };
    let mut intervals: Vec<LoggedInterval> = (0..seconds)
        .map(|s| LoggedInterval {
            tag: None,
            start_s: offset + s as f64,
            length: Duration::from_secs(1),
            histogram: one(),
        })
        .collect();
    intervals.push(LoggedInterval {
        tag: None,
        start_s: offset + seconds as f64,
        length: Duration::from_secs_f64(sliver),
        histogram: one(),
    });
    IntervalLog {
        // When report_of's reports began: 2026-11-22T06:00:00Z.
        start_time_s: 1_795_327_200.0,
        intervals,
    }
}

#[test]
fn a_last_tick_of_milliseconds_stays_a_sliver_in_the_merged_log() {
    // Two shards of 20 s: one's last tick ends 3 ms after the twentieth second.
    let reports = [report_of(&[1_000_000; 21]), report_of(&[1_000_000; 21])];
    let logs = [log_of(20, 0.0, 0.0), log_of(20, 0.003, 0.003)];
    let refs: Vec<&RunReport> = reports.iter().collect();
    let merged = merge_runs(&refs, Some(&logs), false).unwrap();
    let log = merged.log.unwrap();
    assert_eq!(log.lengths[&20], 0.003);
    assert_eq!(log.lengths[&19], 1.0);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("merged.hlog");
    series::write_log(&path, (&log.seconds, &log.lengths), log.base).unwrap();
    let read = loadgen::record::hdr_log::read(&path).unwrap();
    let end = read
        .intervals
        .iter()
        .map(|i| i.start_s + i.length.as_secs_f64())
        .fold(0.0, f64::max);
    assert!((end - 20.003).abs() < 1e-6, "the log ends at {end} s");
    // Cut into 10 s windows, the sliver joins the second window: no third window of 1 s holding
    // the two last operations.
    let windows = crate::stats::windows::cut_all(&merged.report, &read, 10.0);
    assert_eq!(windows.len(), 2);
}
