//! What the factory writes is all there, and what it reports agrees with itself.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use assert_cmd::Command;
use loadgen::record::hdr_log::{self, LoggedInterval};
use loadgen::record::new_histogram;
use loadgen::report::RunReport;
use ring::testing;
use schema::workforce::Workforce;
use scylla::client::session::Session;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::fresh_keyspace;

/// Counts the rows of one partition.
async fn count(
    session: &Session,
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

/// What one run of `factory` wrote (3000 visits of 20 employees at 10 trees, seed 7) into a
/// keyspace of the test's own, and what the same seed regenerates: the visits per partition.
struct Written {
    keyspace: String,
    session: Session,
    report: RunReport,
    workforce: Workforce,
    per_employee: HashMap<Uuid, i64>,
    per_tree: HashMap<Uuid, i64>,
    per_count: HashMap<i32, i64>,
}

/// How many visits [`write_visits`] writes.
const VISITS: u64 = 3000;

async fn write_visits() -> anyhow::Result<Written> {
    let (keyspace, hosts) = fresh_keyspace("factory_writes").await?;
    let folder = tempfile::tempdir()?;
    let report_path = folder.path().join("run.json");
    let (employees, trees, seed) = (20u32, 10u32, 7u64);
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
            &VISITS.to_string(),
            "--employees",
            &employees.to_string(),
            "--trees",
            &trees.to_string(),
        ])
        .args(["--seed", &seed.to_string(), "--report"])
        .arg(&report_path)
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = RunReport::read(&report_path)?;

    // The same seed regenerates what the run wrote: count it per partition.
    let workforce = Workforce::generate(seed, employees as usize, trees as usize);
    let (mut per_employee, mut per_tree, mut per_count) =
        (HashMap::new(), HashMap::new(), HashMap::new());
    for n in 0..VISITS {
        let visit = workforce.visit(n, SystemTime::now());
        *per_employee.entry(visit.employee_id).or_insert(0i64) += 1;
        *per_tree.entry(visit.pickle_tree_id).or_insert(0i64) += 1;
        *per_count.entry(visit.pickle_count).or_insert(0i64) += 1;
    }
    let session = testing::connection_args(&["--hosts", &hosts])
        .connect()
        .await?
        .session;
    Ok(Written {
        keyspace,
        session,
        report,
        workforce,
        per_employee,
        per_tree,
        per_count,
    })
}

impl Written {
    async fn drop_keyspace(self) -> anyhow::Result<()> {
        schema::drop_keyspace(&self.session, &self.keyspace).await?;
        Ok(())
    }
}

#[tokio::test]
async fn the_report_counts_every_visit_acknowledged_none_failed_and_three_writes_each()
-> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let written = write_visits().await?;
    let counts = &written.report.counts;
    assert_eq!(
        (counts.ops, counts.ops_failed, counts.requests),
        (VISITS, 0, 3 * VISITS)
    );
    written.drop_keyspace().await
}

#[tokio::test]
async fn every_acknowledged_visit_is_in_the_timesheets_of_its_employee() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let written = write_visits().await?;
    let keyspace = &written.keyspace;
    for employee in written.workforce.employees() {
        let id = employee.employee_id;
        let cql = format!("SELECT COUNT(*) FROM {keyspace}.timesheets WHERE employee_id = ?");
        assert_eq!(
            count(&written.session, &cql, (id,)).await?,
            written.per_employee.get(&id).copied().unwrap_or(0),
            "timesheets of {id}"
        );
    }
    written.drop_keyspace().await
}

#[tokio::test]
async fn every_employee_of_the_workforce_is_registered_by_name() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let written = write_visits().await?;
    let keyspace = &written.keyspace;
    for employee in written.workforce.employees() {
        let (name,): (String,) = written
            .session
            .query_unpaged(
                format!("SELECT name FROM {keyspace}.employees WHERE employee_id = ?"),
                (employee.employee_id,),
            )
            .await?
            .into_rows_result()?
            .single_row()?;
        assert_eq!(name, employee.name, "the employee was registered");
    }
    written.drop_keyspace().await
}

#[tokio::test]
async fn every_acknowledged_visit_is_in_the_history_of_its_tree() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let written = write_visits().await?;
    let keyspace = &written.keyspace;
    for tree in written.workforce.trees() {
        let cql = format!("SELECT COUNT(*) FROM {keyspace}.trees WHERE pickle_tree_id = ?");
        assert_eq!(
            count(&written.session, &cql, (tree,)).await?,
            written.per_tree.get(&tree).copied().unwrap_or(0),
            "history of tree {tree}"
        );
    }
    written.drop_keyspace().await
}

#[tokio::test]
async fn every_acknowledged_visit_is_in_production_under_its_pickle_count() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let written = write_visits().await?;
    let keyspace = &written.keyspace;
    for pickles in 0..=100i32 {
        let cql = format!("SELECT COUNT(*) FROM {keyspace}.production WHERE pickle_count = ?");
        assert_eq!(
            count(&written.session, &cql, (pickles,)).await?,
            written.per_count.get(&pickles).copied().unwrap_or(0),
            "production of {pickles}"
        );
    }
    written.drop_keyspace().await
}

/// What one run of `factory` printed and wrote: 3 s at 1000 visits/s after a 1 s warm-up, with a
/// JSON report and an HDR log, logged in from the environment with a made-up password.
struct ReportedRun {
    stdout: String,
    stderr: String,
    report: RunReport,
    report_text: String,
    intervals: Vec<LoggedInterval>,
}

/// The made-up password of [`ReportedRun`], which must show nowhere.
const PASSWORD: &str = "not-a-real-secret";

static REPORTED_RUN: OnceCell<ReportedRun> = OnceCell::const_new();

/// The run the report tests check, made once (by the first of them to ask, during its `shared()`
/// turn) and read by all: each claims one thing about the same run.
async fn reported_run() -> anyhow::Result<&'static ReportedRun> {
    REPORTED_RUN.get_or_try_init(run_with_report_and_log).await
}

async fn run_with_report_and_log() -> anyhow::Result<ReportedRun> {
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
        .arg("--report")
        .arg(&report_path)
        .arg("--hdr-log")
        .arg(&log_path)
        .env("CASSANDRA_USER", "pickler")
        .env("CASSANDRA_PASSWORD", PASSWORD)
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(ReportedRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        report: RunReport::read(&report_path)?,
        report_text: std::fs::read_to_string(&report_path)?,
        intervals: hdr_log::read(&log_path)?.intervals,
    })
}

#[tokio::test]
async fn the_printed_summary_shows_the_reports_visit_count_and_achieved_rate() -> anyhow::Result<()>
{
    let _turn = testing::shared().await;
    let ReportedRun { stdout, report, .. } = reported_run().await?;
    assert!(
        stdout.contains(&format!("{} visits ok, 0 failed", report.counts.ops)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("achieved {:.1} visits/s", report.achieved_rate)),
        "{stdout}"
    );
    Ok(())
}

#[tokio::test]
async fn three_seconds_at_1000_visits_a_second_after_the_warm_up_count_about_3000_visits()
-> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let run = reported_run().await?;
    assert!(
        (2800..=3100).contains(&run.report.counts.ops),
        "about 3 s at 1000/s after the warm-up: {}",
        run.report.counts.ops
    );
    Ok(())
}

#[tokio::test]
async fn a_live_line_is_printed_every_second() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let stderr = &reported_run().await?.stderr;
    assert!(
        stderr.contains("visits/s") && stderr.contains("in flight"),
        "a live line every second: {stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn the_printed_latency_table_shows_the_reports_response_p99() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let ReportedRun { stdout, report, .. } = reported_run().await?;
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
    Ok(())
}

#[tokio::test]
async fn the_report_embeds_the_configuration_but_not_the_password() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let run = reported_run().await?;
    assert_eq!(run.report.config["run"]["rate"], 1000.0);
    assert_eq!(run.report.config["factory"]["seed"], 1);
    assert!(!run.report_text.contains(PASSWORD));
    Ok(())
}

#[tokio::test]
async fn the_hdr_log_holds_a_response_histogram_at_most_every_1_1_seconds() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let run = reported_run().await?;
    for interval in run.intervals.iter().filter(|i| i.has_tag("response")) {
        assert!(interval.length <= Duration::from_millis(1100));
    }
    Ok(())
}

#[tokio::test]
async fn the_hdr_logs_response_histograms_add_up_to_the_reports_exactly() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let ReportedRun {
        report, intervals, ..
    } = reported_run().await?;
    let mut total = new_histogram();
    for interval in intervals.iter().filter(|i| i.has_tag("response")) {
        total.add(&interval.histogram)?;
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
    Ok(())
}

#[tokio::test]
async fn the_hdr_log_also_holds_the_wait_and_per_table_service_histograms() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let intervals = &reported_run().await?.intervals;
    for tag in [
        "wait",
        "service-timesheets",
        "service-trees",
        "service-production",
    ] {
        assert!(
            intervals.iter().any(|i| i.has_tag(tag)),
            "the log has {tag}"
        );
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
            .intervals
            .iter()
            .any(|i| i.has_tag("response"))
    );
    Ok(())
}
