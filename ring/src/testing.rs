//! The live-test harness: every crate's integration tests reach a real Cassandra through it.
//!
//! [`test_ring`] answers with `CASSANDRA_HOSTS` when that is set (a ring someone else runs), and
//! otherwise with the local ring `local` at 127.0.0.1: reused if anything answers there, started
//! (one node) if nothing does. The ring's file lock keeps parallel test binaries from starting it
//! twice. Each test then works in its own [`unique_keyspace`], so tests never see each other's
//! data and can run in parallel.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use clap::Parser;
use tokio::sync::OnceCell;

use crate::{
    DEFAULT_CASSANDRA_VERSION, Home, IpPrefix, LocalError, LocalRing, NodeSignal, RingSpec,
    RingState, Security, Shape, UpOutcome,
};
use client::ConnectionArgs;

/// How long a test waits for a ring to start; generous, because CI machines are slow and shared.
pub const START_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// Connection options parsed from `args` (as if typed after a binary's name) plus the environment.
pub fn connection_args(args: &[&str]) -> ConnectionArgs {
    let argv = std::iter::once("test").chain(args.iter().copied());
    match Flags::try_parse_from(argv) {
        Ok(flags) => flags.connection,
        Err(error) => panic!("test connection flags {args:?} do not parse: {error}"),
    }
}

static SHARED_RING: OnceCell<Vec<String>> = OnceCell::const_new();

/// Contact points of the ring the live tests share, starting a one-node local ring if nothing
/// answers. Panics (failing the test) with the ring's own message if it cannot start.
pub async fn test_ring() -> ConnectionArgs {
    init_test_tracing();
    let hosts = SHARED_RING.get_or_init(find_or_start_shared_ring).await;
    let mut args = connection_args(&[]);
    if args.hosts.is_empty() {
        args.hosts = hosts.iter().filter_map(|h| h.parse().ok()).collect();
    }
    args
}

async fn find_or_start_shared_ring() -> Vec<String> {
    if let Ok(hosts) = std::env::var("CASSANDRA_HOSTS") {
        return hosts.split(',').map(str::to_owned).collect();
    }
    let default = SocketAddr::from(([127, 0, 0, 1], 9042));
    if TcpStream::connect_timeout(&default, Duration::from_secs(1)).is_err() {
        let shape = Shape::new(1, 1, IpPrefix::DEFAULT).unwrap_or_else(|e| panic!("{e}"));
        match start_ring("local", shape).await {
            // Shared by every test, and by the test binaries that run after this one: kept
            // running (CI stops it at the end, `bench ring down` does by hand).
            Ok(ring) => ring.keep_running(),
            Err(error) => panic!(
                "the live tests need Cassandra and none answers at 127.0.0.1:9042; starting one failed: {error}"
            ),
        }
    }
    vec!["127.0.0.1".to_owned()]
}

/// A ring started for one test. [`OwnRing::stop`] stops it if this test started it, unless
/// `PICKLE_KEEP_TEST_RINGS` is set (to reuse it on the next run); a ring that was already running
/// is left alone. A test that fails before it calls `stop` drops its ring, and the drop kills
/// the nodes this test started (their data and logs stay, to read what went wrong).
pub struct OwnRing {
    /// The ring.
    pub ring: LocalRing,
    /// Its nodes.
    pub state: RingState,
    started_here: bool,
}

impl OwnRing {
    /// Whether this ring is this test's to stop.
    fn ours_to_stop(&self) -> bool {
        self.started_here && std::env::var_os("PICKLE_KEEP_TEST_RINGS").is_none()
    }
}

impl Drop for OwnRing {
    fn drop(&mut self) {
        if !self.ours_to_stop() {
            return;
        }
        // Drop cannot wait for a clean shutdown; SIGKILL is immediate, and a node that is not
        // running (stopped by the test, or never up) is simply skipped.
        for node in &self.state.nodes {
            let _ = self.ring.signal_node(node.plan.index, NodeSignal::Kill);
        }
    }
}

impl OwnRing {
    /// The nodes' addresses, comma-separated, for `--hosts`.
    pub fn hosts(&self) -> String {
        self.state
            .nodes
            .iter()
            .map(|n| self.state.client_address(&n.plan).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Leaves the ring running when this guard goes: for a ring that outlives the test.
    pub fn keep_running(mut self) {
        self.started_here = false;
    }

    /// Stops and wipes the ring if this test started it.
    pub async fn stop(mut self) -> Result<(), LocalError> {
        if self.ours_to_stop() {
            self.ring.down(Duration::from_secs(30), true).await?;
        }
        // Stopped (or not ours): nothing left for the drop to do.
        self.started_here = false;
        Ok(())
    }
}

/// Starts (or reuses) a ring of its own for a test that needs a particular shape, such as three
/// nodes in two datacenters on 127.0.2.x. Test rings run with a 1 GiB heap to leave memory for
/// the shared ring and the build.
pub async fn start_ring(name: &str, shape: Shape) -> Result<OwnRing, LocalError> {
    start_ring_with(name, shape, Security::default()).await
}

/// Starts (or reuses) the tests' ring of three nodes in one datacenter, on 127.0.5.x: for tests
/// of node faults and of routing between nodes.
pub async fn start_three_node_ring() -> Result<OwnRing, LocalError> {
    let prefix = "127.0.5".parse().expect("a loopback prefix");
    let shape = Shape::new(3, 1, prefix).expect("three nodes fit one datacenter");
    // Named after its first user, the fault tests; a ring kept with PICKLE_KEEP_TEST_RINGS is
    // found again under this name.
    start_ring("test-faults", shape).await
}

/// Like [`start_ring`], with authentication and TLS as `security` asks.
pub async fn start_ring_with(
    name: &str,
    shape: Shape,
    security: Security,
) -> Result<OwnRing, LocalError> {
    init_test_tracing();
    let ring = LocalRing::new(Home::from_env(), name)?;
    let spec = RingSpec {
        latency: None,
        proxy_program: None,
        name: name.to_owned(),
        shape,
        heap: Some(std::env::var("PICKLE_TEST_HEAP").unwrap_or_else(|_| "1G".to_owned())),
        cassandra_version: DEFAULT_CASSANDRA_VERSION.to_owned(),
        timeout: START_TIMEOUT,
        security,
        metrics: None,
    };
    let (state, outcome) = ring.up(&spec).await?;
    Ok(OwnRing {
        ring,
        state,
        started_here: outcome != UpOutcome::Reused,
    })
}

/// A keyspace name no other test uses: `prefix` plus random letters, valid unquoted CQL.
pub fn unique_keyspace(prefix: &str) -> String {
    let suffix: String = (0..8)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    format!("{prefix}_{suffix}")
}

/// Routes tracing events to the test's captured output, once per test binary.
pub fn init_test_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(client::cli::DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Runs `command`, which must fail with exit code `code` and print exactly one line on stderr
/// (log lines at INFO aside), and returns that line. The bad-input tests of every binary use it.
pub fn one_line_failure(command: &mut std::process::Command, code: i32) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "{command:?} should exit with {code}; stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.contains(" INFO "))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{command:?} should print one line on stderr, printed: {stderr}"
    );
    lines[0].to_owned()
}

static TAKE_TURNS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Tests that disturb the machine (start a ring of their own, keep its cores busy) take turns
/// through this lock, alone: two rings starting at once on two cores would time the machine, not
/// the ring, and a test that times a run would time the disturbance.
pub async fn exclusive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    TAKE_TURNS.write().await
}

/// Tests that time a run hold this while they do: they run beside each other, but never beside
/// an [`exclusive`] one.
pub async fn shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    TAKE_TURNS.read().await
}
