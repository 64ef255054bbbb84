//! The workforce is registered once per keyspace, seed and size, not on every run: the
//! registrations table remembers a workforce written in full.

use std::process::Output;

use assert_cmd::Command;
use ring::testing;

use crate::fresh_keyspace;

/// A short factory run of 10 visits by `employees` employees, with `extra` flags.
fn factory(hosts: &str, keyspace: &str, employees: u32, extra: &[&str]) -> Output {
    Command::cargo_bin("factory")
        .expect("the factory is built")
        .args(["--hosts", hosts, "--keyspace", keyspace, "--quiet"])
        .args(["--visits", "10", "--rate", "100"])
        .args(["--employees", &employees.to_string()])
        .args(extra)
        .output()
        .expect("the factory runs")
}

fn stderr(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_workforce_is_registered_on_the_first_run_and_not_on_the_next() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("factory_registry").await?;
    let first = stderr(&factory(&hosts, &keyspace, 50, &[]));
    assert!(first.contains("registered 50 employees"), "{first}");
    let second = stderr(&factory(&hosts, &keyspace, 50, &[]));
    assert!(
        second.contains("the 50 employees of seed 1 were registered at")
            && !second.contains("registered 50 employees and"),
        "{second}"
    );
    Ok(())
}

#[tokio::test]
async fn register_always_writes_again_and_another_size_is_another_workforce() -> anyhow::Result<()>
{
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("factory_registry").await?;
    stderr(&factory(&hosts, &keyspace, 50, &[]));
    let always = stderr(&factory(&hosts, &keyspace, 50, &["--register", "always"]));
    assert!(always.contains("registered 50 employees"), "{always}");
    let bigger = stderr(&factory(&hosts, &keyspace, 60, &[]));
    assert!(bigger.contains("registered 60 employees"), "{bigger}");
    Ok(())
}

#[tokio::test]
async fn register_never_trusts_a_registered_workforce_and_refuses_a_missing_one()
-> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("factory_registry").await?;
    let missing = factory(&hosts, &keyspace, 50, &["--register", "never"]);
    assert_eq!(missing.status.code(), Some(1));
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("--register never: employee 0 of seed 1 is not in employees"),
        "{said}"
    );
    stderr(&factory(&hosts, &keyspace, 50, &[]));
    let trusted = stderr(&factory(&hosts, &keyspace, 50, &["--register", "never"]));
    assert!(
        trusted.contains("employees 0 and 49 of seed 1 are there"),
        "{trusted}"
    );
    Ok(())
}
