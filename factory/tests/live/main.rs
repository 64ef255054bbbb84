//! Live tests of `factory` against a real Cassandra: each test in its own keyspace.

mod ending;
mod faults;
mod ramp;
mod registry;
mod ring_side;
mod verdicts;
mod window_example;
mod writes;

pub use schema::testing::fresh_keyspace;
