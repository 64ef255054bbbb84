//! A slow network as a fault: a one-node ring of its own (127.0.11.x) whose clients are 30 ms away
//! each way (modelled by the ring's delaying proxy), and a factory whose in-flight window is too
//! small for that distance. The report must blame the network's latency, with the ring's own
//! evidence (its view answered as slowly as the requests while it queued nothing), not the server.

use std::process::{Command, Output};

use driver::limiter::Verdict;
use driver::report::RunReport;

/// The ring of this test.
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

#[tokio::test]
async fn a_slow_network_is_named_by_the_report_not_the_server() -> anyhow::Result<()> {
    let _turn = cluster::testing::exclusive().await;
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
    let report = folder.path().join("slow.json");
    let run = || -> anyhow::Result<()> {
        succeeded("the ring with a slow network starts", &up);
        let schema = command("schema")
            .args(["apply", "--hosts", hosts, "--keyspace", "slow"])
            .output()?;
        succeeded("the schema applies over the slow network", &schema);
        // 200 visits/s need about 200 x 3 x 62 ms = 37 writes in flight; the window holds 6.
        let factory = command("factory")
            .args(["--hosts", hosts, "--keyspace", "slow", "--quiet"])
            .args(["--employees", "10", "--trees", "10"])
            .args(["--rate", "200", "--duration", "4s", "--warmup", "0s"])
            .args(["--max-in-flight", "6", "--report"])
            .arg(&report)
            .output()?;
        succeeded("the factory runs over the slow network", &factory);
        Ok(())
    };
    let ran = run();
    let down = command("bench")
        .args(["ring", "down", "--wipe", "--name", RING])
        .output()?;
    ran?;
    succeeded("the ring and its proxy stop", &down);

    let report = RunReport::read(&report)?;
    assert!(
        report.modelled_network.as_deref().is_some_and(|n| n
            .contains("local ring 'test-slow': 30ms each way client-node")
            && n.contains("not a real network")),
        "the report says how much delay its numbers carry: {:?}",
        report.modelled_network
    );
    let limiter = &report.limiter;
    eprintln!("the slow network's verdict: {}", limiter.explanation);
    assert_eq!(
        limiter.verdict,
        Verdict::NetworkLatency,
        "the verdict is the network's latency: {}",
        limiter.explanation
    );
    for part in [
        "the way to the ring and back, not in it",
        "against a median service time of",
        "the window holds 6",
    ] {
        assert!(
            limiter.explanation.contains(part),
            "the explanation says {part:?}: {}",
            limiter.explanation
        );
    }
    Ok(())
}
