//! The shop's reads, prepared once: sampling employees by token range, summarising a timesheet
//! on the server, and the point reads that check a visit's denormalized copies.
//!
//! Two lessons live here. **Sampling without a scan**: the original read the whole `employees`
//! table to pick ten; a token-range read from a random token returns a few rows from one place in
//! the ring, whatever the table's size. **Aggregating where the data is**: the original pulled
//! every row of a timesheet to sum it on the client; `GROUP BY pickle_tree_id` with `COUNT`,
//! `SUM` and `MAX` sends one row per tree instead.
//!
//! The same questions are asked of either [`Model`]: of the denormalized tables, each by its
//! partition key; of the SAI model's `visits`, each through its indexes. There `GROUP BY` is not
//! available (it groups only by primary key columns, and an employee's visits are not one
//! partition), so a timesheet is summed on the client, from one row per visit; and the copies
//! `--verify` checks are the indexes: the visit found through the employee's index must be found
//! through the tree's (`visits_by_tree`) and the count's (`visits_by_count`) too.

use std::collections::HashSet;
use std::time::SystemTime;

use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::errors::ExecutionError;
use scylla::response::PagingState;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlTimeuuid};
use uuid::Uuid;

use crate::SchemaError;
use crate::model::{Model, timeuuid_time};
use crate::writes::prepare_idempotent;

/// Why a read failed: the request itself, or its rows did not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The request failed (boxed: the driver's error is large, and errors travel by value).
    #[error(transparent)]
    Request(Box<ExecutionError>),
    /// The rows could not be read as expected (a schema that drifted under us).
    #[error("unexpected rows: {0}")]
    Rows(String),
}

impl From<ExecutionError> for ReadError {
    fn from(error: ExecutionError) -> ReadError {
        ReadError::Request(Box::new(error))
    }
}

/// A failed read as the runtime counts it: a failed request by the driver error's kind, rows
/// that do not fit the model as `invalid` (every later read would fail the same way, so a run
/// stops and says why). Both apps and the lessons measure the model's reads with it.
impl loadgen::errors::RequestError for ReadError {
    fn failure(&self) -> loadgen::errors::Failure {
        match self {
            ReadError::Request(error) => loadgen::errors::classify(error),
            ReadError::Rows(reason) => loadgen::errors::Failure {
                kind: loadgen::errors::ErrorKind::Invalid,
                detail: Some(reason.clone()),
            },
        }
    }
}

fn rows_error(error: impl std::fmt::Display) -> ReadError {
    ReadError::Rows(error.to_string())
}

/// One employee as the shop shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, scylla::DeserializeRow)]
pub struct Staff {
    /// Partition key.
    pub employee_id: Uuid,
    /// Name, if the factory recorded one.
    pub name: Option<String>,
}

/// An employee's timesheet, summarised by the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timesheet {
    /// Visits recorded.
    pub visits: i64,
    /// Pickles picked over all visits.
    pub pickles: i64,
    /// Each tree visited, with the time-based UUID of the latest visit to it.
    pub trees: Vec<(Uuid, CqlTimeuuid)>,
}

impl Timesheet {
    /// The latest visit of all, as a time-based UUID.
    pub fn last_visit(&self) -> Option<CqlTimeuuid> {
        self.trees
            .iter()
            .map(|(_, last)| *last)
            .max_by_key(|t| timeuuid_time(*t))
    }
}

/// One tree of a timesheet, as the server sums it up (`GROUP BY pickle_tree_id`).
#[derive(Debug, Clone, Copy, PartialEq, scylla::DeserializeRow)]
struct TreeSummary {
    pickle_tree_id: Uuid,
    visits: i64,
    pickles: i32,
    last_visit: CqlTimeuuid,
}

/// A visit as `timesheets` has it.
#[derive(Debug, Clone, Copy, PartialEq, scylla::DeserializeRow)]
pub struct RecordedVisit {
    /// The tree.
    pub pickle_tree_id: Uuid,
    /// When.
    pub timestamp: CqlTimeuuid,
    /// Pickles picked.
    pub pickle_count: i32,
    /// Average size.
    pub pickle_avg_size: f32,
    /// Watered or not.
    pub watered: bool,
}

/// Where a copy of a visit disagrees with `timesheets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The employee.
    pub employee_id: Uuid,
    /// The tree.
    pub pickle_tree_id: Uuid,
    /// The visit's time-based UUID.
    pub timestamp: Uuid,
    /// The copy that is wrong: `trees` or `production`, or (the SAI model) the index it was
    /// looked for through, `visits_by_tree` or `visits_by_count`.
    pub table: &'static str,
    /// What is wrong: `missing`, or which column differs.
    pub problem: String,
}

/// The shop's statements.
pub struct ShopStatements {
    model: Model,
    sample_from: PreparedStatement,
    sample_before: PreparedStatement,
    timesheet: PreparedStatement,
    visits_of_tree: PreparedStatement,
    all_visits: PreparedStatement,
    tree_copy: PreparedStatement,
    production_copy: PreparedStatement,
}

impl ShopStatements {
    /// Prepares every read of `model` for `keyspace`; `page_size` bounds the rows of one page
    /// of a large partition (or of an index's answer).
    pub async fn prepare(
        session: &Session,
        keyspace: &str,
        page_size: i32,
        model: Model,
    ) -> Result<ShopStatements, SchemaError> {
        let prepare = |table: &'static str, cql: String| async move {
            let mut statement = prepare_idempotent(session, table, cql).await?;
            statement.set_page_size(page_size);
            Ok::<_, SchemaError>(statement)
        };
        let employees = format!("{keyspace}.employees");
        let sample_from = prepare(
            "employees",
            format!(
                "SELECT employee_id, name FROM {employees} WHERE token(employee_id) >= ? LIMIT ?"
            ),
        )
        .await?;
        let sample_before = prepare(
            "employees",
            format!(
                "SELECT employee_id, name FROM {employees} WHERE token(employee_id) < ? LIMIT ?"
            ),
        )
        .await?;
        if model == Model::Sai {
            // The same questions of `visits`, each answered by its indexes; the bind markers are
            // in the same order as the denormalized reads'.
            let visits = format!("{keyspace}.visits");
            let columns = "pickle_tree_id, timestamp, pickle_count, pickle_avg_size, watered";
            return Ok(ShopStatements {
                model,
                sample_from,
                sample_before,
                timesheet: prepare(
                    "visits",
                    format!("SELECT pickle_tree_id, pickle_count, timestamp FROM {visits} WHERE employee_id = ?"),
                )
                .await?,
                visits_of_tree: prepare(
                    "visits",
                    format!("SELECT {columns} FROM {visits} WHERE employee_id = ? AND pickle_tree_id = ?"),
                )
                .await?,
                all_visits: prepare(
                    "visits",
                    format!("SELECT {columns} FROM {visits} WHERE employee_id = ?"),
                )
                .await?,
                tree_copy: prepare(
                    "visits",
                    format!(
                        "SELECT employee_id, pickle_count, pickle_avg_size, watered FROM {visits} \
                         WHERE pickle_tree_id = ? AND timestamp = ?"
                    ),
                )
                .await?,
                production_copy: prepare(
                    "visits",
                    format!(
                        "SELECT pickle_tree_id FROM {visits} \
                         WHERE pickle_count = ? AND pickle_tree_id = ? AND timestamp = ?"
                    ),
                )
                .await?,
            });
        }
        Ok(ShopStatements {
            model,
            sample_from,
            sample_before,
            timesheet: prepare(
                "timesheets",
                format!(
                    "SELECT pickle_tree_id, COUNT(*) AS visits, SUM(pickle_count) AS pickles, \
                     MAX(timestamp) AS last_visit FROM {keyspace}.timesheets \
                     WHERE employee_id = ? GROUP BY pickle_tree_id"
                ),
            )
            .await?,
            visits_of_tree: prepare(
                "timesheets",
                format!(
                    "SELECT pickle_tree_id, timestamp, pickle_count, pickle_avg_size, watered FROM {keyspace}.timesheets \
                     WHERE employee_id = ? AND pickle_tree_id = ? AND timestamp < maxTimeuuid(?) LIMIT 1"
                ),
            )
            .await?,
            all_visits: prepare(
                "timesheets",
                format!(
                    "SELECT pickle_tree_id, timestamp, pickle_count, pickle_avg_size, watered FROM {keyspace}.timesheets \
                     WHERE employee_id = ?"
                ),
            )
            .await?,
            tree_copy: prepare(
                "trees",
                format!(
                    "SELECT employee_id, pickle_count, pickle_avg_size, watered FROM {keyspace}.trees \
                     WHERE pickle_tree_id = ? AND timestamp = ?"
                ),
            )
            .await?,
            production_copy: prepare(
                "production",
                format!(
                    "SELECT pickle_tree_id FROM {keyspace}.production \
                     WHERE pickle_count = ? AND pickle_tree_id = ? AND timestamp = ?"
                ),
            )
            .await?,
        })
    }

    /// What `--verify` checks a visit against: its other tables, or (the SAI model) the indexes
    /// it must be found through.
    pub fn copies(&self) -> &'static str {
        match self.model {
            Model::Denormalized => "trees and production",
            Model::Sai => "visits_by_tree and visits_by_count",
        }
    }

    /// Up to `count` distinct employees, read from a token range starting at `from` and wrapping
    /// around the ring: two small range reads however large the table is.
    pub async fn sample_employees(
        &self,
        session: &Session,
        from: i64,
        count: i32,
    ) -> Result<Vec<Staff>, ReadError> {
        let mut staff: Vec<Staff> = Vec::new();
        let mut seen = HashSet::new();
        for (statement, limit) in [(&self.sample_from, count), (&self.sample_before, count)] {
            let wanted = limit - i32::try_from(staff.len()).unwrap_or(limit);
            if wanted <= 0 {
                break;
            }
            let rows = session
                .execute_unpaged(statement, (from, wanted))
                .await?
                .into_rows_result()
                .map_err(rows_error)?;
            for row in rows.rows::<Staff>().map_err(rows_error)? {
                let employee = row.map_err(rows_error)?;
                if seen.insert(employee.employee_id) {
                    staff.push(employee);
                }
            }
        }
        Ok(staff)
    }

    /// An employee's timesheet, summarised per tree by the server, page by page (the SAI
    /// model: every visit, through the employee's index, summed here).
    pub async fn timesheet(
        &self,
        session: &Session,
        employee_id: Uuid,
    ) -> Result<Timesheet, ReadError> {
        let mut timesheet = Timesheet::default();
        if self.model == Model::Sai {
            let mut trees: std::collections::BTreeMap<Uuid, CqlTimeuuid> = Default::default();
            for_each_row(
                session,
                &self.timesheet,
                (employee_id,),
                |(tree, count, at): (Uuid, i32, CqlTimeuuid)| {
                    timesheet.visits += 1;
                    timesheet.pickles += i64::from(count);
                    let last = trees.entry(tree).or_insert(at);
                    if timeuuid_time(at) > timeuuid_time(*last) {
                        *last = at;
                    }
                },
            )
            .await?;
            timesheet.trees = trees.into_iter().collect();
            return Ok(timesheet);
        }
        for_each_row(
            session,
            &self.timesheet,
            (employee_id,),
            |tree: TreeSummary| {
                timesheet.visits += tree.visits;
                timesheet.pickles += i64::from(tree.pickles);
                timesheet.trees.push((tree.pickle_tree_id, tree.last_visit));
            },
        )
        .await?;
        Ok(timesheet)
    }

    /// The latest visit of `employee_id` to `tree` older than `before`, if any.
    pub async fn visit_before(
        &self,
        session: &Session,
        employee_id: Uuid,
        tree: Uuid,
        before: SystemTime,
    ) -> Result<Option<RecordedVisit>, ReadError> {
        let millis = before
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        if self.model == Model::Sai {
            // Through the employee's and the tree's indexes at once; the latest one before
            // `before` (to the millisecond, as maxTimeuuid has it) is picked here.
            let mut latest: Option<RecordedVisit> = None;
            for_each_row(
                session,
                &self.visits_of_tree,
                (employee_id, tree),
                |visit: RecordedVisit| {
                    let at = timeuuid_time(visit.timestamp)
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis();
                    let later = latest.is_none_or(|l| {
                        timeuuid_time(visit.timestamp) > timeuuid_time(l.timestamp)
                    });
                    if at <= millis && later {
                        latest = Some(visit);
                    }
                },
            )
            .await?;
            return Ok(latest);
        }
        let before = CqlTimestamp(i64::try_from(millis).unwrap_or(i64::MAX));
        let rows = session
            .execute_unpaged(&self.visits_of_tree, (employee_id, tree, before))
            .await?
            .into_rows_result()
            .map_err(rows_error)?;
        rows.maybe_first_row::<RecordedVisit>().map_err(rows_error)
    }

    /// Every visit of `employee_id`, paged.
    pub async fn all_visits(
        &self,
        session: &Session,
        employee_id: Uuid,
    ) -> Result<Vec<RecordedVisit>, ReadError> {
        let mut visits = Vec::new();
        for_each_row(session, &self.all_visits, (employee_id,), |visit| {
            visits.push(visit)
        })
        .await?;
        Ok(visits)
    }

    /// Checks that `visit` of `employee_id` is in `trees` with the same values.
    pub async fn check_tree_copy(
        &self,
        session: &Session,
        employee_id: Uuid,
        visit: &RecordedVisit,
    ) -> Result<Option<Mismatch>, ReadError> {
        let rows = session
            .execute_unpaged(&self.tree_copy, (visit.pickle_tree_id, visit.timestamp))
            .await?
            .into_rows_result()
            .map_err(rows_error)?;
        let copy = rows
            .maybe_first_row::<(Option<Uuid>, Option<i32>, Option<f32>, Option<bool>)>()
            .map_err(rows_error)?;
        let expected = (
            Some(employee_id),
            Some(visit.pickle_count),
            Some(visit.pickle_avg_size),
            Some(visit.watered),
        );
        let problem = match copy {
            None => Some("missing".to_owned()),
            Some(found) if found != expected => Some(format!(
                "differs: found {found:?}, timesheets has {expected:?}"
            )),
            Some(_) => None,
        };
        let copy = match self.model {
            Model::Denormalized => "trees",
            Model::Sai => "visits_by_tree",
        };
        Ok(problem.map(|problem| mismatch(employee_id, visit, copy, problem)))
    }

    /// Checks that `visit` of `employee_id` is in `production`.
    pub async fn check_production_copy(
        &self,
        session: &Session,
        employee_id: Uuid,
        visit: &RecordedVisit,
    ) -> Result<Option<Mismatch>, ReadError> {
        let rows = session
            .execute_unpaged(
                &self.production_copy,
                (visit.pickle_count, visit.pickle_tree_id, visit.timestamp),
            )
            .await?
            .into_rows_result()
            .map_err(rows_error)?;
        let found = rows
            .maybe_first_row::<(Uuid,)>()
            .map_err(rows_error)?
            .is_some();
        let copy = match self.model {
            Model::Denormalized => "production",
            Model::Sai => "visits_by_count",
        };
        Ok((!found).then(|| mismatch(employee_id, visit, copy, "missing".to_owned())))
    }
}

/// Runs `statement` page by page (at most the statement's page size of rows per request, so a
/// large partition never arrives in one piece) and hands every row to `each`.
async fn for_each_row<R>(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
    mut each: impl FnMut(R),
) -> Result<(), ReadError>
where
    R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
{
    let mut paging = PagingState::start();
    loop {
        let (result, next) = session
            .execute_single_page(statement, &values, paging)
            .await?;
        let rows = result.into_rows_result().map_err(rows_error)?;
        for row in rows.rows::<R>().map_err(rows_error)? {
            each(row.map_err(rows_error)?);
        }
        match next.into_paging_control_flow() {
            std::ops::ControlFlow::Break(()) => return Ok(()),
            std::ops::ControlFlow::Continue(state) => paging = state,
        }
    }
}

fn mismatch(
    employee_id: Uuid,
    visit: &RecordedVisit,
    table: &'static str,
    problem: String,
) -> Mismatch {
    Mismatch {
        employee_id,
        pickle_tree_id: visit.pickle_tree_id,
        timestamp: Uuid::from_bytes(*visit.timestamp.as_bytes()),
        table,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::errors::{ErrorKind, RequestError};

    #[test]
    fn rows_that_do_not_fit_the_model_are_invalid_and_say_why() {
        let failure = ReadError::Rows("no column trees".to_owned()).failure();
        assert_eq!(failure.kind, ErrorKind::Invalid);
        assert!(failure.kind.is_fatal());
        assert_eq!(failure.detail.as_deref(), Some("no column trees"));
    }

    #[test]
    fn a_failed_request_is_sorted_as_the_driver_error_it_is() {
        let timeout =
            scylla::errors::ExecutionError::RequestTimeout(std::time::Duration::from_secs(1));
        let failure = ReadError::from(timeout).failure();
        assert_eq!(failure.kind, ErrorKind::ClientTimeout);
    }
}
