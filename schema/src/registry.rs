//! The registry of workforces: has every employee of this seed and size been written to this
//! keyspace already?
//!
//! Registering a million employees takes half a minute; doing it on every run made the factory's
//! start-up grow with the workforce instead of with the work. The factory records a workforce in
//! `registrations` only after every one of its employee writes was acknowledged, so a row there
//! means the whole workforce is in `employees`; a run that was stopped halfway records nothing
//! and the next run registers again.

use std::time::{Duration, SystemTime};

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use crate::SchemaError;
use crate::reads::ReadError;
use crate::writes::prepare_idempotent;

/// The registry's statements, prepared once.
pub struct Registry {
    find: PreparedStatement,
    record: PreparedStatement,
    employee: PreparedStatement,
    tree_profile: PreparedStatement,
}

impl Registry {
    /// Prepares the registry's statements for `keyspace`.
    pub async fn prepare(session: &Session, keyspace: &str) -> Result<Registry, SchemaError> {
        let table = "registrations";
        Ok(Registry {
            find: prepare_idempotent(
                session,
                table,
                format!(
                    "SELECT registered_at FROM {keyspace}.{table} WHERE seed = ? AND employees = ?"
                ),
            )
            .await?,
            record: prepare_idempotent(
                session,
                table,
                format!(
                    "INSERT INTO {keyspace}.{table} (seed, employees, registered_at) VALUES (?, ?, ?)"
                ),
            )
            .await?,
            employee: prepare_idempotent(
                session,
                "employees",
                format!("SELECT employee_id FROM {keyspace}.employees WHERE employee_id = ?"),
            )
            .await?,
            tree_profile: prepare_idempotent(
                session,
                "tree_profiles",
                format!(
                    "SELECT pickle_tree_id FROM {keyspace}.tree_profiles WHERE pickle_tree_id = ?"
                ),
            )
            .await?,
        })
    }

    /// Whether `tree_profiles` holds the profile of tree `pickle_tree_id`.
    pub async fn tree_profile_exists(
        &self,
        session: &Session,
        pickle_tree_id: Uuid,
    ) -> Result<bool, ReadError> {
        let rows = session
            .execute_unpaged(&self.tree_profile, (pickle_tree_id,))
            .await?
            .into_rows_result()
            .map_err(|e| ReadError::Rows(e.to_string()))?;
        Ok(rows.rows_num() > 0)
    }

    /// Whether `employees` holds the employee `employee_id`.
    pub async fn employee_exists(
        &self,
        session: &Session,
        employee_id: Uuid,
    ) -> Result<bool, ReadError> {
        let rows = session
            .execute_unpaged(&self.employee, (employee_id,))
            .await?
            .into_rows_result()
            .map_err(|e| ReadError::Rows(e.to_string()))?;
        Ok(rows.rows_num() > 0)
    }

    /// When the workforce of `seed` with `employees` employees was registered, if it was.
    pub async fn registered_at(
        &self,
        session: &Session,
        seed: u64,
        employees: u32,
    ) -> Result<Option<SystemTime>, ReadError> {
        let rows = session
            .execute_unpaged(&self.find, key(seed, employees))
            .await?
            .into_rows_result()
            .map_err(|e| ReadError::Rows(e.to_string()))?;
        let row = rows
            .maybe_first_row::<(Option<CqlTimestamp>,)>()
            .map_err(|e| ReadError::Rows(e.to_string()))?;
        Ok(row.map(|(at,)| {
            let millis = at.map_or(0, |t| t.0.max(0).unsigned_abs());
            SystemTime::UNIX_EPOCH + Duration::from_millis(millis)
        }))
    }

    /// Records that every employee of the workforce was written. Call it only then.
    pub async fn record(
        &self,
        session: &Session,
        seed: u64,
        employees: u32,
    ) -> Result<(), ReadError> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let at = CqlTimestamp(i64::try_from(now.as_millis()).unwrap_or(i64::MAX));
        let (seed, employees) = key(seed, employees);
        session
            .execute_unpaged(&self.record, (seed, employees, at))
            .await?;
        Ok(())
    }
}

/// The key as CQL stores it: the seed's bits as a `bigint`, the size as an `int`.
fn key(seed: u64, employees: u32) -> (i64, i32) {
    (
        i64::from_ne_bytes(seed.to_ne_bytes()),
        i32::try_from(employees).unwrap_or(i32::MAX),
    )
}
