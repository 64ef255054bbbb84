//! `bench` itself: a shortened standard suite end to end, its report folder, and its page drawn
//! in a real browser.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use bench::report::suite_report;
use loadgen::record::hdr_log;
use loadgen::report::RunReport;
use ring::testing;

/// How many plots a page says the browser drew, out of how many: headless Chromium loads the page
/// and the page's own script counts the plots whose drawing has a real size.
pub fn drawn_plots(page: &Path) -> (usize, usize) {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| ring::find_on_path(name))
        .unwrap_or_else(|| panic!("the report test needs a browser: install Debian's chromium (apt-get install chromium)"));
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!(
            "file://{}",
            page.canonicalize()
                .unwrap_or_else(|e| panic!("{e}"))
                .display()
        ))
        .output()
        .unwrap_or_else(|e| panic!("cannot run the browser: {e}"));
    let dom = String::from_utf8_lossy(&output.stdout);
    let marker = dom
        .split("data-plots=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    let (drawn, total) = marker
        .split_once('/')
        .unwrap_or_else(|| panic!("the page did not report its plots: {marker:?}"));
    (drawn.parse().unwrap_or(0), total.parse().unwrap_or(0))
}

/// The suite runs once, shortened; each claim is then checked in turn on what it printed and
/// wrote, and a failed assert or an error names its claim.
#[tokio::test]
async fn a_short_suite_writes_a_report_folder_that_renders() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let args = testing::test_ring().await;
    let folder = tempfile::tempdir()?;
    let out = folder.path().join("report");
    let output = Command::new(assert_cmd::cargo::cargo_bin("bench"))
        .args([
            "--hosts",
            &args.contact_points().join(","),
            "--scenario",
            "factory-1000,factory-max,shop-10",
        ])
        .args(["--duration", "2s", "--warmup", "1s", "--out"])
        .arg(&out)
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let loaded = suite_report::load(&out)?;

    claim_the_suite_prints_its_scenarios_and_its_page(&stdout);
    claim_the_report_holds_the_scenarios_in_order(&loaded);
    claim_the_report_records_the_rings_cassandra_version(&loaded);
    claim_every_scenario_has_a_log_of_its_responses(&loaded, &out)
        .context("claim: every scenario has a log of its responses")?;
    claim_every_scenario_did_something_and_has_its_text_report(&loaded, &out);
    claim_the_suite_table_marks_closed_loop_rows(&stdout);
    claim_the_json_records_what_each_latency_counts(&loaded);
    claim_a_run_ends_with_its_duration_counting_every_visit_due(&loaded);
    claim_the_page_draws_every_plot_with_the_rings_side(&out, &loaded);
    claim_the_suite_dropped_its_keyspace(&args, &loaded)
        .await
        .context("claim: the suite dropped its keyspace")?;
    Ok(())
}

fn claim_the_suite_prints_its_scenarios_and_its_page(stdout: &str) {
    assert!(
        stdout.contains("factory-1000")
            && stdout.contains("shop-10")
            && stdout.contains("index.html"),
        "claim: the suite prints its scenarios and its page: {stdout}"
    );
}

fn claim_the_report_holds_the_scenarios_in_order(loaded: &suite_report::Loaded) {
    let names: Vec<&str> = loaded
        .suite
        .scenarios
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["factory-1000", "factory-max", "shop-10"],
        "claim: the report holds the scenarios in order"
    );
}

fn claim_the_report_records_the_rings_cassandra_version(loaded: &suite_report::Loaded) {
    assert_eq!(
        loaded
            .suite
            .ring
            .cassandra_version
            .as_deref()
            .map(|v| v.starts_with("5.0")),
        Some(true),
        "claim: the report records the ring's Cassandra version (5.0)"
    );
}

fn claim_every_scenario_has_a_log_of_its_responses(
    loaded: &suite_report::Loaded,
    out: &Path,
) -> anyhow::Result<()> {
    for scenario in &loaded.suite.scenarios {
        let log = out.join(scenario.hdr_log.as_deref().unwrap_or_else(|| {
            panic!(
                "claim: every scenario has a log of its responses: {} has none",
                scenario.name
            )
        }));
        let intervals = hdr_log::read(&log)?.intervals;
        assert!(
            intervals
                .iter()
                .any(|i| i.has_tag("response") && !i.histogram.is_empty()),
            "claim: every scenario has a log of its responses: {}",
            log.display()
        );
    }
    Ok(())
}

fn claim_every_scenario_did_something_and_has_its_text_report(
    loaded: &suite_report::Loaded,
    out: &Path,
) {
    const CLAIM: &str = "every scenario did something and has its text report";
    for scenario in &loaded.suite.scenarios {
        assert!(
            scenario.report.counts.ops > 0,
            "claim: {CLAIM}: {} did something",
            scenario.name
        );
        assert!(
            out.join(format!("{}.txt", scenario.name)).exists(),
            "claim: {CLAIM}: {}.txt",
            scenario.name
        );
    }
}

/// Closed-loop rows say so, with the reason.
fn claim_the_suite_table_marks_closed_loop_rows(stdout: &str) {
    let max_row = stdout
        .lines()
        .find(|l| l.starts_with("factory-max"))
        .expect("claim: the suite table marks closed-loop rows: a factory-max row");
    // The note under the table is wrapped: read it as words.
    let words = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        max_row.contains("closed loop") && words.contains("not comparable with the open-loop"),
        "claim: the suite table marks closed-loop rows: {stdout}"
    );
}

fn report_of<'a>(loaded: &'a suite_report::Loaded, name: &str) -> &'a RunReport {
    &loaded.suite.scenario(name).expect("ran").report
}

fn claim_the_json_records_what_each_latency_counts(loaded: &suite_report::Loaded) {
    const CLAIM: &str = "the JSON records what each latency counts";
    assert!(
        report_of(loaded, "factory-max")
            .latency_from
            .starts_with("closed loop"),
        "claim: {CLAIM}: factory-max"
    );
    assert!(
        report_of(loaded, "factory-1000")
            .latency_from
            .starts_with("open loop"),
        "claim: {CLAIM}: factory-1000"
    );
}

/// Every visit due in the 2 s was sent or counted as missed.
fn claim_a_run_ends_with_its_duration_counting_every_visit_due(loaded: &suite_report::Loaded) {
    let factory = report_of(loaded, "factory-1000");
    let c = factory.counts;
    let due = c.ops + c.ops_failed + c.missed + factory.abandoned;
    assert!(
        (1990..=2010).contains(&due),
        "claim: a run ends with its duration, counting every visit due: 2 s at 1000/s: {c:?}"
    );
}

/// Three percentile plots (the factory's open-loop runs, its closed-loop run apart, the shop), the
/// rate ladder, and one over-time plot per scenario: seven plots of the client's numbers, and per
/// scenario the ring's side: the requests each node served, and its queues when it had any.
fn claim_the_page_draws_every_plot_with_the_rings_side(out: &Path, loaded: &suite_report::Loaded) {
    const CLAIM: &str = "the page draws every plot, the ring's side of each scenario too";
    let rings: Vec<_> = (loaded.suite.scenarios.iter())
        .filter_map(|s| s.report.ring.as_ref().filter(|ring| !ring.nodes.is_empty()))
        .collect();
    assert_eq!(
        rings.len(),
        3,
        "claim: {CLAIM}: every scenario sampled the ring"
    );
    let expected = 7 + rings.len() + rings.iter().filter(|r| r.strain().is_some()).count();
    let page = std::fs::read_to_string(out.join("index.html")).unwrap_or_default();
    assert!(
        page.contains(r#"data-plot="factory-closed-loop-percentiles""#)
            && page.contains(r#"data-plot="factory-percentiles""#),
        "claim: {CLAIM}: the closed-loop factory-max is drawn apart from the open-loop runs"
    );
    assert_eq!(
        drawn_plots(&out.join("index.html")),
        (expected, expected),
        "claim: {CLAIM}"
    );
}

async fn claim_the_suite_dropped_its_keyspace(
    args: &client::ConnectionArgs,
    loaded: &suite_report::Loaded,
) -> anyhow::Result<()> {
    let session = args.connect().await?.session;
    assert!(
        schema::LiveKeyspace::read(&session, &loaded.suite.keyspace)
            .await?
            .is_none(),
        "claim: the suite dropped its keyspace"
    );
    Ok(())
}

#[test]
fn the_report_folder_must_be_new_and_writable() {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = folder.path().join("a-file");
    std::fs::write(&file, "x").unwrap_or_else(|e| panic!("{e}"));
    let bench = || Command::new(assert_cmd::cargo::cargo_bin("bench"));
    let existing = folder.path().to_str().unwrap_or_default();
    let line = testing::one_line_failure(
        bench().args(["--hosts", "127.0.0.254", "--out", existing]),
        2,
    );
    assert!(line.contains("already exists"), "{line}");
    let under_a_file = file.join("report");
    let line = testing::one_line_failure(
        bench()
            .args(["--hosts", "127.0.0.254", "--out"])
            .arg(&under_a_file),
        2,
    );
    assert!(line.contains("cannot create the report folder"), "{line}");
    let line = testing::one_line_failure(bench().args(["--scenario", "factory-9000"]), 2);
    assert!(
        line.contains("invalid value 'factory-9000'") && line.contains("factory-5000"),
        "{line}"
    );
}
