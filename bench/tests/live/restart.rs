//! `bench ring up`, `down`, `up` back to back (issue 14): `down` and `stop` return only once every
//! thread of the node's JVM has exited and its ports can be bound, so the next `up` or `start`
//! starts at once. One node on 127.0.9.x five times, then `stop`/`start` and `down --wipe`/`up`;
//! three nodes on 127.0.10.x once. Each ring is wiped at the end, even when an assert fails.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use ring::testing;

fn bench() -> Command {
    Command::cargo_bin("bench")
        .unwrap_or_else(|e| panic!("the bench binary is built for its tests: {e}"))
}

/// A test ring on `127.0.X.x`, wiped before the test and again when dropped.
struct TestRing {
    name: &'static str,
    third_octet: u8,
    nodes: u8,
}

impl TestRing {
    fn fresh(name: &'static str, third_octet: u8, nodes: u8) -> TestRing {
        let ring = TestRing {
            name,
            third_octet,
            nodes,
        };
        ring.wipe();
        ring
    }

    fn wipe(&self) {
        let _ = bench()
            .args(["ring", "down", "--wipe", "--name", self.name])
            .output();
    }

    /// Runs `bench ring ARGS --name NAME`, which must succeed; returns how long it took and what
    /// it printed.
    fn run_and_print(&self, args: &[&str]) -> (Duration, String) {
        let began = Instant::now();
        let output = bench()
            .arg("ring")
            .args(args)
            .args(["--name", self.name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run bench: {e}"));
        let took = began.elapsed();
        assert!(
            output.status.success(),
            "`bench ring {}` failed after {took:.1?}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        (took, String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn run(&self, args: &[&str]) -> Duration {
        self.run_and_print(args).0
    }

    /// `up`, which must start every node: none may still be running.
    fn up(&self) -> Duration {
        let prefix = format!("127.0.{}", self.third_octet);
        let nodes = self.nodes.to_string();
        let args = ["up", "--ip-prefix", &prefix, "--nodes", &nodes];
        let (took, printed) =
            self.run_and_print(&[&args[..], &["--heap", "1G", "--timeout", "300s"]].concat());
        let started = format!("started {nodes} node(s)");
        assert!(printed.contains(&started), "{printed}");
        took
    }

    /// The pids of the running nodes.
    fn pids(&self) -> Vec<u64> {
        let output = bench()
            .args(["ring", "status", "--json", "--name", self.name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run bench: {e}"));
        let status: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("status --json is JSON: {e}"));
        let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
        nodes
            .iter()
            .filter_map(|node| node["pid"].as_u64())
            .collect()
    }

    /// What `down` and `stop` promise: no thread of the old JVMs is left, and every port the
    /// nodes listened on can be bound.
    fn assert_released(&self, pids: &[u64]) {
        for pid in pids {
            assert!(!any_thread_left(*pid), "pid {pid} still has threads");
        }
        for i in 1..=self.nodes {
            let address = format!("127.0.{}.{i}", self.third_octet);
            let jmx = 17_000 + 100 * u16::from(self.third_octet) + u16::from(i);
            for port in [
                format!("{address}:7000"),
                format!("{address}:9042"),
                format!("127.0.0.1:{jmx}"),
            ] {
                if let Err(error) = TcpListener::bind(&port) {
                    panic!("{port} is not free: {error}");
                }
            }
        }
    }
}

impl Drop for TestRing {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Whether any thread of `pid` is still there: a JVM's main thread turns zombie before the others
/// are done.
fn any_thread_left(pid: u64) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| !matches!(state, 'Z' | 'X'))
    })
}

#[tokio::test]
async fn up_right_after_down_works_five_times_on_one_node() {
    let _turn = testing::exclusive().await;
    let ring = TestRing::fresh("test-reup", 9, 1);
    eprintln!("first up: {:.1?}", ring.up());
    for round in 1..=5 {
        let pids = ring.pids();
        let down = ring.run(&["down"]);
        ring.assert_released(&pids);
        eprintln!("round {round}: down {down:.1?}, up {:.1?}", ring.up());
    }
    let pids = ring.pids();
    let stop = ring.run(&["stop", "--node", "1"]);
    ring.assert_released(&pids);
    let start = ring.run(&["start", "--node", "1", "--timeout", "300s"]);
    eprintln!("stop {stop:.1?}, start {start:.1?}");
    let pids = ring.pids();
    let wipe = ring.run(&["down", "--wipe"]);
    ring.assert_released(&pids);
    eprintln!("down --wipe {wipe:.1?}, up {:.1?}", ring.up());
}

#[tokio::test]
async fn up_right_after_down_works_on_three_nodes() {
    let _turn = testing::exclusive().await;
    let ring = TestRing::fresh("test-reup3", 10, 3);
    eprintln!("first up: {:.1?}", ring.up());
    let pids = ring.pids();
    assert_eq!(pids.len(), 3, "three nodes run");
    let down = ring.run(&["down"]);
    ring.assert_released(&pids);
    eprintln!("down {down:.1?}, up {:.1?}", ring.up());
}
