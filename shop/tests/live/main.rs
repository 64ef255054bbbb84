//! Live tests of `shop` against a real Cassandra, on data written by `factory` in a keyspace of
//! each test's own.

mod errors;
mod fanout_example;
mod models;
mod reads;
mod saturation;

use std::process::{Command, Output};

pub use schema::testing::fresh_keyspace;

/// Runs `factory` into `keyspace`; panics (failing the test) if it fails.
pub fn factory(hosts: &str, keyspace: &str, flags: &[&str]) {
    let output = Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args(["--hosts", hosts, "--keyspace", keyspace, "--quiet"])
        .args(flags)
        .output()
        .unwrap_or_else(|e| panic!("cannot run factory: {e}"));
    assert!(
        output.status.success(),
        "factory failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Drops a test's keyspace from the ring at `hosts`.
pub async fn drop_keyspace(hosts: &str, keyspace: &str) -> anyhow::Result<()> {
    let session = ring::testing::connection_args(&["--hosts", hosts])
        .connect()
        .await?
        .session;
    schema::drop_keyspace(&session, keyspace).await?;
    Ok(())
}

/// Runs `shop` against `keyspace` with `flags`.
pub fn shop(hosts: &str, keyspace: &str, flags: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("shop"))
        .args(["--hosts", hosts, "--keyspace", keyspace])
        .args(flags)
        .output()
        .unwrap_or_else(|e| panic!("cannot run shop: {e}"))
}
