//! The things the apps write and read: employees, pickle trees, and visits of one to the other.
//!
//! A [`Visit`] is one event; the factory writes it, denormalized, to the three tables that each
//! answer one question about it, and the row values for each table come from methods here so
//! that the column order of every INSERT sits next to the data it binds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scylla::value::{CqlDate, CqlTimeuuid};
use uuid::Uuid;

/// An employee of the pickle factory (`employees` table).
#[derive(Debug, Clone, PartialEq)]
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

impl Employee {
    /// Values for `INSERT INTO employees (employee_id, name, email, hire_date)`.
    pub fn row(&self) -> (Uuid, &str, &str, CqlDate) {
        (self.employee_id, &self.name, &self.email, self.hire_date)
    }
}

/// One visit of an employee to a pickle tree: the event the factory records.
#[derive(Debug, Clone, Copy, PartialEq)]
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

impl Visit {
    /// Values for `INSERT INTO timesheets (employee_id, pickle_tree_id, timestamp, pickle_count,
    /// pickle_avg_size, watered)`.
    pub fn timesheet_row(&self) -> (Uuid, Uuid, CqlTimeuuid, i32, f32, bool) {
        (
            self.employee_id,
            self.pickle_tree_id,
            self.timestamp,
            self.pickle_count,
            self.pickle_avg_size,
            self.watered,
        )
    }

    /// Values for `INSERT INTO trees (pickle_tree_id, timestamp, employee_id, pickle_count,
    /// pickle_avg_size, watered)`.
    pub fn tree_row(&self) -> (Uuid, CqlTimeuuid, Uuid, i32, f32, bool) {
        (
            self.pickle_tree_id,
            self.timestamp,
            self.employee_id,
            self.pickle_count,
            self.pickle_avg_size,
            self.watered,
        )
    }

    /// Values for `INSERT INTO production (pickle_count, pickle_tree_id, timestamp)`.
    pub fn production_row(&self) -> (i32, Uuid, CqlTimeuuid) {
        (self.pickle_count, self.pickle_tree_id, self.timestamp)
    }

    /// Values for `INSERT INTO production_by_day (pickle_count, day, pickle_tree_id, timestamp)`.
    pub fn production_by_day_row(&self) -> (i32, CqlDate, Uuid, CqlTimeuuid) {
        (
            self.pickle_count,
            self.day(),
            self.pickle_tree_id,
            self.timestamp,
        )
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
