//! What a user sees when the ring, the datacenter or a flag is wrong: one line, the right exit code.

use std::process::Command;
use std::time::{Duration, Instant};

use cluster::testing::{self, one_line_failure};

fn schema() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("schema"))
}

#[tokio::test]
async fn an_unknown_datacenter_lists_the_ones_the_ring_has() {
    let args = testing::test_ring().await;
    let line = one_line_failure(
        schema().args([
            "check",
            "--dc",
            "atlantis",
            "--hosts",
            &args.contact_points().join(","),
        ]),
        1,
    );
    assert!(line.contains("datacenter 'atlantis' (--dc / CASSANDRA_DC) is not in the ring; its datacenters are: dc1"), "{line}");
}

#[test]
fn an_unreachable_ring_is_one_line_within_the_connect_timeout() {
    // Nothing listens on 127.0.0.254: loopback refuses at once.
    let began = Instant::now();
    let line = one_line_failure(
        schema().args(["check", "--hosts", "127.0.0.254", "--connect-timeout", "2s"]),
        1,
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "took {:?}",
        began.elapsed()
    );
    assert!(
        line.contains("cannot reach Cassandra at 127.0.0.254:9042")
            && line.contains("bench ring up"),
        "{line}"
    );
}

/// Arguments, environment variables, and what the error line must contain.
type BadInput = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn bad_flags_and_environment_values_exit_2_with_one_line() {
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
        let mut command = schema();
        command
            .args(args)
            .env_remove("CASSANDRA_PORT")
            .envs(env.iter().copied());
        let line = one_line_failure(&mut command, 2);
        assert!(line.contains(expected), "{args:?}: {line}");
    }
}
