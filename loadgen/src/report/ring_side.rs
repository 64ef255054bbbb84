//! The ring's side of a run: what every node said about its own load, once a second, while the
//! run was measured, beside the client's numbers in the same report.
//!
//! A [`RingWatcher`] samples [`client::ring_view`] once a second on a task of its own (a
//! session of its own too, so the client's hot path never waits for it). Its rounds become a
//! [`RingSide`]: per node and per second, the thread pools' queues (pending, blocked: work the
//! node took and could not start) and their throughput (tasks completed per second), the
//! compactions running and the hints waiting. The samples are kept as sampled, never averaged
//! away, and the report says how they were taken and what they cost (rounds, queries, how long a
//! round took), with how long each node took to answer them before the load began (its
//! distance, with nothing queued) and in every round. [`RingSide::weigh`] adds the ring's
//! evidence to the rate's verdict.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use client::ring_view::{Baseline, NodeSample, PoolState, QUERIES_PER_NODE, RingWatch};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod distance;
mod strain;
mod weigh;

pub use strain::SATURATED_PENDING;
pub use weigh::NETWORK_ROUND_MS;

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
    /// The datacenter the workload's requests stayed in (the watching session's).
    #[serde(default)]
    pub local_dc: String,
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
    /// How long it took to answer a round before the load began, ms (the fastest of
    /// [`client::ring_view::BASELINE_ROUNDS`]): its distance from the client, nothing queued.
    #[serde(default)]
    pub baseline_ms: Option<f64>,
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
    /// The thread pools that matter ([`client::ring_view::POOLS`]), by name.
    pub pools: BTreeMap<String, PoolSecond>,
    /// Compactions running.
    pub compactions: u32,
    /// Hint files waiting for other nodes.
    pub hint_files: i64,
    /// How long it took to answer the round, ms: its distance and, under load, its queue (the
    /// view's queries pass through the same request stage as the workload's).
    #[serde(default)]
    pub took_ms: f64,
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
    local_dc: String,
    baseline: Baseline,
}

impl RingWatcher {
    /// Starts sampling now (the first round is the baseline of the throughput that follows).
    pub fn start(watch: RingWatch) -> RingWatcher {
        let (local_dc, baseline) = (watch.local_dc().to_owned(), watch.baseline().clone());
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
        RingWatcher {
            rounds,
            task,
            local_dc,
            baseline,
        }
    }

    /// Stops sampling and keeps the rounds from `measured_from` on, with the round before it as
    /// the baseline. The round under way, if any, is dropped: a report never waits for a slow or
    /// dead node.
    pub fn finish(self, measured_from: Instant) -> RingSide {
        self.task.abort();
        let rounds =
            std::mem::take(&mut *self.rounds.lock().unwrap_or_else(PoisonError::into_inner));
        RingSide::from_rounds(&rounds, measured_from).timed_before(&self.local_dc, &self.baseline)
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

    /// The same, with how long each node took to answer before the load, and which datacenter
    /// the workload stayed in.
    fn timed_before(mut self, local_dc: &str, baseline: &Baseline) -> RingSide {
        self.local_dc = local_dc.to_owned();
        for node in &mut self.nodes {
            node.baseline_ms = (baseline.get(&node.address)).map(|took| took.as_secs_f64() * 1e3);
        }
        self
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
                    baseline_ms: None,
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
            local_dc: String::new(),
            nodes: nodes.into_values().collect(),
        }
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
        let local = self.local_distance().map_or_else(String::new, |d| {
            format!(
                ", {} answering in {:.1} ms before the load and {:.1} ms during it",
                d.datacenter, d.before_ms, d.during_ms
            )
        });
        format!(
            "the ring's own view ({nodes}, {} rounds of system_views, a round {:.1} ms at the median{local}{unanswered}): {queues}",
            self.rounds, self.round_ms_p50
        )
    }
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
        took_ms: sample.took.as_secs_f64() * 1e3,
    }
}

#[cfg(test)]
#[path = "ring_side_tests.rs"]
mod tests;
