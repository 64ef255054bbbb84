//! The ring's side of a run, on a real node: the report carries what each node said about its own
//! load, second by second, and the rate's verdict cites it.

use std::path::Path;
use std::process::{Command, Output};

use client::ring_view::CLIENT_REQUESTS;
use loadgen::report::{RingSide, RunReport, Verdict};
use ring::testing;

use crate::fresh_keyspace;

fn factory(hosts: &str, keyspace: &str, report: &Path, flags: &[&str]) -> anyhow::Result<Output> {
    let output = Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args(["--hosts", hosts, "--keyspace", keyspace, "--quiet"])
        .args(["--employees", "20", "--report"])
        .arg(report)
        .args(flags)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "factory failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

/// The nodes of the shared ring, as the driver sees them.
async fn nodes(hosts: &str) -> anyhow::Result<usize> {
    let connection = testing::connection_args(&["--hosts", hosts])
        .connect()
        .await?;
    Ok(connection
        .session
        .get_cluster_state()
        .get_nodes_info()
        .len())
}

#[tokio::test]
async fn the_report_carries_every_nodes_own_count_of_the_requests_it_served() -> anyhow::Result<()>
{
    let _turn = testing::exclusive().await;
    let (keyspace, hosts) = fresh_keyspace("ring_side").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("run.json");
    let flags = ["--rate", "300", "--duration", "8s", "--warmup", "2s"];
    let output = factory(&hosts, &keyspace, &report, &flags)?;
    let run = RunReport::read(&report)?;
    let ring = run.ring.as_ref().expect("a ring section");
    // Every node, once a second over the measured 8 s, each round answered.
    assert_eq!(ring.nodes.len(), nodes(&hosts).await?, "{ring:?}");
    assert!((7..=10).contains(&ring.rounds), "{} rounds", ring.rounds);
    for node in &ring.nodes {
        assert_eq!(node.seconds.len(), ring.rounds, "{}", node.address);
        assert!(node.seconds.iter().all(|s| s.answered), "{node:?}");
        assert!(
            node.seconds
                .iter()
                .all(|s| s.pools.contains_key(CLIENT_REQUESTS))
        );
    }
    // The nodes' own count of client requests served agrees with the client's: 900 writes/s
    // (and the few the watching session sends itself).
    let served = ring.completed_per_s(CLIENT_REQUESTS);
    let sent = run.achieved_request_rate;
    assert!(
        served > 0.8 * sent && served < 1.3 * sent + 10.0,
        "the ring served {served:.0} requests/s, the client sent {sent:.0}/s"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("ring: "),
        "the summary shows the ring's side: {stdout}"
    );

    // Without it: the report says so, and nothing was sampled.
    let off = folder.path().join("off.json");
    factory(
        &hosts,
        &keyspace,
        &off,
        &[&flags[..], &["--no-ring-view"]].concat(),
    )?;
    let ring = RunReport::read(&off)?.ring.expect("a ring section");
    assert_eq!(ring, RingSide::unavailable("--no-ring-view"));
    Ok(())
}

#[tokio::test]
async fn a_rate_the_node_cannot_take_gets_a_verdict_that_cites_the_ring() -> anyhow::Result<()> {
    let _turn = testing::exclusive().await;
    let (keyspace, hosts) = fresh_keyspace("ring_side_saturated").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("run.json");
    // Far more than one node on two shared cores takes, with room in flight for its queue.
    let flags = [
        "--rate",
        "20000",
        "--duration",
        "6s",
        "--max-in-flight",
        "4096",
        "--drain-timeout",
        "5s",
    ];
    factory(&hosts, &keyspace, &report, &flags)?;
    let run = RunReport::read(&report)?;
    let limiter = &run.limiter;
    assert_ne!(limiter.verdict, Verdict::KeptUp, "{}", limiter.explanation);
    // A busy server on loopback is never the network, however slowly it answered its view.
    assert_ne!(
        limiter.verdict,
        Verdict::NetworkLatency,
        "{}",
        limiter.explanation
    );
    let ring = run.ring.as_ref().expect("a ring section");
    let cited = match limiter.verdict {
        // The window filled while the node queued work: the verdict names that queue.
        Verdict::ServerLatency if limiter.explanation.starts_with("The window was full") => {
            let strain = ring.saturated().expect("the queue the verdict names");
            limiter.explanation.contains(&strain.pool)
        }
        _ => limiter
            .explanation
            .contains("Server side: the ring's own view"),
    };
    assert!(cited, "the verdict cites the ring: {}", limiter.explanation);
    assert!(
        ring.nodes
            .iter()
            .any(|n| limiter.explanation.contains(&n.address))
            || ring.strain().is_none(),
        "{}",
        limiter.explanation
    );
    Ok(())
}
