//! The network's latency as a verdict, on real nodes. A slow network is named: a one-node ring
//! of its own (127.0.11.x) whose clients are 30 ms away each way (modelled by the ring's
//! delaying proxy), and a factory whose in-flight window is too small for that distance, get
//! "the network's latency", with the ring's own evidence (the node answered its view as slowly
//! before the load as the requests took, and queued nothing). And what is not the network is not
//! named so: the same far node once it stops answering (hung, as in a long GC pause), a far
//! datacenter that no request at LOCAL_QUORUM leaves for, and loopback.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use loadgen::report::{NETWORK_ROUND_MS, RunReport, Verdict};

/// The ring of the slow network's test.
const RING: &str = "test-slow";

fn command(binary: &str) -> Command {
    Command::new(assert_cmd::cargo::cargo_bin(binary))
}

/// Panics with `what` and the command's stderr unless it succeeded.
fn succeeded(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A factory at `hosts` writing to `keyspace`, its report at `report`: 10 employees, no live
/// line, and `flags`.
fn factory(hosts: &str, keyspace: &str, report: &std::path::Path, flags: &[&str]) -> Command {
    let mut factory = command("factory");
    factory
        .args(["--hosts", hosts, "--keyspace", keyspace, "--quiet"])
        .args(["--employees", "10", "--trees", "10", "--report"])
        .arg(report)
        .args(flags);
    factory
}

/// Waits for a factory started in the background, which must succeed.
fn finished(what: &str, child: Child) -> anyhow::Result<()> {
    succeeded(what, &child.wait_with_output()?);
    Ok(())
}

/// Prints the verdict, and the median round of the ring's view that the network's verdict
/// rested on before it timed the local datacenter against a baseline.
fn show(what: &str, report: &RunReport) {
    let ring = report.ring.as_ref();
    eprintln!(
        "{what}: {:?}, {:.1}/s, a round {:.1} ms at the median, service p50 {:.3} ms; {}",
        report.limiter.verdict,
        report.achieved_rate,
        ring.map_or(0.0, |r| r.round_ms_p50),
        report
            .latency_us
            .get("service-timesheets")
            .map_or(0.0, |p| p.p50 / 1e3),
        report.limiter.explanation
    );
}

#[tokio::test]
async fn a_slow_network_is_named_by_the_report_and_a_hung_node_on_it_is_not() -> anyhow::Result<()>
{
    let _turn = ring::testing::exclusive().await;
    let hosts = "127.1.11.1";
    command("bench")
        .args(["ring", "down", "--wipe", "--name", RING])
        .output()?;
    let up = command("bench")
        .args(["ring", "up", "--name", RING, "--ip-prefix", "127.0.11"])
        .args([
            "--heap",
            "1G",
            "--timeout",
            "300s",
            "--client-latency",
            "30ms",
        ])
        .output()?;
    let folder = tempfile::tempdir()?;
    let (report, hung) = (
        folder.path().join("slow.json"),
        folder.path().join("hung.json"),
    );
    let run = || -> anyhow::Result<()> {
        succeeded("the ring with a slow network starts", &up);
        let schema = command("schema")
            .args(["apply", "--hosts", hosts, "--keyspace", "slow"])
            .output()?;
        succeeded("the schema applies over the slow network", &schema);
        // 200 visits/s need about 200 x 3 x 62 ms = 37 writes in flight; the window holds 6.
        let window = ["--rate", "200", "--warmup", "0s", "--max-in-flight", "6"];
        let factory_run = factory(hosts, "slow", &report, &window)
            .args(["--duration", "4s"])
            .output()?;
        succeeded("the factory runs over the slow network", &factory_run);
        // The same, with the node hung (SIGSTOP) from 1.2 s into the run to its end: its view
        // goes unanswered (each round waits 2 s for it), which is the server, not the network.
        let start = SystemTime::now() + Duration::from_secs(10);
        let start_at = humantime::format_rfc3339_millis(start).to_string();
        let child = factory(hosts, "slow", &hung, &window)
            .args(["--duration", "8s", "--drain-timeout", "1s"])
            .args(["--start-at", &start_at])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pause_at = start + Duration::from_millis(1200);
        std::thread::sleep(pause_at.duration_since(SystemTime::now())?);
        let paused = command("bench")
            .args(["ring", "pause", "--name", RING, "--node", "1"])
            .output()?;
        let ran = finished("the factory runs beside a hung node", child);
        let resumed = command("bench")
            .args(["ring", "resume", "--name", RING, "--node", "1"])
            .output()?;
        succeeded("the node pauses", &paused);
        succeeded("the node resumes", &resumed);
        ran
    };
    let ran = run();
    let down = command("bench")
        .args(["ring", "down", "--wipe", "--name", RING])
        .output()?;
    ran?;
    succeeded("the ring and its proxy stop", &down);

    let report = RunReport::read(&report)?;
    show("the slow network", &report);
    assert!(
        report.modelled_network.as_deref().is_some_and(|n| n
            .contains("local ring 'test-slow': 30ms each way client-node")
            && n.contains("not a real network")),
        "the report says how much delay its numbers carry: {:?}",
        report.modelled_network
    );
    let limiter = &report.limiter;
    assert_eq!(
        limiter.verdict,
        Verdict::NetworkLatency,
        "the verdict is the network's latency: {}",
        limiter.explanation
    );
    for part in [
        "the way to the ring and back, not in it",
        "the local datacenter's node (dc1) answered",
        "before the load began",
        "against a median service time of",
        "the window holds 6",
    ] {
        assert!(
            limiter.explanation.contains(part),
            "the explanation says {part:?}: {}",
            limiter.explanation
        );
    }

    let hung = RunReport::read(&hung)?;
    show("the hung node", &hung);
    let ring = hung.ring.as_ref().expect("a ring section");
    let local = ring
        .local_distance()
        .expect("dc1 was timed before the load");
    assert!(
        local.before_ms >= NETWORK_ROUND_MS && local.unanswered * 4 >= local.samples,
        "the node was far, then hung: {local:?}"
    );
    assert_ne!(
        hung.limiter.verdict,
        Verdict::NetworkLatency,
        "a hung node is not the network: {}",
        hung.limiter.explanation
    );
    assert!(
        hung.limiter.explanation.contains("samples unanswered"),
        "the verdict cites the unanswered view: {}",
        hung.limiter.explanation
    );
    Ok(())
}

#[tokio::test]
async fn a_far_datacenter_at_local_quorum_is_not_the_network() -> anyhow::Result<()> {
    let _turn = ring::testing::exclusive().await;
    const FAR: &str = "test-far-dc";
    command("bench")
        .args(["ring", "down", "--wipe", "--name", FAR])
        .output()?;
    let up = command("bench")
        .args(["ring", "up", "--name", FAR, "--ip-prefix", "127.0.13"])
        .args([
            "--nodes",
            "2",
            "--dcs",
            "2",
            "--heap",
            "1G",
            "--timeout",
            "300s",
        ])
        .args(["--dc-latency", "40ms"])
        .output()?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("far.json");
    let run = || -> anyhow::Result<()> {
        succeeded("the ring with a far datacenter starts", &up);
        // dc1's node is reached directly; dc2's through a proxy 40 ms away each way.
        let hosts = "127.0.13.1";
        let schema = command("schema")
            .args(["apply", "--hosts", hosts, "--keyspace", "far"])
            .output()?;
        succeeded("the schema applies on both datacenters", &schema);
        // One visit in flight at a time (3 writes) cannot carry 2000 visits/s on any ring: a
        // window verdict, which the ring's evidence weighs. Every write stays in dc1
        // (LOCAL_QUORUM), while every round of the ring's view waits 80 ms for dc2's node.
        let output = factory(hosts, "far", &report, &[])
            .args(["--dc", "dc1", "--consistency", "LOCAL_QUORUM"])
            .args(["--rate", "2000", "--duration", "5s", "--max-in-flight", "3"])
            .output()?;
        succeeded(
            "the factory runs at LOCAL_QUORUM beside a far datacenter",
            &output,
        );
        Ok(())
    };
    let ran = run();
    let down = command("bench")
        .args(["ring", "down", "--wipe", "--name", FAR])
        .output()?;
    ran?;
    succeeded("the ring and its proxies stop", &down);

    let report = RunReport::read(&report)?;
    show("the far datacenter", &report);
    let ring = report.ring.as_ref().expect("a ring section");
    let local = ring
        .local_distance()
        .expect("dc1 was timed before the load");
    // Every round waited for dc2's node; dc1's was far nearer.
    assert!(
        local.nodes == 1 && 2.0 * local.before_ms < ring.round_ms_p50,
        "dc1 is near, the rounds are not: {local:?}, a round {} ms",
        ring.round_ms_p50
    );
    assert!(
        matches!(
            report.limiter.verdict,
            Verdict::InFlightBound | Verdict::ServerLatency
        ),
        "the window's verdict, not the network's: {:?}: {}",
        report.limiter.verdict,
        report.limiter.explanation
    );
    Ok(())
}

#[tokio::test]
async fn loopback_is_not_the_network() -> anyhow::Result<()> {
    let _turn = ring::testing::shared().await;
    let (keyspace, hosts) = schema::testing::fresh_keyspace("network_loopback").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("loopback.json");
    let load = ["--rate", "2000", "--duration", "4s", "--max-in-flight", "3"];
    let output = factory(&hosts, &keyspace, &report, &load).output()?;
    succeeded("the factory runs on loopback", &output);
    let report = RunReport::read(&report)?;
    show("loopback", &report);
    let local = (report.ring.as_ref())
        .and_then(|r| r.local_distance())
        .expect("the local datacenter was timed before the load");
    eprintln!("loopback, timed before the load: {local:?}");
    assert_ne!(
        report.limiter.verdict,
        Verdict::NetworkLatency,
        "{}",
        report.limiter.explanation
    );
    Ok(())
}
