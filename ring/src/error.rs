//! What can go wrong while running a local ring: one [`LocalError`], whose every message says what
//! failed, where, and what to do about it.

use std::path::{Path, PathBuf};

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
