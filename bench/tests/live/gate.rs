//! The gate on real runs: `bench compare --fail-if-slower 5%` fails when B's only node paused two
//! seconds, when B's requests all failed for a second and more, and when B achieved well under
//! its target, each against a baseline run of the same ring a moment before. A ring of the
//! test's own (one node on 127.0.12.x), so that pausing its node disturbs no other test. And
//! `bench check`, window by window, fails the paused run in the window of its pause only.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::Context as _;
use ring::testing::{self, OwnRing, one_line_failure};
use ring::{NodeSignal, Shape};

/// The runs the pause and the outage are compared on: 500 visits/s for 15 s.
const PAUSED: [&str; 4] = ["--rate", "500", "--duration", "15s"];

/// The runs a rate fallen short is compared on: 3000 visits/s for 12 s.
const FAST: [&str; 4] = ["--rate", "3000", "--duration", "12s"];

fn factory(own: &OwnRing, keyspace: &str, folder: &Path, name: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("factory"));
    command
        .args(["--hosts", &own.hosts(), "--keyspace", keyspace, "--quiet"])
        .args(extra)
        .arg("--report")
        .arg(folder.join(format!("{name}.json")))
        .arg("--hdr-log")
        .arg(folder.join(format!("{name}.hlog")));
    command
}

fn finished(mut child: Child, name: &str) -> anyhow::Result<()> {
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "the {name} run failed: {status}");
    Ok(())
}

/// Runs `name` with the node paused for `pause`, `at` after the run started.
fn paused_run(
    own: &OwnRing,
    keyspace: &str,
    folder: &Path,
    name: &str,
    extra: &[&str],
    (at, pause): (Duration, Duration),
) -> anyhow::Result<()> {
    let child = factory(own, keyspace, folder, name, extra).spawn()?;
    std::thread::sleep(at);
    own.ring.signal_node(1, NodeSignal::Pause)?;
    std::thread::sleep(pause);
    own.ring.signal_node(1, NodeSignal::Resume)?;
    finished(child, name)
}

/// `bench compare A B --fail-if-slower 5%`: its one error line, which must exist.
fn gate_fails(folder: &Path, a: &str, b: &str) -> String {
    one_line_failure(
        Command::new(assert_cmd::cargo::cargo_bin("bench"))
            .arg("compare")
            .arg(folder.join(format!("{a}.json")))
            .arg(folder.join(format!("{b}.json")))
            .args(["--fail-if-slower", "5%"]),
        1,
    )
}

#[tokio::test]
async fn the_gate_fails_on_a_paused_node_an_outage_and_a_rate_fallen_short() -> anyhow::Result<()> {
    let _turn = testing::exclusive().await;
    let prefix = "127.0.12".parse().map_err(anyhow::Error::msg)?;
    let own = testing::start_ring(
        "test-gate",
        Shape::new(1, 1, prefix).map_err(anyhow::Error::msg)?,
    )
    .await?;
    let result = claims(&own).await;
    let _ = own.ring.signal_node(1, NodeSignal::Resume);
    own.stop().await?;
    result
}

async fn claims(own: &OwnRing) -> anyhow::Result<()> {
    let keyspace = schema::testing::fresh_keyspace_on(&own.hosts(), "gate").await?;
    let folder = tempfile::tempdir()?;
    let folder = folder.path();
    // A first run warms the node's JIT and caches; the baseline is the one after it.
    finished(
        factory(own, &keyspace, folder, "warm-up", &PAUSED).spawn()?,
        "warm-up",
    )?;
    finished(
        factory(own, &keyspace, folder, "baseline", &PAUSED).spawn()?,
        "baseline",
    )?;

    paused_run(
        own,
        &keyspace,
        folder,
        "paused",
        &PAUSED,
        (Duration::from_secs(6), Duration::from_secs(2)),
    )?;
    let line = gate_fails(folder, "baseline", "paused");
    assert!(
        line.contains("p99 latency ms"),
        "claim: a 2 s pause of the only node in B fails the gate on p99: {line}"
    );
    // Window by window: the pause breaks a p99 bound of 1 s in its window, and only there.
    let check = |name: &str| {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("bench"));
        command
            .arg("check")
            .arg(folder.join(format!("{name}.json")))
            .args(["--per", "5s", "--p99", "1s"]);
        command
    };
    let passed = check("baseline").output()?;
    assert!(
        passed.status.success(),
        "claim: bench check passes the run without the pause: {}{}",
        String::from_utf8_lossy(&passed.stdout),
        String::from_utf8_lossy(&passed.stderr)
    );
    let line = one_line_failure(&mut check("paused"), 1);
    assert!(
        line.contains("1 of ") && line.contains("p99"),
        "claim: bench check fails the paused run in the pause's window only: {line}"
    );

    // With a request timeout of 300 ms, the node out for 1.5 s is an outage: every visit sent
    // meanwhile fails.
    paused_run(
        own,
        &keyspace,
        folder,
        "outage",
        &[&PAUSED[..], &["--request-timeout", "300ms"]].concat(),
        (Duration::from_secs(6), Duration::from_millis(1500)),
    )
    .context("claim: a run through a 1.5 s outage finishes")?;
    let line = gate_fails(folder, "baseline", "outage");
    assert!(
        line.contains("errors %"),
        "claim: an outage in B fails the gate on errors: {line}"
    );

    // B: one visit in flight at a time (three writes), and the node paused for 6 s in the
    // middle. Once resumed, such a window drains the 18,000 visits that came due meanwhile only as
    // fast as one visit at a time goes, 2,500 to 3,000 a second here: B achieves well under its
    // target on any machine where one visit takes over 0.15 ms. (Without the pause, an idle
    // machine of this kind kept 3000/s through such a window; a busy one achieved 84% of it.)
    finished(
        factory(own, &keyspace, folder, "fast", &FAST).spawn()?,
        "fast",
    )?;
    let narrow_flags = [&FAST[..], &["--max-in-flight", "3"]].concat();
    paused_run(
        own,
        &keyspace,
        folder,
        "narrow",
        &narrow_flags,
        (Duration::from_secs(5), Duration::from_secs(6)),
    )?;
    let read = |name: &str| loadgen::report::RunReport::read(&folder.join(format!("{name}.json")));
    let (fast, narrow) = (read("fast")?, read("narrow")?);
    assert!(
        narrow.achieved_rate < 0.9 * fast.achieved_rate,
        "premise: a window of one visit through a pause falls well short of the default window's rate: {} against {}",
        narrow.achieved_rate,
        fast.achieved_rate
    );
    // On throughput when A kept its target (B did not keep the schedule A kept), or on errors
    // (B's missed visits); either way, not a pass.
    let line = gate_fails(folder, "fast", "narrow");
    assert!(
        line.contains("visits/s achieved") || line.contains("errors %"),
        "claim: B achieving {:.0}% of A's rate fails the gate on throughput: {line}",
        narrow.achieved_rate / fast.achieved_rate * 100.0
    );
    Ok(())
}
