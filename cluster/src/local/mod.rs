//! A real Apache Cassandra 5.0 ring on this machine, without Docker: each node a JVM started from
//! the jars on Maven Central, on its own loopback address, the way ccm runs rings.
//!
//! [`LocalRing::up`] is idempotent: it starts whatever nodes of the ring are not running (all of
//! them for a fresh ring, concurrently) and returns once every node accepts CQL and sees the
//! others UP. A running ring of another shape is refused, never silently reused. Rings live under
//! [`Home`] (`$PICKLE_HOME`, by default `~/.local/share/pickle`), one folder per `--name`.

mod announce;
mod config;
pub mod delay;
mod jars;
mod metrics;
mod ports;
mod process;
mod readiness;
mod ring;
mod security;
mod shape;
mod state;
mod toolchain;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::local_network::pickle_home;

pub use delay::Latency;
pub use jars::{DEFAULT_CASSANDRA_VERSION, Jars};
pub use metrics::{METRICS_PORT, metrics_endpoint};
pub use process::ProcessState;
pub use ring::{LocalRing, NodeSignal};
pub use security::{SUPERUSER, Security, SecurityFiles};
pub use shape::{IpPrefix, MAX_NODES, NodePlan, Shape};
pub use state::{NodeState, ProxyState, RingState};
pub use toolchain::{Java, find_on_path};

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
    #[error("Maven could not resolve {artifact}:\n{tail}")]
    Maven { artifact: String, tail: String },
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
    /// The heap size is too small for a node.
    #[error(
        "a heap of {0} is too small for a Cassandra node: give at least 256M (1G is usual here)"
    )]
    HeapTooSmall(String),
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
    /// The ring runs with another heap than the one asked for.
    #[error(
        "ring '{name}' runs with a heap of {running} per node, not {requested}: use it as it is \
         (leave out --heap), or stop it with `bench ring down --name {name}` and start it again \
         with --heap {requested}"
    )]
    HeapMismatch {
        name: String,
        running: String,
        requested: String,
    },
    /// The ring runs without metrics and they were asked for (or the other way round).
    #[error(
        "ring '{name}' runs {running} the nodes' metrics (--metrics): use it as it is (leave out \
         --metrics and --no-metrics), or stop it with `bench ring down --name {name}` and start \
         it again {requested} them"
    )]
    MetricsMismatch {
        name: String,
        running: &'static str,
        requested: &'static str,
    },
    /// Ports the ring needs are taken; nothing was started.
    #[error(
        "nothing was started because {0}; stop what holds them, or give this ring its own --ip-prefix"
    )]
    PortsBusy(String),
    /// A stopped node's process, or its ports, outlived the wait for them.
    #[error("the node in {node_dir} did not let go in time: {what}", node_dir = node_dir.display())]
    NotReleased { node_dir: PathBuf, what: String },
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
    /// `--node` names a node the ring does not have.
    #[error("ring '{ring}' has no node {node}: its nodes are 1 to {nodes}")]
    NoSuchNode {
        ring: String,
        node: u8,
        nodes: usize,
    },
    /// The ring models latency and nothing can serve its proxies.
    #[error(
        "the ring models network latency with proxies that `bench ring proxy` serves, and this \
         program cannot: start the ring with `bench ring up`"
    )]
    NoProxyProgram,
    /// The delaying proxies did not come up.
    #[error("the ring's delaying proxies failed: {what}; their log:\n{log}")]
    ProxyFailed { what: String, log: String },
    /// The ring runs with other modelled latencies than the ones asked for.
    #[error(
        "ring '{name}' runs with {running}, not {requested}: use it as it is (leave out \
         --client-latency and --dc-latency), or stop it with `bench ring down --name {name}` and \
         start it again with the latencies you want"
    )]
    LatencyMismatch {
        name: String,
        running: String,
        requested: String,
    },
    /// `openssl` is needed to make TLS certificates.
    #[error(
        "openssl is needed to make the ring's TLS certificates: install it with `apt-get install openssl`"
    )]
    OpensslMissing,
    /// An `openssl` step failed.
    #[error("openssl {step} failed: {reason}")]
    Openssl { step: String, reason: String },
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
/// `$XDG_DATA_HOME/pickle`, else `~/.local/share/pickle` ([`pickle_home`]).
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at an explicit folder.
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The home the environment points at ([`pickle_home`]).
    pub fn from_env() -> Home {
        Home::at(pickle_home())
    }

    /// The folder of every ring, one folder per ring: where each announces itself to clients.
    pub fn rings_folder(&self) -> PathBuf {
        self.root.join("rings")
    }

    /// The folder of the ring called `name`.
    pub fn ring_dir(&self, name: &str) -> PathBuf {
        self.rings_folder().join(name)
    }

    /// The names of every ring that has a folder here, sorted.
    pub fn ring_names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.rings_folder()) else {
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

    /// The jars of Cassandra `version`, downloaded into this home once (tests find other tools
    /// among them: HdrHistogram's own log processor, say).
    pub fn jars(&self, version: &str) -> Result<Jars, LocalError> {
        Jars::resolve(&self.jar_cache(), version)
    }

    /// Takes the ring's lock, so that two `up`s (say, two test binaries) never start the same
    /// ring twice. The lock file sits beside the ring's folder, so `--wipe` cannot remove it.
    async fn lock(&self, name: &str) -> Result<fs::File, LocalError> {
        let rings = self.rings_folder();
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

/// The heap per node of a new ring when none is asked for: three nodes and the load generator
/// stay well inside 24 GiB.
pub const DEFAULT_HEAP: &str = "2G";

/// What a user asks `bench ring up` for.
#[derive(Debug, Clone)]
pub struct RingSpec {
    /// The ring's name; also its folder's name.
    pub name: String,
    /// Nodes, datacenters, addresses.
    pub shape: Shape,
    /// Heap per node, as the JVM spells it; `None`: the heap a running ring has, or
    /// [`DEFAULT_HEAP`] for a new one. A running ring of another heap is refused, never reused
    /// as if it had the one asked for.
    pub heap: Option<String>,
    /// Which Cassandra 5.0.x to run.
    pub cassandra_version: String,
    /// How long to wait for the whole ring to be up.
    pub timeout: Duration,
    /// Authentication and TLS.
    pub security: Security,
    /// Whether every node serves its metrics for Prometheus ([`METRICS_PORT`]); `None`: as a
    /// running ring does, or off for a new one. A running ring without them is refused when they
    /// are asked for, never reused as if it had them.
    pub metrics: Option<bool>,
    /// The one-way delays to model with proxies; `None`: as a running ring does, or none for a
    /// new one. A running ring with others is refused.
    pub latency: Option<Latency>,
    /// The program that serves the proxies (`bench`, as `bench ring proxy`); needed only when
    /// the ring models latency and its proxies are not running.
    pub proxy_program: Option<PathBuf>,
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

/// The smallest heap a node is started with: below it Cassandra 5.0 fails at start-up or soon
/// after, with the JVM's error instead of ours.
const SMALLEST_HEAP_MIB: u64 = 256;

/// Accepts what `-Xmx` accepts (digits followed by K, M or G), from 256M up.
pub fn check_heap(heap: &str) -> Result<(), LocalError> {
    heap_kib(heap).map(|_| ())
}

/// The size of a heap the JVM accepts, in KiB; refused as [`check_heap`] says.
pub fn heap_kib(heap: &str) -> Result<u64, LocalError> {
    let (digits, unit) = heap.split_at(heap.len().saturating_sub(1));
    let kib_per_unit: u64 = match unit {
        "K" | "k" => 1,
        "M" | "m" => 1 << 10,
        "G" | "g" => 1 << 20,
        _ => return Err(LocalError::BadHeap(heap.to_owned())),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(LocalError::BadHeap(heap.to_owned()));
    }
    let kib = digits
        .parse::<u64>()
        .map_or(u64::MAX, |n| n.saturating_mul(kib_per_unit));
    if kib < SMALLEST_HEAP_MIB << 10 {
        return Err(LocalError::HeapTooSmall(heap.to_owned()));
    }
    Ok(kib)
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
        for small in ["1K", "255M", "0G"] {
            assert!(
                matches!(check_heap(small), Err(LocalError::HeapTooSmall(_))),
                "{small}"
            );
        }
        assert!(check_heap("256M").is_ok());
    }

    #[test]
    fn ring_names_become_folder_names_only_when_safe() {
        let home = Home::at("/tmp/x");
        assert!(LocalRing::new(home.clone(), "multi-dc_2").is_ok());
        assert!(LocalRing::new(home.clone(), "../etc").is_err());
        assert!(LocalRing::new(home, "").is_err());
    }
}
