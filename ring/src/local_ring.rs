//! One local ring and what can be done to it: bring it up (idempotently), take it down, and, for
//! fault tests, stop, kill, pause, resume or start a single node.
//!
//! Every operation holds the ring's file lock, so two commands (or two test binaries) never act on
//! the same ring at once.
//!
//! This file holds what the ring is (its home, name, folder and recorded state) and how it is
//! seen from outside (each node's process, how a client logs in). What is done to it is split by
//! who does it: `lifecycle` brings the whole ring up and down, `faults` acts on one node at a time
//! for fault tests.

mod distance;
mod faults;
mod lifecycle;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use crate::ports;
use crate::process::{self, ProcessState};
use crate::readiness::Access;
use crate::security::{SUPERUSER, SecurityFiles};
use crate::state::{NodeState, RingState};
use crate::{Home, LocalError, check_ring_name};

pub use faults::NodeSignal;

/// A local ring, reached through its [`Home`] and name.
pub struct LocalRing {
    home: Home,
    name: String,
}

impl LocalRing {
    /// The ring called `name` under `home` (it may not exist yet).
    pub fn new(home: Home, name: &str) -> Result<LocalRing, LocalError> {
        check_ring_name(name)?;
        Ok(LocalRing {
            home,
            name: name.to_owned(),
        })
    }

    /// The ring's folder.
    pub fn dir(&self) -> PathBuf {
        self.home.ring_dir(&self.name)
    }

    /// The ring's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The recorded state, if the ring was ever started.
    pub fn state(&self) -> Result<Option<RingState>, LocalError> {
        RingState::load(&self.dir())
    }

    /// Where the ring's password file and CA certificate are.
    pub fn security_files(&self) -> SecurityFiles {
        SecurityFiles::of(&self.dir())
    }

    /// Each node with what its process is doing now.
    pub fn node_states(&self) -> Result<Vec<(NodeState, ProcessState)>, LocalError> {
        let dir = self.dir();
        let state = self.existing()?;
        Ok(state
            .nodes
            .into_iter()
            .map(|node| {
                let process = node.pid.map_or(ProcessState::Gone, |pid| {
                    process::process_state(pid, &RingState::node_dir(&dir, node.plan.index))
                });
                (node, process)
            })
            .collect())
    }

    /// How a client logs in to the ring and reaches it.
    pub fn access(&self, state: &RingState) -> Access {
        let files = self.security_files();
        Access {
            credentials: state.security.auth.then(|| {
                (
                    SUPERUSER.to_owned(),
                    fs::read_to_string(files.password_file()).unwrap_or_default(),
                )
            }),
            tls_ca: state.security.tls.then(|| files.ca_certificate()),
        }
    }

    /// The pid of the ring's delaying proxies while they run.
    pub fn proxy_pid(&self, state: &RingState) -> Option<u32> {
        let pid = state.proxy.as_ref()?.pid?;
        distance::proxies_running(&self.dir(), state).then_some(pid)
    }

    fn existing(&self) -> Result<RingState, LocalError> {
        self.state()?
            .ok_or_else(|| LocalError::NoSuchRing(self.name.clone()))
    }

    fn position(&self, state: &RingState, index: u8) -> Result<usize, LocalError> {
        state
            .nodes
            .iter()
            .position(|n| n.plan.index == index)
            .ok_or(LocalError::NoSuchNode {
                ring: self.name.clone(),
                node: index,
                nodes: state.nodes.len(),
            })
    }
}

/// Whether the node runs: an exiting node does not, though its ports are not free yet.
fn is_running(ring_dir: &std::path::Path, node: &NodeState) -> bool {
    node.pid.is_some_and(|pid| {
        matches!(
            process::process_state(pid, &RingState::node_dir(ring_dir, node.plan.index)),
            ProcessState::Running | ProcessState::Paused
        )
    })
}

/// Stops the node (see [`process::stop`]): returns once it has exited and its ports (its
/// metrics' too, when the ring serves them) are free.
async fn stop_node(
    ring_dir: &std::path::Path,
    node: &NodeState,
    metrics: bool,
    grace: Duration,
) -> Result<(), LocalError> {
    let Some(pid) = node.pid else { return Ok(()) };
    let node_dir = RingState::node_dir(ring_dir, node.plan.index);
    process::stop(
        pid,
        &node_dir,
        &ports::node_ports(&node.plan, metrics),
        grace,
    )
    .await
}
