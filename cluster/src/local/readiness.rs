//! Waiting until a ring is really up: every node accepts CQL, every node sees every other UP, and
//! the driver connects to all of them. Fails fast, with the failing node's log, when a node exits
//! or logs a startup exception.
//!
//! The same three checks ccm makes: the "Starting listening for CQL clients" line and a TCP connect
//! per node, then the gossip "is now UP" line for each pair, both read only after the mark taken
//! when the node was started, so the lines of an earlier run never count.

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scylla::client::session_builder::SessionBuilder;

use super::LocalError;
use super::jars::last_lines;
use super::process::{ProcessState, process_state};
use super::state::{NodeState, RingState};

/// How often the logs and ports are polled during startup.
const POLL: Duration = Duration::from_millis(250);

/// Which nodes a call to `up` started, and where to read each node's gossip lines from.
pub struct FreshNodes<'a> {
    /// `started[i]`: node `i` (0-based) was started by this call.
    pub started: &'a [bool],
    /// Per node, the length of its `system.log` just before this call started any node.
    pub gossip_marks: &'a [u64],
}

/// Waits until every node of `state` is up and sees the others, or `deadline` passes.
pub async fn wait_until_up(
    ring_dir: &Path,
    state: &RingState,
    started: &FreshNodes<'_>,
    deadline: Instant,
) -> Result<(), LocalError> {
    let mut accepting = vec![false; state.nodes.len()];
    loop {
        for (node, ready) in state.nodes.iter().zip(accepting.iter_mut()) {
            if !*ready {
                *ready = node_accepts_cql(ring_dir, node).await?;
            }
        }
        if accepting.iter().all(|ready| *ready) {
            break;
        }
        if Instant::now() > deadline {
            let node = state
                .nodes
                .iter()
                .zip(&accepting)
                .find(|(_, ready)| !**ready)
                .map(|(node, _)| node);
            return Err(timed_out(ring_dir, node, "accept CQL connections"));
        }
        tokio::time::sleep(POLL).await;
    }
    if state.nodes.len() > 1 {
        wait_for_gossip(ring_dir, state, started, deadline).await?;
    }
    wait_for_driver(state, deadline).await
}

/// One node's progress: `Ok(true)` once it listens for CQL and a TCP connect succeeds, an error
/// if it died or logged a startup exception.
async fn node_accepts_cql(ring_dir: &Path, node: &NodeState) -> Result<bool, LocalError> {
    let dir = RingState::node_dir(ring_dir, node.plan.index);
    let pid = node.pid.unwrap_or(0);
    let log = log_since_mark(&dir, node.log_mark);
    let failed = |what: &str| LocalError::NodeFailed {
        node: node.plan.index,
        address: node.plan.address.to_string(),
        what: what.to_owned(),
        log_tail: failure_tail(&dir, &log),
        log_dir: dir.join("logs"),
    };
    if process_state(pid, &dir) == ProcessState::Gone {
        return Err(failed("exited during startup"));
    }
    if log.contains("encountered during startup") {
        return Err(failed("failed to start"));
    }
    if !log.contains("Starting listening for CQL clients") {
        return Ok(false);
    }
    let native = SocketAddr::from((node.plan.address, 9042));
    Ok(tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(native),
    )
    .await
    .is_ok_and(|c| c.is_ok()))
}

/// Waits until each node's log says every other node is UP. Only pairs with a freshly started node
/// are checked: two nodes that kept running saw each other long ago, and their old lines would
/// say nothing about the restarted one.
async fn wait_for_gossip(
    ring_dir: &Path,
    state: &RingState,
    started: &FreshNodes<'_>,
    deadline: Instant,
) -> Result<(), LocalError> {
    loop {
        let mut missing = None;
        'nodes: for (a, node) in state.nodes.iter().enumerate() {
            let dir = RingState::node_dir(ring_dir, node.plan.index);
            let log = log_since_mark(&dir, started.gossip_marks[a]);
            for (b, other) in state.nodes.iter().enumerate() {
                let fresh_pair = started.started[a] || started.started[b];
                if a == b || !fresh_pair {
                    continue;
                }
                if !log.contains(&format!("/{}:7000 is now UP", other.plan.address)) {
                    missing = Some((node, other));
                    break 'nodes;
                }
            }
        }
        let Some((node, other)) = missing else {
            return Ok(());
        };
        if Instant::now() > deadline {
            let what = format!("see node {} ({}) UP", other.plan.index, other.plan.address);
            return Err(timed_out(ring_dir, Some(node), &what));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the Rust driver sees every node, in the datacenter the plan put it in, and holds a
/// connection to each. A fresh node's row in `system.peers` can lag its gossip "UP" lines; until
/// it is complete, a client would route by a ring it only half knows.
async fn wait_for_driver(state: &RingState, deadline: Instant) -> Result<(), LocalError> {
    let contact = format!("{}:9042", state.nodes[0].plan.address);
    let mut planned: Vec<(String, String)> = state
        .nodes
        .iter()
        .map(|n| (n.plan.address.to_string(), n.plan.datacenter.clone()))
        .collect();
    planned.sort();
    let mut last_problem = String::from("the driver did not connect");
    while Instant::now() <= deadline {
        match SessionBuilder::new()
            .known_node(&contact)
            .connection_timeout(Duration::from_secs(5))
            .build()
            .await
        {
            Ok(session) => {
                let cluster = session.get_cluster_state();
                let nodes = cluster.get_nodes_info();
                let connected = nodes.iter().filter(|node| node.is_connected()).count();
                let mut seen: Vec<(String, String)> = nodes
                    .iter()
                    .map(|n| {
                        (
                            n.address.ip().to_string(),
                            n.datacenter.clone().unwrap_or_else(|| "unknown".into()),
                        )
                    })
                    .collect();
                seen.sort();
                if seen == planned && connected == nodes.len() {
                    return Ok(());
                }
                last_problem = format!(
                    "the driver sees {seen:?} ({connected} connected), the plan is {planned:?}"
                );
            }
            Err(error) => last_problem = error.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(LocalError::Timeout {
        what: format!(
            "the driver to see all {} nodes in their datacenters: {last_problem}",
            state.nodes.len()
        ),
        log_tail: String::new(),
        log_dir: PathBuf::new(),
    })
}

fn timed_out(ring_dir: &Path, node: Option<&NodeState>, what: &str) -> LocalError {
    match node {
        Some(node) => {
            let dir = RingState::node_dir(ring_dir, node.plan.index);
            let log = log_since_mark(&dir, node.log_mark);
            LocalError::Timeout {
                what: format!("node {} ({}) to {what}", node.plan.index, node.plan.address),
                log_tail: failure_tail(&dir, &log),
                log_dir: dir.join("logs"),
            }
        }
        None => LocalError::Timeout {
            what: what.to_owned(),
            log_tail: String::new(),
            log_dir: ring_dir.to_path_buf(),
        },
    }
}

/// The part of a node's `system.log` written since `mark`.
fn log_since_mark(node_dir: &Path, mark: u64) -> String {
    let path = node_dir.join("logs/system.log");
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    // A log shorter than the mark was rolled or recreated: read it whole.
    let start = if length >= mark { mark } else { 0 };
    let mut text = String::new();
    if file.seek(SeekFrom::Start(start)).is_ok() {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// The lines that explain a failure: the end of `system.log`, or of `stdout.log` when the JVM died
/// before logging started (a bad flag, a missing jar).
fn failure_tail(node_dir: &Path, system_log: &str) -> String {
    if system_log.trim().is_empty() {
        let stdout = std::fs::read_to_string(node_dir.join("logs/stdout.log")).unwrap_or_default();
        return last_lines(&stdout, 20);
    }
    let errors: Vec<&str> = system_log
        .lines()
        .filter(|l| l.starts_with("ERROR"))
        .collect();
    let mut tail = last_lines(system_log, 20);
    if let Some(first_error) = errors.first()
        && !tail.contains(first_error)
    {
        tail = format!("{first_error}\n...\n{tail}");
    }
    tail
}

/// The current length of a node's `system.log`, taken as the mark before it starts.
pub fn log_mark(node_dir: &Path) -> u64 {
    std::fs::metadata(node_dir.join("logs/system.log"))
        .map(|m| m.len())
        .unwrap_or(0)
}
