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
    let typical = steady.headline().mean;
    for interval in &mut steady.intervals {
        interval.all_us.mean = typical * (1.0 + 0.02 * interval.at.sin());
    }
    let mut slower = steady.clone();
    slower
        .intervals
        .iter_mut()
        .for_each(|i| i.all_us.mean *= 1.3);
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
        line.contains("significantly slower by more than 5%") && line.contains("mean latency"),
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

/// The HDR log of a real factory, read by HdrHistogram's own `HistogramLogProcessor` (the Java
/// original, from the jars the local ring runs on) with no options: it reads the untagged lines,
/// which must be the report's headline, and its percentiles and maximum must be the report's.
#[tokio::test]
async fn hdr_histograms_own_log_processor_reads_our_log_as_our_report() -> anyhow::Result<()> {
    let _turn = cluster::testing::shared().await;
    let (keyspace, hosts) = schema::testing::fresh_keyspace("bench_hlog").await?;
    let folder = tempfile::tempdir()?;
    assert!(
        factory_run(&hosts, &keyspace, folder.path(), "run", "400", "3s")
            .output()?
            .status
            .success()
    );
    let report = RunReport::read(&folder.path().join("run.json"))?;
    let jars = cluster::local::Home::from_env()
        .jars(cluster::local::DEFAULT_CASSANDRA_VERSION)?
        .classpath()?;
    let hdr_jar = jars
        .iter()
        .find(|jar| jar.to_string_lossy().contains("HdrHistogram-"))
        .expect("Cassandra's jars include HdrHistogram");
    let out = folder.path().join("processed");
    let processed = Command::new("java")
        .arg("-cp")
        .arg(hdr_jar)
        .arg("org.HdrHistogram.HistogramLogProcessor")
        .arg("-i")
        .arg(folder.path().join("run.hlog"))
        .arg("-o")
        .arg(&out)
        .output()?;
    assert!(
        processed.status.success(),
        "{}",
        String::from_utf8_lossy(&processed.stderr)
    );
    // The percentile distribution, in milliseconds (the processor's default unit ratio, 1e6, is
    // right for nanosecond values), ends with `#[Max = m, Total count = n]`.
    let distribution = std::fs::read_to_string(folder.path().join("processed.hgrm"))?;
    let (max_ms, total) = java_max_and_count(&distribution)
        .unwrap_or_else(|| panic!("no #[Max..., Total count...] line in:\n{distribution}"));
    let headline = report.headline();
    assert_eq!(report.headline_tag(), driver::record::ALL);
    assert_eq!(total, headline.count, "{distribution}");
    assert!(
        (max_ms - headline.max / 1e3).abs() <= headline.max / 1e3 * 0.002,
        "Java's max {max_ms} ms, ours {} ms",
        headline.max / 1e3
    );
    // Row by row of its distribution (percentiles in halving steps, not exactly 0.99), the value
    // is the one our histogram gives at the same percentile.
    let ours = report.headline_histogram().expect("the headline histogram");
    for quantile in [0.5, 0.9, 0.99, 0.999] {
        let (value, percentile) = java_row_at(&distribution, quantile).expect("a row");
        let our_value = ours.value_at_quantile(percentile) as f64 / 1e6;
        assert!(
            (value - our_value).abs() <= our_value * 0.002,
            "at {percentile}: Java {value} ms, ours {our_value} ms"
        );
    }
    // Its interval output has a row per second, whose max column is the same unit.
    let intervals = std::fs::read_to_string(&out)?;
    let rows = intervals
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert!((2..=5).contains(&rows), "{intervals}");
    Ok(())
}

/// `#[Max = 1.234, Total count = 1200]` from a `.hgrm` file.
fn java_max_and_count(distribution: &str) -> Option<(f64, u64)> {
    let line = distribution.lines().find(|l| l.starts_with("#[Max"))?;
    let numbers: Vec<&str> = line
        .trim_matches(|c| c == '#' || c == '[' || c == ']')
        .split(',')
        .filter_map(|part| part.split('=').nth(1))
        .map(str::trim)
        .collect();
    Some((
        numbers.first()?.parse().ok()?,
        numbers.get(1)?.parse().ok()?,
    ))
}

/// The value and percentile of the first row at or above `quantile` of a `.hgrm` distribution.
fn java_row_at(distribution: &str, quantile: f64) -> Option<(f64, f64)> {
    distribution.lines().find_map(|line| {
        let mut columns = line.split_whitespace();
        let value: f64 = columns.next()?.parse().ok()?;
        let percentile: f64 = columns.next()?.parse().ok()?;
        (percentile >= quantile).then_some((value, percentile))
    })
}
