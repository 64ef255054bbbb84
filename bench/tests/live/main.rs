//! Live tests of the `bench` binary against real Cassandra nodes.

mod catalogue;
mod findmax;
mod gate;
mod metrics;
mod network;
mod reports;
mod restart;
mod ring;
mod suite;
