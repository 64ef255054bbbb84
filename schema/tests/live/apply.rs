//! `apply` creates, repeats harmlessly, and repairs; `check` catches drift.

use assert_cmd::Command;
use cluster::testing;
use predicates::prelude::*;
use predicates::str::contains;
use schema::{LiveKeyspace, Replication, SchemaError};

#[tokio::test]
async fn apply_is_idempotent_and_check_catches_drift() -> anyhow::Result<()> {
    let args = testing::test_ring().await;
    let connection = args.connect().await?;
    let session = &connection.session;
    let file = schema::project_schema()?;
    let keyspace = testing::unique_keyspace("schema_apply");
    let nodes = schema::nodes_per_datacenter(session);
    let replication = Replication::derived_from_ring(&nodes);

    let first = schema::apply(session, &file, &keyspace, &replication).await?;
    assert!(first.created_keyspace);
    assert_eq!(
        first.created_tables,
        [
            "employees",
            "timesheets",
            "trees",
            "production",
            "production_by_day"
        ]
    );

    let again = schema::apply(session, &file, &keyspace, &replication).await?;
    assert!(
        !again.created_keyspace
            && again.created_tables.is_empty()
            && again.added_columns.is_empty()
    );
    assert!(again.changed_replication.is_none());
    let live = LiveKeyspace::read(session, &keyspace).await?;
    assert!(schema::live::compare(&file, &keyspace, live.as_ref(), &nodes).is_ok());

    // Drift: a column dropped, a table dropped.
    for ddl in [
        format!("ALTER TABLE {keyspace}.timesheets DROP watered"),
        format!("DROP TABLE {keyspace}.trees"),
    ] {
        session.query_unpaged(ddl, &[]).await?;
    }
    session.await_schema_agreement().await?;
    let live = LiveKeyspace::read(session, &keyspace).await?;
    let report = schema::live::compare(&file, &keyspace, live.as_ref(), &nodes);
    assert!(!report.is_ok());
    let problems = |table: &str| {
        report
            .tables
            .iter()
            .find(|t| t.table == table)
            .map(|t| t.problems.clone())
            .unwrap_or_default()
    };
    assert_eq!(problems("trees"), ["table missing"]);
    assert_eq!(problems("timesheets"), ["column watered (boolean) missing"]);
    assert!(problems("employees").is_empty());

    // The command says the same and exits 1.
    Command::cargo_bin("schema")?
        .args([
            "check",
            "--keyspace",
            &keyspace,
            "--hosts",
            &args.contact_points().join(","),
        ])
        .assert()
        .code(1)
        .stdout(contains("trees").and(contains("table missing")))
        .stdout(contains("column watered (boolean) missing"))
        .stderr(contains("differs from schema.cql"));

    // Apply repairs what it safely can.
    let repaired = schema::apply(session, &file, &keyspace, &replication).await?;
    assert_eq!(repaired.created_tables, ["trees"]);
    assert_eq!(repaired.added_columns, ["timesheets.watered"]);

    // A key column of the wrong type cannot be repaired: apply says so and what differs.
    session
        .query_unpaged(format!("DROP TABLE {keyspace}.production"), &[])
        .await?;
    session
        .query_unpaged(
            format!("CREATE TABLE {keyspace}.production (pickle_count text, pickle_tree_id uuid, timestamp timeuuid, PRIMARY KEY (pickle_count, pickle_tree_id, timestamp))"),
            &[],
        )
        .await?;
    match schema::apply(session, &file, &keyspace, &replication).await {
        Err(SchemaError::Drift { report, .. }) => {
            let text = report.to_string();
            assert!(
                text.contains("column pickle_count is text, expected int"),
                "{text}"
            );
        }
        other => panic!("expected a drift error, got {other:?}"),
    }

    assert!(schema::drop_keyspace(session, &keyspace).await?);
    assert!(!schema::drop_keyspace(session, &keyspace).await?);
    Ok(())
}

#[tokio::test]
async fn apply_and_drop_through_the_command() -> anyhow::Result<()> {
    let args = testing::test_ring().await;
    let hosts = args.contact_points().join(",");
    let keyspace = testing::unique_keyspace("schema_cli");
    Command::cargo_bin("schema")?
        .args(["apply", "--keyspace", &keyspace, "--hosts", &hosts])
        .assert()
        .success()
        .stdout(contains(format!("keyspace {keyspace}: created")))
        .stdout(contains("matches schema.cql"));
    Command::cargo_bin("schema")?
        .args(["check", "--keyspace", &keyspace, "--hosts", &hosts])
        .assert()
        .success()
        .stdout(contains("production_by_day  ok"));
    Command::cargo_bin("schema")?
        .args(["drop", "--keyspace", &keyspace, "--hosts", &hosts])
        .assert()
        .code(2)
        .stderr(contains("without --yes"));
    Command::cargo_bin("schema")?
        .args(["drop", "--yes", "--keyspace", &keyspace, "--hosts", &hosts])
        .assert()
        .success()
        .stdout(contains(format!("keyspace {keyspace} dropped")));
    Command::cargo_bin("schema")?
        .args(["check", "--keyspace", &keyspace, "--hosts", &hosts])
        .assert()
        .code(1)
        .stdout(contains("missing (run `schema apply`)"));
    Ok(())
}
