//! What the shop says when there is less to read than asked, nothing at all, or no schema.

use std::process::Command;

use ring::testing::{self, one_line_failure};

use crate::{factory, fresh_keyspace, shop};

#[tokio::test]
async fn fewer_employees_than_asked_are_read_and_said() -> anyhow::Result<()> {
    let (keyspace, hosts) = fresh_keyspace("shop_few").await?;
    factory(&hosts, &keyspace, &["--visits", "60", "--employees", "3"]);
    let output = shop(&hosts, &keyspace, &["--employees", "10"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "only 3 employees exist in keyspace {keyspace}; reading those 3"
        )),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("3 timesheet reads all at once"));
    Ok(())
}

#[tokio::test]
async fn an_empty_keyspace_says_to_run_the_factory() -> anyhow::Result<()> {
    let (keyspace, hosts) = fresh_keyspace("shop_empty").await?;
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("shop"));
    let line = one_line_failure(
        command.args(["--hosts", &hosts, "--keyspace", &keyspace]),
        1,
    );
    assert!(
        line.contains(&format!(
            "keyspace {keyspace} has no employees: run `factory` first"
        )),
        "{line}"
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_schema_says_to_run_schema_apply() {
    let args = testing::test_ring().await;
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("shop"));
    command.args([
        "--hosts",
        &args.contact_points().join(","),
        "--keyspace",
        "no_shop_here",
    ]);
    let line = one_line_failure(&mut command, 1);
    assert!(
        line.contains("run `schema apply --keyspace no_shop_here` first"),
        "{line}"
    );
}
