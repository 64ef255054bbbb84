//! One local ring and what can be done to it: bring it up (idempotently), take it down, and, for
//! fault tests, stop, kill, pause, resume or start a single node.
//!
//! Every operation holds the ring's file lock, so two commands (or two test binaries) never act on
//! the same ring at once.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::config::NodeConfig;
use super::jars::Jars;
use super::ports;
use super::process::{self, Launch, ProcessState};
use super::readiness::{self, Access, Wait};
use super::security::{SUPERUSER, Security, SecurityFiles};
use super::shape::{NodePlan, Shape};
use super::state::{NodeState, RingState};
use super::toolchain::Java;
use super::{
    DEFAULT_HEAP, Home, LocalError, RingSpec, UpOutcome, check_heap, check_ring_name, heap_kib,
};

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

    /// Starts the nodes of the ring that are not running and waits until all are up. A ring of
    /// another shape or security is refused.
    pub async fn up(&self, spec: &RingSpec) -> Result<(RingState, UpOutcome), LocalError> {
        if let Some(heap) = &spec.heap {
            check_heap(heap)?;
        }
        let _lock = self.home.lock(&self.name).await?;
        let dir = self.dir();
        let mut state = match self.state()? {
            Some(existing)
                if existing.shape != spec.shape || existing.security != spec.security =>
            {
                return Err(LocalError::ShapeMismatch {
                    name: self.name.clone(),
                    existing: describe(existing.shape, existing.security),
                    requested: describe(spec.shape, spec.security),
                });
            }
            Some(existing) => existing,
            None => RingState {
                name: self.name.clone(),
                cassandra_version: spec.cassandra_version.clone(),
                shape: spec.shape,
                heap: spec.heap.clone().unwrap_or_else(|| DEFAULT_HEAP.to_owned()),
                security: spec.security,
                nodes: spec
                    .shape
                    .plan()
                    .into_iter()
                    .map(|plan| NodeState {
                        plan,
                        pid: None,
                        log_mark: 0,
                    })
                    .collect(),
            },
        };
        let stopped: Vec<usize> = (0..state.nodes.len())
            .filter(|i| !is_running(&dir, &state.nodes[*i]))
            .collect();
        if let Some(requested) = &spec.heap
            && stopped.len() < state.nodes.len()
            && heap_kib(requested).ok() != heap_kib(&state.heap).ok()
        {
            return Err(LocalError::HeapMismatch {
                name: self.name.clone(),
                running: state.heap.clone(),
                requested: requested.clone(),
            });
        }
        let deadline = Instant::now() + spec.timeout;
        let everyone = vec![true; state.nodes.len()];
        if stopped.is_empty() {
            let marks = readiness::log_marks(&dir, &state);
            let wait = Wait {
                checked: &everyone,
                started: &vec![false; state.nodes.len()],
                gossip_marks: &marks,
            };
            readiness::wait_until_up(&dir, &state, &wait, &self.access(&state), deadline).await?;
            return Ok((state, UpOutcome::Reused));
        }
        // The heap of a restarted ring follows this call's --heap, if it gave one.
        if let Some(heap) = &spec.heap {
            state.heap = heap.clone();
        }
        self.start_nodes(&mut state, &stopped, &everyone, deadline)
            .await?;
        self.retire_default_password(&state).await?;
        Ok((
            state,
            UpOutcome::Started {
                nodes: stopped.len(),
            },
        ))
    }

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

    /// Starts the nodes at `indices` (0-based) and waits until every `checked` node is up.
    async fn start_nodes(
        &self,
        state: &mut RingState,
        indices: &[usize],
        checked: &[bool],
        deadline: Instant,
    ) -> Result<(), LocalError> {
        let dir = self.dir();
        let starting: Vec<&NodePlan> = indices.iter().map(|&i| &state.nodes[i].plan).collect();
        ports::wait_for_nodes(&starting, deadline).await?;
        let java = Java::find()?;
        let jars = Jars::resolve(&self.home.jar_cache(), &state.cassandra_version)?;
        let plans: Vec<NodePlan> = state.nodes.iter().map(|n| n.plan.clone()).collect();
        let security = self.security_files();
        security.prepare(state.security, &plans)?;
        let seeds: Vec<String> = plans.iter().map(|p| p.address.to_string()).collect();
        let gossip_marks = readiness::log_marks(&dir, state);
        let mut started = vec![false; state.nodes.len()];
        for &i in indices {
            let node_dir = RingState::node_dir(&dir, state.nodes[i].plan.index);
            let extra = security.yaml(state.security, state.nodes[i].plan.index)?;
            let config = NodeConfig {
                cluster_name: &format!("pickle-{}", self.name),
                node: &state.nodes[i].plan,
                seeds: &seeds,
                node_dir: &node_dir,
            };
            config.write(&extra)?;
            state.nodes[i].log_mark = readiness::log_mark(&node_dir);
            let launch = Launch {
                java: &java,
                jars: &jars,
                node_dir: &node_dir,
                heap: &state.heap,
                jmx_port: state.nodes[i].plan.jmx_port,
                auth: state.security.auth,
            };
            state.nodes[i].pid = Some(launch.spawn()?);
            started[i] = true;
            // Saved after every spawn, so that `down` can find a node even if this call dies.
            state.save(&dir)?;
        }
        let wait = Wait {
            checked,
            started: &started,
            gossip_marks: &gossip_marks,
        };
        let access = self.access(state);
        let waited = tokio::select! {
            result = readiness::wait_until_up(&dir, state, &wait, &access, deadline) => result,
            _ = tokio::signal::ctrl_c() => Err(LocalError::Interrupted),
        };
        if let Err(error) = waited {
            for &i in indices {
                let stopped = stop_node(&dir, &state.nodes[i], Duration::from_secs(10)).await;
                if let Err(stopping) = stopped {
                    tracing::warn!("{stopping}");
                }
            }
            return Err(error);
        }
        Ok(())
    }

    /// Stops node `index` (SIGTERM, then SIGKILL after `grace`); the others stay up. Returns
    /// whether it was running.
    pub async fn stop_node(&self, index: u8, grace: Duration) -> Result<bool, LocalError> {
        let _lock = self.home.lock(&self.name).await?;
        let mut state = self.existing()?;
        let i = self.position(&state, index)?;
        let dir = self.dir();
        let was_running = is_running(&dir, &state.nodes[i]);
        stop_node(&dir, &state.nodes[i], grace).await?;
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

    /// Stops every node (SIGTERM, then SIGKILL after `grace`); with `wipe`, deletes the ring's
    /// folder too. Returns how many nodes were running.
    pub async fn down(&self, grace: Duration, wipe: bool) -> Result<usize, LocalError> {
        let _lock = self.home.lock(&self.name).await?;
        let dir = self.dir();
        let Some(mut state) = self.state()? else {
            return if dir.exists() && wipe {
                fs::remove_dir_all(&dir)
                    .map_err(|source| LocalError::io("remove", &dir, source))
                    .map(|_| 0)
            } else {
                Err(LocalError::NoSuchRing(self.name.clone()))
            };
        };
        let running = state
            .nodes
            .iter()
            .filter(|node| is_running(&dir, node))
            .count();
        let stops = state.nodes.iter().map(|node| stop_node(&dir, node, grace));
        for result in futures::future::join_all(stops).await {
            result?;
        }
        if wipe {
            fs::remove_dir_all(&dir).map_err(|source| LocalError::io("remove", &dir, source))?;
        } else {
            state.nodes.iter_mut().for_each(|node| node.pid = None);
            state.save(&dir)?;
        }
        Ok(running)
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

    /// A ring with `--auth` starts with the superuser's well-known password; the first `up`
    /// replaces it with a random one, kept in the owner-only password file.
    async fn retire_default_password(&self, state: &RingState) -> Result<(), LocalError> {
        let files = self.security_files();
        let current = fs::read_to_string(files.password_file()).unwrap_or_default();
        if !state.security.auth || current.trim() != SUPERUSER {
            return Ok(());
        }
        let fresh: String = (0..24)
            .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
            .collect();
        let contact = format!("{}:9042", state.nodes[0].plan.address);
        readiness::change_superuser_password(&contact, &self.access(state), &fresh).await?;
        files.remember_password(&fresh)?;
        // Cassandra caches credentials for a few seconds: `up` returns once the new password works.
        readiness::wait_for_login(
            &contact,
            &self.access(state),
            Instant::now() + Duration::from_secs(20),
        )
        .await
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

/// A ring's shape and security in words: "3 nodes in 2 DCs on 127.0.1.x, with auth and TLS".
fn describe(shape: Shape, security: Security) -> String {
    let extras: Vec<&str> = [
        security.auth.then_some("auth"),
        security.tls.then_some("TLS"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if extras.is_empty() {
        shape.to_string()
    } else {
        format!("{shape}, with {}", extras.join(" and "))
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

/// Stops the node (see [`process::stop`]): returns once it has exited and its ports are free.
async fn stop_node(
    ring_dir: &std::path::Path,
    node: &NodeState,
    grace: Duration,
) -> Result<(), LocalError> {
    let Some(pid) = node.pid else { return Ok(()) };
    let node_dir = RingState::node_dir(ring_dir, node.plan.index);
    process::stop(pid, &node_dir, &ports::node_ports(&node.plan), grace).await
}
