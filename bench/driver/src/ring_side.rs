//! The ring's side of a run: what every node said about its own load, once a second, while the
//! run was measured, beside the client's numbers in the same report.
//!
//! A [`RingWatcher`] samples [`cluster::ring_view`] once a second on a task of its own (a
//! session of its own too, so the client's hot path never waits for it). Its rounds become a
//! [`RingSide`]: per node and per second, the thread pools' queues (pending, blocked: work the
//! node took and could not start) and their throughput (tasks completed per second), the
//! compactions running and the hints waiting. The samples are kept as sampled, never averaged
//! away, and the report says how they were taken and what they cost (rounds, queries, how long a
//! round took). [`RingSide::weigh`] adds the ring's evidence to the rate's verdict.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cluster::ring_view::{NodeSample, PoolState, QUERIES_PER_NODE, RingWatch};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::limiter::{Evidence, Limiter, Verdict};

/// How often the ring is sampled.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The ring's view of the measured run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RingSide {
    /// How it was read, or why it was not.
    pub how: String,
    /// Seconds between rounds.
    pub interval_s: f64,
    /// Rounds taken from the start of measurement to the end of the run (its drain included).
    pub rounds: usize,
    /// Queries per node per round.
    pub queries_per_node: usize,
    /// How long a round took: median and longest, ms.
    pub round_ms_p50: f64,
    /// The longest round, ms.
    pub round_ms_max: f64,
    /// Every node's series.
    pub nodes: Vec<NodeSeries>,
}

/// One node's samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSeries {
    /// Its address.
    pub address: String,
    /// Its datacenter.
    pub datacenter: String,
    /// One entry per round.
    pub seconds: Vec<NodeSecond>,
}

/// One node in one round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSecond {
    /// When, in seconds after measurement began.
    pub at_s: f64,
    /// Whether the node answered (when not, nothing else is set).
    pub answered: bool,
    /// The thread pools that matter ([`cluster::ring_view::POOLS`]), by name.
    pub pools: BTreeMap<String, PoolSecond>,
    /// Compactions running.
    pub compactions: u32,
    /// Hint files waiting for other nodes.
    pub hint_files: i64,
}

impl NodeSecond {
    /// Tasks queued in every pool sampled: pending and blocked.
    pub fn queued(&self) -> f64 {
        self.pools
            .values()
            .map(|p| (p.pending + p.blocked) as f64)
            .sum()
    }

    /// The pool's tasks completed per second, 0 when it was not sampled.
    pub fn completed_per_s(&self, pool: &str) -> f64 {
        self.pools.get(pool).map_or(0.0, |p| p.completed_per_s)
    }
}

/// One thread pool in one round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolSecond {
    /// Tasks running.
    pub active: i64,
    /// Tasks queued, waiting for a thread.
    pub pending: i64,
    /// Tasks blocked by a full next stage.
    pub blocked: i64,
    /// Tasks completed per second since the previous round.
    pub completed_per_s: f64,
}

/// The ring's strongest sign of saturation: a pool that queued work.
#[derive(Debug, Clone, PartialEq)]
pub struct Strain {
    /// The pool.
    pub pool: String,
    /// The node, with its datacenter.
    pub node: String,
    /// Most tasks pending in one round.
    pub pending_max: i64,
    /// Most tasks blocked in one round.
    pub blocked_max: i64,
    /// Rounds in which it had work queued (pending or blocked), and rounds in all.
    pub queued_rounds: usize,
    /// Rounds in which it had at least [`SATURATED_PENDING`] tasks queued.
    pub deep_rounds: usize,
    /// Rounds the node answered.
    pub rounds: usize,
}

impl Strain {
    /// The most tasks it queued in one round, pending and blocked.
    pub fn depth(&self) -> i64 {
        self.pending_max + self.blocked_max
    }
}

/// A queue of at least this many tasks (pending and blocked), in at least a quarter of the
/// rounds, is a ring that cannot keep up. Both parts count: the view's own three queries can
/// queue a couple of tasks on an idle node, and one node at 1000 visits/s that kept up here
/// (one local node, debug build) queued up to 8 in Native-Transport-Requests once, with a task
/// or two queued in 9 of 30 rounds; a ring that cannot keep up has a deep queue most seconds.
pub const SATURATED_PENDING: i64 = 8;

/// A median round of the ring's own view at least this long (loopback: about 1 ms) can be the
/// network's, when it is also at least half the requests' service time.
pub const NETWORK_ROUND_MS: f64 = 10.0;

/// One round as sampled.
struct Round {
    at: Instant,
    took: Duration,
    samples: Vec<NodeSample>,
}

/// Samples the ring once a second until [`RingWatcher::finish`].
pub struct RingWatcher {
    rounds: Arc<Mutex<Vec<Round>>>,
    task: JoinHandle<()>,
}

impl RingWatcher {
    /// Starts sampling now (the first round is the baseline of the throughput that follows).
    pub fn start(watch: RingWatch) -> RingWatcher {
        let rounds = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&rounds);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let at = ticks.tick().await;
                let (samples, took) = watch.sample().await;
                let round = Round { at, took, samples };
                kept.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(round);
            }
        });
        RingWatcher { rounds, task }
    }

    /// Stops sampling and keeps the rounds from `measured_from` on, with the round before it as
    /// the baseline. The round under way, if any, is dropped: a report never waits for a slow or
    /// dead node.
    pub fn finish(self, measured_from: Instant) -> RingSide {
        self.task.abort();
        let rounds =
            std::mem::take(&mut *self.rounds.lock().unwrap_or_else(PoisonError::into_inner));
        RingSide::from_rounds(&rounds, measured_from)
    }
}

impl RingSide {
    /// A ring that was not sampled, and why.
    pub fn unavailable(why: &str) -> RingSide {
        RingSide {
            how: format!("not sampled: {why}"),
            ..RingSide::default()
        }
    }

    fn from_rounds(rounds: &[Round], measured_from: Instant) -> RingSide {
        let first = rounds.iter().position(|r| r.at >= measured_from);
        let Some(first) = first else {
            return RingSide::unavailable("no round fell in the measured time");
        };
        let kept = &rounds[first.saturating_sub(1)..];
        let measured = &rounds[first..];
        let mut took: Vec<f64> = measured
            .iter()
            .map(|r| r.took.as_secs_f64() * 1e3)
            .collect();
        took.sort_by(f64::total_cmp);
        let mut nodes: BTreeMap<&str, NodeSeries> = BTreeMap::new();
        let mut last: BTreeMap<&str, (Instant, &BTreeMap<String, PoolState>)> = BTreeMap::new();
        for round in kept {
            for sample in &round.samples {
                let previous = last.get(sample.address.as_str()).copied();
                if sample.failed.is_none() {
                    last.insert(&sample.address, (round.at, &sample.pools));
                }
                if round.at < measured_from {
                    continue;
                }
                let series = nodes.entry(&sample.address).or_insert_with(|| NodeSeries {
                    address: sample.address.clone(),
                    datacenter: sample.datacenter.clone(),
                    seconds: Vec::new(),
                });
                let at_s = round
                    .at
                    .saturating_duration_since(measured_from)
                    .as_secs_f64();
                series
                    .seconds
                    .push(second(at_s, round.at, sample, previous));
            }
        }
        RingSide {
            how: format!(
                "each node's system_views over CQL, every {} s, {QUERIES_PER_NODE} queries per node, by a session of its own",
                INTERVAL.as_secs()
            ),
            interval_s: INTERVAL.as_secs_f64(),
            rounds: measured.len(),
            queries_per_node: QUERIES_PER_NODE,
            round_ms_p50: took.get(took.len() / 2).copied().unwrap_or(0.0),
            round_ms_max: took.last().copied().unwrap_or(0.0),
            nodes: nodes.into_values().collect(),
        }
    }

    /// Every pool of every node that queued work at least once, with how deep and how often.
    pub fn strains(&self) -> Vec<Strain> {
        let mut strains = Vec::new();
        for node in &self.nodes {
            let answered: Vec<&NodeSecond> = node.seconds.iter().filter(|s| s.answered).collect();
            let names: std::collections::BTreeSet<&String> =
                answered.iter().flat_map(|s| s.pools.keys()).collect();
            for name in names {
                let states: Vec<PoolSecond> = answered
                    .iter()
                    .filter_map(|s| s.pools.get(name).copied())
                    .collect();
                let queued = |p: &&PoolSecond| p.pending + p.blocked;
                let strain = Strain {
                    pool: name.clone(),
                    node: format!("{} ({})", node.address, node.datacenter),
                    pending_max: states.iter().map(|p| p.pending).max().unwrap_or(0),
                    blocked_max: states.iter().map(|p| p.blocked).max().unwrap_or(0),
                    queued_rounds: states.iter().filter(|p| queued(p) > 0).count(),
                    deep_rounds: (states.iter())
                        .filter(|p| queued(p) >= SATURATED_PENDING)
                        .count(),
                    rounds: answered.len(),
                };
                if strain.depth() > 0 {
                    strains.push(strain);
                }
            }
        }
        strains
    }

    /// The pool that queued the most work, if any node queued any.
    pub fn strain(&self) -> Option<Strain> {
        deepest(self.strains())
    }

    /// The deepest queue of a ring that could not keep up: a pool that queued at least
    /// [`SATURATED_PENDING`] tasks in at least a quarter of the rounds its node answered.
    pub fn saturated(&self) -> Option<Strain> {
        deepest(
            self.strains()
                .into_iter()
                .filter(|s| s.deep_rounds * 4 >= s.rounds && s.deep_rounds > 0),
        )
    }

    /// The pool's tasks completed per second over the measured rounds, every node together.
    pub fn completed_per_s(&self, pool: &str) -> f64 {
        self.nodes
            .iter()
            .map(|node| {
                let rates: Vec<f64> = node
                    .seconds
                    .iter()
                    .filter_map(|s| Some(s.pools.get(pool)?.completed_per_s))
                    .collect();
                rates.iter().sum::<f64>() / rates.len().max(1) as f64
            })
            .sum()
    }

    /// Every node together, round by round: the sum of `value` over the nodes' samples. A round
    /// in which a node did not answer is left out: a sum without it would look like a drop.
    pub fn per_round(&self, value: impl Fn(&NodeSecond) -> f64) -> Vec<f64> {
        let rounds = self.nodes.iter().map(|n| n.seconds.len()).min();
        (0..rounds.unwrap_or(0))
            .filter_map(|i| {
                let samples: Vec<&NodeSecond> = self.nodes.iter().map(|n| &n.seconds[i]).collect();
                samples
                    .iter()
                    .all(|s| s.answered)
                    .then(|| samples.into_iter().map(&value).sum())
            })
            .collect()
    }

    /// One sentence: what the ring showed, with the numbers.
    pub fn describe(&self) -> String {
        if self.nodes.is_empty() {
            return format!("the ring's own view: {}", self.how);
        }
        let missing: usize = (self.nodes.iter())
            .map(|n| n.seconds.iter().filter(|s| !s.answered).count())
            .sum();
        let unanswered = if missing > 0 {
            format!(", {missing} samples unanswered")
        } else {
            String::new()
        };
        let queues = match self.strain() {
            Some(s) => format!(
                "{} on {} had up to {} tasks pending and {} blocked, work queued in {} of {} samples",
                s.pool, s.node, s.pending_max, s.blocked_max, s.queued_rounds, s.rounds
            ),
            None => "no node queued work in its request pools".to_owned(),
        };
        let nodes = match self.nodes.len() {
            1 => "1 node".to_owned(),
            n => format!("{n} nodes"),
        };
        format!(
            "the ring's own view ({nodes}, {} rounds of system_views, a round {:.1} ms at the median{unanswered}): {queues}",
            self.rounds, self.round_ms_p50
        )
    }

    /// Whether the requests' time went on the way to the ring and back rather than in it: the
    /// ring's own view (tiny virtual-table queries, every node at once) took a median round of
    /// at least [`NETWORK_ROUND_MS`] and at least half the requests' median service time, while
    /// no node ever queued as many as [`SATURATED_PENDING`] tasks (the view's own queries can
    /// queue a couple) and the machine's CPU was not taken by others (which would slow both as
    /// well). On loopback a round takes about a millisecond.
    fn network_bound(&self, e: &Evidence) -> bool {
        let answered = self
            .nodes
            .iter()
            .any(|node| node.seconds.iter().any(|s| s.answered));
        answered
            && self.round_ms_p50 >= NETWORK_ROUND_MS
            && self.round_ms_p50 >= 0.5 * e.service_p50_s * 1e3
            && self.strain().is_none_or(|s| s.depth() < SATURATED_PENDING)
            && !e.machine_taken_by_others()
    }

    /// The sentence that says the time went on the network, with its numbers.
    fn network_clause(&self, e: &Evidence) -> String {
        let service = if e.service_p50_s > 0.0 {
            format!(
                "against a median service time of {:.3} ms",
                e.service_p50_s * 1e3
            )
        } else {
            "while no request of the run was answered".to_owned()
        };
        let queues = match self.strain() {
            Some(s) => format!("no node queued more than {} tasks", s.depth()),
            None => "no node queued work".to_owned(),
        };
        format!(
            "The time went on the way to the ring and back, not in it: the ring's own view (tiny \
             virtual-table queries, every node at once) took a median {:.1} ms a round while \
             {queues}, {service}; on loopback a round takes about 1 ms. The network (on a local \
             ring, its modelled latency: `bench ring status`) set the service time.",
            self.round_ms_p50
        )
    }

    /// The verdict with the ring's evidence: a full window while the ring queued work is the
    /// server, not the bound; a full window or failures while the ring answered its own view as
    /// slowly as the requests, with nothing queued, is the network; every verdict about a limit
    /// cites what the ring showed.
    pub fn weigh(&self, mut limiter: Limiter, evidence: &Evidence) -> Limiter {
        let cites = !matches!(
            limiter.verdict,
            Verdict::KeptUp | Verdict::NothingMeasured | Verdict::Unthrottled
        );
        let window_verdict = matches!(
            limiter.verdict,
            Verdict::InFlightBound | Verdict::ServerLatency
        );
        if let (Verdict::InFlightBound, Some(s)) = (limiter.verdict, self.saturated()) {
            limiter.verdict = Verdict::ServerLatency;
            limiter.explanation = format!(
                "The window was full because the ring could not keep up: {} on {} queued up to {} tasks ({} blocked), {SATURATED_PENDING} or more in {} of {} seconds; a larger window would only queue more. {}",
                s.pool,
                s.node,
                s.pending_max,
                s.blocked_max,
                s.deep_rounds,
                s.rounds,
                limiter.explanation
            );
        } else if window_verdict && self.network_bound(evidence) {
            limiter.verdict = Verdict::NetworkLatency;
            let target = evidence.target_rate.unwrap_or(evidence.achieved_rate);
            limiter.explanation = format!(
                "{} At this latency the target needs about {:.0} requests in flight (Little's \
                 law) and the window holds {}: raise --max-in-flight, or bring the client nearer \
                 the ring. {}",
                self.network_clause(evidence),
                evidence.needed_in_flight(target, evidence.service_p50_s),
                evidence.max_in_flight,
                limiter.explanation
            );
        } else if cites && !self.nodes.is_empty() {
            let stop = if limiter.explanation.ends_with('.') {
                ""
            } else {
                "."
            };
            // Failures while the time went on the network say so; other limits cite the ring.
            let evidence = if limiter.verdict == Verdict::Failures && self.network_bound(evidence) {
                self.network_clause(evidence)
            } else {
                format!("Server side: {}.", self.describe())
            };
            limiter.explanation = format!("{}{stop} {evidence}", limiter.explanation);
        }
        limiter
    }
}

/// The strain of the deepest queue among `strains`.
fn deepest(strains: impl IntoIterator<Item = Strain>) -> Option<Strain> {
    strains
        .into_iter()
        .reduce(|worst, s| if s.depth() > worst.depth() { s } else { worst })
}

/// One node's round, its throughput from the `previous` answered round.
fn second(
    at_s: f64,
    at: Instant,
    sample: &NodeSample,
    previous: Option<(Instant, &BTreeMap<String, PoolState>)>,
) -> NodeSecond {
    let answered = sample.failed.is_none();
    let pools = sample
        .pools
        .iter()
        .map(|(name, state)| {
            let completed_per_s = previous
                .and_then(|(then, pools)| {
                    let elapsed = at.saturating_duration_since(then).as_secs_f64();
                    let before = pools.get(name)?;
                    (elapsed > 0.0)
                        .then(|| (state.completed - before.completed).max(0) as f64 / elapsed)
                })
                .unwrap_or(0.0);
            let second = PoolSecond {
                active: state.active,
                pending: state.pending,
                blocked: state.blocked,
                completed_per_s,
            };
            (name.clone(), second)
        })
        .collect();
    NodeSecond {
        at_s,
        answered,
        pools,
        compactions: sample.compactions,
        hint_files: sample.hint_files,
    }
}

#[cfg(test)]
#[path = "ring_side_tests.rs"]
mod tests;
