//! What limited the rate, on a real node: "kept up" means on time. A modest rate on a healthy
//! node keeps up; a run that reached its rate only by draining a backlog after a stall did not,
//! and its verdict names what held its visits.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use loadgen::report::{RunReport, Verdict};
use ring::testing;
use ring::{IpPrefix, NodeSignal, Shape};
use schema::testing::fresh_keyspace_on;

use crate::fresh_keyspace;

/// A factory writing to `keyspace` at `hosts` with a report at `report`, started in the
/// background.
fn factory(hosts: &str, keyspace: &str, report: &Path, flags: &[&str]) -> std::io::Result<Child> {
    Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args(["--hosts", hosts, "--keyspace", keyspace, "--quiet"])
        .args(["--employees", "20", "--report"])
        .arg(report)
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Waits for a factory, which must succeed.
fn finished(child: Child) -> anyhow::Result<Output> {
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "factory failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

#[tokio::test]
async fn a_modest_rate_on_a_healthy_node_keeps_up_on_time() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("verdict_on_time").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("run.json");
    let flags = ["--rate", "500", "--duration", "10s", "--warmup", "2s"];
    finished(factory(&hosts, &keyspace, &report, &flags)?)?;
    let run = RunReport::read(&report)?;
    assert_eq!(
        run.limiter.verdict,
        Verdict::KeptUp,
        "{} ({:?})",
        run.limiter.explanation,
        run.limiter.warning
    );
    assert!(run.limiter.explanation.contains("on time"));
    Ok(())
}

#[tokio::test]
async fn a_run_that_drained_a_stall_before_its_end_did_not_keep_up() -> anyhow::Result<()> {
    let _turn = testing::exclusive().await;
    let prefix: IpPrefix = "127.0.16".parse().map_err(anyhow::Error::msg)?;
    let shape = Shape::new(1, 1, prefix).map_err(anyhow::Error::msg)?;
    let own = testing::start_ring("test-late", shape).await?;
    let hosts = own.hosts();
    let keyspace = fresh_keyspace_on(&hosts, "verdict_late").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("late.json");
    // As a new user's first run on a compose ring: 300 visits/s behind a window of 64 writes.
    // The node hangs (SIGSTOP, as in a long GC pause) for 5 s in the middle; the backlog of
    // 1,500 visits then drains in about a second, long before the end.
    let flags = [
        "--rate",
        "300",
        "--duration",
        "20s",
        "--warmup",
        "1s",
        "--max-in-flight",
        "64",
    ];
    let child = factory(&hosts, &keyspace, &report, &flags)?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    own.ring.signal_node(1, NodeSignal::Pause)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    own.ring.signal_node(1, NodeSignal::Resume)?;
    finished(child)?;
    own.stop().await?;

    let run = RunReport::read(&report)?;
    let limiter = &run.limiter;
    eprintln!(
        "the stalled run: {:.1}/s, {:?}; {} ({:?})",
        run.achieved_rate, run.pacing, limiter.explanation, limiter.warning
    );
    assert!(
        run.achieved_rate >= 0.99 * 300.0,
        "the backlog drained before the end: {:.1}/s",
        run.achieved_rate
    );
    assert!(
        run.pacing.waiting_for_permits_s >= 3.0,
        "the window was full while the node hung: {:?}",
        run.pacing
    );
    assert!(
        matches!(
            limiter.verdict,
            Verdict::ServerLatency | Verdict::InFlightBound
        ),
        "the window held the visits, not the client: {:?}: {}",
        limiter.verdict,
        limiter.explanation
    );
    let warning = limiter.warning.as_deref().unwrap_or_default();
    for part in ["only by catching up late", "for permits"] {
        assert!(
            warning.contains(part),
            "the warning says {part:?}: {warning}"
        );
    }
    assert!(
        limiter.explanation.contains("the ring's own view"),
        "the verdict cites the ring: {}",
        limiter.explanation
    );
    Ok(())
}
