//! `bench ring up | status | down` on a one-node ring of its own (127.0.3.x), and the refusals:
//! a ring of another shape or heap, a port already taken. (Bad flags are in the catalogue.)

use std::net::TcpListener;

use assert_cmd::Command;
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

fn status_json(name: &str) -> serde_json::Value {
    let output = bench()
        .args(["ring", "status", "--json", "--name", name])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("status --json is JSON: {e}"))
}

#[test]
fn up_status_and_down_on_one_node() {
    let name = "test-updown";
    bench()
        .args(["ring", "down", "--wipe", "--name", name])
        .output()
        .ok();

    bench()
        .args([
            "ring",
            "up",
            "--name",
            name,
            "--ip-prefix",
            "127.0.3",
            "--heap",
            "1G",
            "--timeout",
            "300s",
        ])
        .assert()
        .success()
        .stdout(contains(format!(
            "ring '{name}' is up (1 node in 1 DC on 127.0.3.x): started 1 node(s)"
        )))
        .stdout(contains("CASSANDRA_HOSTS=127.0.3.1"));

    let status = status_json(name);
    let node = &status["nodes"][0];
    assert_eq!(node["state"], "UP", "{status}");
    assert_eq!(node["address"], "127.0.3.1");
    assert_eq!(node["datacenter"], "dc1");
    let pid = node["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("a running node has a pid: {status}"));
    assert!(runs(pid));

    // Idempotent: the same shape is reused; another shape is refused with a hint.
    bench()
        .args(["ring", "up", "--name", name, "--ip-prefix", "127.0.3"])
        .assert()
        .success()
        .stdout(contains("was already up"));
    bench()
        .args([
            "ring",
            "up",
            "--name",
            name,
            "--ip-prefix",
            "127.0.3",
            "--nodes",
            "2",
        ])
        .assert()
        .code(1)
        .stderr(contains(
            "already exists as 1 node in 1 DC on 127.0.3.x, not 2 nodes",
        ))
        .stderr(contains("--wipe"));
    // The same ring asked for another heap is refused, not reused as if it had it; the same
    // heap spelled otherwise is the same heap.
    bench()
        .args(["ring", "up", "--name", name, "--ip-prefix", "127.0.3"])
        .args(["--heap", "3G"])
        .assert()
        .code(1)
        .stderr(contains(
            "ring 'test-updown' runs with a heap of 1G per node, not 3G",
        ));
    bench()
        .args(["ring", "up", "--name", name, "--ip-prefix", "127.0.3"])
        .args(["--heap", "1024M"])
        .assert()
        .success()
        .stdout(contains("was already up"));

    bench()
        .args(["ring", "status", "--name", name])
        .assert()
        .success()
        .stdout(contains("127.0.3.1"))
        .stdout(contains(" UP "));

    bench()
        .args(["ring", "down", "--name", name])
        .assert()
        .success()
        .stdout(contains("stopped 1 running node(s)"));
    assert!(!runs(pid), "pid {pid} still runs after down");
    assert_eq!(status_json(name)["nodes"][0]["state"], "DOWN");

    bench()
        .args(["ring", "down", "--wipe", "--name", name])
        .assert()
        .success()
        .stdout(contains("deleted its data"));
    bench()
        .args(["ring", "status", "--name", name])
        .assert()
        .code(1)
        .stderr(contains("there is no ring named"));
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
