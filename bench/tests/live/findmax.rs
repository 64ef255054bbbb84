//! `bench findmax` on the shared local ring: what it judged a step is what `bench check` says
//! of that step's report, window by window; and a rate the loader cannot drive ends the search
//! with the loader named, never as the ring's capacity.

use std::path::Path;
use std::process::{Command, Output};

use ring::testing;

fn findmax(hosts: &str, out: &Path, extra: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("bench"))
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
}

/// A first step far beyond what one loader process on this machine can send: the search ends at
/// once, names the loader as the limit, and exits 1.
#[tokio::test]
async fn a_rate_the_loader_cannot_drive_ends_the_search_naming_the_loader() {
    let _turn = testing::shared().await;
    let hosts = testing::test_ring().await.contact_points().join(",");
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("search");
    let output = findmax(
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
