//! Changing a ring's schema: [`apply`] makes a keyspace match `schema.cql`, [`drop_keyspace`]
//! removes one.
//!
//! These are the only functions of the crate that issue DDL, so they live together, apart from
//! the read-only checks in the crate root: a reader looking for "what can change my ring" finds
//! it all here. Nothing here ever drops a table or a column.

use std::collections::BTreeMap;

use scylla::client::session::Session;

use crate::cql::TableDef;
use crate::live::{self, LiveColumn, LiveKeyspace};
use crate::replication::{Problem, Replication};
use crate::{SchemaError, SchemaFile, nodes_per_datacenter, validate_keyspace_name};

/// What [`apply`] changed.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The keyspace was created.
    pub created_keyspace: bool,
    /// The replication was changed: (before, after).
    pub changed_replication: Option<(String, String)>,
    /// Tables created.
    pub created_tables: Vec<String>,
    /// Columns added to existing tables, as `table.column`.
    pub added_columns: Vec<String>,
    /// Indexes created.
    pub created_indexes: Vec<String>,
}

/// Makes `keyspace` on the ring match the file: creates what is missing, sets the replication,
/// adds missing regular columns, waits for schema agreement, then checks the result. Safe to run
/// again: an up-to-date keyspace is left as it is. It never drops anything.
pub async fn apply(
    session: &Session,
    file: &SchemaFile,
    keyspace: &str,
    replication: &Replication,
) -> Result<Applied, SchemaError> {
    validate_keyspace_name(keyspace)?;
    let nodes_per_dc = nodes_per_datacenter(session);
    refuse_unknown_datacenters(replication, &nodes_per_dc)?;
    let mut applied = Applied::default();
    let live = LiveKeyspace::read(session, keyspace).await?;
    let current = live
        .as_ref()
        .map(|ks| Replication::from_live(&ks.replication));
    create_keyspace_or_set_replication(session, keyspace, current, replication, &mut applied)
        .await?;
    let (live_tables, live_indexes) = live.map(|ks| (ks.tables, ks.indexes)).unwrap_or_default();
    for table in &file.tables {
        match live_tables.get(&table.name) {
            None => create_table(session, keyspace, table, &mut applied).await?,
            Some(columns) => {
                add_missing_columns(session, keyspace, table, columns, &mut applied).await?;
            }
        }
    }
    // Indexes after their tables (and the new columns they may index); an index of that name
    // already there is left as it is, and the check below says if it is not what the file says.
    for index in file
        .indexes
        .iter()
        .filter(|i| !live_indexes.contains_key(&i.name))
    {
        let create = index.create_statement(keyspace);
        run(session, &create, format!("creating index {}", index.name)).await?;
        applied.created_indexes.push(index.name.clone());
    }
    await_schema_agreement(session).await?;
    check_nothing_drifted(session, file, keyspace, &nodes_per_dc).await?;
    Ok(applied)
}

/// Sets every table of the file in `keyspace` to the memtable configuration `name` (one the
/// nodes' `cassandra.yaml` defines under `memtable.configurations`: `trie`, `skiplist`,
/// `default`), and waits for schema agreement. Returns the tables changed.
pub async fn set_memtable(
    session: &Session,
    file: &SchemaFile,
    keyspace: &str,
    name: &str,
) -> Result<Vec<String>, SchemaError> {
    validate_keyspace_name(keyspace)?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(SchemaError::BadMemtable(name.to_owned()));
    }
    let mut changed = Vec::new();
    for table in &file.tables {
        let alter = format!(
            "ALTER TABLE {keyspace}.{} WITH memtable = '{name}'",
            table.name
        );
        run(
            session,
            &alter,
            format!("setting the memtable of {} to '{name}'", table.name),
        )
        .await?;
        changed.push(table.name.clone());
    }
    await_schema_agreement(session).await?;
    Ok(changed)
}

/// Refuses a replication that names a datacenter the ring does not have, before anything is
/// changed, with the ring's datacenters in the message.
fn refuse_unknown_datacenters(
    replication: &Replication,
    nodes_per_dc: &BTreeMap<String, usize>,
) -> Result<(), SchemaError> {
    let unknown: Vec<String> = replication
        .problems_on(nodes_per_dc)
        .into_iter()
        .filter(|p| matches!(p, Problem::UnknownDatacenter(_)))
        .map(|p| p.to_string())
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&String> = nodes_per_dc.keys().collect();
        return Err(SchemaError::BadReplication {
            given: replication.to_string(),
            problems: format!("{} (the ring's datacenters: {known:?})", unknown.join("; ")),
        });
    }
    Ok(())
}

/// Creates the keyspace when the ring does not have it (`current` is `None`), or changes its
/// replication when it differs from `replication`. `current` is `Some(None)` for a keyspace whose
/// strategy has no datacenters.
async fn create_keyspace_or_set_replication(
    session: &Session,
    keyspace: &str,
    current: Option<Option<Replication>>,
    replication: &Replication,
    applied: &mut Applied,
) -> Result<(), SchemaError> {
    match current {
        None => {
            let create = format!(
                "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {}",
                replication.to_cql()
            );
            run(session, &create, format!("creating keyspace {keyspace}")).await?;
            applied.created_keyspace = true;
        }
        Some(current) if current.as_ref() != Some(replication) => {
            let alter = format!(
                "ALTER KEYSPACE {keyspace} WITH replication = {}",
                replication.to_cql()
            );
            run(
                session,
                &alter,
                format!("changing the replication of {keyspace}"),
            )
            .await?;
            let before = current.map_or_else(
                || "a strategy without datacenters".to_owned(),
                |r| r.to_string(),
            );
            applied.changed_replication = Some((before, replication.to_string()));
        }
        Some(_) => {}
    }
    Ok(())
}

/// Creates a table the ring does not have yet, with the file's statement.
async fn create_table(
    session: &Session,
    keyspace: &str,
    table: &TableDef,
    applied: &mut Applied,
) -> Result<(), SchemaError> {
    run(
        session,
        &table.create_statement(keyspace),
        format!("creating table {keyspace}.{}", table.name),
    )
    .await?;
    applied.created_tables.push(table.name.clone());
    Ok(())
}

/// Adds the file's regular columns that the live table lacks. Key columns are left out: a key
/// cannot be changed by ALTER, and a table whose key differs is reported as drift instead.
async fn add_missing_columns(
    session: &Session,
    keyspace: &str,
    table: &TableDef,
    live_columns: &BTreeMap<String, LiveColumn>,
    applied: &mut Applied,
) -> Result<(), SchemaError> {
    let is_key = |name: &str| {
        table.partition_key.iter().any(|k| k == name)
            || table.clustering.iter().any(|(c, _)| c == name)
    };
    for column in table
        .columns
        .iter()
        .filter(|c| !live_columns.contains_key(&c.name) && !is_key(&c.name))
    {
        let alter = format!(
            "ALTER TABLE {keyspace}.{} ADD {} {}",
            table.name, column.name, column.cql_type
        );
        run(
            session,
            &alter,
            format!("adding column {}.{}", table.name, column.name),
        )
        .await?;
        applied
            .added_columns
            .push(format!("{}.{}", table.name, column.name));
    }
    Ok(())
}

/// Reads the keyspace again and fails if it still differs from the file (a table created by hand
/// with other keys or types, which `apply` does not alter).
async fn check_nothing_drifted(
    session: &Session,
    file: &SchemaFile,
    keyspace: &str,
    nodes_per_dc: &BTreeMap<String, usize>,
) -> Result<(), SchemaError> {
    let report = live::compare(
        file,
        keyspace,
        LiveKeyspace::read(session, keyspace).await?.as_ref(),
        nodes_per_dc,
    );
    let tables_ok = report.tables.iter().all(|t| t.problems.is_empty());
    if !tables_ok {
        return Err(SchemaError::Drift {
            keyspace: keyspace.to_owned(),
            report: Box::new(report),
        });
    }
    Ok(())
}

/// Drops `keyspace` and everything in it. Returns whether it existed.
pub async fn drop_keyspace(session: &Session, keyspace: &str) -> Result<bool, SchemaError> {
    validate_keyspace_name(keyspace)?;
    let existed = LiveKeyspace::read(session, keyspace).await?.is_some();
    run(
        session,
        &format!("DROP KEYSPACE IF EXISTS {keyspace}"),
        format!("dropping keyspace {keyspace}"),
    )
    .await?;
    await_schema_agreement(session).await?;
    Ok(existed)
}

/// Waits until every reachable node has the new schema, so that what follows sees it everywhere.
async fn await_schema_agreement(session: &Session) -> Result<(), SchemaError> {
    session
        .await_schema_agreement()
        .await
        .map_err(|e| SchemaError::Agreement(e.to_string()))?;
    Ok(())
}

/// Runs one DDL statement. DDL is not prepared: it runs once.
async fn run(session: &Session, statement: &str, what: String) -> Result<(), SchemaError> {
    tracing::debug!(statement, "schema change");
    session
        .query_unpaged(statement, &[])
        .await
        .map_err(|e| SchemaError::request(what, e))?;
    Ok(())
}
