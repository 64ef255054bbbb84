//! `bench findmax` on the shared local ring: what it judged a step is what `bench check` says
//! of that step's report, window by window; and a rate the loader cannot drive ends the search
//! with the loader named, never as the ring's capacity; N loaders search together, judging their
//! merged windows.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use ring::testing;

fn findmax(hosts: &str, out: &Path, extra: &[&str]) -> Output {
    findmax_with(
        Command::new(assert_cmd::cargo::cargo_bin("bench")),
        hosts,
        out,
        extra,
    )
}

/// `bench findmax` as `command` (the binary, or a command that runs it) runs it.
fn findmax_with(mut command: Command, hosts: &str, out: &Path, extra: &[&str]) -> Output {
    command
        .args([
            "findmax", "--hosts", hosts, "--step", "6s", "--window", "3s",
        ])
        .args(["--warmup", "2s", "--growth", "2", "--resolution", "25%"])
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("bench findmax")
}

fn search(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("findmax.json")).expect("findmax.json");
    serde_json::from_str(&text).expect("findmax.json is JSON")
}

/// `bench check` on a step's report, with the search's SLA and windows.
fn check(report: &Path, p99: &str) -> bool {
    Command::new(assert_cmd::cargo::cargo_bin("bench"))
        .arg("check")
        .arg(report)
        .args(["--per", "3s", "--p99", p99, "--errors", "1%"])
        .output()
        .expect("bench check")
        .status
        .success()
}

/// Steps from 250/s up, p99 under 200 ms: every step the search passed passes `bench check` with
/// the same SLA, every step it failed on a window fails it, and the answer is the highest rate
/// that passed.
#[tokio::test]
async fn findmax_judges_each_step_as_bench_check_does_and_answers_the_highest_passing_rate() {
    let _turn = testing::shared().await;
    let hosts = testing::test_ring().await.contact_points().join(",");
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("search");
    let output = findmax(
        &hosts,
        &out,
        &[
            "--p99",
            "200ms",
            "--start-rate",
            "250",
            "--max-rate",
            "2000",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let found = search(&out);
    let steps = found["steps"].as_array().expect("steps");
    assert!(!steps.is_empty(), "{stdout}");
    let mut highest_passed = None::<f64>;
    for step in steps {
        let (number, rate) = (
            step["number"].as_u64().unwrap(),
            step["rate"].as_f64().unwrap(),
        );
        let report = out.join(format!("step-{number}-{rate:.0}.json"));
        match step["outcome"]["outcome"].as_str().unwrap() {
            "passed" => {
                assert!(
                    check(&report, "200ms"),
                    "step {number} passed findmax, not check"
                );
                highest_passed = Some(highest_passed.map_or(rate, |h: f64| h.max(rate)));
            }
            "failed"
                if step["outcome"]["why"]
                    .as_str()
                    .unwrap()
                    .starts_with("window") =>
            {
                assert!(
                    !check(&report, "200ms"),
                    "step {number} failed findmax, not check"
                );
            }
            _ => {}
        }
    }
    let answer = &found["answer"];
    let passed = answer["passed"].as_f64();
    assert_eq!(passed, highest_passed, "{answer}");
    assert_eq!(
        output.status.success(),
        passed.is_some() && answer["answer"] != "loader_bound",
        "{stdout}"
    );
    assert!(stdout.contains("findmax: "), "{stdout}");
    // The page: p99, p99.9 and errors against the rate, each drawn in a real browser, and the
    // ring's side at the first failing step, when a step failed.
    let (drawn, total) = crate::suite::drawn_plots(&out.join("index.html"));
    let failed_one = steps.iter().any(|s| s["outcome"]["outcome"] == "failed");
    assert!(total >= 3, "{drawn}/{total} plots");
    assert_eq!(drawn, total, "every plot drawn");
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(
        page.contains("The ring's side at the first failing step"),
        failed_one,
        "{page}"
    );
}

/// A first step far beyond what one loader process on this machine can send: the search ends at
/// once, names the loader as the limit, and exits 1. The loader runs at the lowest priority, so
/// that it is the limit by construction: where it ran beside the node as an equal, a fast
/// machine's loader could send more than a cold node served, and a window filling behind the
/// node would name the server instead (seen once in a CI run: the first step, 200,000/s against
/// a freshly started node, failed every visit and the search went on down).
#[tokio::test]
async fn a_rate_the_loader_cannot_drive_ends_the_search_naming_the_loader() {
    let _turn = testing::shared().await;
    let hosts = testing::test_ring().await.contact_points().join(",");
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("search");
    let mut niced = Command::new("nice");
    niced
        .args(["-n", "19"])
        .arg(assert_cmd::cargo::cargo_bin("bench"));
    let output = findmax_with(
        niced,
        &hosts,
        &out,
        &[
            "--p99",
            "10s",
            "--start-rate",
            "200000",
            "--max-rate",
            "200000",
            // A window that never fills at this rate: what holds the step back is the loop.
            "--",
            "--max-in-flight",
            "60000",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("the loader, not the ring, is the limit"),
        "{stdout}"
    );
    assert!(stderr.contains("the loader was the limit"), "{stderr}");
    assert_eq!(search(&out)["answer"]["answer"], "loader_bound");
}

/// `--start-at` some seconds ahead, as every loader of a sharded search gets it.
fn start_in(seconds: u64) -> String {
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(seconds);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Loader `shard` of a sharded search, started (not waited for).
fn loader(hosts: &str, out: &Path, shard: &str, start_at: &str, extra: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("bench"))
        .args([
            "findmax", "--hosts", hosts, "--step", "6s", "--window", "3s",
        ])
        .args(["--warmup", "2s", "--growth", "2", "--between-steps", "8s"])
        .args(["--shard", shard, "--start-at", start_at])
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bench findmax --shard")
}

/// Two loaders search together: each runs its half of every step, on one schedule; both judge
/// the steps' merged windows and reach the same answer, and shard 0 keeps the merged steps (whose
/// rate is the whole step's), findmax.json and the page.
#[tokio::test]
async fn two_loaders_search_together_and_judge_their_merged_windows() {
    let _turn = testing::shared().await;
    let hosts = testing::test_ring().await.contact_points().join(",");
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("search");
    let start_at = start_in(25);
    let sla = ["--p99", "2s", "--start-rate", "400", "--max-rate", "800"];
    let loaders = [
        loader(&hosts, &out, "0/2", &start_at, &sla),
        loader(&hosts, &out, "1/2", &start_at, &sla),
    ];
    let outputs: Vec<Output> = loaders
        .into_iter()
        .map(|l| l.wait_with_output().expect("a loader"))
        .collect();
    let said: Vec<String> = outputs
        .iter()
        .map(|o| {
            let stdout = String::from_utf8_lossy(&o.stdout);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{stdout}{stderr}");
            let line = stdout.lines().find(|l| l.starts_with("findmax: "));
            let line = line.unwrap_or_else(|| panic!("{stdout}"));
            assert!(line.contains("by 2 loaders together"), "{line}");
            // The answer, without how long this loader took to reach it.
            line.split(" (searched in").next().unwrap().to_owned()
        })
        .collect();
    assert_eq!(said[0], said[1], "both loaders reach the same answer");
    let found = search(&out);
    assert_eq!(found["loaders"], 2);
    assert_eq!(found["answer"]["answer"], "at_least", "{}", found["answer"]);
    let steps = found["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{found}");
    for step in steps {
        let (number, rate) = (
            step["number"].as_u64().unwrap(),
            step["rate"].as_f64().unwrap(),
        );
        let name = format!("step-{number}-{rate:.0}");
        assert_eq!(step["report"], name.as_str());
        // The merged step is the whole rate; each window holds the operations of both shards.
        let achieved = step["achieved"].as_f64().unwrap();
        assert!((achieved - rate).abs() < 0.02 * rate, "{step}");
        for window in step["windows"]["windows"].as_array().unwrap() {
            let operations = window["operations"].as_f64().unwrap();
            assert!(
                (operations - 3.0 * rate).abs() <= 0.03 * 3.0 * rate,
                "{window}"
            );
        }
        assert!(out.join(&name).join("report.json").is_file(), "{name}");
        for shard in 0..2 {
            let text = std::fs::read_to_string(out.join(format!("{name}-shard-{shard}.json")))
                .expect("each shard's own report");
            let report: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(report["run"]["shard"]["index"], shard, "{name}");
        }
    }
    assert!(out.join("index.html").is_file());
}

/// A loader alone in a search of two: its step runs, the other shard's report never comes, and
/// the search ends naming the missing shard, without an answer.
#[tokio::test]
async fn a_sharded_search_whose_other_loader_never_comes_stops_naming_it() {
    let _turn = testing::shared().await;
    let hosts = testing::test_ring().await.contact_points().join(",");
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("search");
    let alone = loader(
        &hosts,
        &out,
        "0/2",
        &start_in(20),
        &["--p99", "2s", "--start-rate", "200", "--max-rate", "200"],
    );
    let output = alone.wait_with_output().expect("the loader");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("findmax stopped: shard 1's report of step 1"),
        "{stdout}"
    );
    assert!(out.join("step-1-200-shard-0.json").is_file());
    assert_eq!(search(&out)["steps"].as_array().unwrap().len(), 0);
}
