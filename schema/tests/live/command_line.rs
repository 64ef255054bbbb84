//! What a user sees when the ring, the datacenter or a flag is wrong: one line, the right exit code.

use std::time::{Duration, Instant};

use assert_cmd::Command;
use cluster::testing;
use predicates::str::contains;

/// Counts the lines a command wrote to stderr.
fn stderr_lines(output: &std::process::Output) -> usize {
    String::from_utf8_lossy(&output.stderr).lines().count()
}

#[tokio::test]
async fn an_unknown_datacenter_lists_the_ones_the_ring_has() -> anyhow::Result<()> {
    let args = testing::test_ring().await;
    let output = Command::cargo_bin("schema")?
        .args(["check", "--dc", "atlantis", "--hosts", &args.contact_points().join(",")])
        .assert()
        .code(1)
        .stderr(contains("datacenter 'atlantis' (--dc / CASSANDRA_DC) is not in the ring; its datacenters are: dc1"))
        .get_output()
        .clone();
    assert_eq!(stderr_lines(&output), 1);
    Ok(())
}

#[test]
fn an_unreachable_ring_is_one_line_within_the_connect_timeout() -> anyhow::Result<()> {
    // Nothing listens on 127.0.0.254: loopback refuses at once.
    let began = Instant::now();
    let output = Command::cargo_bin("schema")?
        .args(["check", "--hosts", "127.0.0.254", "--connect-timeout", "2s"])
        .assert()
        .code(1)
        .stderr(contains("cannot reach Cassandra at 127.0.0.254:9042"))
        .stderr(contains("bench ring up"))
        .get_output()
        .clone();
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(
        stderr_lines(&output),
        1,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Arguments, environment variables, and what the error line must contain.
type BadInput = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn bad_flags_and_environment_values_exit_2_with_one_line() -> anyhow::Result<()> {
    let cases: [BadInput; 6] = [
        (&["check", "--port", "ninety"], &[], "--port"),
        (
            &["check"],
            &[("CASSANDRA_PORT", "ninety")],
            "CASSANDRA_PORT",
        ),
        (
            &["check", "--consistency", "MOSTLY"],
            &[],
            "unknown consistency level 'MOSTLY'",
        ),
        (&["check", "--hosts", "db:99999"], &[], "99999"),
        (
            &["apply", "--replication", "dc1"],
            &[],
            "expected DC:FACTOR",
        ),
        (
            &["check", "--keyspace", "Not-Valid"],
            &[],
            "not a usable keyspace name",
        ),
    ];
    for (args, env, expected) in cases {
        let mut command = Command::cargo_bin("schema")?;
        command.args(args).env_remove("CASSANDRA_PORT");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command
            .assert()
            .code(2)
            .stderr(contains(expected))
            .get_output()
            .clone();
        assert_eq!(
            stderr_lines(&output),
            1,
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
