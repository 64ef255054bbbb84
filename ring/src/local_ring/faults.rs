//! What fault tests do to one node of a ring while the others keep running: stop it, kill it,
//! pause or resume it, and start it again.
//!
//! These are kept apart from the ring's lifecycle because they break the ring on purpose; each
//! leaves the ring's recorded state true, so that `up` or `down` afterwards still knows every node.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{LocalRing, is_running, stop_node};
use crate::LocalError;
use crate::process;
use crate::state::RingState;

/// A signal for one node, for fault tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSignal {
    /// SIGKILL: the node dies at once, as in a crash.
    Kill,
    /// SIGSTOP: the node freezes, its connections open but silent, as in a long GC pause.
    Pause,
    /// SIGCONT: a paused node carries on.
    Resume,
}

/// How long a SIGKILLed node may take to stop running (a JVM tears down its threads first).
const KILL_TAKES_EFFECT: Duration = Duration::from_secs(10);

impl LocalRing {
    /// Starts node `index` alone, if it is not running, and waits until it is up and gossiping
    /// with the nodes that run. The others stay as they are.
    pub async fn start_node(&self, index: u8, timeout: Duration) -> Result<RingState, LocalError> {
        let _lock = self.home.lock(&self.name).await?;
        let mut state = self.existing()?;
        let i = self.position(&state, index)?;
        let dir = self.dir();
        let mut checked: Vec<bool> = state.nodes.iter().map(|n| is_running(&dir, n)).collect();
        if checked[i] {
            return Ok(state);
        }
        checked[i] = true;
        self.start_nodes(&mut state, &[i], &checked, Instant::now() + timeout)
            .await?;
        Ok(state)
    }

    /// Stops node `index` (SIGTERM, then SIGKILL after `grace`); the others stay up. Returns
    /// whether it was running.
    pub async fn stop_node(&self, index: u8, grace: Duration) -> Result<bool, LocalError> {
        let _lock = self.home.lock(&self.name).await?;
        let mut state = self.existing()?;
        let i = self.position(&state, index)?;
        let dir = self.dir();
        let was_running = is_running(&dir, &state.nodes[i]);
        stop_node(&dir, &state.nodes[i], state.metrics, grace).await?;
        state.nodes[i].pid = None;
        state.save(&dir)?;
        Ok(was_running)
    }

    /// Kills, pauses or resumes node `index`. A killed node stays down until `start_node` or
    /// `up`; a paused one until `resume` (or `down`, which resumes before stopping). A kill
    /// returns once the process no longer runs (within a few seconds; SIGKILL is delivered
    /// asynchronously), so that a `start_node` right after it starts the node again rather than
    /// finding the dying one still running.
    pub fn signal_node(&self, index: u8, signal: NodeSignal) -> Result<(), LocalError> {
        let state = self.existing()?;
        let i = self.position(&state, index)?;
        let node = &state.nodes[i];
        let node_dir = RingState::node_dir(&self.dir(), node.plan.index);
        let pid = node
            .pid
            .filter(|_| is_running(&self.dir(), node))
            .ok_or_else(|| LocalError::NodeFailed {
                node: index,
                address: node.plan.address.to_string(),
                what: "is not running".into(),
                log_tail: String::new(),
                log_dir: node_dir.join("logs"),
            })?;
        let kill = signal == NodeSignal::Kill;
        let signal = match signal {
            NodeSignal::Kill => Signal::SIGKILL,
            NodeSignal::Pause => Signal::SIGSTOP,
            NodeSignal::Resume => Signal::SIGCONT,
        };
        process::signal(pid, &node_dir, signal)?;
        if kill {
            let deadline = Instant::now() + KILL_TAKES_EFFECT;
            while is_running(&self.dir(), node) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(())
    }
}
