//! Live tests of the schema crate against a real Cassandra (see `ring::testing`): each test in
//! its own keyspace, so they run in parallel.

mod apply;
mod command_line;
mod multi_dc;
mod security;
