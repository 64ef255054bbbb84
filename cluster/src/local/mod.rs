//! A real Apache Cassandra 5.0 ring on this machine, without Docker: each node a JVM started from
//! the jars on Maven Central, on its own loopback address, the way ccm runs rings.
//!
//! [`LocalRing::up`] is idempotent: it starts whatever nodes of the ring are not running (all of
//! them for a fresh ring, concurrently) and returns once every node accepts CQL and sees the
//! others UP. A running ring of another shape is refused, never silently reused. Rings live under
//! [`Home`] (`$PICKLE_HOME`, by default `~/.local/share/pickle`), one folder per `--name`.

mod config;
mod jars;
mod process;
mod readiness;
mod shape;
mod state;
mod toolchain;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

pub use jars::DEFAULT_CASSANDRA_VERSION;
pub use process::ProcessState;
pub use shape::{IpPrefix, MAX_NODES, NodePlan, Shape};
pub use state::{NodeState, RingState};
pub use toolchain::{Java, find_on_path};

use config::NodeConfig;
use jars::Jars;
use process::Launch;
use readiness::FreshNodes;

/// What can go wrong while running a local ring. Each message says what failed and what to do.
// Each variant's #[error] text says what its fields hold.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No Java that Cassandra 5.0 accepts.
    #[error(
        "Cassandra 5.0 needs Java 17 (or 11) and none was found ({seen}): install it with \
         `apt-get install openjdk-17-jdk-headless`, or point JAVA_HOME at a JDK 17"
    )]
    JavaNotFound { seen: String },
    /// No `mvn` to download Cassandra with.
    #[error(
        "Maven (mvn) is needed once to download Cassandra from Maven Central: install it with `apt-get install maven`"
    )]
    MavenNotFound,
    /// Maven ran but did not produce the jars.
    #[error("Maven could not resolve org.apache.cassandra:cassandra-all:{version}:\n{tail}")]
    Maven { version: String, tail: String },
    /// A file or folder operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A path that cannot go on a classpath.
    #[error("the path {0} cannot be used on a Java classpath")]
    BadPath(PathBuf),
    /// The ring's `ring.json` does not parse.
    #[error(
        "the ring state file {path} is corrupt ({reason}); remove the ring with `bench ring down --wipe`"
    )]
    CorruptState { path: PathBuf, reason: String },
    /// The name is not usable as a folder name.
    #[error("'{0}' is not a ring name: use 1 to 32 lowercase letters, digits, '-' or '_'")]
    BadName(String),
    /// The heap size does not parse.
    #[error("'{0}' is not a heap size: expected a JVM size such as 2G or 1536M")]
    BadHeap(String),
    /// The ring exists with another shape.
    #[error(
        "ring '{name}' already exists as {existing}, not {requested}: reuse it as it is, \
         remove it with `bench ring down --name {name} --wipe`, or pick another --name and --ip-prefix"
    )]
    ShapeMismatch {
        name: String,
        existing: String,
        requested: String,
    },
    /// Ports the ring needs are taken; nothing was started.
    #[error(
        "nothing was started because {0}; stop what holds them, or give this ring its own --ip-prefix"
    )]
    PortsBusy(String),
    /// A node died or logged a startup exception.
    #[error("node {node} ({address}) {what}; its logs are in {log_dir}:\n{log_tail}", log_dir = log_dir.display())]
    NodeFailed {
        node: u8,
        address: String,
        what: String,
        log_tail: String,
        log_dir: PathBuf,
    },
    /// The ring was not up before the deadline.
    #[error("timed out waiting for {what}{}{log_tail}", if log_tail.is_empty() { String::new() } else { format!("; its logs are in {}:\n", log_dir.display()) })]
    Timeout {
        what: String,
        log_tail: String,
        log_dir: PathBuf,
    },
    /// No ring of that name.
    #[error("there is no ring named '{0}': start one with `bench ring up --name {0}`")]
    NoSuchRing(String),
    /// A recorded pid that does not fit in a pid_t.
    #[error("recorded pid {0} is not a valid pid")]
    BadPid(u32),
    /// A signal could not be delivered.
    #[error("cannot send {signal} to pid {pid}: {errno}")]
    Signal {
        pid: u32,
        signal: &'static str,
        errno: &'static str,
    },
    /// The user pressed Ctrl-C while the ring was starting.
    #[error("interrupted: the nodes this command started were stopped")]
    Interrupted,
}

impl LocalError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> LocalError {
        LocalError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The folder that holds the jar cache and every ring: `$PICKLE_HOME`, else
/// `$XDG_DATA_HOME/pickle`, else `~/.local/share/pickle`.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at an explicit folder.
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The home the environment points at.
    pub fn from_env() -> Home {
        if let Some(root) = std::env::var_os("PICKLE_HOME") {
            return Home::at(root);
        }
        if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
            return Home::at(Path::new(&data).join("pickle"));
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        Home::at(home.join(".local/share/pickle"))
    }

    /// The folder of the ring called `name`.
    pub fn ring_dir(&self, name: &str) -> PathBuf {
        self.root.join("rings").join(name)
    }

    /// The names of every ring that has a folder here, sorted.
    pub fn ring_names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.root.join("rings")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join("ring.json").exists())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    fn jar_cache(&self) -> PathBuf {
        self.root.join("cassandra")
    }

    /// Takes the ring's lock, so that two `up`s (say, two test binaries) never start the same
    /// ring twice. The lock file sits beside the ring's folder, so `--wipe` cannot remove it.
    async fn lock(&self, name: &str) -> Result<fs::File, LocalError> {
        let rings = self.root.join("rings");
        fs::create_dir_all(&rings).map_err(|source| LocalError::io("create", &rings, source))?;
        let path = rings.join(format!(".{name}.lock"));
        let file =
            fs::File::create(&path).map_err(|source| LocalError::io("create", &path, source))?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(fs::TryLockError::Error(source)) => {
                    return Err(LocalError::io("lock", &path, source));
                }
            }
        }
    }
}

/// What a user asks `bench ring up` for.
#[derive(Debug, Clone)]
pub struct RingSpec {
    /// The ring's name; also its folder's name.
    pub name: String,
    /// Nodes, datacenters, addresses.
    pub shape: Shape,
    /// Heap per node, as the JVM spells it.
    pub heap: String,
    /// Which Cassandra 5.0.x to run.
    pub cassandra_version: String,
    /// How long to wait for the whole ring to be up.
    pub timeout: Duration,
}

/// How `up` found the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpOutcome {
    /// Every node was already running; nothing was started.
    Reused,
    /// Some or all nodes were started.
    Started {
        /// How many nodes this call started.
        nodes: usize,
    },
}

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

    /// Starts the nodes of the ring that are not running and waits until all are up. See the
    /// module documentation for the rules.
    pub async fn up(&self, spec: &RingSpec) -> Result<(RingState, UpOutcome), LocalError> {
        check_heap(&spec.heap)?;
        let _lock = self.home.lock(&self.name).await?;
        let dir = self.dir();
        let mut state = match self.state()? {
            Some(existing) if existing.shape != spec.shape => {
                return Err(LocalError::ShapeMismatch {
                    name: self.name.clone(),
                    existing: existing.shape.to_string(),
                    requested: spec.shape.to_string(),
                });
            }
            Some(existing) => existing,
            None => RingState {
                name: self.name.clone(),
                cassandra_version: spec.cassandra_version.clone(),
                shape: spec.shape,
                heap: spec.heap.clone(),
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
        let deadline = Instant::now() + spec.timeout;
        let mut started = vec![false; state.nodes.len()];
        let gossip_marks: Vec<u64> = state
            .nodes
            .iter()
            .map(|n| readiness::log_mark(&RingState::node_dir(&dir, n.plan.index)))
            .collect();
        if stopped.is_empty() {
            let fresh = FreshNodes {
                started: &started,
                gossip_marks: &gossip_marks,
            };
            readiness::wait_until_up(&dir, &state, &fresh, deadline).await?;
            return Ok((state, UpOutcome::Reused));
        }
        let busy: Vec<String> = stopped
            .iter()
            .flat_map(|i| {
                process::busy_ports(&process::node_ports(
                    state.nodes[*i].plan.address,
                    state.nodes[*i].plan.jmx_port,
                ))
            })
            .map(|busy| format!("{} is in use by {}", busy.address, busy.holder))
            .collect();
        if !busy.is_empty() {
            return Err(LocalError::PortsBusy(busy.join("; ")));
        }
        let java = Java::find()?;
        let jars = Jars::resolve(&self.home.jar_cache(), &state.cassandra_version)?;
        let seeds: Vec<String> = state
            .nodes
            .iter()
            .map(|n| n.plan.address.to_string())
            .collect();
        // The heap of a restarted node follows this call's --heap.
        state.heap = spec.heap.clone();
        for &i in &stopped {
            let node_dir = RingState::node_dir(&dir, state.nodes[i].plan.index);
            write_node_config(
                &format!("pickle-{}", self.name),
                &state.nodes[i].plan,
                &seeds,
                &node_dir,
            )?;
            state.nodes[i].log_mark = readiness::log_mark(&node_dir);
            let launch = Launch {
                java: &java,
                jars: &jars,
                node_dir: &node_dir,
                heap: &state.heap,
                jmx_port: state.nodes[i].plan.jmx_port,
            };
            state.nodes[i].pid = Some(launch.spawn()?);
            started[i] = true;
            // Saved after every spawn, so that `down` can find a node even if this call dies.
            state.save(&dir)?;
        }
        let fresh = FreshNodes {
            started: &started,
            gossip_marks: &gossip_marks,
        };
        let waited = tokio::select! {
            result = readiness::wait_until_up(&dir, &state, &fresh, deadline) => result,
            _ = tokio::signal::ctrl_c() => Err(LocalError::Interrupted),
        };
        if let Err(error) = waited {
            for &i in &stopped {
                stop_node(&dir, &state.nodes[i], Duration::from_secs(10)).await?;
            }
            return Err(error);
        }
        Ok((
            state,
            UpOutcome::Started {
                nodes: stopped.len(),
            },
        ))
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
        let state = self
            .state()?
            .ok_or_else(|| LocalError::NoSuchRing(self.name.clone()))?;
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
}

fn is_running(ring_dir: &Path, node: &NodeState) -> bool {
    node.pid.is_some_and(|pid| {
        process::process_state(pid, &RingState::node_dir(ring_dir, node.plan.index))
            != ProcessState::Gone
    })
}

/// SIGTERM (Cassandra drains on it), then SIGKILL if the node outlives `grace`. A paused node is
/// resumed first, or it could never act on the SIGTERM.
async fn stop_node(ring_dir: &Path, node: &NodeState, grace: Duration) -> Result<(), LocalError> {
    let Some(pid) = node.pid else { return Ok(()) };
    let node_dir = RingState::node_dir(ring_dir, node.plan.index);
    process::signal(pid, &node_dir, Signal::SIGCONT)?;
    if !process::signal(pid, &node_dir, Signal::SIGTERM)? {
        return Ok(());
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if process::process_state(pid, &node_dir) == ProcessState::Gone {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::warn!(
        node = node.plan.index,
        pid,
        "node did not stop within {grace:?} of SIGTERM; sending SIGKILL"
    );
    process::signal(pid, &node_dir, Signal::SIGKILL)?;
    while process::process_state(pid, &node_dir) != ProcessState::Gone {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn write_node_config(
    cluster_name: &str,
    plan: &NodePlan,
    seeds: &[String],
    node_dir: &Path,
) -> Result<(), LocalError> {
    let conf = node_dir.join("conf");
    fs::create_dir_all(&conf).map_err(|source| LocalError::io("create", &conf, source))?;
    let config = NodeConfig {
        cluster_name,
        node: plan,
        seeds,
        node_dir,
    };
    for (file, text) in [
        ("cassandra.yaml", config.cassandra_yaml()),
        ("cassandra-rackdc.properties", config.rackdc_properties()),
        ("logback.xml", config.logback_xml()),
    ] {
        let path = conf.join(file);
        fs::write(&path, text).map_err(|source| LocalError::io("write", &path, source))?;
    }
    Ok(())
}

/// A ring name is 1 to 32 lowercase letters, digits, `-` or `_`: it becomes a folder name.
pub fn check_ring_name(name: &str) -> Result<(), LocalError> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(LocalError::BadName(name.to_owned()))
    }
}

/// Accepts what `-Xmx` accepts: digits followed by K, M or G.
pub fn check_heap(heap: &str) -> Result<(), LocalError> {
    let (digits, unit) = heap.split_at(heap.len().saturating_sub(1));
    let valid = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && matches!(unit, "K" | "k" | "M" | "m" | "G" | "g");
    if valid {
        Ok(())
    } else {
        Err(LocalError::BadHeap(heap.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_sizes_are_checked_like_the_jvm_would() {
        assert!(check_heap("2G").is_ok());
        assert!(check_heap("1536m").is_ok());
        assert!(check_heap("2").is_err());
        assert!(check_heap("G").is_err());
        assert!(check_heap("2GB").is_err());
    }

    #[test]
    fn ring_names_become_folder_names_only_when_safe() {
        let home = Home::at("/tmp/x");
        assert!(LocalRing::new(home.clone(), "multi-dc_2").is_ok());
        assert!(LocalRing::new(home.clone(), "../etc").is_err());
        assert!(LocalRing::new(home, "").is_err());
    }
}
