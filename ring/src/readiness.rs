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

use crate::LocalError;
use crate::jars::last_lines;
use crate::process::{ProcessState, process_state};
use crate::state::{NodeState, RingState};

/// How often the logs and ports are polled during startup.
const POLL: Duration = Duration::from_millis(250);

/// Which nodes to wait for, which were just started, and where to read each node's gossip lines
/// from.
pub struct Wait<'a> {
    /// `checked[i]`: node `i` (0-based) must be up (it runs, or was just started).
    pub checked: &'a [bool],
    /// `started[i]`: node `i` was started by this call.
    pub started: &'a [bool],
    /// Per node, the length of its `system.log` just before this call started any node.
    pub gossip_marks: &'a [u64],
}

/// How a client logs in to a ring and reaches it: credentials with `--auth`, a CA with `--tls`.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// User and password.
    pub credentials: Option<(String, String)>,
    /// The CA certificate to trust.
    pub tls_ca: Option<PathBuf>,
}

/// The length of every node's `system.log` now.
pub fn log_marks(ring_dir: &Path, state: &RingState) -> Vec<u64> {
    state
        .nodes
        .iter()
        .map(|n| log_mark(&RingState::node_dir(ring_dir, n.plan.index)))
        .collect()
}

/// Waits until every checked node of `state` is up and sees the other checked nodes, or
/// `deadline` passes.
pub async fn wait_until_up(
    ring_dir: &Path,
    state: &RingState,
    wait: &Wait<'_>,
    access: &Access,
    deadline: Instant,
) -> Result<(), LocalError> {
    let mut accepting: Vec<bool> = wait.checked.iter().map(|checked| !checked).collect();
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
        wait_for_gossip(ring_dir, state, wait, deadline).await?;
    }
    wait_for_driver(state, wait.checked, access, deadline).await
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
    if matches!(
        process_state(pid, &dir),
        ProcessState::Gone | ProcessState::Exiting
    ) {
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

/// Waits until each checked node's log says every other checked node is UP. Only pairs with a
/// freshly started node are checked: two nodes that kept running saw each other long ago, and
/// their old lines would say nothing about the restarted one.
async fn wait_for_gossip(
    ring_dir: &Path,
    state: &RingState,
    wait: &Wait<'_>,
    deadline: Instant,
) -> Result<(), LocalError> {
    loop {
        let mut missing = None;
        'nodes: for (a, node) in state.nodes.iter().enumerate() {
            let dir = RingState::node_dir(ring_dir, node.plan.index);
            let log = log_since_mark(&dir, wait.gossip_marks[a]);
            for (b, other) in state.nodes.iter().enumerate() {
                let fresh_pair = wait.started[a] || wait.started[b];
                if a == b || !fresh_pair || !wait.checked[a] || !wait.checked[b] {
                    continue;
                }
                let known_as = state.peer_address(&other.plan);
                if !log.contains(&format!("/{known_as}:7000 is now UP")) {
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

/// Waits until the Rust driver sees every checked node, in the datacenter the plan put it in, and
/// holds a connection to each. A fresh node's row in `system.peers` can lag its gossip "UP"
/// lines; until it is complete, a client would route by a ring it only half knows.
async fn wait_for_driver(
    state: &RingState,
    checked: &[bool],
    access: &Access,
    deadline: Instant,
) -> Result<(), LocalError> {
    let Some(contact) = state
        .nodes
        .iter()
        .zip(checked)
        .find(|(_, c)| **c)
        .map(|(n, _)| format!("{}:9042", state.client_address(&n.plan)))
    else {
        return Ok(());
    };
    let mut planned: Vec<(String, String)> = state
        .nodes
        .iter()
        .zip(checked)
        .filter(|(_, c)| **c)
        .map(|(n, _)| {
            let address = state.client_address(&n.plan).to_string();
            (address, n.plan.datacenter.clone())
        })
        .collect();
    planned.sort();
    let mut last_problem = String::from("the driver did not connect");
    while Instant::now() <= deadline {
        match session(&contact, access).await {
            Ok(session) => {
                let cluster = session.get_cluster_state();
                let mut seen: Vec<(String, String)> = cluster
                    .get_nodes_info()
                    .iter()
                    .filter(|n| n.is_connected())
                    .map(|n| {
                        (
                            n.address.ip().to_string(),
                            n.datacenter.clone().unwrap_or_else(|| "unknown".into()),
                        )
                    })
                    .filter(|(address, _)| planned.iter().any(|(p, _)| p == address))
                    .collect();
                seen.sort();
                if seen == planned {
                    return Ok(());
                }
                last_problem =
                    format!("the driver is connected to {seen:?}, the plan is {planned:?}");
            }
            Err(error) => last_problem = error,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(LocalError::Timeout {
        what: format!("the driver to see the ring's nodes in their datacenters: {last_problem}"),
        log_tail: String::new(),
        log_dir: PathBuf::new(),
    })
}

/// A session to `contact` with the ring's credentials and CA.
async fn session(
    contact: &str,
    access: &Access,
) -> Result<scylla::client::session::Session, String> {
    let mut builder = SessionBuilder::new()
        .known_node(contact)
        .connection_timeout(Duration::from_secs(5));
    if let Some((user, password)) = &access.credentials {
        builder = builder.user(user, password.trim());
    }
    if let Some(ca) = &access.tls_ca {
        let mut tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
            .map_err(|e| e.to_string())?;
        tls.set_ca_file(ca)
            .map_err(|e| format!("cannot use the CA certificate {}: {e}", ca.display()))?;
        builder = builder.tls_context(Some(scylla::client::session::OpenSsl010Config::new(tls)));
    }
    builder.build().await.map_err(|e| e.to_string())
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

/// Replaces the superuser's well-known default password with `new_password` (letters only, so it
/// can be written as a CQL literal), logging in with `access`'s current credentials.
pub async fn change_superuser_password(
    contact: &str,
    access: &Access,
    new_password: &str,
) -> Result<(), LocalError> {
    let failed = |reason: String| LocalError::Timeout {
        what: format!("changing the superuser's password: {reason}"),
        log_tail: String::new(),
        log_dir: PathBuf::new(),
    };
    let session = session(contact, access).await.map_err(failed)?;
    let user = access
        .credentials
        .as_ref()
        .map_or(crate::security::SUPERUSER, |(user, _)| user.as_str());
    session
        .query_unpaged(
            format!("ALTER ROLE {user} WITH PASSWORD = '{new_password}'"),
            &[],
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(())
}

/// Waits until a login with `access`'s credentials succeeds, or `deadline` passes.
pub async fn wait_for_login(
    contact: &str,
    access: &Access,
    deadline: Instant,
) -> Result<(), LocalError> {
    let mut last = String::new();
    while Instant::now() <= deadline {
        match session(contact, access).await {
            Ok(_) => return Ok(()),
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(LocalError::Timeout {
        what: format!("the new superuser password to work: {last}"),
        log_tail: String::new(),
        log_dir: PathBuf::new(),
    })
}
