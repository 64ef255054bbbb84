//! The shop's reads, prepared once: sampling employees by token range, summarising a timesheet
//! on the server, and the point reads that check a visit's denormalized copies.
//!
//! Two lessons live here. **Sampling without a scan**: the original read the whole `employees`
//! table to pick ten; a token-range read from a random token returns a few rows from one place in
//! the ring, whatever the table's size. **Aggregating where the data is**: the original pulled
//! every row of a timesheet to sum it on the client; `GROUP BY pickle_tree_id` with `COUNT`,
//! `SUM` and `MAX` sends one row per tree instead.

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
use crate::model::timeuuid_time;
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
    /// The table whose copy is wrong: `trees` or `production`.
    pub table: &'static str,
    /// What is wrong: `missing`, or which column differs.
    pub problem: String,
}

/// The shop's statements.
pub struct ShopStatements {
    sample_from: PreparedStatement,
    sample_before: PreparedStatement,
    timesheet: PreparedStatement,
    visits_of_tree: PreparedStatement,
    all_visits: PreparedStatement,
    tree_copy: PreparedStatement,
    production_copy: PreparedStatement,
}

impl ShopStatements {
    /// Prepares every read for `keyspace`; `page_size` bounds the rows of one page of a large
    /// partition.
    pub async fn prepare(
        session: &Session,
        keyspace: &str,
        page_size: i32,
    ) -> Result<ShopStatements, SchemaError> {
        let prepare = |table: &'static str, cql: String| async move {
            let mut statement = prepare_idempotent(session, table, cql).await?;
            statement.set_page_size(page_size);
            Ok::<_, SchemaError>(statement)
        };
        let employees = format!("{keyspace}.employees");
        Ok(ShopStatements {
            sample_from: prepare(
                "employees",
                format!("SELECT employee_id, name FROM {employees} WHERE token(employee_id) >= ? LIMIT ?"),
            )
            .await?,
            sample_before: prepare(
                "employees",
                format!("SELECT employee_id, name FROM {employees} WHERE token(employee_id) < ? LIMIT ?"),
            )
            .await?,
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

    /// An employee's timesheet, summarised per tree by the server, page by page.
    pub async fn timesheet(
        &self,
        session: &Session,
        employee_id: Uuid,
    ) -> Result<Timesheet, ReadError> {
        let mut timesheet = Timesheet::default();
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
        Ok(problem.map(|problem| mismatch(employee_id, visit, "trees", problem)))
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
        Ok((!found).then(|| mismatch(employee_id, visit, "production", "missing".to_owned())))
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
