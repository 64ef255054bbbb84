//! Crafted files handed to `bench merge`, `bench compare` and `bench calibrate`, as a user (or a broken copy) might
//! hand them: truncated histograms and logs, logs of another run or of none, shards that do not
//! exist, absurd numbers, runs that cannot be added or set side by side. Each must be refused with
//! one line naming what is wrong, or marked "n/a", never a panic, never a folder left behind, and
//! never a number that is not so. No ring is needed: the runs are written here, second by second,
//! with HDR interval logs in the standard format.

// The helpers that write the crafted files are test code too: a file that cannot be written is a
// broken test, and the panic says where.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use loadgen::record::hdr_log::HdrLog;
use loadgen::record::new_histogram;
use loadgen::report::RunReport;
use serde_json::{Value, json};

/// When the crafted runs began: 2026-12-01T00:00:00Z.
const START_S: u64 = 1_796_083_200;

fn bench() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("bench"))
}

/// A run of `seconds` seconds at `rate` visits/s, each visit `ms` milliseconds (plus a little
/// spread), written as `<folder>/<name>.json` with its log `<name>.hlog` beside it. Returns the
/// report's JSON, written, so that a test may change it and write it again.
fn write_run(folder: &Path, name: &str, seconds: u64, rate: u64, ms: u64) -> Value {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(START_S);
    let log_path = folder.join(format!("{name}.hlog"));
    let mut log = HdrLog::create(&log_path, start, "a crafted test").unwrap();
    let mut total = new_histogram();
    let mut intervals = Vec::new();
    for s in 0..seconds {
        let mut second = new_histogram();
        for i in 0..rate {
            second
                .record(ms * 1_000_000 + (i * 7919 % 1000) * 1_000)
                .unwrap();
        }
        log.write(
            "all",
            &second,
            Duration::from_secs(s),
            Duration::from_secs(1),
        );
        total.add(&second).unwrap();
        let p = loadgen::record::Percentiles::of(&second);
        intervals.push(json!({
            "at": (s + 1) as f64, "seconds": 1.0,
            "counts": {"ops": rate, "ops_failed": 0, "requests": 3 * rate, "requests_failed": 0},
            "response_us": p, "all_us": p, "in_flight": 0
        }));
    }
    log.finish().unwrap();
    let encoded = RunReport::encode(&total);
    let ops = seconds * rate;
    let report = json!({
        "format": 1, "tool": "factory", "version": "crafted",
        "started_at": "2026-12-01T00:00:00.000Z",
        "run": {"id": "", "shard": null, "host": "here", "start_at": "", "ready_late_ms": 0.0},
        "names": {"op": "visit", "request": "write"},
        "config": {"run": {"hdr_log": log_path.display().to_string(), "rate": rate as f64}},
        "ending": "finished", "target_rate": rate as f64,
        "achieved_rate": rate as f64, "achieved_request_rate": 3.0 * rate as f64,
        "measured_seconds": seconds as f64, "wall_seconds": seconds as f64,
        "counts": {"ops": ops, "ops_failed": 0, "requests": 3 * ops, "requests_failed": 0},
        "abandoned": 0, "errors": {},
        "latency_us": {"all": loadgen::record::Percentiles::of(&total)},
        "histograms": {"all": encoded},
        "intervals": intervals,
        "pacing": {"waiting_for_permits_s": 0.0, "late_with_free_permits_s": 0.0, "peak_in_flight": 3},
        "client": {"cpu_seconds": 1.0, "cores_busy": 0.1, "cpu_us_per_request": 3.0,
            "cpu_us_per_op": 9.0, "rss_start_bytes": 1, "rss_end_bytes": 1, "peak_rss_bytes": 1},
        "limiter": {"verdict": "kept_up", "explanation": "kept up", "warning": null}
    });
    save(folder, name, &report);
    report
}

/// Writes `report` as `<folder>/<name>.json`, and returns its path.
fn save(folder: &Path, name: &str, report: &Value) -> PathBuf {
    let path = folder.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(report).unwrap()).unwrap();
    path
}

/// The command's error line, checking that it failed with `code`, printed one line on stderr and
/// did not panic.
fn refused(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code; stderr: {stderr}; stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    lines[0].to_owned()
}

/// `bench merge OUT a.json b.json` must refuse, saying `says`, and leave no OUT.
fn merge_refused(folder: &Path, says: &str) {
    let out = folder.join("merged");
    let output = bench()
        .arg("merge")
        .arg(&out)
        .arg(folder.join("a.json"))
        .arg(folder.join("b.json"))
        .output()
        .unwrap();
    let line = refused(&output, 1);
    assert!(line.contains(says), "expected '{says}' in: {line}");
    assert!(
        !out.exists(),
        "a refused merge left {} behind",
        out.display()
    );
}

/// `bench merge OUT a.json b.json`, which must succeed: the merged report's JSON.
fn merged(folder: &Path) -> Value {
    let out = folder.join("merged");
    let output = bench()
        .arg("merge")
        .arg(&out)
        .arg(folder.join("a.json"))
        .arg(folder.join("b.json"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// Two shards of one run, 0/2 and 1/2, 30 s at 100/s each.
fn two_shards(folder: &Path) -> (Value, Value) {
    let mut a = write_run(folder, "a", 30, 100, 2);
    let mut b = write_run(folder, "b", 30, 100, 2);
    for (report, index) in [(&mut a, 0), (&mut b, 1)] {
        report["run"]["id"] = "run-1".into();
        report["run"]["shard"] = json!({"index": index, "count": 2});
    }
    (a, b)
}

#[test]
fn a_truncated_histogram_is_refused_naming_the_file_not_left_out_of_the_percentiles() {
    let folder = tempfile::tempdir().unwrap();
    write_run(folder.path(), "a", 30, 100, 2);
    let mut b = write_run(folder.path(), "b", 30, 100, 100);
    let all = b["histograms"]["all"].as_str().unwrap().to_owned();
    b["histograms"]["all"] = all[..all.len() / 2].into();
    save(folder.path(), "b", &b);
    merge_refused(
        folder.path(),
        "b.json is not a pickle run report (histogram 'all'",
    );
}

#[test]
fn a_missing_truncated_or_foreign_interval_log_is_refused_naming_the_log() {
    let folder = tempfile::tempdir().unwrap();
    write_run(folder.path(), "a", 30, 100, 2);
    write_run(folder.path(), "b", 30, 100, 2);
    let log = folder.path().join("b.hlog");
    let whole = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, &whole[..whole.len() * 2 / 3]).unwrap();
    merge_refused(folder.path(), "b.hlog is not a readable HDR interval log");
    // Another run's log under this run's name: it holds other operations.
    write_run(folder.path(), "other", 30, 50, 2);
    std::fs::rename(folder.path().join("other.hlog"), &log).unwrap();
    merge_refused(
        folder.path(),
        "b.hlog is not the interval log of its report",
    );
    std::fs::remove_file(&log).unwrap();
    merge_refused(folder.path(), "b.hlog");
}

#[test]
fn runs_that_wrote_no_log_merge_with_no_per_second_percentiles_and_compare_cannot_tell() {
    let folder = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        let mut run = write_run(folder.path(), name, 30, 100, 2);
        run["config"]["run"]["hdr_log"] = Value::Null;
        save(folder.path(), name, &run);
    }
    let merged = merged(folder.path());
    let out = folder.path().join("merged");
    let scenario = &merged["scenarios"][0];
    assert!(scenario["hdr_log"].is_null());
    // Every visit due is in the merged headline, and no second claims a latency of 0.
    let report = &scenario["report"];
    assert_eq!(report["latency_us"]["all"]["count"], 6000);
    assert!(
        report["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["all_us"]["count"] == 0)
    );
    // The merged run against itself: per-second means and tails cannot be told, never "+0.0%".
    let compared = bench().arg("compare").arg(&out).arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&compared.stdout);
    assert!(compared.status.success(), "{text}");
    for metric in [
        "mean latency ms (per second): cannot tell",
        "p99 latency ms: cannot tell",
    ] {
        assert!(text.contains(metric), "'{metric}' in {text}");
    }
}

#[test]
fn shards_that_do_not_exist_or_absurd_numbers_are_refused_without_a_panic() {
    let folder = tempfile::tempdir().unwrap();
    let (a, b) = two_shards(folder.path());
    save(folder.path(), "a", &a);
    for (field, value, says) in [
        (
            "shard",
            json!({"index": 5, "count": 2}),
            "shard 5 of 2 does not exist",
        ),
        (
            "shard",
            json!({"index": 0, "count": 0}),
            "at least one shard",
        ),
        (
            "shard",
            json!({"index": 0, "count": 4_000_000_000u64}),
            "at most 100000",
        ),
    ] {
        let mut crafted = b.clone();
        crafted["run"][field] = value;
        save(folder.path(), "b", &crafted);
        merge_refused(folder.path(), says);
    }
    for (field, value, says) in [
        ("wall_seconds", json!(1e300), "wall_seconds is 1e300"),
        (
            "started_at",
            json!("the day before"),
            "started_at 'the day before' is not a time",
        ),
        ("measured_seconds", json!(-3.0), "measured_seconds is -3"),
    ] {
        let mut crafted = b.clone();
        crafted[field] = value;
        save(folder.path(), "b", &crafted);
        merge_refused(folder.path(), says);
    }
}

#[test]
fn inputs_that_were_not_one_run_are_refused_with_what_differs() {
    let folder = tempfile::tempdir().unwrap();
    let (a, b) = two_shards(folder.path());
    save(folder.path(), "a", &a);
    let mut faster = b.clone();
    faster["target_rate"] = 200.0.into();
    save(folder.path(), "b", &faster);
    merge_refused(folder.path(), "the shards of one run share one schedule");
    let mut closed = b.clone();
    closed["target_rate"] = Value::Null;
    save(folder.path(), "b", &closed);
    merge_refused(folder.path(), "one ran open loop");
    let mut far = b.clone();
    far["modelled_network"] = "5 ms each way".into();
    save(folder.path(), "b", &far);
    merge_refused(folder.path(), "modelled networks differ");
    // The two as they were merge, and the headline holds every visit due.
    save(folder.path(), "b", &b);
    let merged = merged(folder.path());
    let report = &merged["scenarios"][0]["report"];
    assert_eq!(report["latency_us"]["all"]["count"], 6000);
    assert_eq!(report["counts"]["ops"], 6000);
}

#[test]
fn a_b_that_ended_fatally_with_nothing_measured_fails_the_gate() {
    let folder = tempfile::tempdir().unwrap();
    let a = write_run(folder.path(), "a", 30, 100, 2);
    let mut b = a.clone();
    b["ending"] = "fatal authentication error: bad credentials".into();
    b["counts"] = json!({"ops": 0, "ops_failed": 0, "requests": 0, "requests_failed": 0});
    b["histograms"] = json!({});
    b["intervals"] = json!([]);
    b["config"]["run"]["hdr_log"] = Value::Null;
    let b = save(folder.path(), "b", &b);
    let output = bench()
        .arg("compare")
        .arg(folder.path().join("a.json"))
        .arg(&b)
        .args(["--fail-if-slower", "5%"])
        .output()
        .unwrap();
    let line = refused(&output, 1);
    assert!(
        line.contains("B measured nothing (it ended: fatal authentication error"),
        "{line}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("-100"));
}

#[test]
fn runs_at_different_rates_are_not_compared_and_a_gate_asked_about_them_fails() {
    let folder = tempfile::tempdir().unwrap();
    write_run(folder.path(), "a", 30, 100, 2);
    write_run(folder.path(), "b", 30, 200, 2);
    let (a, b) = (folder.path().join("a.json"), folder.path().join("b.json"));
    let shown = bench().arg("compare").arg(&a).arg(&b).output().unwrap();
    assert!(shown.status.success());
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("not compared") && text.contains("A's target rate was 100/s and B's 200/s"),
        "{text}"
    );
    let gated = bench()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .args(["--fail-if-slower", "5%"])
        .output()
        .unwrap();
    assert!(refused(&gated, 1).contains("not judged"));
}

/// Whether `bench compare A B --fail-if-slower 5%` fails.
fn gate_fails(a: &Path, b: &Path) -> bool {
    let output = bench()
        .arg("compare")
        .arg(a)
        .arg(b)
        .args(["--fail-if-slower", "5%"])
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    !output.status.success()
}

#[test]
fn a_calibration_on_whole_runs_counts_a_false_alarm_exactly_where_compare_fails_a_pair() {
    let folder = tempfile::tempdir().unwrap();
    // Three pairs, A then B; the third B is every visit twice as slow, as a change would make it.
    let runs = [
        ("a1", 2),
        ("b1", 2),
        ("a2", 2),
        ("b2", 2),
        ("a3", 2),
        ("b3", 4),
    ];
    for (name, ms) in runs {
        write_run(folder.path(), name, 40, 100, ms);
    }
    let path = |name: &str| folder.path().join(format!("{name}.json"));
    let failed_by_compare = runs
        .chunks(2)
        .filter(|pair| gate_fails(&path(pair[0].0), &path(pair[1].0)))
        .count();
    assert_eq!(failed_by_compare, 1, "the slow pair, and only it");
    let json = folder.path().join("calibration.json");
    let output = bench()
        .arg("calibrate")
        .args(runs.map(|(name, _)| path(name)))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("3 A/A pairs of whole runs of 40 s on average; the gate failed on 1"),
        "{stdout}"
    );
    let calibration: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(calibration[0]["pairs"], 3);
    assert_eq!(calibration[0]["false_alarms"], failed_by_compare);
    assert_eq!(calibration[0]["whole_runs"], true);
}

#[test]
fn whole_runs_that_cannot_be_a_a_pairs_are_refused_with_why() {
    let folder = tempfile::tempdir().unwrap();
    write_run(folder.path(), "a", 30, 100, 2);
    write_run(folder.path(), "b", 30, 100, 2);
    write_run(folder.path(), "c", 30, 200, 2);
    let calibrate = |runs: &[&str], flags: &[&str]| {
        let output = bench()
            .arg("calibrate")
            .args(runs.iter().map(|r| folder.path().join(format!("{r}.json"))))
            .args(flags)
            .output()
            .unwrap();
        refused(&output, 2)
    };
    assert!(calibrate(&["a", "b", "c"], &[]).contains("3 run(s) given"));
    let line = calibrate(&["a", "c"], &[]);
    assert!(
        line.contains("cannot be compared: A's target rate was 100/s and B's 200/s"),
        "{line}"
    );
    assert!(calibrate(&["a", "a"], &[]).contains("is given twice"));
    assert!(calibrate(&["a", "b"], &["--window", "10s"]).contains("separate runs are taken whole"));
}
