//! The ring's settings that change what a run measures, read from the ring itself rather than
//! assumed: each table's compaction strategy, memtable implementation and compression
//! (`system_schema.tables`), and each node's SSTable format (`sstable.selected_format` in
//! `system_views.settings`: `big` or Cassandra 5.0's `bti`). Every report holds them, so that a
//! comparison of two runs says when they ran on rings set up differently.

use std::collections::BTreeMap;

use scylla::client::session::Session;
use serde::{Deserialize, Serialize};

/// What the ring said of its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingSettings {
    /// Each node's SSTable format, by address (`unknown` where the node did not say).
    pub sstable_format: BTreeMap<String, String>,
    /// The run's tables, by name.
    pub tables: BTreeMap<String, TableSettings>,
}

/// One table's settings, as `system_schema.tables` holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSettings {
    /// The compaction strategy's class, without its package
    /// (`SizeTieredCompactionStrategy`, `UnifiedCompactionStrategy`).
    pub compaction: String,
    /// The memtable configuration the table names (`default`: the node's default).
    pub memtable: String,
    /// The compressor's class, without its package (`none` when off).
    pub compression: String,
}

impl RingSettings {
    /// Reads the settings of `tables` in `keyspace`, and every node's SSTable format. What
    /// cannot be read is `unknown`, never an error: the run goes on without it.
    pub async fn read(session: &Session, keyspace: &str, tables: &[&str]) -> RingSettings {
        let mut settings = RingSettings::default();
        for table in tables {
            let read = table_settings(session, keyspace, table).await;
            settings.tables.insert(
                (*table).to_owned(),
                read.unwrap_or_else(TableSettings::unknown),
            );
        }
        for node in session.get_cluster_state().get_nodes_info() {
            let format = sstable_format(session, node).await;
            settings.sstable_format.insert(
                node.address.ip().to_string(),
                format.unwrap_or_else(|| "unknown".to_owned()),
            );
        }
        settings
    }

    /// The settings in one line.
    pub fn describe(&self) -> String {
        let mut formats: Vec<&str> = self.sstable_format.values().map(String::as_str).collect();
        formats.sort_unstable();
        formats.dedup();
        let mut by_setting: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (name, table) in &self.tables {
            by_setting
                .entry(format!(
                    "{}, memtable {}, {}",
                    table.compaction, table.memtable, table.compression
                ))
                .or_default()
                .push(name);
        }
        let tables: Vec<String> = by_setting
            .iter()
            .map(|(settings, names)| format!("{} ({settings})", names.join(", ")))
            .collect();
        format!(
            "sstable format {}; {}",
            formats.join("/"),
            tables.join("; ")
        )
    }

    /// What differs from `other`, one line per setting, as `what: A x, B y`.
    pub fn differences(&self, other: &RingSettings) -> Vec<String> {
        let mut differences = Vec::new();
        let formats = |s: &RingSettings| {
            let mut f: Vec<String> = s.sstable_format.values().cloned().collect();
            f.sort_unstable();
            f.dedup();
            f.join("/")
        };
        if formats(self) != formats(other) {
            differences.push(format!(
                "sstable format: A {}, B {}",
                formats(self),
                formats(other)
            ));
        }
        for (name, a) in &self.tables {
            let Some(b) = other.tables.get(name) else {
                continue;
            };
            for (what, va, vb) in [
                ("compaction", &a.compaction, &b.compaction),
                ("memtable", &a.memtable, &b.memtable),
                ("compression", &a.compression, &b.compression),
            ] {
                if va != vb {
                    differences.push(format!("{name} {what}: A {va}, B {vb}"));
                }
            }
        }
        differences
    }
}

impl TableSettings {
    fn unknown() -> TableSettings {
        TableSettings {
            compaction: "unknown".to_owned(),
            memtable: "unknown".to_owned(),
            compression: "unknown".to_owned(),
        }
    }
}

/// The last part of a Java class name.
fn short(class: &str) -> String {
    class.rsplit('.').next().unwrap_or(class).to_owned()
}

async fn table_settings(session: &Session, keyspace: &str, table: &str) -> Option<TableSettings> {
    type Row = (
        BTreeMap<String, String>,
        Option<String>,
        BTreeMap<String, String>,
    );
    let rows = session
        .query_unpaged(
            "SELECT compaction, memtable, compression FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table),
        )
        .await
        .ok()?
        .into_rows_result()
        .ok()?;
    let (compaction, memtable, compression): Row = rows.maybe_first_row().ok()??;
    Some(TableSettings {
        compaction: compaction
            .get("class")
            .map_or_else(|| "unknown".to_owned(), |c| short(c)),
        memtable: memtable.unwrap_or_else(|| "default".to_owned()),
        compression: match compression.get("class") {
            Some(class) if compression.get("enabled").is_none_or(|e| e != "false") => short(class),
            _ => "none".to_owned(),
        },
    })
}

/// The node's SSTable format, asked of it directly.
async fn sstable_format(
    session: &Session,
    node: &std::sync::Arc<scylla::cluster::Node>,
) -> Option<String> {
    let ask = crate::ring_view::asked_of(
        node,
        "SELECT value FROM system_views.settings WHERE name = ?",
    );
    let rows = session
        .query_unpaged(ask, ("sstable.selected_format",))
        .await
        .ok()?
        .into_rows_result()
        .ok()?;
    let (value,): (Option<String>,) = rows.maybe_first_row().ok()??;
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(compaction: &str, memtable: &str) -> TableSettings {
        TableSettings {
            compaction: compaction.to_owned(),
            memtable: memtable.to_owned(),
            compression: "LZ4Compressor".to_owned(),
        }
    }

    #[test]
    fn settings_that_differ_are_named_by_table_and_setting() {
        let a = RingSettings {
            sstable_format: [("127.0.0.1".to_owned(), "big".to_owned())].into(),
            tables: [
                (
                    "timesheets".to_owned(),
                    table("SizeTieredCompactionStrategy", "default"),
                ),
                (
                    "trees".to_owned(),
                    table("SizeTieredCompactionStrategy", "default"),
                ),
            ]
            .into(),
        };
        assert!(a.differences(&a).is_empty());
        let mut b = a.clone();
        b.sstable_format
            .insert("127.0.0.1".to_owned(), "bti".to_owned());
        b.tables.insert(
            "trees".to_owned(),
            table("UnifiedCompactionStrategy", "trie"),
        );
        assert_eq!(
            a.differences(&b),
            [
                "sstable format: A big, B bti",
                "trees compaction: A SizeTieredCompactionStrategy, B UnifiedCompactionStrategy",
                "trees memtable: A default, B trie",
            ]
        );
        assert_eq!(
            a.describe(),
            "sstable format big; timesheets, trees (SizeTieredCompactionStrategy, memtable \
             default, LZ4Compressor)"
        );
    }
}
