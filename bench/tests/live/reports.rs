//! `bench compare`, `merge` and `plot` on reports of real runs, and what they say about files that
//! are not reports.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use loadgen::record::{RESPONSE, new_histogram};
use loadgen::report::RunReport;
use ring::testing::one_line_failure;

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
    let _turn = ring::testing::shared().await;
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
    let merged = bench::report::suite_report::load(&out)?;
    let report = &merged.suite.scenarios[0].report;
    assert_eq!(report.counts.ops, a.counts.ops + b.counts.ops);
    assert_eq!(report.target_rate, Some(1000.0));
    // The merged percentiles are those of the two histograms added, not an average.
    let mut sum = new_histogram();
    sum.add(a.histogram(RESPONSE).expect("a"))?;
    sum.add(b.histogram(RESPONSE).expect("b"))?;
    assert_eq!(
        report.latency_us[RESPONSE].p99,
        loadgen::record::Percentiles::of(&sum).p99
    );
    assert_eq!(report.histogram(RESPONSE).expect("merged").len(), sum.len());
    // The merged log holds every response the two logs held, and the series has percentiles.
    let log = loadgen::record::hdr_log::read(
        &out.join(
            merged.suite.scenarios[0]
                .hdr_log
                .as_deref()
                .expect("merged log"),
        ),
    )?;
    let logged: u64 = log
        .intervals
        .iter()
        .filter(|i| i.has_tag(RESPONSE))
        .map(|i| i.histogram.len())
        .sum();
    assert_eq!(logged, sum.len());
    assert!(report.intervals.iter().any(|i| i.response_us.p99 > 0.0));
    // Three plots of the client's numbers, and the ring's side as one of the processes saw it.
    assert_eq!(
        drawn_plots(&out.join("index.html")).0,
        3 + ring_plots(report)
    );
    Ok(())
}

/// The plots of the ring's side a page draws for one run: the requests each node served, and the
/// tasks queued when a node queued any.
fn ring_plots(report: &RunReport) -> usize {
    let ring = report.ring.as_ref().filter(|ring| !ring.nodes.is_empty());
    ring.map_or(0, |ring| 1 + usize::from(ring.strain().is_some()))
}

/// One run spread over two processes: each takes every other visit of the one schedule, both
/// start at the same wall-clock instant, and the merge adds up to the run's rate; the visits
/// written are those one process would have written (none twice, none lost). A shard given twice
/// is refused, and the refused merge leaves no folder. Each claim is a function of its own.
#[tokio::test]
async fn two_shards_of_one_run_add_up_to_its_rate() -> anyhow::Result<()> {
    let _turn = ring::testing::shared().await;
    let (keyspace, hosts) = schema::testing::fresh_keyspace("bench_shards").await?;
    let folder = tempfile::tempdir()?;
    let start_at = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() + std::time::Duration::from_secs(5),
    )
    .to_string();
    // Both name their files with `{shard}`, as scaled-out containers sharing one folder do:
    // the reports must record the paths filled in, for the merge to find each shard's log.
    let shard = |index: u32| {
        let mut command = factory_run(
            &hosts,
            &keyspace,
            folder.path(),
            "shard{shard}",
            "400",
            "3s",
        );
        command.args(["--shard", &format!("{index}/2"), "--start-at", &start_at]);
        command.spawn()
    };
    let (mut first, mut second) = (shard(0)?, shard(1)?);
    assert!(first.wait()?.success() && second.wait()?.success());
    let inputs = [0, 1].map(|i| folder.path().join(format!("shard{i}.json")));
    let shards = [RunReport::read(&inputs[0])?, RunReport::read(&inputs[1])?];
    claim_each_shard_took_its_share_from_one_start(&shards);
    let merged = claim_the_merge_adds_up_to_the_rate(&folder.path().join("merged"), &inputs)?;
    claim_every_visit_was_written_once(&hosts, &keyspace, &merged).await?;
    claim_a_shard_given_twice_is_refused(&folder.path().join("twice"), &inputs[0]);
    Ok(())
}

fn claim_each_shard_took_its_share_from_one_start([a, b]: &[RunReport; 2]) {
    assert_eq!(a.run.id, b.run.id, "one run");
    assert_eq!(
        (a.run.start_at.as_str(), a.target_rate),
        (b.run.start_at.as_str(), Some(200.0)),
        "one start, half the rate each"
    );
    assert_eq!(a.run.shard.map(|s| s.to_string()).as_deref(), Some("0/2"));
    for report in [a, b] {
        // The ring runs on this machine: its clock is ours, within the round trip and a ms.
        let offset = report
            .run
            .clock_offset_ms
            .expect("the ring's clock was read");
        assert!(
            offset.abs() < 50.0,
            "clock offset {offset} ms on one machine"
        );
        // 400 visits/s for 3 s: 1200 due in all, 600 to each shard.
        let c = &report.counts;
        assert_eq!(c.ops + c.ops_failed + c.missed, 600, "{}", report.run.host);
    }
}

fn claim_the_merge_adds_up_to_the_rate(
    out: &Path,
    inputs: &[PathBuf],
) -> anyhow::Result<RunReport> {
    let output = bench().arg("merge").arg(out).args(inputs).output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("0/2") && stdout.contains("1/2"),
        "per-shard rows: {stdout}"
    );
    let merged = bench::report::suite_report::load(out)?;
    assert!(
        merged.suite.scenarios[0].hdr_log.is_some(),
        "every shard wrote its log: the merge adds them up"
    );
    let report = merged.suite.scenarios[0].report.clone();
    assert_eq!(report.target_rate, Some(400.0));
    assert!(
        (report.achieved_rate - 400.0).abs() <= 4.0,
        "merged rate {} is not within 1% of 400",
        report.achieved_rate
    );
    Ok(report)
}

/// The shards took disjoint visits of one schedule: as many rows as visits acknowledged.
async fn claim_every_visit_was_written_once(
    hosts: &str,
    keyspace: &str,
    merged: &RunReport,
) -> anyhow::Result<()> {
    let connection = ring::testing::connection_args(&["--hosts", hosts])
        .connect()
        .await?;
    let (rows,): (i64,) = connection
        .session
        .query_unpaged(format!("SELECT COUNT(*) FROM {keyspace}.timesheets"), &[])
        .await?
        .into_rows_result()?
        .single_row()?;
    assert_eq!(
        rows as u64, merged.counts.ops,
        "rows against visits acknowledged"
    );
    Ok(())
}

fn claim_a_shard_given_twice_is_refused(out: &Path, input: &Path) {
    let output = bench()
        .arg("merge")
        .arg(out)
        .args([input, input])
        .output()
        .expect("bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("given twice"),
        "{stderr}"
    );
    assert!(!out.exists(), "a refused merge leaves no folder");
}

/// One factory run of 6 s is the baseline; each claim is then checked in turn against it (and
/// against files made from it), and a failed assert or an error names its claim.
#[tokio::test]
async fn compare_finds_a_planted_slowdown_and_refuses_what_it_cannot_compare() -> anyhow::Result<()>
{
    let _turn = ring::testing::shared().await;
    let (keyspace, hosts) = schema::testing::fresh_keyspace("bench_compare").await?;
    let folder = tempfile::tempdir()?;
    assert!(
        factory_run(&hosts, &keyspace, folder.path(), "base", "500", "6s")
            .output()?
            .status
            .success()
    );
    let base = folder.path().join("base.json");

    claim_a_report_compared_with_itself_shows_no_change_and_passes(&base)
        .context("claim: a report compared with itself shows no change and passes")?;
    let planted = PlantedSlowdown::write(&base, folder.path())?;
    claim_a_run_30_percent_slower_fails_a_5_percent_allowance(&planted);
    claim_a_run_30_percent_slower_passes_a_50_percent_allowance(&planted)
        .context("claim: a run 30% slower passes a 50% allowance")?;
    // Files that are not reports, and reports of other scenarios.
    claim_a_truncated_report_is_refused_as_not_json(&base, folder.path())
        .context("claim: a truncated report is refused as not JSON")?;
    claim_json_without_a_format_field_is_refused(&base, folder.path());
    claim_a_missing_file_is_refused_naming_it(&base, folder.path());
    claim_reports_of_different_scenarios_are_refused(&base, folder.path())
        .context("claim: reports of different scenarios are refused")?;
    claim_plot_draws_every_plot_of_a_single_runs_page(&base)
        .context("claim: plot draws every plot of a single run's page")?;
    Ok(())
}

/// [`one_line_failure`] (exit code 1), a panic of its own naming `claim`.
fn one_line_failure_of(claim: &str, command: &mut Command) -> String {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        one_line_failure(command, 1)
    }))
    .unwrap_or_else(|_| panic!("claim: {claim}: not one line and exit code 1 (see above)"))
}

/// A report against itself: no change on any row, nothing judged worse or better, so
/// --fail-if-slower passes; the ring's rows are compared too.
fn claim_a_report_compared_with_itself_shows_no_change_and_passes(
    base: &Path,
) -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let json = folder.path().join("comparison.json");
    let same = bench()
        .arg("compare")
        .arg(base)
        .arg(base)
        .args(["--fail-if-slower", "5%", "--json"])
        .arg(&json)
        .output()?;
    assert!(
        same.status.success(),
        "claim: a report compared with itself passes: {}",
        String::from_utf8_lossy(&same.stderr)
    );
    let comparison: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let rows = comparison["scenarios"][0]["rows"]
        .as_array()
        .context("claim: the comparison has rows")?;
    assert!(rows.len() >= 8, "claim: every metric has a row: {rows:?}");
    for row in rows {
        assert_eq!(
            row["a"], row["b"],
            "claim: a report compared with itself has A = B on every row: {row}"
        );
        let judgement = row["judgement"]
            .as_str()
            .context("claim: every row says what its numbers say")?;
        assert!(
            matches!(judgement, "same" | "cannot_tell" | "not_tested"),
            "claim: nothing is judged worse or better against itself: {row}"
        );
    }
    let stdout = String::from_utf8_lossy(&same.stdout);
    // The factory sampled the ring's side: the ring's own numbers are compared too.
    for row in ["ring: requests served/s", "ring: tasks queued"] {
        assert!(
            stdout.contains(row),
            "claim: a report compared with itself shows the ring's row {row}: {stdout}"
        );
    }
    Ok(())
}

/// A steady baseline, and a run whose every second is 30% slower. The samples are steadied
/// first: these claims are about the verdict, not the shared machine's noise (the statistics
/// themselves are checked against scipy in the unit tests).
struct PlantedSlowdown {
    steady: PathBuf,
    slower: PathBuf,
}

impl PlantedSlowdown {
    fn write(base: &Path, folder: &Path) -> anyhow::Result<Self> {
        let mut steady: RunReport = RunReport::read(base)?;
        let typical = steady.headline().mean;
        for interval in &mut steady.intervals {
            interval.all_us.mean = typical * (1.0 + 0.02 * interval.at.sin());
        }
        let mut slower = steady.clone();
        slower
            .intervals
            .iter_mut()
            .for_each(|i| i.all_us.mean *= 1.3);
        let planted = PlantedSlowdown {
            steady: folder.join("steady.json"),
            slower: folder.join("slower.json"),
        };
        steady.write(&planted.steady)?;
        slower.write(&planted.slower)?;
        Ok(planted)
    }
}

/// A run whose every second is 30% slower than a steady baseline is significantly slower.
fn claim_a_run_30_percent_slower_fails_a_5_percent_allowance(planted: &PlantedSlowdown) {
    const CLAIM: &str = "a run 30% slower fails a 5% allowance";
    let line = one_line_failure_of(
        CLAIM,
        bench()
            .arg("compare")
            .arg(&planted.steady)
            .arg(&planted.slower)
            .args(["--fail-if-slower", "5%"]),
    );
    assert!(
        line.contains("significantly slower by more than 5%") && line.contains("mean latency"),
        "claim: {CLAIM}: {line}"
    );
}

fn claim_a_run_30_percent_slower_passes_a_50_percent_allowance(
    planted: &PlantedSlowdown,
) -> anyhow::Result<()> {
    let lenient = bench()
        .arg("compare")
        .arg(&planted.steady)
        .arg(&planted.slower)
        .args(["--fail-if-slower", "50%"])
        .output()?;
    assert!(
        lenient.status.success(),
        "claim: a run 30% slower passes a 50% allowance"
    );
    Ok(())
}

fn claim_a_truncated_report_is_refused_as_not_json(
    base: &Path,
    folder: &Path,
) -> anyhow::Result<()> {
    const CLAIM: &str = "a truncated report is refused as not JSON";
    let truncated = write(
        folder,
        "truncated.json",
        &std::fs::read_to_string(base)?[..200],
    );
    let line = one_line_failure_of(CLAIM, bench().arg("compare").arg(base).arg(&truncated));
    assert!(
        line.contains("truncated.json is not a pickle run report (not JSON"),
        "claim: {CLAIM}: {line}"
    );
    Ok(())
}

fn claim_json_without_a_format_field_is_refused(base: &Path, folder: &Path) {
    const CLAIM: &str = "JSON without a format field is refused";
    let foreign = write(folder, "foreign.json", r#"{"name": "something else"}"#);
    let line = one_line_failure_of(CLAIM, bench().arg("compare").arg(&foreign).arg(base));
    assert!(line.contains("no format field"), "claim: {CLAIM}: {line}");
}

fn claim_a_missing_file_is_refused_naming_it(base: &Path, folder: &Path) {
    const CLAIM: &str = "a missing file is refused, naming it";
    let line = one_line_failure_of(
        CLAIM,
        bench()
            .arg("compare")
            .arg(base)
            .arg(folder.join("missing.json")),
    );
    assert!(
        line.contains("cannot read") && line.contains("missing.json"),
        "claim: {CLAIM}: {line}"
    );
}

fn claim_reports_of_different_scenarios_are_refused(
    base: &Path,
    folder: &Path,
) -> anyhow::Result<()> {
    const CLAIM: &str = "reports of different scenarios are refused";
    let mut shop: RunReport = RunReport::read(base)?;
    shop.tool = "shop".into();
    let shop_path = folder.join("shop.json");
    shop.write(&shop_path)?;
    let line = one_line_failure_of(CLAIM, bench().arg("compare").arg(base).arg(&shop_path));
    assert!(
        line.contains("different scenarios") && line.contains("only A has factory"),
        "claim: {CLAIM}: {line}"
    );
    Ok(())
}

/// The page of a single run's report.
fn claim_plot_draws_every_plot_of_a_single_runs_page(base: &Path) -> anyhow::Result<()> {
    const CLAIM: &str = "plot draws every plot of a single run's page";
    let page = tempfile::tempdir()?;
    let plotted = bench()
        .arg("plot")
        .arg(base)
        .arg("--out")
        .arg(page.path())
        .output()?;
    assert!(
        plotted.status.success(),
        "claim: {CLAIM}: {}",
        String::from_utf8_lossy(&plotted.stderr)
    );
    let plots = 3 + ring_plots(&RunReport::read(base)?);
    assert!(plots > 3, "claim: {CLAIM}: the run sampled the ring");
    assert_eq!(
        drawn_plots(&page.path().join("index.html")),
        (plots, plots),
        "claim: {CLAIM}"
    );
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
    let _turn = ring::testing::shared().await;
    let (keyspace, hosts) = schema::testing::fresh_keyspace("bench_hlog").await?;
    let folder = tempfile::tempdir()?;
    assert!(
        factory_run(&hosts, &keyspace, folder.path(), "run", "400", "3s")
            .output()?
            .status
            .success()
    );
    let report = RunReport::read(&folder.path().join("run.json"))?;
    let jars = ring::Home::from_env()
        .jars(ring::DEFAULT_CASSANDRA_VERSION)?
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
    assert_eq!(report.headline_tag(), loadgen::record::ALL);
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
