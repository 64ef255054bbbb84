//! `apply` creates, repeats harmlessly, and repairs; `check` catches drift.

use std::collections::BTreeMap;

use assert_cmd::Command;
use client::{Connection, ConnectionArgs};
use predicates::prelude::*;
use predicates::str::contains;
use ring::testing;
use schema::{Applied, LiveKeyspace, Replication, SchemaError, SchemaFile};

/// A keyspace of the test's own on the test ring (not created yet), and what `apply` needs.
struct Fresh {
    args: ConnectionArgs,
    connection: Connection,
    file: SchemaFile,
    keyspace: String,
    nodes: BTreeMap<String, usize>,
    replication: Replication,
}

impl Fresh {
    async fn new() -> anyhow::Result<Self> {
        let args = testing::test_ring().await;
        let connection = args.connect().await?;
        let nodes = schema::nodes_per_datacenter(&connection.session);
        Ok(Self {
            file: schema::project_schema()?,
            keyspace: testing::unique_keyspace("schema_apply"),
            replication: Replication::derived_from_ring(&nodes),
            args,
            connection,
            nodes,
        })
    }

    fn session(&self) -> &scylla::client::session::Session {
        &self.connection.session
    }

    async fn apply(&self) -> Result<Applied, SchemaError> {
        schema::apply(
            self.session(),
            &self.file,
            &self.keyspace,
            &self.replication,
        )
        .await
    }

    /// Applies the schema, then drifts from it: a column dropped, a table dropped.
    async fn apply_then_drift(&self) -> anyhow::Result<()> {
        self.apply().await?;
        let keyspace = &self.keyspace;
        for ddl in [
            format!("ALTER TABLE {keyspace}.timesheets DROP watered"),
            format!("DROP TABLE {keyspace}.trees"),
        ] {
            self.session().query_unpaged(ddl, &[]).await?;
        }
        self.session().await_schema_agreement().await?;
        Ok(())
    }

    /// What `check` finds comparing the live keyspace with the file.
    async fn check(&self) -> anyhow::Result<schema::CheckReport> {
        let live = LiveKeyspace::read(self.session(), &self.keyspace).await?;
        Ok(schema::live::compare(
            &self.file,
            &self.keyspace,
            live.as_ref(),
            &self.nodes,
        ))
    }

    async fn drop_keyspace(self) -> anyhow::Result<()> {
        schema::drop_keyspace(self.session(), &self.keyspace).await?;
        Ok(())
    }
}

#[tokio::test]
async fn the_first_apply_creates_the_keyspace_all_eight_tables_and_their_indexes()
-> anyhow::Result<()> {
    let fresh = Fresh::new().await?;
    let first = fresh.apply().await?;
    assert!(first.created_keyspace);
    assert_eq!(
        first.created_tables,
        [
            "employees",
            "timesheets",
            "trees",
            "production",
            "production_by_day",
            "visits",
            "tree_profiles",
            "registrations"
        ]
    );
    assert_eq!(
        first.created_indexes,
        [
            "visits_by_employee",
            "visits_by_tree",
            "visits_by_count",
            "visits_by_day",
            "tree_profiles_by_likeness"
        ]
    );
    fresh.drop_keyspace().await
}

#[tokio::test]
async fn a_second_apply_changes_nothing_and_check_finds_no_drift() -> anyhow::Result<()> {
    let fresh = Fresh::new().await?;
    fresh.apply().await?;
    let again = fresh.apply().await?;
    assert!(
        !again.created_keyspace
            && again.created_tables.is_empty()
            && again.added_columns.is_empty()
            && again.created_indexes.is_empty()
    );
    assert!(again.changed_replication.is_none());
    assert!(fresh.check().await?.is_ok());
    fresh.drop_keyspace().await
}

#[tokio::test]
async fn check_names_a_dropped_table_and_a_dropped_column_and_nothing_else() -> anyhow::Result<()> {
    let fresh = Fresh::new().await?;
    fresh.apply_then_drift().await?;
    let report = fresh.check().await?;
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
    fresh.drop_keyspace().await
}

#[tokio::test]
async fn the_check_command_prints_the_same_drift_and_exits_1() -> anyhow::Result<()> {
    let fresh = Fresh::new().await?;
    fresh.apply_then_drift().await?;
    Command::cargo_bin("schema")?
        .args([
            "check",
            "--keyspace",
            &fresh.keyspace,
            "--hosts",
            &fresh.args.contact_points().join(","),
        ])
        .assert()
        .code(1)
        .stdout(contains("trees").and(contains("table missing")))
        .stdout(contains("column watered (boolean) missing"))
        .stderr(contains("differs from schema.cql"));
    fresh.drop_keyspace().await
}

#[tokio::test]
async fn apply_recreates_a_dropped_table_and_adds_back_a_dropped_column() -> anyhow::Result<()> {
    let fresh = Fresh::new().await?;
    fresh.apply_then_drift().await?;
    let repaired = fresh.apply().await?;
    assert_eq!(repaired.created_tables, ["trees"]);
    assert_eq!(repaired.added_columns, ["timesheets.watered"]);
    fresh.drop_keyspace().await
}

#[tokio::test]
async fn apply_refuses_a_key_column_of_the_wrong_type_and_says_what_differs() -> anyhow::Result<()>
{
    let fresh = Fresh::new().await?;
    fresh.apply().await?;
    let keyspace = &fresh.keyspace;
    fresh
        .session()
        .query_unpaged(format!("DROP TABLE {keyspace}.production"), &[])
        .await?;
    fresh
        .session()
        .query_unpaged(
            format!("CREATE TABLE {keyspace}.production (pickle_count text, pickle_tree_id uuid, timestamp timeuuid, PRIMARY KEY (pickle_count, pickle_tree_id, timestamp))"),
            &[],
        )
        .await?;
    match fresh.apply().await {
        Err(SchemaError::Drift { report, .. }) => {
            let text = report.to_string();
            assert!(
                text.contains("column pickle_count is text, expected int"),
                "{text}"
            );
        }
        other => panic!("expected a drift error, got {other:?}"),
    }
    fresh.drop_keyspace().await
}

#[tokio::test]
async fn drop_keyspace_drops_a_keyspace_once_and_then_says_there_was_none() -> anyhow::Result<()> {
    let fresh = Fresh::new().await?;
    fresh.apply().await?;
    assert!(schema::drop_keyspace(fresh.session(), &fresh.keyspace).await?);
    assert!(!schema::drop_keyspace(fresh.session(), &fresh.keyspace).await?);
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

#[tokio::test]
async fn every_table_takes_the_memtable_asked_for_and_the_ring_says_so() -> anyhow::Result<()> {
    let fresh = Fresh::new().await?;
    fresh.apply().await?;
    let file = schema::project_schema()?;
    let changed = schema::set_memtable(fresh.session(), &file, &fresh.keyspace, "trie").await?;
    assert_eq!(changed.len(), file.tables.len());
    let settings = client::ring_settings::RingSettings::read(
        fresh.session(),
        &fresh.keyspace,
        &["timesheets", "visits"],
    )
    .await;
    for table in ["timesheets", "visits"] {
        assert_eq!(settings.tables[table].memtable, "trie", "{settings:?}");
    }
    // One the nodes do not define is the ring's error, named.
    let error = schema::set_memtable(fresh.session(), &file, &fresh.keyspace, "nosuch")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Memtable configuration \"nosuch\" not found"),
        "{error}"
    );
    fresh.drop_keyspace().await
}

#[tokio::test]
async fn apply_dimensions_makes_the_profiles_that_size_and_check_holds_the_ring_to_it()
-> anyhow::Result<()> {
    let args = testing::test_ring().await;
    let hosts = args.contact_points().join(",");
    let keyspace = testing::unique_keyspace("schema_dims");
    let schema = |flags: &[&str]| {
        let mut command = Command::cargo_bin("schema").expect("the schema binary");
        command
            .args(flags)
            .args(["--keyspace", &keyspace, "--hosts", &hosts]);
        command
    };
    schema(&["apply", "--dimensions", "16"]).assert().success();
    let connection = args.connect().await?;
    assert_eq!(
        schema::ring_profile_dimensions(&connection.session, &keyspace).await?,
        Some(16)
    );
    schema(&["check", "--dimensions", "16"]).assert().success();
    // Held to schema.cql's 64, the ring's 16 is drift, named.
    schema(&["check"])
        .assert()
        .code(1)
        .stdout(contains("vector<float, 16>").and(contains("tree_profiles")));
    schema(&["print", "--dimensions", "16"])
        .assert()
        .success()
        .stdout(contains("profile vector<float, 16>"));
    schema(&["apply", "--dimensions", "1"])
        .assert()
        .code(2)
        .stderr(contains("--dimensions"));
    schema::drop_keyspace(&connection.session, &keyspace).await?;
    Ok(())
}
