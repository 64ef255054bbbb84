//! A real Apache Cassandra 5.0 ring on this machine, without Docker: each node a JVM started from
//! the jars on Maven Central, on its own loopback address, the way ccm runs rings.
//!
//! [`LocalRing::up`] is idempotent: it starts whatever nodes of the ring are not running (all of
//! them for a fresh ring, concurrently) and returns once every node accepts CQL and sees the
//! others UP. A running ring of another shape is refused, never silently reused. Rings live under
//! [`Home`] (`$PICKLE_HOME`, by default `~/.local/share/pickle`), one folder per `--name`.
//!
//! Nothing here is linked by the apps: they reach a ring through the `client` crate, and learn the
//! delay a ring models from the announcement it writes (`state`), not from this crate.
//!
//! # Layout
//!
//! - `local_ring`: [`LocalRing`], one ring and what can be done to it: `lifecycle` (up, down),
//!   `faults` (one node stopped, killed, paused, resumed, started), `distance` (its proxies);
//! - `spec`: what `up` is asked for ([`RingSpec`]) and the checks that need no ring;
//! - `home`: where rings and the jar cache live ([`Home`]);
//! - `state`: what a ring remembers between commands (`ring.json`), and what it tells the
//!   clients of this machine about itself (`announcement.json`);
//! - `shape`: nodes, datacenters and addresses; `config`: each node's configuration files;
//!   `security`: logins and TLS; `metrics`: each node's metrics for Prometheus;
//! - `jars` (Maven), `toolchain` (Java), `process` (a node's JVM), `ports`, `readiness`: the
//!   mechanics of starting a node and knowing it is up;
//! - [`delay`]: the delaying proxy that gives a ring distance (`bench ring proxy`);
//! - `error`: [`LocalError`], what can go wrong, each message with what to do;
//! - [`testing`] (feature `testing`, for tests only): the live-test harness: a shared ring,
//!   unique keyspaces, rings of a test's own that stop when dropped.
//!
//! `ring/cassandra/` holds the one Maven dependency (`pom.xml`) and the JVM options every node
//! runs with, which the containerized ring's image reads too.

mod config;
pub mod delay;
mod error;
mod home;
mod jars;
mod local_ring;
mod metrics;
mod ports;
mod process;
mod readiness;
mod security;
mod shape;
mod spec;
mod state;
#[cfg(feature = "testing")]
pub mod testing;
mod toolchain;

pub use delay::Latency;
pub use error::LocalError;
pub use home::Home;
pub use jars::{DEFAULT_CASSANDRA_VERSION, Jars};
pub use local_ring::{LocalRing, NodeSignal};
pub use metrics::{METRICS_PORT, metrics_endpoint};
pub use process::ProcessState;
pub use security::{SUPERUSER, Security, SecurityFiles};
pub use shape::{IpPrefix, MAX_NODES, NodePlan, Shape};
pub use spec::{DEFAULT_HEAP, RingSpec, UpOutcome, check_heap, check_ring_name, heap_kib};
pub use state::{NodeState, ProxyState, RingState};
pub use toolchain::{Java, find_on_path};
