//! Every statement the apps run, prepared once at startup.
//!
//! Preparing matters for three reasons: the server parses the CQL once instead of on every
//! request; each request then carries only the statement id and the bound values (smaller on
//! the wire); and the driver learns which values form the partition key, so it can route each
//! request straight to a replica (token awareness). Unprepared statements get none of that.
//!
//! Writes are marked idempotent (a visit's row is fully determined by its values and its
//! time-based UUID), which lets the driver retry them on another node after a broken connection
//! or an overloaded coordinator without risking a double write.

use std::collections::BTreeMap;
use std::str::FromStr;

use client::ConsistencyLevel;
use scylla::client::session::Session;
use scylla::statement::Consistency;
use scylla::statement::prepared::PreparedStatement;
use serde::Serialize;

use crate::SchemaError;
use crate::model::Model;

/// Consistency level per table; tables not named use the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConsistency {
    /// The level of every table not overridden.
    pub default: Consistency,
    /// Per-table levels.
    pub overrides: BTreeMap<String, Consistency>,
}

impl TableConsistency {
    /// The same level everywhere.
    pub fn uniform(default: Consistency) -> TableConsistency {
        TableConsistency {
            default,
            overrides: BTreeMap::new(),
        }
    }

    /// The level for `table`.
    pub fn of(&self, table: &str) -> Consistency {
        self.overrides.get(table).copied().unwrap_or(self.default)
    }
}

/// One `TABLE=LEVEL` of `--table-consistency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableLevel {
    /// The table.
    pub table: String,
    /// Its consistency level.
    pub level: ConsistencyLevel,
}

impl FromStr for TableLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (table, level) = text
            .split_once('=')
            .ok_or_else(|| format!("'{text}' is not TABLE=LEVEL, such as trees=LOCAL_ONE"))?;
        Ok(TableLevel {
            table: table.trim().to_owned(),
            level: level.parse()?,
        })
    }
}

/// Per-table consistency from a default and the overrides, refusing tables not in `tables`.
pub fn table_consistency(
    default: Consistency,
    overrides: &[TableLevel],
    tables: &[&str],
) -> Result<TableConsistency, String> {
    let mut consistency = TableConsistency::uniform(default);
    for TableLevel { table, level } in overrides {
        if !tables.contains(&table.as_str()) {
            return Err(format!(
                "--table-consistency {table}={level}: no table {table} here; the tables are {}",
                tables.join(", ")
            ));
        }
        consistency.overrides.insert(table.clone(), level.0);
    }
    Ok(consistency)
}

/// The tables a visit is written to, in the order of the factory's service-time tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitTable {
    /// "What did employee X do?"
    Timesheets,
    /// "What happened to tree T?"
    Trees,
    /// "Which trees gave N pickles?"
    Production,
    /// The same question, bucketed by day (`--production-by-day`).
    ProductionByDay,
    /// Every question, through its indexes (`--model sai`): the one table of that model.
    Visits,
}

impl VisitTable {
    /// Every table's name, in this enum's order.
    pub const NAMES: [&'static str; 5] = [
        "timesheets",
        "trees",
        "production",
        "production_by_day",
        "visits",
    ];

    /// The tables a visit is written to: the denormalized model's three (four with
    /// `production_by_day`), or the SAI model's one.
    pub fn written(model: Model, production_by_day: bool) -> &'static [&'static str] {
        match model {
            Model::Denormalized if production_by_day => &Self::NAMES[..4],
            Model::Denormalized => &Self::NAMES[..3],
            Model::Sai => &Self::NAMES[4..],
        }
    }

    /// Its place among the factory's service-time tags: its place in [`Self::NAMES`] for the
    /// denormalized tables, the only tag for `visits`.
    pub fn tag(self) -> usize {
        match self {
            VisitTable::Visits => 0,
            other => other as usize,
        }
    }
}

/// The factory's writes: one per table a visit goes to, plus the employee registry.
pub struct FactoryStatements {
    /// `INSERT INTO employees`.
    pub insert_employee: PreparedStatement,
    /// `INSERT INTO timesheets`: "what did employee X do?".
    pub insert_timesheet: PreparedStatement,
    /// `INSERT INTO trees`: "what happened to tree T?".
    pub insert_tree: PreparedStatement,
    /// `INSERT INTO production`: "which trees gave N pickles?".
    pub insert_production: PreparedStatement,
    /// `INSERT INTO production_by_day`: the same question, bucketed by day.
    pub insert_production_by_day: PreparedStatement,
    /// `INSERT INTO tree_profiles`: a tree's profile, for "the trees most like this one".
    pub insert_tree_profile: PreparedStatement,
}

impl FactoryStatements {
    /// Prepares every write for `keyspace`, each at its table's consistency level.
    pub async fn prepare(
        session: &Session,
        keyspace: &str,
        consistency: &TableConsistency,
    ) -> Result<FactoryStatements, SchemaError> {
        let write = |table: &'static str, columns: &'static str| {
            let markers = vec!["?"; columns.split(',').count()].join(", ");
            let cql = format!("INSERT INTO {keyspace}.{table} ({columns}) VALUES ({markers})");
            prepare_write(session, cql, table, consistency.of(table))
        };
        Ok(FactoryStatements {
            insert_employee: write("employees", "employee_id, name, email, hire_date").await?,
            insert_timesheet: write(
                "timesheets",
                "employee_id, pickle_tree_id, timestamp, pickle_count, pickle_avg_size, watered",
            )
            .await?,
            insert_tree: write(
                "trees",
                "pickle_tree_id, timestamp, employee_id, pickle_count, pickle_avg_size, watered",
            )
            .await?,
            insert_production: write("production", "pickle_count, pickle_tree_id, timestamp")
                .await?,
            insert_production_by_day: write(
                "production_by_day",
                "pickle_count, day, pickle_tree_id, timestamp",
            )
            .await?,
            insert_tree_profile: write("tree_profiles", "pickle_tree_id, profile").await?,
        })
    }
}

/// `INSERT INTO visits`, the SAI model's one write of a visit (its row: [`IndexedVisit`]), at the
/// consistency level of `visits`.
///
/// [`IndexedVisit`]: crate::model::IndexedVisit
pub async fn prepare_indexed_visit(
    session: &Session,
    keyspace: &str,
    consistency: &TableConsistency,
) -> Result<PreparedStatement, SchemaError> {
    let cql = format!(
        "INSERT INTO {keyspace}.visits (timestamp, employee_id, pickle_tree_id, day, \
         pickle_count, pickle_avg_size, watered) VALUES (?, ?, ?, ?, ?, ?, ?)"
    );
    prepare_write(session, cql, "visits", consistency.of("visits")).await
}

async fn prepare_write(
    session: &Session,
    cql: String,
    table: &'static str,
    consistency: Consistency,
) -> Result<PreparedStatement, SchemaError> {
    let mut statement = prepare_idempotent(session, table, cql).await?;
    statement.set_consistency(consistency);
    Ok(statement)
}

/// Prepares `cql` (a statement on `table`) and marks it idempotent: every statement of the apps
/// can be retried safely, the inserts included (same key, same values).
pub(crate) async fn prepare_idempotent(
    session: &Session,
    table: &'static str,
    cql: String,
) -> Result<PreparedStatement, SchemaError> {
    let mut statement = session
        .prepare(cql)
        .await
        .map_err(|e| SchemaError::Prepare {
            table,
            reason: e.to_string(),
        })?;
    statement.set_is_idempotent(true);
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_table_levels_override_the_default_and_unknown_tables_are_refused() {
        let overrides: Vec<TableLevel> = ["trees=LOCAL_ONE", "production=one"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        let levels = table_consistency(
            Consistency::LocalQuorum,
            &overrides,
            &["timesheets", "trees", "production"],
        )
        .unwrap();
        assert_eq!(levels.of("timesheets"), Consistency::LocalQuorum);
        assert_eq!(levels.of("trees"), Consistency::LocalOne);
        assert_eq!(levels.of("production"), Consistency::One);
        let error = table_consistency(
            Consistency::One,
            &["tress=ONE".parse().unwrap()],
            &["trees"],
        )
        .unwrap_err();
        assert!(error.contains("no table tress"), "{error}");
        assert!("trees".parse::<TableLevel>().is_err());
        assert!(
            "trees=MOSTLY"
                .parse::<TableLevel>()
                .unwrap_err()
                .contains("MOSTLY")
        );
    }
}
