//! How every binary of the project reaches a Cassandra ring and meets its user.
//!
//! `factory`, `shop`, `schema` and `bench` all start the same way: parse flags (each with its
//! environment variable), install logging, connect, and end with a one-line error and an exit
//! code. This crate is that shared edge, and nothing more: it runs no ring (that is the `ring`
//! crate's job) and knows no data model (`schema`'s).
//!
//! # Layout
//!
//! - [`connect`]: the connection options every binary flattens ([`ConnectionArgs`]) and the
//!   token-aware, DC-aware session they build ([`Connection`]), with TLS and [`ConnectError`];
//! - [`options`]: the values those options parse into (contact points, consistency levels,
//!   durations);
//! - [`cli`]: what every binary does at start and exit: parsing, logging, one-line errors and
//!   exit codes (2 for a usage error, 1 for a failure, 130 for Ctrl-C);
//! - [`ring_view`]: every node's own view of its load (thread pools, compactions, hints), read
//!   over CQL from its virtual tables;
//! - [`local_network`]: which running local ring the contact points reach, and the delay it
//!   models, as the ring announces it;
//! - [`ring_settings`]: the settings that change what a run measures (each table's compaction,
//!   memtable and compression, each node's SSTable format), read from the ring.

pub mod cli;
pub mod connect;
pub mod local_network;
pub mod options;
pub mod ring_settings;
pub mod ring_view;

pub use connect::{ConnectError, Connection, ConnectionArgs};
pub use options::{ConsistencyLevel, ContactPoint};
