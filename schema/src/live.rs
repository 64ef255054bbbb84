//! The schema as a running ring has it, read from the `system_schema` tables, and how it compares
//! with `schema.cql`.
//!
//! Reading `system_schema` directly (rather than the driver's metadata cache) shows exactly what
//! Cassandra stores: column kinds, key positions, clustering order and types as CQL spells them.

use std::collections::BTreeMap;
use std::fmt;

use scylla::client::session::Session;

use crate::SchemaError;
use crate::cql::{IndexDef, SchemaFile, TableDef};
use crate::replication::Replication;

/// One column as `system_schema.columns` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    /// `partition_key`, `clustering`, `regular` or `static`.
    pub kind: String,
    /// Position within the partition key or the clustering key (-1 for regular columns).
    pub position: i32,
    /// CQL type, as Cassandra writes it.
    pub cql_type: String,
    /// `asc`, `desc` or `none`.
    pub clustering_order: String,
}

/// One index as `system_schema.indexes` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveIndex {
    /// The table it is on.
    pub table: String,
    /// What it indexes (`options['target']`: a column name).
    pub target: String,
    /// Its implementation (`options['class_name']`; empty for the legacy secondary index).
    pub class: String,
}

impl LiveIndex {
    /// Whether it is a Storage-Attached Index (Cassandra 5.0 keeps the class as it was written
    /// in `USING`: `sai`, or the class's full name).
    pub fn is_sai(&self) -> bool {
        self.class.eq_ignore_ascii_case("sai") || self.class.ends_with("StorageAttachedIndex")
    }
}

/// A keyspace as the ring has it.
#[derive(Debug, Clone, Default)]
pub struct LiveKeyspace {
    /// The `replication` map: `class` plus one entry per datacenter.
    pub replication: BTreeMap<String, String>,
    /// Tables by name, each with its columns by name.
    pub tables: BTreeMap<String, BTreeMap<String, LiveColumn>>,
    /// Indexes by name.
    pub indexes: BTreeMap<String, LiveIndex>,
}

impl LiveKeyspace {
    /// Reads `keyspace`, or `None` if the ring does not have it.
    pub async fn read(
        session: &Session,
        keyspace: &str,
    ) -> Result<Option<LiveKeyspace>, SchemaError> {
        let replication = session
            .query_unpaged(
                "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (keyspace,),
            )
            .await
            .map_err(|e| SchemaError::request("reading system_schema.keyspaces", e))?
            .into_rows_result()
            .map_err(|e| SchemaError::result("system_schema.keyspaces", e))?
            .maybe_first_row::<(BTreeMap<String, String>,)>()
            .map_err(|e| SchemaError::result("system_schema.keyspaces", e))?;
        let Some((replication,)) = replication else {
            return Ok(None);
        };
        let rows = session
            .query_unpaged(
                "SELECT table_name, column_name, kind, position, type, clustering_order \
                 FROM system_schema.columns WHERE keyspace_name = ?",
                (keyspace,),
            )
            .await
            .map_err(|e| SchemaError::request("reading system_schema.columns", e))?
            .into_rows_result()
            .map_err(|e| SchemaError::result("system_schema.columns", e))?;
        let mut tables: BTreeMap<String, BTreeMap<String, LiveColumn>> = BTreeMap::new();
        for row in rows
            .rows::<(String, String, String, i32, String, String)>()
            .map_err(|e| SchemaError::result("system_schema.columns", e))?
        {
            let (table, column, kind, position, cql_type, clustering_order) =
                row.map_err(|e| SchemaError::result("system_schema.columns", e))?;
            tables.entry(table).or_default().insert(
                column,
                LiveColumn {
                    kind,
                    position,
                    cql_type,
                    clustering_order,
                },
            );
        }
        Ok(Some(LiveKeyspace {
            replication,
            tables,
            indexes: read_indexes(session, keyspace).await?,
        }))
    }
}

/// The indexes of `keyspace`, by name.
async fn read_indexes(
    session: &Session,
    keyspace: &str,
) -> Result<BTreeMap<String, LiveIndex>, SchemaError> {
    let what = "system_schema.indexes";
    let rows = session
        .query_unpaged(
            "SELECT table_name, index_name, options FROM system_schema.indexes \
             WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
        .map_err(|e| SchemaError::request("reading system_schema.indexes", e))?
        .into_rows_result()
        .map_err(|e| SchemaError::result(what, e))?;
    let mut indexes = BTreeMap::new();
    for row in rows
        .rows::<(String, String, BTreeMap<String, String>)>()
        .map_err(|e| SchemaError::result(what, e))?
    {
        let (table, name, mut options) = row.map_err(|e| SchemaError::result(what, e))?;
        indexes.insert(
            name,
            LiveIndex {
                table,
                target: options.remove("target").unwrap_or_default(),
                class: options.remove("class_name").unwrap_or_default(),
            },
        );
    }
    Ok(indexes)
}

/// The result of comparing one table with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// Table name.
    pub table: String,
    /// Differences that make the table unusable as the apps expect it.
    pub problems: Vec<String>,
    /// Harmless differences worth knowing (columns the file does not declare).
    pub notes: Vec<String>,
}

/// The result of comparing a live keyspace with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The keyspace compared.
    pub keyspace: String,
    /// Whether the keyspace exists at all.
    pub keyspace_exists: bool,
    /// The live replication, as `dc:factor` pairs (empty when not NetworkTopologyStrategy).
    pub replication: String,
    /// Replication problems: a datacenter without replicas, a strategy that ignores datacenters.
    pub replication_problems: Vec<String>,
    /// One entry per table of the file, in file order.
    pub tables: Vec<TableCheck>,
}

impl CheckReport {
    /// True when the live keyspace can serve the apps exactly as the file describes.
    pub fn is_ok(&self) -> bool {
        self.keyspace_exists
            && self.replication_problems.is_empty()
            && self.tables.iter().all(|t| t.problems.is_empty())
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.keyspace_exists {
            return writeln!(
                f,
                "keyspace {}: missing (run `schema apply`)",
                self.keyspace
            );
        }
        let verdict = if self.replication_problems.is_empty() {
            "ok"
        } else {
            "PROBLEM"
        };
        writeln!(
            f,
            "keyspace {} (replication {}): {verdict}",
            self.keyspace, self.replication
        )?;
        for problem in &self.replication_problems {
            writeln!(f, "  - {problem}")?;
        }
        for table in &self.tables {
            let verdict = if table.problems.is_empty() {
                "ok"
            } else {
                "PROBLEM"
            };
            writeln!(f, "  {:<18} {verdict}", table.table)?;
            for problem in &table.problems {
                writeln!(f, "      - {problem}")?;
            }
            for note in &table.notes {
                writeln!(f, "      note: {note}")?;
            }
        }
        Ok(())
    }
}

/// Compares `live` (what the ring has) with `file`, given the ring's nodes per datacenter.
pub fn compare(
    file: &SchemaFile,
    keyspace: &str,
    live: Option<&LiveKeyspace>,
    nodes_per_dc: &BTreeMap<String, usize>,
) -> CheckReport {
    let Some(live) = live else {
        return CheckReport {
            keyspace: keyspace.to_owned(),
            keyspace_exists: false,
            replication: String::new(),
            replication_problems: Vec::new(),
            tables: Vec::new(),
        };
    };
    let (replication, replication_problems) = match Replication::from_live(&live.replication) {
        Some(replication) => (
            replication.to_string(),
            replication
                .problems_on(nodes_per_dc)
                .iter()
                .map(ToString::to_string)
                .collect(),
        ),
        None => (
            live.replication.get("class").cloned().unwrap_or_default(),
            vec!["the keyspace does not use NetworkTopologyStrategy, so it ignores datacenters: run `schema apply` to fix it".to_owned()],
        ),
    };
    let tables = file
        .tables
        .iter()
        .map(|table| {
            let mut check = compare_table(table, live.tables.get(&table.name));
            if live.tables.contains_key(&table.name) {
                for index in file.indexes_of(&table.name) {
                    check.problems.extend(compare_index(index, &live.indexes));
                }
            }
            check
        })
        .collect();
    CheckReport {
        keyspace: keyspace.to_owned(),
        keyspace_exists: true,
        replication,
        replication_problems,
        tables,
    }
}

/// What is wrong with `index` on the ring, if anything.
fn compare_index(index: &IndexDef, live: &BTreeMap<String, LiveIndex>) -> Option<String> {
    let Some(found) = live.get(&index.name) else {
        return Some(format!(
            "index {} on {} missing (run `schema apply`)",
            index.name, index.column
        ));
    };
    if found.table != index.table || found.target != index.column {
        return Some(format!(
            "index {} is on {}({}), expected {}({})",
            index.name, found.table, found.target, index.table, index.column
        ));
    }
    (!found.is_sai()).then(|| {
        format!(
            "index {} is a {}, expected a Storage-Attached Index (USING 'sai')",
            index.name,
            if found.class.is_empty() {
                "legacy secondary index"
            } else {
                &found.class
            }
        )
    })
}

fn compare_table(table: &TableDef, live: Option<&BTreeMap<String, LiveColumn>>) -> TableCheck {
    let mut check = TableCheck {
        table: table.name.clone(),
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let Some(live) = live else {
        check.problems.push("table missing".to_owned());
        return check;
    };
    for column in &table.columns {
        match live.get(&column.name) {
            None => check.problems.push(format!(
                "column {} ({}) missing",
                column.name, column.cql_type
            )),
            Some(found) if crate::cql::normalise_type(&found.cql_type) != column.cql_type => {
                check.problems.push(format!(
                    "column {} is {}, expected {}",
                    column.name, found.cql_type, column.cql_type
                ))
            }
            Some(_) => {}
        }
    }
    let live_key = |kind: &str| {
        let mut key: Vec<(&String, &LiveColumn)> =
            live.iter().filter(|(_, c)| c.kind == kind).collect();
        key.sort_by_key(|(_, c)| c.position);
        key
    };
    let partition: Vec<String> = live_key("partition_key")
        .into_iter()
        .map(|(name, _)| name.clone())
        .collect();
    if partition != table.partition_key {
        check.problems.push(format!(
            "partition key is ({}), expected ({})",
            partition.join(", "),
            table.partition_key.join(", ")
        ));
    }
    let clustering: Vec<String> = live_key("clustering")
        .into_iter()
        .map(|(name, c)| format!("{name} {}", c.clustering_order.to_ascii_uppercase()))
        .collect();
    let expected: Vec<String> = table
        .clustering
        .iter()
        .map(|(name, order)| format!("{name} {order}"))
        .collect();
    if clustering != expected {
        check.problems.push(format!(
            "clustering is ({}), expected ({})",
            clustering.join(", "),
            expected.join(", ")
        ));
    }
    for name in live.keys().filter(|name| table.column_type(name).is_none()) {
        check
            .notes
            .push(format!("column {name} is not in schema.cql"));
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql::Order;

    /// `Order` as `system_schema.columns.clustering_order` spells it.
    fn live_order(order: Order) -> &'static str {
        match order {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }

    fn live_from(file: &SchemaFile) -> LiveKeyspace {
        let mut live = LiveKeyspace::default();
        live.replication.insert(
            "class".into(),
            "org.apache.cassandra.locator.NetworkTopologyStrategy".into(),
        );
        live.replication.insert("dc1".into(), "1".into());
        for table in &file.tables {
            let columns = live.tables.entry(table.name.clone()).or_default();
            for column in &table.columns {
                let (kind, position, order) = if let Some(p) =
                    table.partition_key.iter().position(|k| *k == column.name)
                {
                    ("partition_key", p as i32, "none")
                } else if let Some(p) = table.clustering.iter().position(|(c, _)| *c == column.name)
                {
                    ("clustering", p as i32, live_order(table.clustering[p].1))
                } else {
                    ("regular", -1, "none")
                };
                columns.insert(
                    column.name.clone(),
                    LiveColumn {
                        kind: kind.into(),
                        position,
                        cql_type: column.cql_type.clone(),
                        clustering_order: order.into(),
                    },
                );
            }
        }
        for index in &file.indexes {
            live.indexes.insert(
                index.name.clone(),
                LiveIndex {
                    table: index.table.clone(),
                    target: index.column.clone(),
                    class: "org.apache.cassandra.index.sai.StorageAttachedIndex".into(),
                },
            );
        }
        live
    }

    fn one_dc() -> BTreeMap<String, usize> {
        [("dc1".to_owned(), 1)].into()
    }

    #[test]
    fn an_identical_keyspace_is_ok() {
        let file = SchemaFile::parse(include_str!("../schema.cql")).unwrap();
        let report = compare(&file, "pickle", Some(&live_from(&file)), &one_dc());
        assert!(report.is_ok(), "{report}");
    }

    #[test]
    fn drift_is_reported_per_table() {
        let file = SchemaFile::parse(include_str!("../schema.cql")).unwrap();
        let mut live = live_from(&file);
        live.tables.remove("trees");
        let timesheets = live.tables.get_mut("timesheets").unwrap();
        timesheets.get_mut("pickle_count").unwrap().cql_type = "text".into();
        timesheets.get_mut("timestamp").unwrap().clustering_order = "asc".into();
        timesheets.remove("watered");
        live.tables.get_mut("employees").unwrap().insert(
            "nickname".into(),
            LiveColumn {
                kind: "regular".into(),
                position: -1,
                cql_type: "text".into(),
                clustering_order: "none".into(),
            },
        );
        let report = compare(&file, "pickle", Some(&live), &one_dc());
        assert!(!report.is_ok());
        let by_name = |name: &str| report.tables.iter().find(|t| t.table == name).unwrap();
        assert_eq!(by_name("trees").problems, ["table missing"]);
        let problems = &by_name("timesheets").problems;
        assert!(
            problems
                .iter()
                .any(|p| p == "column pickle_count is text, expected int"),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("watered (boolean) missing")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(
                |p| p.contains("timestamp ASC), expected (pickle_tree_id ASC, timestamp DESC)")
            ),
            "{problems:?}"
        );
        assert!(by_name("employees").problems.is_empty());
        assert_eq!(by_name("employees").notes.len(), 1);
        let text = report.to_string();
        assert!(text.contains("trees") && text.contains("PROBLEM"));
    }

    #[test]
    fn a_missing_wrong_or_legacy_index_is_a_problem_of_its_table() {
        let file = SchemaFile::parse(include_str!("../schema.cql")).unwrap();
        let mut index_names = file.indexes_of("visits").map(|i| i.name.clone());
        let (missing, moved, legacy) = (
            index_names.next().unwrap(),
            index_names.next().unwrap(),
            index_names.next().unwrap(),
        );
        let mut live = live_from(&file);
        live.indexes.remove(&missing);
        live.indexes.get_mut(&moved).unwrap().target = "watered".into();
        live.indexes.get_mut(&legacy).unwrap().class = String::new();
        let report = compare(&file, "pickle", Some(&live), &one_dc());
        assert!(!report.is_ok());
        let visits = report.tables.iter().find(|t| t.table == "visits").unwrap();
        assert_eq!(visits.problems.len(), 3, "{:?}", visits.problems);
        assert!(visits.problems[0].contains(&format!("index {missing} on")));
        assert!(visits.problems[1].contains("(watered), expected visits("));
        assert!(visits.problems[2].contains("legacy secondary index"));
    }

    #[test]
    fn a_missing_keyspace_or_dc_is_a_problem() {
        let file = SchemaFile::parse(include_str!("../schema.cql")).unwrap();
        assert!(!compare(&file, "pickle", None, &one_dc()).is_ok());
        let two_dcs: BTreeMap<String, usize> =
            [("dc1".to_owned(), 1), ("dc2".to_owned(), 1)].into();
        let report = compare(&file, "pickle", Some(&live_from(&file)), &two_dcs);
        assert!(!report.is_ok());
        assert!(report.replication_problems[0].contains("dc2 has no replicas"));
    }
}
