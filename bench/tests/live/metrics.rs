//! `--metrics-addr`: a running factory serves Prometheus metrics, and they include every metric
//! the compose Grafana dashboard queries.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The body of `GET /metrics` at `addr`, or `None` while nothing answers.
fn scrape(addr: SocketAddr) -> Option<String> {
    scrape_within(addr, Duration::from_secs(5))
}

/// [`scrape`], waiting up to `timeout` for the answer (a Cassandra node's agent reads its MBeans
/// first).
pub(crate) fn scrape_within(addr: SocketAddr, timeout: Duration) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The value of the sample `name{labels}` in an exposition.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// The metric names the dashboard's queries use.
fn dashboard_metrics() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../compose/monitoring/grafana/dashboards/pickle.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("JSON");
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            names.extend(
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|word| word.starts_with("pickle_"))
                    .map(str::to_owned),
            );
        }
    }
    names
}

#[test]
fn the_dashboard_queries_at_least_eight_metrics() {
    let wanted = dashboard_metrics();
    assert!(
        wanted.len() >= 8,
        "the dashboard queries the metrics: {wanted:?}"
    );
}

/// One factory runs until its counters have moved between two scrapes; each claim is then
/// checked in turn on the last scrape, and a failed assert names its claim.
#[tokio::test]
async fn a_running_factory_exports_every_metric_the_dashboard_queries() -> anyhow::Result<()> {
    let _turn = ring::testing::shared().await;
    let (keyspace, hosts) = schema::testing::fresh_keyspace("metrics").await?;
    let exposition = scrape_a_running_factory(&hosts, &keyspace)?;

    claim_the_factory_exports_every_metric_the_dashboard_queries(&exposition);
    claim_the_target_rate_is_exported(&exposition);
    claim_every_error_kind_is_exported_from_zero(&exposition);
    claim_the_histogram_counts_each_successful_visit_once(&exposition);
    Ok(())
}

/// Runs a factory with `--metrics-addr`, and scrapes it until two seconds have been published,
/// then once more to see the counters move: that last exposition.
fn scrape_a_running_factory(hosts: &str, keyspace: &str) -> anyhow::Result<String> {
    let addr: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let mut factory = Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args(["--hosts", hosts, "--keyspace", keyspace])
        .args(["--rate", "200", "--duration", "30s", "--quiet"])
        .args(["--metrics-addr", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first = None;
    let exposition = loop {
        assert!(
            Instant::now() < deadline,
            "no metrics at {addr} within 60 s"
        );
        if let Some(status) = factory.try_wait()? {
            panic!("the factory ended early ({status})");
        }
        std::thread::sleep(Duration::from_millis(500));
        let Some(body) = scrape(addr) else { continue };
        let done = sample(
            &body,
            r#"pickle_operations_total{tool="factory",outcome="ok"}"#,
        )
        .unwrap_or(0.0);
        match first {
            None if done > 0.0 => first = Some(done),
            Some(before) if done > before => break body,
            _ => {}
        }
    };
    factory.kill()?;
    factory.wait()?;
    Ok(exposition)
}

fn claim_the_factory_exports_every_metric_the_dashboard_queries(exposition: &str) {
    let exported: BTreeSet<&str> = exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    for metric in &dashboard_metrics() {
        assert!(
            exported.contains(metric.as_str()),
            "claim: the factory exports every metric the dashboard queries: the dashboard queries \
             {metric}, which the factory does not export; it exports {exported:?}"
        );
    }
}

fn claim_the_target_rate_is_exported(exposition: &str) {
    assert_eq!(
        sample(exposition, r#"pickle_target_rate{tool="factory"}"#),
        Some(200.0),
        "claim: the target rate is exported"
    );
}

fn claim_every_error_kind_is_exported_from_zero(exposition: &str) {
    assert_eq!(
        sample(
            exposition,
            r#"pickle_errors_total{tool="factory",kind="write_timeout"}"#
        ),
        Some(0.0),
        "claim: every error kind is exported from zero"
    );
}

fn claim_the_histogram_counts_each_successful_visit_once(exposition: &str) {
    const CLAIM: &str = "the histogram counts each successful visit once";
    let visits = sample(
        exposition,
        r#"pickle_response_seconds_count{tool="factory"}"#,
    )
    .unwrap_or_else(|| panic!("claim: {CLAIM}: the response-time histogram is exported"));
    let requests = sample(
        exposition,
        r#"pickle_requests_total{tool="factory",outcome="ok"}"#,
    )
    .unwrap_or_else(|| panic!("claim: {CLAIM}: the request counter is exported"));
    assert_eq!(
        requests,
        3.0 * visits,
        "claim: {CLAIM}: each visit is three writes, and the histogram counts each successful \
         visit once"
    );
}
