//! The things the apps write and read: employees, pickle trees, and visits of one to the other.
//!
//! A [`Visit`] is one event; the factory writes it, denormalized, to the tables that each answer
//! one question about it. Rows are types that derive the driver's `SerializeRow`: their fields
//! are bound to an INSERT's markers by column name, so a column order can never go wrong. A
//! `Visit` is itself the row of `timesheets` and of `trees` (the same six columns, in another
//! order); `production` keeps three of them, so it has a row type of its own.
//!
//! The same visits can be kept the other way Cassandra 5.0 offers, once in one table whose
//! Storage-Attached Indexes answer the questions ([`Model::Sai`], the row [`IndexedVisit`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scylla::SerializeRow;
use scylla::value::{CqlDate, CqlTimeuuid};
use uuid::Uuid;

/// An employee of the pickle factory: the row of the `employees` table.
#[derive(Debug, Clone, PartialEq, SerializeRow)]
pub struct Employee {
    /// Partition key.
    pub employee_id: Uuid,
    /// Full name (fake).
    pub name: String,
    /// Work email, derived from the name.
    pub email: String,
    /// Day the employee was hired.
    pub hire_date: CqlDate,
}

/// One visit of an employee to a pickle tree: the event the factory records, and the row of
/// `timesheets` and of `trees`.
#[derive(Debug, Clone, Copy, PartialEq, SerializeRow)]
pub struct Visit {
    /// Who visited.
    pub employee_id: Uuid,
    /// Which tree.
    pub pickle_tree_id: Uuid,
    /// When, as a time-based UUID: unique, and ordered by time in clustering columns.
    pub timestamp: CqlTimeuuid,
    /// Pickles picked, 0 to 100.
    pub pickle_count: i32,
    /// Average pickle size, 0 to 2.
    pub pickle_avg_size: f32,
    /// Whether the tree was watered.
    pub watered: bool,
}

/// A visit as `production` holds it ("which trees gave N pickles?"); with a day, as
/// `production_by_day` holds it.
#[derive(Debug, Clone, Copy, PartialEq, SerializeRow)]
pub struct Production {
    /// Partition key.
    pub pickle_count: i32,
    /// The tree.
    pub pickle_tree_id: Uuid,
    /// When.
    pub timestamp: CqlTimeuuid,
}

/// A visit as `production_by_day` holds it: production bucketed by the visit's day.
#[derive(Debug, Clone, Copy, PartialEq, SerializeRow)]
pub struct ProductionByDay {
    /// Partition key, with the day.
    pub pickle_count: i32,
    /// The visit's day (UTC).
    pub day: CqlDate,
    /// The tree.
    pub pickle_tree_id: Uuid,
    /// When.
    pub timestamp: CqlTimeuuid,
}

/// How the apps keep visits: the [`Model`] is chosen with `--model` (`FACTORY_MODEL`,
/// `SHOP_MODEL`) and both apps must be given the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// Each visit written to one table per question (`timesheets`, `trees`, `production`), each
    /// keyed so that its question is one partition's read.
    #[default]
    Denormalized,
    /// Each visit written once, to `visits`, whose Storage-Attached Indexes (on the employee,
    /// the tree, the count and the day) answer the same questions, each read asking every token
    /// range.
    Sai,
}

/// A tree's profile, the row of `tree_profiles`: what "the trees most like this one" compares.
#[derive(Debug, Clone, PartialEq, SerializeRow)]
pub struct TreeProfile {
    /// The tree.
    pub pickle_tree_id: Uuid,
    /// Its profile (unit length, [`crate::workforce::PROFILE_DIMENSIONS`] numbers).
    pub profile: Vec<f32>,
}

/// A visit as `visits` holds it (the SAI model): every column once, with its day.
#[derive(Debug, Clone, Copy, PartialEq, SerializeRow)]
pub struct IndexedVisit {
    /// The key: the visit itself.
    pub timestamp: CqlTimeuuid,
    /// Who (indexed).
    pub employee_id: Uuid,
    /// Which tree (indexed).
    pub pickle_tree_id: Uuid,
    /// The visit's day, UTC (indexed).
    pub day: CqlDate,
    /// Pickles picked (indexed).
    pub pickle_count: i32,
    /// Average pickle size.
    pub pickle_avg_size: f32,
    /// Whether the tree was watered.
    pub watered: bool,
}

impl Visit {
    /// The row of `visits`, the SAI model's one table.
    pub fn indexed(&self) -> IndexedVisit {
        IndexedVisit {
            timestamp: self.timestamp,
            employee_id: self.employee_id,
            pickle_tree_id: self.pickle_tree_id,
            day: self.day(),
            pickle_count: self.pickle_count,
            pickle_avg_size: self.pickle_avg_size,
            watered: self.watered,
        }
    }

    /// The row of `production`.
    pub fn production(&self) -> Production {
        Production {
            pickle_count: self.pickle_count,
            pickle_tree_id: self.pickle_tree_id,
            timestamp: self.timestamp,
        }
    }

    /// The row of `production_by_day`.
    pub fn production_by_day(&self) -> ProductionByDay {
        ProductionByDay {
            pickle_count: self.pickle_count,
            day: self.day(),
            pickle_tree_id: self.pickle_tree_id,
            timestamp: self.timestamp,
        }
    }

    /// The day of the visit (UTC), the time bucket of `production_by_day`.
    pub fn day(&self) -> CqlDate {
        let seconds = self
            .time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        cql_date_from_days(seconds / 86_400)
    }

    /// When the visit happened, read back from its time-based UUID.
    pub fn time(&self) -> SystemTime {
        timeuuid_time(self.timestamp)
    }
}

/// The wall-clock time a time-based UUID carries (the epoch if it carries none).
pub fn timeuuid_time(timeuuid: CqlTimeuuid) -> SystemTime {
    Uuid::from_bytes(*timeuuid.as_bytes())
        .get_timestamp()
        .map(|ts| {
            let (seconds, nanos) = ts.to_unix();
            UNIX_EPOCH + Duration::new(seconds, nanos)
        })
        .unwrap_or(UNIX_EPOCH)
}

/// A CQL `date` from days since 1970-01-01 (CQL counts days from 2^31 at the epoch).
pub fn cql_date_from_days(days: u64) -> CqlDate {
    CqlDate((1u32 << 31).wrapping_add(u32::try_from(days).unwrap_or(u32::MAX >> 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_two_to_the_31() {
        assert_eq!(cql_date_from_days(0).0, 1 << 31);
        assert_eq!(cql_date_from_days(19_000).0, (1 << 31) + 19_000);
    }
}
