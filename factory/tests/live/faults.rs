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

use cluster::local::{NodeSignal, Shape};
use cluster::testing;
use driver::report::RunReport;
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
    let keyspace = fresh_keyspace_on(&hosts, "faults_kill").await?;
    let report = folder.path().join("kill.json");
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
    assert_eq!(run.ending, "finished");
    assert!(
        run.achieved_rate >= 97.0,
        "the schedule held: {}",
        run.achieved_rate
    );
    // Node 3 comes back without the writes it missed; reads at LOCAL_QUORUM must still see every
    // visit a quorum acknowledged.
    own.ring.start_node(3, testing::START_TIMEOUT).await?;
    let (acknowledged, failed) = (run.counts.ops as i64, run.counts.ops_failed as i64);
    for table in ["timesheets", "trees", "production"] {
        let count = rows(&session, &keyspace, table).await?;
        assert!(
            count >= acknowledged && count <= acknowledged + failed,
            "{table}: {count} rows for {acknowledged} acknowledged visits"
        );
    }
    let audit = Command::new(assert_cmd::cargo::cargo_bin("shop"))
        .args([
            "--hosts",
            &hosts,
            "--keyspace",
            &keyspace,
            "--employees",
            "20",
            "--verify",
            "--verify-visits",
            "all",
        ])
        .args(["--verify-grace", "0s", "--json"])
        .output()?;
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout)?;
    // Every acknowledged visit is in timesheets and was checked; a failed one may be there too.
    let checked = audit["verification"]["checked"].as_i64().unwrap_or(0);
    assert!(
        checked >= acknowledged && checked <= acknowledged + failed,
        "{audit}"
    );
    assert!(
        audit["verification"]["mismatches"]
            .as_i64()
            .unwrap_or(i64::MAX)
            <= failed,
        "only failed visits may be partial: {audit}"
    );

    // 2. A node stalled (SIGSTOP for 10 s): requests it coordinates time out and are counted,
    //    the window (60 writes) fills with them, the schedule catches up afterwards, and the
    //    response time shows the stall where the median service time does not.
    let keyspace = fresh_keyspace_on(&hosts, "faults_stall").await?;
    let report = folder.path().join("stall.json");
    let flags = [
        "--rate",
        "100",
        "--duration",
        "25s",
        "--request-timeout",
        "2s",
        "--max-in-flight",
        "60",
    ];
    let child = factory(&hosts, &keyspace, &report, &flags)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    own.ring.signal_node(2, NodeSignal::Pause)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    own.ring.signal_node(2, NodeSignal::Resume)?;
    finished(child)?;
    let run = RunReport::read(&report)?;
    let timeouts: u64 = ["client_timeout", "write_timeout"]
        .iter()
        .filter_map(|k| run.errors.get(*k))
        .sum();
    assert!(
        timeouts > 0,
        "the stall's timeouts are counted: {:?}",
        run.errors
    );
    assert!(
        run.achieved_rate >= 97.0,
        "the schedule caught up: {}",
        run.achieved_rate
    );
    let response = run.latency_us["response"];
    let service = run.latency_us["service-timesheets"];
    assert!(
        response.p999 >= 500_000.0,
        "response p99.9 shows the stall: {response:?}"
    );
    assert!(
        service.p50 < 50_000.0,
        "the median service time does not: {service:?}"
    );

    // 3. A node stopped and started again, at consistency ALL: writes fail while it is down,
    //    and the per-second series shows them return to zero once the driver has reconnected.
    //    The node's restart takes 10 to 40 s here (three JVMs on two cores), so the run is
    //    stopped (SIGTERM) 12 s after the node is up rather than at a fixed duration.
    let keyspace = fresh_keyspace_on(&hosts, "faults_restart").await?;
    let report = folder.path().join("restart.json");
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
    let run = RunReport::read(&report)?;
    assert!(
        run.errors.get("unavailable").copied().unwrap_or(0) > 0,
        "writes at ALL failed while a node was down: {:?}",
        run.errors
    );
    let last_error = run
        .intervals
        .iter()
        .rposition(|i| i.counts.requests_failed > 0)
        .expect("some second had errors");
    let clean: Vec<_> = run.intervals[last_error + 1..].iter().collect();
    assert!(
        clean.len() >= 5,
        "errors returned to zero for the last {} s (node up after {up_after:?})",
        clean.len()
    );
    // Every whole second wrote (the stop leaves a partial one, which may hold no write).
    assert!(
        clean
            .iter()
            .filter(|i| i.seconds >= 0.9)
            .all(|i| i.counts.requests > 0),
        "and writes went on: {clean:?}"
    );

    drop(session);
    own.stop().await?;
    Ok(())
}

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

    // Without --dc-failover: dc2 (node 3 alone) goes down and the run stops once the outage
    // outlasts --outage-limit, naming it.
    let report = folder.path().join("no-failover.json");
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
    let child = factory(&hosts, &keyspace, &report, &flags)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let killed = Instant::now();
    own.ring.signal_node(3, NodeSignal::Kill)?;
    let output = child.wait_with_output()?;
    let stopped = killed.elapsed();
    assert!(
        stopped >= Duration::from_secs(3) && stopped < Duration::from_secs(10),
        "the run stopped {stopped:?} after dc2 went down, with --outage-limit 3s"
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("datacenter dc2") && stderr.contains("--dc-failover"),
        "{stderr}"
    );
    assert!(
        RunReport::read(&report)?.ending.contains("no_node"),
        "the report says why it stopped"
    );
    own.ring.start_node(3, testing::START_TIMEOUT).await?;

    // With --dc-failover: the writes go on through dc1, and the report says so.
    let report = folder.path().join("failover.json");
    let child = factory(
        &hosts,
        &keyspace,
        &report,
        &[
            "--dc",
            "dc2",
            "--dc-failover",
            "--rate",
            "100",
            "--duration",
            "20s",
        ],
    )?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    own.ring.signal_node(3, NodeSignal::Kill)?;
    let output = finished(child)?;
    let run = RunReport::read(&report)?;
    assert!(
        run.counts.requests_remote > 1000,
        "writes were coordinated in dc1: {:?}",
        run.counts
    );
    assert!(
        run.achieved_rate >= 97.0,
        "and kept the rate: {}",
        run.achieved_rate
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("coordinated outside the local datacenter")
    );
    own.ring.start_node(3, testing::START_TIMEOUT).await?;
    own.stop().await?;
    Ok(())
}
