//! Mistakes the factory catches before writing anything: one line, the right exit code, no
//! touched files.

use assert_cmd::Command;
use cluster::testing;
use predicates::str::contains;

#[tokio::test]
async fn a_missing_keyspace_says_to_run_schema_apply() -> anyhow::Result<()> {
    let args = testing::test_ring().await;
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("factory"));
    command.args([
        "--hosts",
        &args.contact_points().join(","),
        "--keyspace",
        "no_such_keyspace_here",
    ]);
    let line = testing::one_line_failure(command.args(["--visits", "10"]), 1);
    assert!(
        line.contains("keyspace no_such_keyspace_here is not ready: it does not exist"),
        "{line}"
    );
    assert!(
        line.contains("run `schema apply --keyspace no_such_keyspace_here` first"),
        "{line}"
    );
    Ok(())
}

/// Arguments, environment, and what the one line must say.
type BadInput = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn bad_flags_and_environment_values_exit_2_before_connecting() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let existing = folder.path().join("kept.json");
    std::fs::write(&existing, "precious")?;
    let existing = existing.to_str().unwrap().to_owned();
    let cases: [BadInput; 10] = [
        (&["--rate", "0"], &[], "not a rate"),
        (&["--rate", "-5"], &[], "'-5' is not a rate"),
        (&["--rate", "lots"], &[], "not a rate"),
        (&[], &[("PICKLE_RATE", "-5")], "PICKLE_RATE"),
        (&["--duration", "0s"], &[], "above zero"),
        (&["--duration", "10"], &[], "unit"),
        (&["--max-in-flight", "2"], &[], "at least 3"),
        (&["--table-consistency", "tress=ONE"], &[], "no table tress"),
        (&["--employees", "0"], &[], "--employees"),
        (
            &["--hdr-log", "/no/such/folder/x.hlog"],
            &[],
            "does not exist",
        ),
    ];
    // Nothing listens on 127.0.0.254: if any case got as far as connecting, it would say so.
    for (args, env, expected) in cases {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("factory"));
        command
            .args(["--hosts", "127.0.0.254"])
            .args(args)
            .env_remove("PICKLE_RATE");
        command.envs(env.iter().copied());
        let line = testing::one_line_failure(&mut command, 2);
        assert!(line.contains(expected), "{args:?}: {line}");
    }
    Command::cargo_bin("factory")?
        .args(["--hosts", "127.0.0.254", "--report", &existing])
        .assert()
        .code(2)
        .stderr(contains("the file exists"));
    assert_eq!(std::fs::read_to_string(&existing)?, "precious");
    Ok(())
}
