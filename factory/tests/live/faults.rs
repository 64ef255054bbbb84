//! The factory while the ring misbehaves, on real nodes: it keeps its schedule, counts what failed,
//! loses no acknowledged write, and its report tells the truth.
//!
//! Each test has a ring of its own (3 nodes at RF 3; 3 nodes in 2 datacenters), and they take
//! turns: two rings and their factories at once would measure the machine, not the faults. Rates
//! are modest because the tests run the debug build of the factory on two cores shared with three
//! nodes; `bench` runs the same faults on a release build at any rate.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use loadgen::report::RunReport;
use ring::testing;
use ring::{NodeSignal, Shape};
use schema::testing::fresh_keyspace_on;

fn factory(hosts: &str, keyspace: &str, report: &Path, flags: &[&str]) -> std::io::Result<Child> {
    Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args([
            "--hosts",
            hosts,
            "--keyspace",
            keyspace,
            "--quiet",
            "--employees",
            "20",
            "--report",
        ])
        .arg(report)
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

fn finished(child: Child) -> anyhow::Result<Output> {
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "factory failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

/// Stops a factory as Ctrl-C would (SIGTERM), and checks that it ended as interrupted (exit
/// code 130), which it does only once its report is written.
fn interrupted(child: Child) -> anyhow::Result<Output> {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.code() == Some(130),
        "factory did not end as interrupted ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

/// Rows in a table, read at LOCAL_QUORUM.
async fn rows(
    session: &scylla::client::session::Session,
    keyspace: &str,
    table: &str,
) -> anyhow::Result<i64> {
    let cql = format!("SELECT COUNT(*) FROM {keyspace}.{table}");
    let (count,): (i64,) = session
        .query_unpaged(cql, &[])
        .await?
        .into_rows_result()?
        .single_row()?;
    Ok(count)
}

/// The 3-node ring is started once; then each fault in turn (a node killed, stalled, stopped and
/// started again) under its own run, whose claims are checked one by one; a failed assert or an
/// error names its claim.
#[tokio::test]
async fn a_node_killed_stalled_and_restarted_under_load() -> anyhow::Result<()> {
    let _turn = testing::exclusive().await;
    let own = testing::start_three_node_ring().await?;
    let hosts = own.hosts();
    let folder = tempfile::tempdir()?;
    let session = testing::connection_args(&["--hosts", &hosts])
        .connect()
        .await?
        .session;

    // 1. A node killed (SIGKILL) mid-run: the run goes on at its rate, and every visit the
    //    factory acknowledged is in all three tables.
    let killed = run_with_a_node_killed(&own, folder.path())
        .await
        .context("a run with a node killed")?;
    claim_a_killed_node_does_not_break_the_schedule(&killed.run);
    claim_the_ring_side_shows_the_killed_node_silent_and_the_others_answering(&killed.run);
    claim_every_acknowledged_visit_is_in_all_three_tables(&session, &killed)
        .await
        .context("claim: every acknowledged visit is in all three tables")?;
    claim_the_shop_audit_finds_every_acknowledged_visit_whole(&hosts, &killed)
        .context("claim: the shop's audit finds every acknowledged visit whole")?;

    // 2. A node stalled (SIGSTOP for 10 s).
    let stalled = run_with_a_node_stalled(&own, folder.path())
        .await
        .context("a run with a node stalled")?;
    claim_a_stalls_timeouts_are_counted(&stalled);
    claim_the_schedule_catches_up_after_a_stall(&stalled);
    claim_the_response_time_shows_a_stall_the_median_service_time_does_not(&stalled);

    // 3. A node stopped and started again, at consistency ALL.
    let (restarted, up_after) = run_with_a_node_restarted(&own, folder.path())
        .await
        .context("a run with a node restarted")?;
    claim_writes_at_all_fail_while_a_node_is_down(&restarted);
    claim_errors_return_to_zero_once_the_node_is_back_and_writes_go_on(&restarted, up_after);

    drop(session);
    own.stop().await?;
    Ok(())
}

/// A run and where it wrote.
struct FaultyRun {
    keyspace: String,
    run: RunReport,
}

/// A node killed (SIGKILL) 6 s into a 20 s run, and started again once the run is over: node 3
/// comes back without the writes it missed.
async fn run_with_a_node_killed(
    own: &testing::OwnRing,
    folder: &Path,
) -> anyhow::Result<FaultyRun> {
    let hosts = own.hosts();
    let keyspace = fresh_keyspace_on(&hosts, "faults_kill").await?;
    let report = folder.join("kill.json");
    let child = factory(
        &hosts,
        &keyspace,
        &report,
        &["--rate", "100", "--duration", "20s"],
    )?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    own.ring.signal_node(3, NodeSignal::Kill)?;
    finished(child)?;
    let run = RunReport::read(&report)?;
    own.ring.start_node(3, testing::START_TIMEOUT).await?;
    Ok(FaultyRun { keyspace, run })
}

fn claim_a_killed_node_does_not_break_the_schedule(run: &RunReport) {
    const CLAIM: &str = "a killed node does not break the schedule";
    assert_eq!(run.ending, "finished", "claim: {CLAIM}");
    assert!(
        run.achieved_rate >= 97.0,
        "claim: {CLAIM}: the schedule held: {}",
        run.achieved_rate
    );
}

/// Node 3 was killed 6 s into the run: from then on its rounds of the ring's side go unanswered,
/// while the two others answer every round.
fn claim_the_ring_side_shows_the_killed_node_silent_and_the_others_answering(run: &RunReport) {
    const CLAIM: &str = "the ring's side shows the killed node silent, the others answering";
    let ring = run.ring.as_ref().expect("a ring section");
    assert_eq!(ring.nodes.len(), 3, "claim: {CLAIM}: {}", ring.how);
    let silent: Vec<(&str, usize)> = (ring.nodes.iter())
        .map(|n| {
            (
                n.address.as_str(),
                n.seconds.iter().filter(|s| !s.answered).count(),
            )
        })
        .collect();
    let (quiet, talking): (Vec<_>, Vec<_>) = silent.iter().partition(|(_, n)| *n >= 5);
    assert_eq!(
        quiet.len(),
        1,
        "claim: {CLAIM}: unanswered rounds per node {silent:?}"
    );
    assert!(
        talking.iter().all(|(_, n)| *n == 0),
        "claim: {CLAIM}: unanswered rounds per node {silent:?}"
    );
}

/// Reads at LOCAL_QUORUM must still see every visit a quorum acknowledged.
async fn claim_every_acknowledged_visit_is_in_all_three_tables(
    session: &scylla::client::session::Session,
    killed: &FaultyRun,
) -> anyhow::Result<()> {
    let (acknowledged, failed) = (
        killed.run.counts.ops as i64,
        killed.run.counts.ops_failed as i64,
    );
    for table in ["timesheets", "trees", "production"] {
        let count = rows(session, &killed.keyspace, table).await?;
        assert!(
            count >= acknowledged && count <= acknowledged + failed,
            "claim: every acknowledged visit is in all three tables: {table}: {count} rows for \
             {acknowledged} acknowledged visits"
        );
    }
    Ok(())
}

/// Every acknowledged visit is in timesheets and was checked; a failed one may be there too.
fn claim_the_shop_audit_finds_every_acknowledged_visit_whole(
    hosts: &str,
    killed: &FaultyRun,
) -> anyhow::Result<()> {
    const CLAIM: &str = "the shop's audit finds every acknowledged visit whole";
    let (acknowledged, failed) = (
        killed.run.counts.ops as i64,
        killed.run.counts.ops_failed as i64,
    );
    let audit = Command::new(assert_cmd::cargo::cargo_bin("shop"))
        .args(["--hosts", hosts, "--keyspace", &killed.keyspace])
        .args(["--employees", "20", "--verify", "--verify-visits", "all"])
        .args(["--verify-grace", "0s", "--json"])
        .output()?;
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout)?;
    let checked = audit["verification"]["checked"].as_i64().unwrap_or(0);
    assert!(
        checked >= acknowledged && checked <= acknowledged + failed,
        "claim: {CLAIM}: {audit}"
    );
    assert!(
        audit["verification"]["mismatches"]
            .as_i64()
            .unwrap_or(i64::MAX)
            <= failed,
        "claim: {CLAIM}: only failed visits may be partial: {audit}"
    );
    Ok(())
}

/// A node stalled (SIGSTOP for 10 s) 5 s into a 25 s run: requests it coordinates time out, and
/// the window (60 writes) fills with them.
async fn run_with_a_node_stalled(
    own: &testing::OwnRing,
    folder: &Path,
) -> anyhow::Result<RunReport> {
    let hosts = own.hosts();
    let keyspace = fresh_keyspace_on(&hosts, "faults_stall").await?;
    let report = folder.join("stall.json");
    let flags = [
        "--rate",
        "100",
        "--duration",
        "25s",
        "--request-timeout",
        "2s",
        "--max-in-flight",
        "60",
        // The claims here are the client's numbers on three nodes sharing two cores, where the
        // ring's side (about 1% of a core per node) moves the median service time by a few ms.
        "--no-ring-view",
    ];
    let child = factory(&hosts, &keyspace, &report, &flags)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    own.ring.signal_node(2, NodeSignal::Pause)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    own.ring.signal_node(2, NodeSignal::Resume)?;
    finished(child)?;
    Ok(RunReport::read(&report)?)
}

fn claim_a_stalls_timeouts_are_counted(run: &RunReport) {
    let timeouts: u64 = ["client_timeout", "write_timeout"]
        .iter()
        .filter_map(|k| run.errors.get(*k))
        .sum();
    assert!(
        timeouts > 0,
        "claim: a stall's timeouts are counted: {:?}",
        run.errors
    );
}

fn claim_the_schedule_catches_up_after_a_stall(run: &RunReport) {
    assert!(
        run.achieved_rate >= 97.0,
        "claim: the schedule catches up after a stall: {}",
        run.achieved_rate
    );
}

fn claim_the_response_time_shows_a_stall_the_median_service_time_does_not(run: &RunReport) {
    const CLAIM: &str = "the response time shows a stall the median service time does not";
    let response = run.latency_us["response"];
    let service = run.latency_us["service-timesheets"];
    assert!(
        response.p999 >= 500_000.0,
        "claim: {CLAIM}: response p99.9 shows the stall: {response:?}"
    );
    assert!(
        service.p50 < 50_000.0,
        "claim: {CLAIM}: the median service time does not: {service:?}"
    );
}

/// A node stopped 5 s into a run at consistency ALL, and started again 5 s later. The node's
/// restart takes 10 to 40 s here (three JVMs on two cores), so the run is stopped (SIGTERM) 12 s
/// after the node is up rather than at a fixed duration. The run, and how long the node took to
/// come up.
async fn run_with_a_node_restarted(
    own: &testing::OwnRing,
    folder: &Path,
) -> anyhow::Result<(RunReport, Duration)> {
    let hosts = own.hosts();
    let keyspace = fresh_keyspace_on(&hosts, "faults_restart").await?;
    let report = folder.join("restart.json");
    let child = factory(
        &hosts,
        &keyspace,
        &report,
        &["--rate", "100", "--duration", "10m", "--consistency", "ALL"],
    )?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    own.ring.stop_node(3, Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let restarted = Instant::now();
    own.ring.start_node(3, testing::START_TIMEOUT).await?;
    let up_after = restarted.elapsed();
    tokio::time::sleep(Duration::from_secs(12)).await;
    interrupted(child)?;
    Ok((RunReport::read(&report)?, up_after))
}

fn claim_writes_at_all_fail_while_a_node_is_down(run: &RunReport) {
    assert!(
        run.errors.get("unavailable").copied().unwrap_or(0) > 0,
        "claim: writes at ALL fail while a node is down: {:?}",
        run.errors
    );
}

/// The per-second series shows the errors return to zero once the driver has reconnected.
fn claim_errors_return_to_zero_once_the_node_is_back_and_writes_go_on(
    run: &RunReport,
    up_after: Duration,
) {
    const CLAIM: &str = "errors return to zero once the node is back, and writes go on";
    let last_error = run
        .intervals
        .iter()
        .rposition(|i| i.counts.requests_failed > 0)
        .unwrap_or_else(|| panic!("claim: {CLAIM}: some second had errors"));
    let clean: Vec<_> = run.intervals[last_error + 1..].iter().collect();
    assert!(
        clean.len() >= 5,
        "claim: {CLAIM}: errors returned to zero for the last {} s (node up after {up_after:?})",
        clean.len()
    );
    // Every whole second wrote (the stop leaves a partial one, which may hold no write).
    assert!(
        clean
            .iter()
            .filter(|i| i.seconds >= 0.9)
            .all(|i| i.counts.requests > 0),
        "claim: {CLAIM}: and writes went on: {clean:?}"
    );
}

/// The ring of 3 nodes in 2 datacenters is started once; then dc2 goes down under two runs, one
/// without and one with --dc-failover, whose claims are checked in turn; a failed assert or an
/// error names its claim.
#[tokio::test]
async fn a_whole_datacenter_down_stops_after_the_outage_limit_or_fails_over() -> anyhow::Result<()>
{
    let _turn = testing::exclusive().await;
    let own = testing::start_ring(
        "test-dcs",
        Shape::new(3, 2, "127.0.6".parse().map_err(anyhow::Error::msg)?)
            .map_err(anyhow::Error::msg)?,
    )
    .await?;
    let hosts = own.hosts();
    let keyspace = fresh_keyspace_on(&hosts, "faults_dc").await?;
    let folder = tempfile::tempdir()?;

    claim_without_failover_a_datacenter_down_stops_the_run_after_the_outage_limit(
        &own,
        &keyspace,
        folder.path(),
    )
    .await
    .context("claim: without --dc-failover, dc2 down stops the run after the outage limit")?;
    claim_with_failover_the_writes_go_on_through_the_other_datacenter(
        &own,
        &keyspace,
        folder.path(),
    )
    .await
    .context("claim: with --dc-failover, the writes go on through dc1")?;
    own.stop().await?;
    Ok(())
}

/// Without --dc-failover: dc2 (node 3 alone) goes down and the run stops once the outage
/// outlasts --outage-limit, naming it. (Node 3 is started again afterwards.)
async fn claim_without_failover_a_datacenter_down_stops_the_run_after_the_outage_limit(
    own: &testing::OwnRing,
    keyspace: &str,
    folder: &Path,
) -> anyhow::Result<()> {
    const CLAIM: &str = "without --dc-failover, dc2 down stops the run after the outage limit";
    let report = folder.join("no-failover.json");
    let flags = [
        "--dc",
        "dc2",
        "--rate",
        "100",
        "--duration",
        "60s",
        "--outage-limit",
        "3s",
    ];
    let child = factory(&own.hosts(), keyspace, &report, &flags)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let killed = Instant::now();
    own.ring.signal_node(3, NodeSignal::Kill)?;
    let output = child.wait_with_output()?;
    let stopped = killed.elapsed();
    assert!(
        stopped >= Duration::from_secs(3) && stopped < Duration::from_secs(10),
        "claim: {CLAIM}: the run stopped {stopped:?} after dc2 went down, with --outage-limit 3s"
    );
    assert_eq!(output.status.code(), Some(1), "claim: {CLAIM}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("datacenter dc2") && stderr.contains("--dc-failover"),
        "claim: {CLAIM}: {stderr}"
    );
    assert!(
        RunReport::read(&report)?.ending.contains("no_node"),
        "claim: {CLAIM}: the report says why it stopped"
    );
    own.ring.start_node(3, testing::START_TIMEOUT).await?;
    Ok(())
}

/// With --dc-failover: the writes go on through dc1, and the report says so. (Node 3 is started
/// again afterwards.)
async fn claim_with_failover_the_writes_go_on_through_the_other_datacenter(
    own: &testing::OwnRing,
    keyspace: &str,
    folder: &Path,
) -> anyhow::Result<()> {
    const CLAIM: &str = "with --dc-failover, the writes go on through dc1";
    let report = folder.join("failover.json");
    let flags = ["--dc", "dc2", "--dc-failover"];
    let child = factory(
        &own.hosts(),
        keyspace,
        &report,
        &[&flags[..], &["--rate", "100", "--duration", "20s"][..]].concat(),
    )?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    own.ring.signal_node(3, NodeSignal::Kill)?;
    let output = finished(child)?;
    let run = RunReport::read(&report)?;
    assert!(
        run.counts.requests_remote > 1000,
        "claim: {CLAIM}: writes were coordinated in dc1: {:?}",
        run.counts
    );
    assert!(
        run.achieved_rate >= 97.0,
        "claim: {CLAIM}: and kept the rate: {}",
        run.achieved_rate
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("coordinated outside the local datacenter"),
        "claim: {CLAIM}: the summary says so"
    );
    own.ring.start_node(3, testing::START_TIMEOUT).await?;
    Ok(())
}
