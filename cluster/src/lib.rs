//! How to reach a Cassandra ring, and how to run a real one on this machine.
//!
//! - [`connect`]: the connection options every binary shares ([`ConnectionArgs`]) and the
//!   token-aware, DC-aware session they build.
//! - [`local`]: a real Apache Cassandra 5.0 ring of local JVM processes, as ccm runs them.
//! - [`local_network`]: which running local ring the contact points reach, and the delay it
//!   models, as the ring announces it.
//! - [`cli`]: the edges every binary shares: flag parsing, logging, exit codes.
//! - [`ring_view`]: every node's own view of its load (thread pools, compactions, hints), read
//!   over CQL from its virtual tables.
//! - `testing` (feature `testing`, for tests only): the live-test harness (a shared ring, unique
//!   keyspaces, rings of a test's own that stop when dropped).
//!
//! This crate is split out of `bench` so that `schema`, which `bench` depends on, can connect and
//! run live tests without a dependency cycle.

pub mod cli;
pub mod connect;
pub mod local;
pub mod local_network;
pub mod options;
pub mod ring_view;
#[cfg(feature = "testing")]
pub mod testing;

pub use connect::{ConnectError, Connection, ConnectionArgs};
pub use options::{ConsistencyLevel, ContactPoint};
