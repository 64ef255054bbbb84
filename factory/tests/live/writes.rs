//! What the factory writes is all there, and what it reports agrees with itself.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use assert_cmd::Command;
use cluster::testing;
use driver::hdr_log;
use driver::record::new_histogram;
use driver::report::RunReport;
use schema::workforce::Workforce;

use crate::fresh_keyspace;

/// Counts the rows of one partition.
async fn count(
    session: &scylla::client::session::Session,
    cql: &str,
    key: impl scylla::serialize::row::SerializeRow,
) -> anyhow::Result<i64> {
    let (count,): (i64,) = session
        .query_unpaged(cql, key)
        .await?
        .into_rows_result()?
        .single_row()?;
    Ok(count)
}

#[tokio::test]
async fn every_acknowledged_visit_is_in_all_three_tables() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("factory_writes").await?;
    let folder = tempfile::tempdir()?;
    let report_path = folder.path().join("run.json");
    let (visits, employees, trees, seed) = (3000u64, 20u32, 10u32, 7u64);
    let output = Command::cargo_bin("factory")?
        .args([
            "--hosts",
            &hosts,
            "--keyspace",
            &keyspace,
            "--rate",
            "3000",
            "--quiet",
        ])
        .args([
            "--visits",
            &visits.to_string(),
            "--employees",
            &employees.to_string(),
            "--trees",
            &trees.to_string(),
        ])
        .args([
            "--seed",
            &seed.to_string(),
            "--report",
            report_path.to_str().unwrap(),
        ])
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = RunReport::read(&report_path)?;
    assert_eq!(
        (
            report.counts.ops,
            report.counts.ops_failed,
            report.counts.requests
        ),
        (visits, 0, 3 * visits)
    );

    // The same seed regenerates what the run wrote: count it per partition, then read it back.
    let workforce = Workforce::generate(seed, employees as usize, trees as usize);
    let (mut per_employee, mut per_tree, mut per_count) =
        (HashMap::new(), HashMap::new(), HashMap::new());
    for n in 0..visits {
        let visit = workforce.visit(n, SystemTime::now());
        *per_employee.entry(visit.employee_id).or_insert(0i64) += 1;
        *per_tree.entry(visit.pickle_tree_id).or_insert(0i64) += 1;
        *per_count.entry(visit.pickle_count).or_insert(0i64) += 1;
    }
    let session = testing::connection_args(&["--hosts", &hosts])
        .connect()
        .await?
        .session;
    for employee in workforce.employees() {
        let id = employee.employee_id;
        let cql = format!("SELECT COUNT(*) FROM {keyspace}.timesheets WHERE employee_id = ?");
        assert_eq!(
            count(&session, &cql, (id,)).await?,
            per_employee.get(&id).copied().unwrap_or(0),
            "timesheets of {id}"
        );
        let (name,): (String,) = session
            .query_unpaged(
                format!("SELECT name FROM {keyspace}.employees WHERE employee_id = ?"),
                (id,),
            )
            .await?
            .into_rows_result()?
            .single_row()?;
        assert_eq!(name, employee.name, "the employee was registered");
    }
    for tree in workforce.trees() {
        let cql = format!("SELECT COUNT(*) FROM {keyspace}.trees WHERE pickle_tree_id = ?");
        assert_eq!(
            count(&session, &cql, (tree,)).await?,
            per_tree.get(&tree).copied().unwrap_or(0),
            "history of tree {tree}"
        );
    }
    for pickles in 0..=100i32 {
        let cql = format!("SELECT COUNT(*) FROM {keyspace}.production WHERE pickle_count = ?");
        assert_eq!(
            count(&session, &cql, (pickles,)).await?,
            per_count.get(&pickles).copied().unwrap_or(0),
            "production of {pickles}"
        );
    }
    schema::drop_keyspace(&session, &keyspace).await?;
    Ok(())
}

#[tokio::test]
async fn the_json_report_and_hdr_log_agree_with_the_printed_summary() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("factory_report").await?;
    let folder = tempfile::tempdir()?;
    let (report_path, log_path) = (folder.path().join("r.json"), folder.path().join("r.hlog"));
    let output = Command::cargo_bin("factory")?
        .args([
            "--hosts",
            &hosts,
            "--keyspace",
            &keyspace,
            "--rate",
            "1000",
            "--duration",
            "3s",
            "--warmup",
            "1s",
        ])
        .args([
            "--report",
            report_path.to_str().unwrap(),
            "--hdr-log",
            log_path.to_str().unwrap(),
        ])
        .env("CASSANDRA_USER", "pickler")
        .env("CASSANDRA_PASSWORD", "not-a-real-secret")
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = RunReport::read(&report_path)?;

    // The summary prints what the report holds.
    assert!(
        stdout.contains(&format!("{} visits ok, 0 failed", report.counts.ops)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("achieved {:.1} visits/s", report.achieved_rate)),
        "{stdout}"
    );
    assert!(
        (2800..=3100).contains(&report.counts.ops),
        "about 3 s at 1000/s after the warm-up: {}",
        report.counts.ops
    );
    assert!(
        stderr.contains("visits/s") && stderr.contains("in flight"),
        "a live line every second: {stderr}"
    );
    let response = &report.latency_us["response"];
    // The latency table's `response` row: tag, p50, p90, p99, ...
    let printed = format!("{:.3}", response.p99 / 1e3);
    assert!(
        stdout.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.first() == Some(&"response") && cells.get(3) == Some(&printed.as_str())
        }),
        "{stdout}"
    );
    // The configuration is embedded, the password is not.
    assert_eq!(report.config["run"]["rate"], 1000.0);
    assert_eq!(report.config["factory"]["seed"], 1);
    assert!(!std::fs::read_to_string(&report_path)?.contains("not-a-real-secret"));

    // The HDR log's per-second response histograms add up to the report's total, exactly.
    let intervals = hdr_log::read(&log_path)?;
    let mut total = new_histogram();
    for interval in intervals.iter().filter(|i| i.tag == "response") {
        total.add(&interval.histogram)?;
        assert!(interval.length <= Duration::from_millis(1100));
    }
    let from_report = report
        .histogram("response")
        .expect("the report embeds its histograms");
    assert_eq!(total.len(), report.counts.ops);
    assert_eq!(
        total.value_at_quantile(0.99),
        from_report.value_at_quantile(0.99)
    );
    assert_eq!(total.max(), from_report.max());
    for tag in [
        "wait",
        "service-timesheets",
        "service-trees",
        "service-production",
    ] {
        assert!(intervals.iter().any(|i| i.tag == tag), "the log has {tag}");
    }
    Ok(())
}

#[tokio::test]
async fn ctrl_c_drains_and_still_writes_the_report() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("factory_ctrl_c").await?;
    let folder = tempfile::tempdir()?;
    let report_path = folder.path().join("r.json");
    let log_path = folder.path().join("r.hlog");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args([
            "--hosts",
            &hosts,
            "--keyspace",
            &keyspace,
            "--rate",
            "500",
            "--duration",
            "120s",
            "--quiet",
        ])
        .args([
            "--report",
            report_path.to_str().unwrap(),
            "--hdr-log",
            log_path.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
    let output = child.wait_with_output()?;
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = RunReport::read(&report_path)?;
    assert_eq!(report.ending, "interrupted");
    assert_eq!(report.abandoned, 0, "in-flight visits were drained");
    assert!(
        report.counts.ops > 500 && report.counts.ops_failed == 0,
        "{:?}",
        report.counts
    );
    assert!(report.measured_seconds < 10.0);
    assert!(String::from_utf8_lossy(&output.stdout).contains("ended: interrupted"));
    assert!(
        hdr_log::read(&log_path)?
            .iter()
            .any(|i| i.tag == "response")
    );
    Ok(())
}
