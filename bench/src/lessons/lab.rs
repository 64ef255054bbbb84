//! The lab every lesson works in: one session, a keyspace of its own, the factory's prepared
//! writes, seeded fake data, and the means to drive a variant on the apps' own loop and read back
//! what it measured.
//!
//! It lives apart from the lessons so that each lesson's file shows only its experiment; what the
//! experiments share (setting up, driving, combining mirrored runs) is written once, here.

use crate::error::{BenchError, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use client::Connection;
use hdrhistogram::Histogram;
use schema::model::Visit;
use schema::workforce::Workforce;
use schema::writes::{FactoryStatements, TableConsistency};
use scylla::client::session::Session;
use tokio::time::Instant;

use loadgen::args::{RunArgs, TimerChoice};
use loadgen::record::{Completed, Percentiles};
use loadgen::report::RunReport;
use loadgen::{Intended, Run, Workload, measure};

use super::LessonsArgs;

/// What every experiment works with: one session, the lessons' keyspace, the factory's prepared
/// writes, seeded fake data, and the run's timing.
pub struct Lab {
    /// The session, routed to the local datacenter.
    pub cassandra: Connection,
    /// The keyspace (replication 1 in each datacenter, so where a request goes matters).
    pub keyspace: String,
    /// The factory's writes, prepared once.
    pub writes: FactoryStatements,
    /// Seeded employees and trees.
    pub workforce: Workforce,
    /// The options.
    pub args: LessonsArgs,
    /// Where plots go.
    pub folder: PathBuf,
}

impl Lab {
    /// Reaches the ring (starting a local one if allowed and nothing answers), creates the
    /// lessons' keyspace with one replica in each datacenter, and prepares the factory's writes.
    /// Returns the lab and the ring's nodes per datacenter.
    pub(super) async fn set_up(
        args: &LessonsArgs,
        started_at: &str,
        folder: &Path,
    ) -> Result<(Lab, BTreeMap<String, usize>)> {
        let (cassandra, _) =
            crate::suite::reach_ring(&args.connection, !args.no_local_ring, 1, 1).await?;
        let nodes = schema::nodes_per_datacenter(&cassandra.session);
        let keyspace = crate::suite::stamped_keyspace("lessons", started_at);
        // One replica in each datacenter: a request that reaches a node without the replica must
        // be forwarded, which is what the routing lesson shows.
        let one_each = schema::Replication(nodes.keys().map(|dc| (dc.clone(), 1)).collect());
        schema::apply(
            &cassandra.session,
            &schema::project_schema()?,
            &keyspace,
            &one_each,
        )
        .await?;
        // Prepared once, here, for every lesson: each request then carries only an id and values.
        let writes = FactoryStatements::prepare(
            &cassandra.session,
            &keyspace,
            &TableConsistency::uniform(args.connection.consistency.0),
        )
        .await?;
        let lab = Lab {
            cassandra,
            keyspace,
            writes,
            workforce: Workforce::generate(1, 100, 100),
            args: args.clone(),
            folder: folder.to_path_buf(),
        };
        Ok((lab, nodes))
    }

    /// The load options of one variant: measured `duration` after `warmup`, quiet, the precise
    /// timer (variants that pace themselves use it too, so none has a better clock).
    pub(super) fn load(&self, rate: Option<f64>, max_in_flight: u32) -> RunArgs {
        RunArgs {
            rate: rate.map(loadgen::args::Rate::fixed),
            ramp: None,
            duration: Some(self.args.duration),
            warmup: self.args.warmup,
            max_in_flight,
            max_errors: None,
            drain_timeout: Duration::from_secs(30),
            outage_limit: Duration::from_secs(30),
            report: None,
            hdr_log: None,
            overwrite: false,
            metrics_addr: None,
            shard: None,
            shards: None,
            start_at: None,
            run_id: None,
            quiet: true,
            no_ring_view: true,
            timer: TimerChoice::Precise,
            pace_window: Duration::ZERO,
            threads: super::THREADS,
        }
    }

    /// Like [`Lab::load`], for half the measured time: one of the two runs of a mirrored pair.
    pub(super) fn half_load(&self, rate: Option<f64>, max_in_flight: u32) -> RunArgs {
        RunArgs {
            duration: Some(self.args.duration / 2),
            ..self.load(rate, max_in_flight)
        }
    }

    /// Drives `operation` on the apps' own loop (the schedule, the in-flight semaphore, the
    /// recorder: what factory and shop run) and returns its report.
    pub(super) async fn drive<Op, Fut>(
        &self,
        load: RunArgs,
        workload: Workload,
        operation: Op,
    ) -> Result<RunReport>
    where
        Op: FnMut(u64, Intended) -> Fut,
        Fut: Future<Output = Completed>,
    {
        let run = Run::new(&load, workload, &serde_json::json!({ "lesson": true }))?;
        let finished = run.drive(operation).await?;
        // Ctrl-C, a fatal error or too many errors end the lesson as they end an app's run.
        finished.result()?;
        Ok(finished.report)
    }

    /// A visit's three writes, all at once (the factory's way), each measured.
    pub(super) async fn write_visit(&self, visit: Visit) -> Completed {
        let (session, writes) = (&self.cassandra.session, &self.writes);
        let sent = Instant::now();
        let (a, b, c) = futures::join!(
            measure(0, session.execute_unpaged(&writes.insert_timesheet, &visit)),
            measure(1, session.execute_unpaged(&writes.insert_tree, &visit)),
            measure(
                2,
                session.execute_unpaged(&writes.insert_production, visit.production())
            ),
        );
        Completed {
            sent,
            requests: vec![a, b, c],
        }
    }

    /// Writes a plot into the report folder and returns its file name.
    pub(super) fn save_plot(&self, name: &str, svg: &str) -> Result<String> {
        let file = format!("{name}.svg");
        let path = self.folder.join(&file);
        loadgen::report::write_atomically(&path, svg.as_bytes())
            .map_err(BenchError::io(format!("writing {}", path.display())))?;
        Ok(file)
    }
}

/// The runs of one variant taken together: operations over measured seconds, histograms added.
pub(super) struct Combined {
    pub(super) achieved_rate: f64,
    pub(super) response: Histogram<u64>,
}

impl Combined {
    pub(super) fn of(reports: &[RunReport]) -> Combined {
        let seconds: f64 = reports.iter().map(|r| r.measured_seconds).sum();
        let operations: f64 = reports
            .iter()
            .map(|r| r.achieved_rate * r.measured_seconds)
            .sum();
        let mut response = loadgen::record::new_histogram();
        for report in reports {
            loadgen::record::add_into(&mut response, &response_histogram(report));
        }
        Combined {
            achieved_rate: operations / seconds.max(1e-9),
            response,
        }
    }

    pub(super) fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.response)
    }
}

/// The tables a visit is written to, in the order of [`Lab::write_visit`]'s requests.
pub(super) const VISIT_TABLES: [&str; 3] = ["timesheets", "trees", "production"];

/// A workload of visits (three writes each) named after the lesson.
pub(super) fn visits(tool: &'static str) -> Workload {
    Workload {
        tool,
        op: "visit",
        request: "write",
        requests_per_op: VISIT_TABLES.len(),
        service_tags: VISIT_TABLES.to_vec(),
        operations: None,
    }
}

/// A single-write workload named after the lesson.
pub(super) fn one_write(tool: &'static str) -> Workload {
    Workload {
        tool,
        op: "write",
        request: "write",
        requests_per_op: 1,
        service_tags: vec!["timesheets"],
        operations: None,
    }
}

/// Tasks the ring's nodes have completed so far in thread pool `pool` (`Native-Transport-Requests`:
/// requests served; `MutationStage`: writes applied; `ReadStage`: local reads), asked of every
/// node directly (`system_views.thread_pools`). `None` when a node cannot tell (one is down, say).
pub(super) async fn tasks_completed(session: &Session, pool: &str) -> Option<u64> {
    let cql = "SELECT completed_tasks FROM system_views.thread_pools WHERE name = ?";
    summed_on_every_node(session, cql, (pool,)).await
}

/// The one number `cql` selects, asked of every node itself, summed. `None` when a node cannot
/// tell (one is down, say).
async fn summed_on_every_node(
    session: &Session,
    cql: &str,
    values: impl scylla::serialize::row::SerializeRow + Clone,
) -> Option<u64> {
    let mut total = 0;
    for node in session.get_cluster_state().get_nodes_info() {
        let asked = client::ring_view::asked_of(node, cql);
        let rows = session.query_unpaged(asked, values.clone()).await.ok()?;
        let (counted,): (i64,) = rows.into_rows_result().ok()?.single_row().ok()?;
        total += u64::try_from(counted).ok()?;
    }
    Some(total)
}

/// What the ring's nodes have counted so far of `tables` in `keyspace`, in the table-metrics views
/// `views` (`local_write_latency`: writes each replica applied; `local_read_latency`: partition
/// reads; `local_scan_latency`: range reads, which is what an index read is on each replica),
/// summed over every node, asked of each directly. `None` when a node cannot tell.
pub(super) async fn table_counts(
    session: &Session,
    keyspace: &str,
    views: &[&str],
    tables: &[&str],
) -> Option<u64> {
    let mut total = 0;
    for view in views {
        let cql = format!(
            "SELECT count FROM system_views.{view} WHERE keyspace_name = ? AND table_name = ?"
        );
        for table in tables {
            total += summed_on_every_node(session, &cql, (keyspace, *table)).await?;
        }
    }
    Some(total)
}

/// The headline percentiles of a report (every operation, failed and missed too), microseconds.
pub(super) fn response(report: &RunReport) -> Percentiles {
    report.headline()
}

/// The headline histogram of a report (empty if it has none).
pub(super) fn response_histogram(report: &RunReport) -> Histogram<u64> {
    report
        .headline_histogram()
        .unwrap_or_else(loadgen::record::new_histogram)
}
