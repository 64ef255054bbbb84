//! A node saturated on purpose: the report must name the server, not the in-flight bound.
//!
//! Each timesheet read aggregates every visit of one employee on the node; with a few employees
//! of thousands of visits each, one read costs the node hundreds of milliseconds of CPU and the
//! client almost nothing. Asked for far more reads than the node can serve, the window fills and
//! every service time is the node's queue: Little's law on those times would "need" a bigger
//! window, which would only queue longer.

use loadgen::report::{RunReport, Verdict};
use ring::testing;

use crate::{factory, fresh_keyspace, shop};

#[tokio::test]
async fn a_saturated_node_is_named_the_server_not_the_bound() -> anyhow::Result<()> {
    let _turn = testing::exclusive().await;
    let (keyspace, hosts) = fresh_keyspace("shop_saturated").await?;
    factory(
        &hosts,
        &keyspace,
        &["--employees", "4", "--visits", "16000"],
    );
    let folder = tempfile::tempdir()?;
    let report_path = folder.path().join("saturated.json");
    let output = shop(
        &hosts,
        &keyspace,
        &[
            "--employees",
            "4",
            "--rate",
            "200",
            "--duration",
            "5s",
            "--warmup",
            "1s",
            "--max-in-flight",
            "64",
            "--request-timeout",
            "30s",
            "--quiet",
            "--report",
            report_path.to_str().unwrap_or_default(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = RunReport::read(&report_path)?;
    let limiter = &report.limiter;
    assert!(
        report.achieved_rate < 0.5 * 200.0,
        "the node was not saturated: {}",
        limiter.explanation
    );
    assert_eq!(
        limiter.verdict,
        Verdict::ServerLatency,
        "{}; client {:?}",
        limiter.explanation,
        report.client
    );
    assert!(
        !limiter.explanation.contains("Raise --max-in-flight"),
        "{}",
        limiter.explanation
    );
    Ok(())
}
