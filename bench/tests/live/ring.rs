//! `bench ring up | status | down` on a one-node ring of its own (127.0.3.x), with its metrics for
//! Prometheus and a modelled client latency, and the refusals: a ring of another shape, heap,
//! metrics or latency, a port already taken.
//! (Bad flags are in the catalogue.)

use std::net::TcpListener;
use std::time::Duration;

use assert_cmd::Command;
use assert_cmd::assert::{Assert, AssertError};
use predicates::str::contains;

fn bench() -> Command {
    Command::cargo_bin("bench")
        .unwrap_or_else(|e| panic!("the bench binary is built for its tests: {e}"))
}

/// Whether `pid` runs: a zombie waiting for init to reap it has stopped.
fn runs(pid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    matches!(stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()), Some(state) if !matches!(state, 'Z' | 'X'))
}

fn status_json(claim: &str, name: &str) -> serde_json::Value {
    let output = bench()
        .args(["ring", "status", "--json", "--name", name])
        .output()
        .unwrap_or_else(|e| panic!("claim: {claim}: {e}"));
    assert!(
        output.status.success(),
        "claim: {claim}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("claim: {claim}: status --json is JSON: {e}"))
}

/// Runs `command`, and panics naming `claim` unless it exits with `code` (0: success) and its
/// stdout and stderr hold each of `stdout` and `stderr`.
fn runs_as(claim: &str, command: &mut Command, code: i32, stdout: &[&str], stderr: &[&str]) {
    let fail = |error: AssertError| -> Assert { panic!("claim: {claim}: {error}") };
    let assert = command.assert();
    let mut assert = if code == 0 {
        assert.try_success()
    } else {
        assert.try_code(code)
    }
    .unwrap_or_else(fail);
    for text in stdout {
        assert = assert.try_stdout(contains(*text)).unwrap_or_else(fail);
    }
    for text in stderr {
        assert = assert.try_stderr(contains(*text)).unwrap_or_else(fail);
    }
}

/// The ring of these claims.
const NAME: &str = "test-updown";

/// The ring is started once, then each claim is checked in turn, in this order (each leaves the
/// ring as the next expects it; the last two stop it and delete it); a failed assert names its
/// claim.
#[test]
fn up_status_and_down_on_one_node() {
    bench()
        .args(["ring", "down", "--wipe", "--name", NAME])
        .output()
        .ok();

    claim_up_starts_one_node_and_prints_its_hosts();
    let pid = claim_status_shows_the_node_up_with_its_address_datacenter_and_pid();
    // Idempotent: the same shape is reused; another shape is refused with a hint.
    claim_up_again_with_the_same_shape_reuses_the_ring();
    claim_up_with_another_shape_is_refused_with_a_hint();
    // The same ring asked for another heap is refused, not reused as if it had it; the same
    // heap spelled otherwise is the same heap.
    claim_up_with_another_heap_is_refused();
    claim_up_with_the_same_heap_spelled_otherwise_reuses_the_ring();
    // The node serves the containerized ring's series; a running ring is not restarted without.
    claim_the_node_serves_the_compose_rings_metrics_at_its_address();
    claim_up_without_metrics_is_refused_while_it_runs_with_them();
    // Clients reach the node through a proxy that adds the modelled delay each way.
    let proxy = claim_a_cql_round_trip_through_the_client_address_pays_the_delay_twice();
    claim_up_with_another_latency_is_refused();
    claim_status_prints_the_node_up();
    claim_down_stops_the_node(pid);
    claim_down_stops_the_proxy_too(proxy);
    claim_down_wipe_deletes_the_data_and_forgets_the_ring();
}

fn claim_up_starts_one_node_and_prints_its_hosts() {
    runs_as(
        "up starts one node and prints its hosts",
        bench()
            .args(["ring", "up", "--name", NAME, "--ip-prefix", "127.0.3"])
            .args(["--heap", "1G", "--timeout", "300s", "--metrics"])
            .args(["--client-latency", "5ms"]),
        0,
        &[
            &format!("ring '{NAME}' is up (1 node in 1 DC on 127.0.3.x): started 1 node(s)"),
            "network latency: 5ms each way client-node",
            "CASSANDRA_HOSTS=127.1.3.1",
            "targets: ['127.0.3.1:7070']",
        ],
        &[],
    );
}

/// The pid of the running node.
fn claim_status_shows_the_node_up_with_its_address_datacenter_and_pid() -> u64 {
    const CLAIM: &str = "status shows the node up, with its address, datacenter and pid";
    let status = status_json(CLAIM, NAME);
    let node = &status["nodes"][0];
    assert_eq!(node["state"], "UP", "claim: {CLAIM}: {status}");
    assert_eq!(
        node["address"], "127.1.3.1",
        "claim: {CLAIM}: clients get the proxy"
    );
    assert_eq!(node["listen_address"], "127.0.3.1", "claim: {CLAIM}");
    assert_eq!(node["datacenter"], "dc1", "claim: {CLAIM}");
    let pid = node["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("claim: {CLAIM}: a running node has a pid: {status}"));
    assert!(runs(pid), "claim: {CLAIM}: pid {pid} runs");
    assert_eq!(
        node["metrics"], "http://127.0.3.1:7070/metrics",
        "claim: {CLAIM}: {status}"
    );
    pid
}

/// The series of the compose ring's rules (`compose/monitoring/jmx/cassandra.yml`) that the ring
/// dashboard queries, and the JVM's own, are served at the node's address.
fn claim_the_node_serves_the_compose_rings_metrics_at_its_address() {
    const CLAIM: &str = "the node serves the compose ring's metrics at its address";
    let address = "127.0.3.1:7070".parse().expect("an address");
    let exposition = crate::metrics::scrape_within(address, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("claim: {CLAIM}: nothing answers GET /metrics at {address}"));
    for series in [
        "cassandra_client_requests_total{",
        "cassandra_client_request_latency_seconds{",
        "cassandra_thread_pool_tasks{",
        "cassandra_dropped_messages_total{",
        "cassandra_compaction_pending_tasks",
        "jvm_memory_used_bytes{",
    ] {
        assert!(
            exposition.contains(series),
            "claim: {CLAIM}: no {series} in {} lines",
            exposition.lines().count()
        );
    }
}

fn claim_up_without_metrics_is_refused_while_it_runs_with_them() {
    runs_as(
        "up without metrics is refused while it runs with them",
        bench()
            .args(["ring", "up", "--name", NAME, "--ip-prefix", "127.0.3"])
            .arg("--no-metrics"),
        1,
        &[],
        &["ring 'test-updown' runs with the nodes' metrics (--metrics)"],
    );
}

/// The delay of the test ring's proxy, each way.
const DELAY: Duration = Duration::from_millis(5);

/// Times CQL OPTIONS requests (answered by the node without touching data) at `address`, and
/// returns the fastest of five round trips; panics naming `claim` unless each is answered with
/// SUPPORTED.
fn fastest_cql_round_trip(claim: &str, address: &str) -> Duration {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)
        .unwrap_or_else(|e| panic!("claim: {claim}: cannot connect to {address}: {e}"));
    stream.set_nodelay(true).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    (0..5u8)
        .map(|stream_id| {
            // Protocol v4 frame header: version, flags, stream, opcode OPTIONS (5), no body.
            let options = [4, 0, 0, stream_id, 5, 0, 0, 0, 0];
            let began = std::time::Instant::now();
            stream
                .write_all(&options)
                .unwrap_or_else(|e| panic!("claim: {claim}: {e}"));
            let mut header = [0u8; 9];
            stream
                .read_exact(&mut header)
                .unwrap_or_else(|e| panic!("claim: {claim}: no answer from {address}: {e}"));
            let took = began.elapsed();
            assert_eq!(
                header[4], 6,
                "claim: {claim}: SUPPORTED (opcode 6) answers OPTIONS"
            );
            let length = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
            let mut body = vec![0u8; length as usize];
            stream
                .read_exact(&mut body)
                .unwrap_or_else(|e| panic!("claim: {claim}: the answer is cut short: {e}"));
            took
        })
        .min()
        .unwrap_or_default()
}

/// The pid of the proxy. A request and its answer each cross the proxy once, so the round trip
/// pays the delay twice (only this lower bound is asserted: a busy machine adds, never removes).
fn claim_a_cql_round_trip_through_the_client_address_pays_the_delay_twice() -> u64 {
    const CLAIM: &str = "a CQL round trip through the client address pays the delay twice";
    let status = status_json(CLAIM, NAME);
    assert_eq!(
        status["modelled_latency"]["client_one_way_us"], 5000,
        "claim: {CLAIM}: {status}"
    );
    let proxied = fastest_cql_round_trip(CLAIM, "127.1.3.1:9042");
    let direct = fastest_cql_round_trip(CLAIM, "127.0.3.1:9042");
    eprintln!("CQL OPTIONS round trip: {proxied:?} through the proxy, {direct:?} direct");
    assert!(
        proxied >= 2 * DELAY,
        "claim: {CLAIM}: {proxied:?} through a proxy that holds each way for {DELAY:?}"
    );
    status["modelled_latency"]["proxy_pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("claim: {CLAIM}: status names the proxy's pid: {status}"))
}

fn claim_up_with_another_latency_is_refused() {
    runs_as(
        "up with another latency is refused",
        bench()
            .args(["ring", "up", "--name", NAME, "--ip-prefix", "127.0.3"])
            .args(["--client-latency", "1ms"]),
        1,
        &[],
        &["ring 'test-updown' runs with 5ms each way client-node"],
    );
}

fn claim_down_stops_the_proxy_too(pid: u64) {
    const CLAIM: &str = "down stops the proxy too";
    assert!(
        !runs(pid),
        "claim: {CLAIM}: pid {pid} still runs after down"
    );
    assert!(
        std::net::TcpStream::connect("127.1.3.1:9042").is_err(),
        "claim: {CLAIM}: something still listens at the client address"
    );
}

fn claim_up_again_with_the_same_shape_reuses_the_ring() {
    runs_as(
        "up again with the same shape reuses the ring",
        bench().args(["ring", "up", "--name", NAME, "--ip-prefix", "127.0.3"]),
        0,
        &["was already up"],
        &[],
    );
}

fn claim_up_with_another_shape_is_refused_with_a_hint() {
    runs_as(
        "up with another shape is refused, with a hint",
        bench()
            .args(["ring", "up", "--name", NAME, "--ip-prefix", "127.0.3"])
            .args(["--nodes", "2"]),
        1,
        &[],
        &[
            "already exists as 1 node in 1 DC on 127.0.3.x, not 2 nodes",
            "--wipe",
        ],
    );
}

fn claim_up_with_another_heap_is_refused() {
    runs_as(
        "up with another heap is refused",
        bench()
            .args(["ring", "up", "--name", NAME, "--ip-prefix", "127.0.3"])
            .args(["--heap", "3G"]),
        1,
        &[],
        &["ring 'test-updown' runs with a heap of 1G per node, not 3G"],
    );
}

fn claim_up_with_the_same_heap_spelled_otherwise_reuses_the_ring() {
    runs_as(
        "up with the same heap spelled otherwise reuses the ring",
        bench()
            .args(["ring", "up", "--name", NAME, "--ip-prefix", "127.0.3"])
            .args(["--heap", "1024M"]),
        0,
        &["was already up"],
        &[],
    );
}

fn claim_status_prints_the_node_up() {
    runs_as(
        "status prints the node up",
        bench().args(["ring", "status", "--name", NAME]),
        0,
        &[
            "127.1.3.1",
            " UP ",
            "http://127.0.3.1:7070/metrics",
            "127.0.3.1",
        ],
        &[],
    );
}

fn claim_down_stops_the_node(pid: u64) {
    const CLAIM: &str = "down stops the node";
    runs_as(
        CLAIM,
        bench().args(["ring", "down", "--name", NAME]),
        0,
        &["stopped 1 running node(s)"],
        &[],
    );
    assert!(
        !runs(pid),
        "claim: {CLAIM}: pid {pid} still runs after down"
    );
    assert_eq!(
        status_json(CLAIM, NAME)["nodes"][0]["state"],
        "DOWN",
        "claim: {CLAIM}"
    );
}

fn claim_down_wipe_deletes_the_data_and_forgets_the_ring() {
    const CLAIM: &str = "down --wipe deletes the data and forgets the ring";
    runs_as(
        CLAIM,
        bench().args(["ring", "down", "--wipe", "--name", NAME]),
        0,
        &["deleted its data"],
        &[],
    );
    runs_as(
        CLAIM,
        bench().args(["ring", "status", "--name", NAME]),
        1,
        &[],
        &["there is no ring named"],
    );
}

#[test]
fn a_port_in_use_starts_nothing_and_names_its_holder() {
    let name = "test-busy";
    let listener =
        TcpListener::bind("127.0.4.1:9042").unwrap_or_else(|e| panic!("cannot hold the port: {e}"));
    bench()
        .args(["ring", "up", "--name", name, "--ip-prefix", "127.0.4"])
        .assert()
        .code(1)
        .stderr(contains(
            "nothing was started because 127.0.4.1:9042 is in use by pid",
        ))
        .stderr(contains(std::process::id().to_string()));
    drop(listener);
    let rings = bench()
        .args(["ring", "list"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !String::from_utf8_lossy(&rings.stdout).contains(name),
        "a half ring was recorded"
    );
}
