//! The ring's own view of its load, read over CQL from every node's virtual tables
//! (`system_views`, Cassandra 4.0 and later), without JMX.
//!
//! Virtual tables are local to the node that answers: a query about "the" thread pools returns
//! the coordinator's. So [`RingWatch`] asks each node itself, with a single-target load balancing
//! policy per node, over a session of its own (one connection per node, no compression): on the
//! client, the samples never wait behind the workload's requests in a connection's queue, and
//! never take the workload's permits. On the node they do share the way in: every CQL request,
//! these included, passes through the same request stage (`Native-Transport-Requests`), so a
//! busy node answers them late too. How long a node takes to answer them under load is therefore
//! its distance *and* its queue; [`RingWatch::connect`] times each node before the load, when
//! nothing queues, and that [`Baseline`] is the distance alone.
//!
//! One [`RingWatch::sample`] is one round: per node, the thread pools (`thread_pools`: active,
//! pending and blocked tasks now, tasks completed since the node started), the compactions
//! running (`sstable_tasks`) and the hints waiting (`pending_hints`): three small queries per
//! node, sent together, and how long the node took to answer all three.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scylla::client::execution_profile::{ExecutionProfile, ExecutionProfileHandle};
use scylla::client::session::Session;
use scylla::cluster::Node;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::statement::unprepared::Statement;
use scylla::value::{CqlValue, Row};

use crate::connect::{CompressionChoice, ConnectError, ConnectionArgs};

/// How long one query of a round may take before the round gives that node up.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The pool every client request passes through: its completed tasks are the requests a node
/// served.
pub const CLIENT_REQUESTS: &str = "Native-Transport-Requests";

/// The thread pools a report keeps (Cassandra's names for them): where requests queue when a
/// node cannot keep up. Every other pool (gossip, repair, caches...) is left out.
pub const POOLS: [&str; 7] = [
    CLIENT_REQUESTS,
    "MutationStage",
    "ReadStage",
    "CounterMutationStage",
    "RequestResponseStage",
    "MemtableFlushWriter",
    "CompactionExecutor",
];

/// The queries of one round, per node.
const QUERIES: [&str; 3] = [
    "SELECT name, active_tasks, pending_tasks, blocked_tasks, completed_tasks FROM system_views.thread_pools",
    "SELECT kind FROM system_views.sstable_tasks",
    "SELECT files FROM system_views.pending_hints",
];

/// Queries one round sends to each node.
pub const QUERIES_PER_NODE: usize = QUERIES.len();

/// Rounds taken before the load to time each node: the fastest of five is the node's distance.
/// The distance is a floor no round goes under, while a fresh connection's first answer, a
/// collection or a machine busy with other work only add to some rounds: on a loopback node of
/// a machine whose two cores ran five other JVMs, rounds took a median 21 ms. On a node 30 ms
/// away each way the five take about 0.3 s in all.
pub const BASELINE_ROUNDS: usize = 5;

/// A session that reads every node's own view of its load.
pub struct RingWatch {
    session: Session,
    nodes: Vec<Watched>,
    local_dc: String,
    baseline: Baseline,
}

/// How long each node took to answer a round before the load began (the fastest of
/// [`BASELINE_ROUNDS`]), by address: its distance from this client, with nothing queued.
pub type Baseline = BTreeMap<String, Duration>;

/// One node, and the statements that reach only it.
struct Watched {
    address: String,
    datacenter: String,
    statements: Vec<Statement>,
}

/// One thread pool of one node at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolState {
    /// Tasks running.
    pub active: i64,
    /// Tasks queued, waiting for a thread: requests the node has taken but not started.
    pub pending: i64,
    /// Tasks blocked because the next stage's queue was full.
    pub blocked: i64,
    /// Tasks completed since the node started.
    pub completed: i64,
}

/// One node's answer in one round.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSample {
    /// The node's address, as the driver knows it.
    pub address: String,
    /// Its datacenter.
    pub datacenter: String,
    /// The pools of [`POOLS`] it has, by name; empty when the node did not answer.
    pub pools: BTreeMap<String, PoolState>,
    /// Compactions (and other sstable tasks) running.
    pub compactions: u32,
    /// Hint files waiting to be delivered to other nodes.
    pub hint_files: i64,
    /// Why the node did not answer, if it did not.
    pub failed: Option<String>,
    /// How long the node took to answer the round's queries (sent together).
    pub took: Duration,
}

/// Why the ring cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watching session could not connect.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The ring has no `system_views.thread_pools` (Cassandra before 4.0), or refused it.
    #[error("the ring does not show its thread pools over CQL (system_views.thread_pools): {0}")]
    NoVirtualTables(String),
}

impl RingWatch {
    /// Connects a session of its own (one connection per node, uncompressed, in the workload's
    /// `local_dc`), checks that the first node answers about its thread pools, and times every
    /// node over [`BASELINE_ROUNDS`] rounds: call it before the load begins.
    pub async fn connect(args: &ConnectionArgs, local_dc: &str) -> Result<RingWatch, WatchError> {
        let mut args = args.clone();
        args.dc = Some(local_dc.to_owned());
        args.connections = 1;
        args.compression = CompressionChoice::None;
        let connection = args.connect().await?;
        let session = connection.session;
        let nodes = session
            .get_cluster_state()
            .get_nodes_info()
            .iter()
            .map(|node| Watched::new(node.clone()))
            .collect();
        let mut watch = RingWatch {
            session,
            nodes,
            local_dc: local_dc.to_owned(),
            baseline: Baseline::new(),
        };
        if let Some(first) = watch.nodes.first() {
            watch
                .session
                .query_unpaged(first.statements[0].clone(), &[])
                .await
                .map_err(|e| WatchError::NoVirtualTables(e.to_string()))?;
        }
        watch.baseline = watch.time_every_node().await;
        Ok(watch)
    }

    /// The datacenter the workload's requests stay in.
    pub fn local_dc(&self) -> &str {
        &self.local_dc
    }

    /// How long each node took to answer before the load (see [`Baseline`]).
    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// [`BASELINE_ROUNDS`] rounds, one after another: each node's fastest answer. A node that
    /// never answered has none.
    async fn time_every_node(&self) -> Baseline {
        let mut fastest = Baseline::new();
        for _ in 0..BASELINE_ROUNDS {
            for sample in self.sample().await.0 {
                if sample.failed.is_none() {
                    let took = fastest.entry(sample.address).or_insert(sample.took);
                    *took = (*took).min(sample.took);
                }
            }
        }
        fastest
    }

    /// One round: every node asked at once; the round's own length comes back beside it.
    pub async fn sample(&self) -> (Vec<NodeSample>, Duration) {
        let started = Instant::now();
        let samples =
            futures::future::join_all(self.nodes.iter().map(|node| node.sample(&self.session)))
                .await;
        (samples, started.elapsed())
    }
}

/// `cql` as a statement that `node` answers itself: virtual tables are local to the node asked.
pub fn asked_of(node: &Arc<Node>, cql: impl Into<String>) -> Statement {
    let mut statement = Statement::new(cql.into());
    statement.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
        NodeIdentifier::Node(node.clone()),
        None,
    )));
    statement
}

impl Watched {
    fn new(node: Arc<Node>) -> Watched {
        let profile: ExecutionProfileHandle = ExecutionProfile::builder()
            .load_balancing_policy(SingleTargetLoadBalancingPolicy::new(
                NodeIdentifier::Node(node.clone()),
                None,
            ))
            .request_timeout(Some(QUERY_TIMEOUT))
            .build()
            .into_handle();
        let statements = QUERIES
            .iter()
            .map(|query| {
                let mut statement = Statement::new(*query);
                statement.set_execution_profile_handle(Some(profile.clone()));
                statement
            })
            .collect();
        Watched {
            address: node.address.ip().to_string(),
            datacenter: node.datacenter.clone().unwrap_or_default(),
            statements,
        }
    }

    async fn sample(&self, session: &Session) -> NodeSample {
        let mut sample = NodeSample {
            address: self.address.clone(),
            datacenter: self.datacenter.clone(),
            pools: BTreeMap::new(),
            compactions: 0,
            hint_files: 0,
            failed: None,
            took: Duration::ZERO,
        };
        let started = Instant::now();
        let [pools, tasks, hints] = [0, 1, 2].map(|i| rows(session, &self.statements[i]));
        let (pools, tasks, hints) = futures::join!(pools, tasks, hints);
        sample.took = started.elapsed();
        match pools {
            Ok(rows) => sample.pools = rows.iter().filter_map(pool_state).collect(),
            Err(why) => sample.failed = Some(why),
        }
        // The other two are details: a node that answers about its pools is sampled.
        sample.compactions = tasks.map_or(0, |rows| rows.len() as u32);
        sample.hint_files = hints.map_or(0, |rows| {
            rows.iter()
                .filter_map(|row| count(row.columns.first()?.as_ref()?))
                .sum()
        });
        sample
    }
}

/// The rows of one statement, or why not.
async fn rows(session: &Session, statement: &Statement) -> Result<Vec<Row>, String> {
    let result = session
        .query_unpaged(statement.clone(), &[])
        .await
        .map_err(|e| e.to_string())?;
    let rows = result.into_rows_result().map_err(|e| e.to_string())?;
    rows.rows::<Row>()
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// A row of `thread_pools` as (name, state), if it is one of [`POOLS`].
fn pool_state(row: &Row) -> Option<(String, PoolState)> {
    let [name, active, pending, blocked, completed] = row.columns.as_slice() else {
        return None;
    };
    let name = match name.as_ref()? {
        CqlValue::Text(name) | CqlValue::Ascii(name) => name.clone(),
        _ => return None,
    };
    POOLS.contains(&name.as_str()).then_some(())?;
    let number = |value: &Option<CqlValue>| value.as_ref().and_then(count).unwrap_or(0);
    let state = PoolState {
        active: number(active),
        pending: number(pending),
        blocked: number(blocked),
        completed: number(completed),
    };
    Some((name, state))
}

/// A number column of any integer type (the virtual tables' types differ between versions).
fn count(value: &CqlValue) -> Option<i64> {
    match value {
        CqlValue::Int(n) => Some(i64::from(*n)),
        CqlValue::BigInt(n) => Some(*n),
        CqlValue::SmallInt(n) => Some(i64::from(*n)),
        CqlValue::Counter(c) => Some(c.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, numbers: [i64; 4]) -> Row {
        let mut columns = vec![Some(CqlValue::Text(name.to_owned()))];
        columns.extend(numbers.map(|n| Some(CqlValue::BigInt(n))));
        Row { columns }
    }

    #[test]
    fn a_pool_row_is_read_by_position_and_only_the_pools_that_matter_are_kept() {
        let (name, state) = pool_state(&row("MutationStage", [3, 40, 1, 1000])).unwrap();
        assert_eq!(name, "MutationStage");
        assert_eq!(
            state,
            PoolState {
                active: 3,
                pending: 40,
                blocked: 1,
                completed: 1000
            }
        );
        assert_eq!(pool_state(&row("GossipStage", [0, 0, 0, 5])), None);
    }

    #[test]
    fn counts_of_every_integer_type_are_read_and_others_are_not() {
        assert_eq!(count(&CqlValue::Int(7)), Some(7));
        assert_eq!(count(&CqlValue::BigInt(-2)), Some(-2));
        assert_eq!(count(&CqlValue::Text("7".into())), None);
    }
}
