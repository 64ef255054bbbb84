//! `bench compare`, `merge` and `plot` on reports of real runs, and what they say about files that
//! are not reports.

use std::path::{Path, PathBuf};
use std::process::Command;

use cluster::testing::one_line_failure;
use driver::record::{RESPONSE, new_histogram};
use driver::report::RunReport;

use crate::suite::drawn_plots;

fn bench() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("bench"))
}

/// Runs a factory for `duration` with a report and an HDR log in `folder`, named `name`.
fn factory_run(
    hosts: &str,
    keyspace: &str,
    folder: &Path,
    name: &str,
    rate: &str,
    duration: &str,
) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("factory"));
    command
        .args([
            "--hosts",
            hosts,
            "--keyspace",
            keyspace,
            "--rate",
            rate,
            "--duration",
            duration,
            "--quiet",
            "--report",
        ])
        .arg(folder.join(format!("{name}.json")))
        .arg("--hdr-log")
        .arg(folder.join(format!("{name}.hlog")));
    command
}

#[tokio::test]
async fn two_factories_at_once_merge_into_one_report() -> anyhow::Result<()> {
    let _turn = cluster::testing::shared().await;
    let (keyspace, hosts) = schema::testing::fresh_keyspace("bench_merge").await?;
    let folder = tempfile::tempdir()?;
    // Scaled out: two factories at the same time, as compose's --scale would run them.
    let mut first = factory_run(&hosts, &keyspace, folder.path(), "a", "400", "3s").spawn()?;
    let mut second = factory_run(&hosts, &keyspace, folder.path(), "b", "600", "3s").spawn()?;
    assert!(first.wait()?.success() && second.wait()?.success());
    let (a, b) = (
        RunReport::read(&folder.path().join("a.json"))?,
        RunReport::read(&folder.path().join("b.json"))?,
    );

    let out = folder.path().join("merged");
    let output = bench()
        .arg("merge")
        .arg(&out)
        .arg(folder.path().join("a.json"))
        .arg(folder.path().join("b.json"))
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged = bench::suite_report::load(&out)?;
    let report = &merged.suite.scenarios[0].report;
    assert_eq!(report.counts.ops, a.counts.ops + b.counts.ops);
    assert_eq!(report.target_rate, Some(1000.0));
    // The merged percentiles are those of the two histograms added, not an average.
    let mut sum = new_histogram();
    sum.add(a.histogram(RESPONSE).expect("a"))?;
    sum.add(b.histogram(RESPONSE).expect("b"))?;
    assert_eq!(
        report.latency_us[RESPONSE].p99,
        driver::record::Percentiles::of(&sum).p99
    );
    assert_eq!(report.histogram(RESPONSE).expect("merged").len(), sum.len());
    // The merged log holds every response the two logs held, and the series has percentiles.
    let log = driver::hdr_log::read(
        &out.join(
            merged.suite.scenarios[0]
                .hdr_log
                .as_deref()
                .expect("merged log"),
        ),
    )?;
    let logged: u64 = log
        .iter()
        .filter(|i| i.tag == RESPONSE)
        .map(|i| i.histogram.len())
        .sum();
    assert_eq!(logged, sum.len());
    assert!(report.intervals.iter().any(|i| i.response_us.p99 > 0.0));
    assert_eq!(drawn_plots(&out.join("index.html")).0, 3);
    Ok(())
}

#[tokio::test]
async fn compare_finds_a_planted_slowdown_and_refuses_what_it_cannot_compare() -> anyhow::Result<()>
{
    let _turn = cluster::testing::shared().await;
    let (keyspace, hosts) = schema::testing::fresh_keyspace("bench_compare").await?;
    let folder = tempfile::tempdir()?;
    assert!(
        factory_run(&hosts, &keyspace, folder.path(), "base", "500", "6s")
            .output()?
            .status
            .success()
    );
    let base = folder.path().join("base.json");

    // A report against itself: no change, nothing significant, so --fail-if-slower passes.
    let same = bench()
        .arg("compare")
        .arg(&base)
        .arg(&base)
        .args(["--fail-if-slower", "5%"])
        .output()?;
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert!(String::from_utf8_lossy(&same.stdout).contains("+0.0%"));

    // A run whose every second is 30% slower than a steady baseline is significantly slower. The
    // samples are steadied first: this test is about the verdict, not the shared machine's noise
    // (the statistics themselves are checked against scipy in the unit tests).
    let mut steady: RunReport = RunReport::read(&base)?;
    let typical = steady.latency_us[RESPONSE].mean;
    for interval in &mut steady.intervals {
        interval.response_us.mean = typical * (1.0 + 0.02 * interval.at.sin());
    }
    let mut slower = steady.clone();
    slower
        .intervals
        .iter_mut()
        .for_each(|i| i.response_us.mean *= 1.3);
    let (steady_path, slower_path) = (
        folder.path().join("steady.json"),
        folder.path().join("slower.json"),
    );
    steady.write(&steady_path)?;
    slower.write(&slower_path)?;
    let line = one_line_failure(
        bench()
            .arg("compare")
            .arg(&steady_path)
            .arg(&slower_path)
            .args(["--fail-if-slower", "5%"]),
        1,
    );
    assert!(
        line.contains("significantly slower by more than 5%") && line.contains("mean response"),
        "{line}"
    );
    let lenient = bench()
        .arg("compare")
        .arg(&steady_path)
        .arg(&slower_path)
        .args(["--fail-if-slower", "50%"])
        .output()?;
    assert!(
        lenient.status.success(),
        "30% slower is within a 50% allowance"
    );

    // Files that are not reports, and reports of other scenarios.
    let truncated = write(
        folder.path(),
        "truncated.json",
        &std::fs::read_to_string(&base)?[..200],
    );
    let line = one_line_failure(bench().arg("compare").arg(&base).arg(&truncated), 1);
    assert!(
        line.contains("truncated.json is not a pickle run report (not JSON"),
        "{line}"
    );
    let foreign = write(
        folder.path(),
        "foreign.json",
        r#"{"name": "something else"}"#,
    );
    let line = one_line_failure(bench().arg("compare").arg(&foreign).arg(&base), 1);
    assert!(line.contains("no format field"), "{line}");
    let line = one_line_failure(
        bench()
            .arg("compare")
            .arg(&base)
            .arg(folder.path().join("missing.json")),
        1,
    );
    assert!(
        line.contains("cannot read") && line.contains("missing.json"),
        "{line}"
    );
    let mut shop: RunReport = RunReport::read(&base)?;
    shop.tool = "shop".into();
    let shop_path = folder.path().join("shop.json");
    shop.write(&shop_path)?;
    let line = one_line_failure(bench().arg("compare").arg(&base).arg(&shop_path), 1);
    assert!(
        line.contains("different scenarios") && line.contains("only A has factory"),
        "{line}"
    );

    // And the page of a single run's report.
    let page = tempfile::tempdir()?;
    let plotted = bench()
        .arg("plot")
        .arg(&base)
        .arg("--out")
        .arg(page.path())
        .output()?;
    assert!(
        plotted.status.success(),
        "{}",
        String::from_utf8_lossy(&plotted.stderr)
    );
    assert_eq!(drawn_plots(&page.path().join("index.html")), (3, 3));
    Ok(())
}

fn write(folder: &Path, name: &str, text: &str) -> PathBuf {
    let path = folder.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}
