//! The pickle data model: `schema.cql` (the single source of truth), and applying, checking and
//! dropping it on a live ring.
//!
//! - [`cql`]: reads `schema.cql` into tables, keys and statements.
//! - [`replication`]: replication per datacenter, derived from the ring or given.
//! - [`live`]: the schema a ring actually has, and how it differs from the file.
//! - [`apply`] and [`drop_keyspace`]: change a ring's schema; [`ensure_ready`]: check it before
//!   a run.
//! - [`model`], [`workforce`]: what the apps write and read, and the seeded fake data;
//!   [`writes`] and [`reads`]: the factory's writes and the shop's reads, side by side, each
//!   prepared once; [`registry`]: which workforces are written.

mod changes;
pub mod cql;
pub mod live;
pub mod model;
pub mod reads;
pub mod registry;
pub mod replication;
#[cfg(feature = "testing")]
pub mod testing;
pub mod workforce;
pub mod writes;

use std::collections::BTreeMap;

use scylla::client::session::Session;
use scylla::errors::ExecutionError;

pub use changes::{Applied, apply, drop_keyspace, set_memtable};
pub use cql::SchemaFile;
pub use live::{CheckReport, LiveKeyspace};
pub use replication::{Problem, Replication};

/// The text of `schema/schema.cql`, compiled into every binary so that they all agree on it.
pub const SCHEMA_CQL: &str = include_str!("../schema.cql");

/// What can go wrong while reading or changing a ring's schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// `schema.cql` does not parse (a broken edit).
    #[error(transparent)]
    Parse(#[from] cql::ParseError),
    /// A request to the ring failed.
    #[error("{what} failed: {source}")]
    Request {
        /// What was being done.
        what: String,
        /// The driver's error.
        source: Box<ExecutionError>,
    },
    /// A result did not have the expected shape.
    #[error("unexpected result from {table}: {reason}")]
    Result {
        /// Where the result came from.
        table: &'static str,
        /// Why it could not be read.
        reason: String,
    },
    /// A memtable configuration name that cannot be one.
    #[error(
        "--memtable '{0}': a memtable configuration is named with letters, digits and '_' (trie, skiplist, default), as cassandra.yaml's memtable.configurations names them"
    )]
    BadMemtable(String),
    /// The keyspace name cannot be used unquoted in CQL.
    #[error(
        "'{0}' (--keyspace / CASSANDRA_KEYSPACE) is not a usable keyspace name: use 1 to 48 lowercase letters, digits and '_', starting with a letter"
    )]
    BadKeyspaceName(String),
    /// `--replication` names a datacenter the ring does not have.
    #[error("--replication {given}: {problems}")]
    BadReplication {
        /// The replication asked for.
        given: String,
        /// What is wrong with it on this ring.
        problems: String,
    },
    /// After applying, the live schema still differs from the file (a table created by hand with
    /// other keys or types).
    #[error(
        "keyspace {keyspace} still differs from schema.cql after apply; fix or drop the tables below (`schema drop --yes` drops the keyspace):\n{report}"
    )]
    Drift {
        /// The keyspace.
        keyspace: String,
        /// What differs (boxed: it is large, and errors travel by value).
        report: Box<CheckReport>,
    },
    /// The keyspace or a table an app needs is missing or differs from the file.
    #[error(
        "keyspace {keyspace} is not ready: {problems}; run `schema apply --keyspace {keyspace}` first"
    )]
    NotApplied {
        /// The keyspace.
        keyspace: String,
        /// What is missing or different.
        problems: String,
    },
    /// A statement could not be prepared.
    #[error("cannot prepare the statement for table {table}: {reason}")]
    Prepare {
        /// The table the statement is for.
        table: &'static str,
        /// The server's or driver's reason.
        reason: String,
    },
    /// `--dimensions` says another size than the ring's `tree_profiles.profile`.
    #[error(
        "--dimensions {asked}, but {keyspace}.tree_profiles.profile is vector<float, {ring}> on the ring: give --dimensions {ring} (or none), or apply the schema to another keyspace with `schema apply --dimensions {asked}`"
    )]
    DimensionsMismatch {
        /// The keyspace.
        keyspace: String,
        /// What the flag said.
        asked: usize,
        /// What the ring has.
        ring: usize,
    },
    /// The nodes did not agree on the schema in time.
    #[error("the nodes did not agree on the new schema: {0}")]
    Agreement(String),
}

impl SchemaError {
    /// Whether the error is the user's flags contradicting the ring (exit 2, not 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, SchemaError::DimensionsMismatch { .. })
    }

    pub(crate) fn request(what: impl Into<String>, error: ExecutionError) -> SchemaError {
        SchemaError::Request {
            what: what.into(),
            source: Box::new(error),
        }
    }

    pub(crate) fn result(table: &'static str, error: impl std::fmt::Display) -> SchemaError {
        SchemaError::Result {
            table,
            reason: error.to_string(),
        }
    }
}

/// The project's schema, parsed. A parse failure here is a bug in `schema.cql`, caught by the
/// unit tests; it is still returned as an error rather than a panic.
pub fn project_schema() -> Result<SchemaFile, SchemaError> {
    Ok(SchemaFile::parse(SCHEMA_CQL)?)
}

/// How many numbers the ring's `tree_profiles.profile` holds in `keyspace` (`vector<float, N>`),
/// or `None` before the table exists.
pub async fn ring_profile_dimensions(
    session: &Session,
    keyspace: &str,
) -> Result<Option<usize>, SchemaError> {
    let live = LiveKeyspace::read(session, keyspace).await?;
    Ok(live.as_ref().and_then(|ks| {
        let column = ks.tables.get("tree_profiles")?.get("profile")?;
        cql::vector_type(&column.cql_type).map(|(_, dimensions)| dimensions)
    }))
}

/// schema.cql with its trees' profiles the size the ring's are (see [`profile_dimensions`]), and
/// that size: what an app checks the ring against and draws profiles of.
pub async fn project_schema_sized_to_ring(
    session: &Session,
    keyspace: &str,
    asked: Option<usize>,
) -> Result<(SchemaFile, usize), SchemaError> {
    let ring = ring_profile_dimensions(session, keyspace).await?;
    let dimensions = profile_dimensions(keyspace, asked, ring)?;
    Ok((
        project_schema()?.with_vector_dimensions(dimensions),
        dimensions,
    ))
}

/// How many numbers the trees' profiles hold: the ring's (`ring`), which `asked` (an app's
/// `--dimensions`), when given, must equal ([`SchemaError::DimensionsMismatch`], a usage error,
/// otherwise). Before the table exists: `asked`, or schema.cql's.
pub fn profile_dimensions(
    keyspace: &str,
    asked: Option<usize>,
    ring: Option<usize>,
) -> Result<usize, SchemaError> {
    match (asked, ring) {
        (Some(asked), Some(ring)) if asked != ring => Err(SchemaError::DimensionsMismatch {
            keyspace: keyspace.to_owned(),
            asked,
            ring,
        }),
        (_, Some(ring)) => Ok(ring),
        (asked, None) => Ok(asked.unwrap_or(workforce::PROFILE_DIMENSIONS)),
    }
}

/// Checks that `keyspace` can be used unquoted: lowercase, digits, `_`, starting with a letter.
pub fn validate_keyspace_name(keyspace: &str) -> Result<(), SchemaError> {
    let mut chars = keyspace.chars();
    let valid = keyspace.len() <= 48
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(SchemaError::BadKeyspaceName(keyspace.to_owned()))
    }
}

/// How many nodes each datacenter of the ring has, as the driver sees it.
pub fn nodes_per_datacenter(session: &Session) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for node in session.get_cluster_state().get_nodes_info() {
        if let Some(dc) = &node.datacenter {
            *counts.entry(dc.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// Checks that `keyspace` exists and that each of `tables` matches the file, so that a run that
/// forgot `schema apply` stops with one clear message instead of failing every request.
pub async fn ensure_ready(
    session: &Session,
    file: &SchemaFile,
    keyspace: &str,
    tables: &[&str],
) -> Result<(), SchemaError> {
    validate_keyspace_name(keyspace)?;
    let live = LiveKeyspace::read(session, keyspace).await?;
    if live.is_none() {
        return Err(SchemaError::NotApplied {
            keyspace: keyspace.to_owned(),
            problems: "it does not exist".into(),
        });
    }
    let report = live::compare(
        file,
        keyspace,
        live.as_ref(),
        &nodes_per_datacenter(session),
    );
    let problems: Vec<String> = report
        .tables
        .iter()
        .filter(|t| tables.contains(&t.table.as_str()))
        .flat_map(|t| t.problems.iter().map(move |p| format!("{}: {p}", t.table)))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaError::NotApplied {
            keyspace: keyspace.to_owned(),
            problems: problems.join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_names_must_be_plain_cql_identifiers() {
        assert!(validate_keyspace_name("pickle").is_ok());
        assert!(validate_keyspace_name("test_ab12").is_ok());
        for bad in ["", "Pickle", "1pickle", "pick-le", "a\"b", &"x".repeat(49)] {
            assert!(validate_keyspace_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_embedded_schema_parses() {
        assert_eq!(project_schema().unwrap().keyspace, "pickle");
    }
}

#[cfg(test)]
mod dimension_tests {
    use super::*;

    #[test]
    fn the_profiles_follow_the_ring_and_a_flag_that_differs_is_refused() {
        assert_eq!(profile_dimensions("ks", None, Some(16)).unwrap(), 16);
        assert_eq!(profile_dimensions("ks", Some(16), Some(16)).unwrap(), 16);
        assert_eq!(profile_dimensions("ks", None, None).unwrap(), 64);
        assert_eq!(profile_dimensions("ks", Some(32), None).unwrap(), 32);
        let refused = profile_dimensions("ks", Some(32), Some(64))
            .unwrap_err()
            .to_string();
        assert!(
            refused
                .starts_with("--dimensions 32, but ks.tree_profiles.profile is vector<float, 64>"),
            "{refused}"
        );
        assert!(!refused.contains('\n'));
    }
}
