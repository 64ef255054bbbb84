//! `--similar-trees K`: "the K trees most like this one", asked of the ring's vector index (an
//! approximate nearest-neighbour search, `ORDER BY profile ANN OF ? LIMIT K`) and checked against
//! the exact answer, which the shop computes itself: every tree's profile comes from the
//! factory's seed, so the shop knows them all without reading them. Recall@K is the share of the
//! exact K nearest trees that the ring returned; it is reported beside the latency, because an
//! index that answers fast and wrong is not fast.
//!
//! Query `n` is the profile of a tree drawn from the seed and `n`: the same queries, run after
//! run, whatever the timing.
//!
//! With `--follow-planting`, the orchard grows during the run (`factory --plant-trees` writes
//! trees number --trees, --trees + 1, ...): the shop asks `tree_profiles` every 100 ms whether
//! the next ones are there and adds each one it finds to the exact search, so that recall is
//! measured against the trees acknowledged before each query was sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context;
use client::Connection;
use loadgen::{Completed, Run, Workload};
use rand::{RngExt, SeedableRng};
use schema::SchemaError;
use schema::reads::ReadError;
use schema::workforce::Workforce;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use serde::Serialize;
use uuid::Uuid;

use crate::ShopArgs;
use loadgen::measure_on;

/// The most neighbours one query may ask for: Cassandra 5.0 refuses an ANN query whose LIMIT is
/// above 1000.
pub const MOST: u32 = 1000;

/// The search, prepared, with every tree's profile for the exact answer.
pub struct Similar {
    statement: PreparedStatement,
    /// The trees the exact answer searches: the registered ones, then those seen planted.
    orchard: RwLock<Orchard>,
    /// Where the trees come from: tree `i` and its profile, for any `i`.
    workforce: Workforce,
    /// Trees registered before the run (queries are drawn from them).
    registered: usize,
    /// "Is tree X there?", for following a planting.
    exists: PreparedStatement,
    /// Whether a planting is being followed.
    following: AtomicBool,
    k: usize,
    /// How many the ring is asked for: K times `--overquery`, at most [`MOST`].
    asked: usize,
    seed: u64,
    consistency: client::options::ConsistencyLevel,
    /// The ring's warning, when it ran the queries at another level than asked.
    downgraded: std::sync::OnceLock<String>,
}

impl Similar {
    /// Prepares `SELECT ... ORDER BY profile ANN OF ? LIMIT ?` in `keyspace`, and computes the
    /// profiles of the `workforce`'s trees.
    pub async fn prepare(
        session: &Session,
        keyspace: &str,
        workforce: &Workforce,
        (k, overquery, seed): (u32, u32, u64),
        consistency: client::options::ConsistencyLevel,
    ) -> Result<Similar, SchemaError> {
        let cql = format!(
            "SELECT pickle_tree_id FROM {keyspace}.tree_profiles ORDER BY profile ANN OF ? LIMIT ?"
        );
        let mut statement = session
            .prepare(cql)
            .await
            .map_err(|e| SchemaError::Prepare {
                table: "tree_profiles",
                reason: e.to_string(),
            })?;
        statement.set_is_idempotent(true);
        // Cassandra 5.0 runs a top-K (ANN) query at ONE, LOCAL_ONE or NODE_LOCAL only: it
        // refuses SERIAL and LOCAL_SERIAL, and runs any other level as LOCAL_ONE (a
        // datacenter-local level) or ONE, saying so in a warning on the response, which `ask`
        // keeps so that the report says the level the queries really ran at.
        statement.set_consistency(consistency.0);
        let exists = session
            .prepare(format!(
                "SELECT pickle_tree_id FROM {keyspace}.tree_profiles WHERE pickle_tree_id = ?"
            ))
            .await
            .map_err(|e| SchemaError::Prepare {
                table: "tree_profiles",
                reason: e.to_string(),
            })?;
        let registered = workforce.tree_count();
        let trees: Vec<_> = (0..registered)
            .map(|i| (workforce.tree(i), workforce.tree_profile(i)))
            .collect();
        let orchard = Orchard {
            index: (trees.iter().enumerate())
                .map(|(i, (id, _))| (*id, i))
                .collect(),
            trees,
            next: registered,
            holes: Vec::new(),
            given_up: 0,
            probes: 0,
        };
        Ok(Similar {
            statement,
            orchard: RwLock::new(orchard),
            workforce: workforce.clone(),
            registered,
            exists,
            following: AtomicBool::new(false),
            k: k as usize,
            asked: (k.saturating_mul(overquery)).min(MOST) as usize,
            seed,
            consistency,
            downgraded: std::sync::OnceLock::new(),
        })
    }

    /// Query `n`: the profile of a registered tree.
    fn query(&self, n: u64) -> Vec<f32> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(self.seed ^ n.wrapping_mul(0x9E37));
        self.workforce
            .tree_profile(rng.random_range(0..self.registered))
    }

    /// The exact K nearest trees to `query`, by cosine similarity (the profiles are of unit
    /// length, so the dot product), among the trees known when it is called and any tree of the
    /// orchard in `found` (one planted since the follower last looked is there, and may rank).
    /// `known`: how many of the known trees to search (those known when the query was sent).
    pub fn exact(&self, query: &[f32], found: &[Uuid], known: usize) -> Vec<Uuid> {
        let orchard = self.orchard.read().unwrap_or_else(PoisonError::into_inner);
        let known = known.min(orchard.trees.len());
        let mut scored: Vec<(f32, Uuid)> = (orchard.trees[..known].iter())
            .map(|(id, profile)| (dot(query, profile), *id))
            .collect();
        for id in found {
            match orchard.index.get(id) {
                Some(&i) if i < known => {} // scored above
                // Seen planted after the query was sent.
                Some(&i) => scored.push((dot(query, &orchard.trees[i].1), *id)),
                // Planted after the follower's last look: among the next few numbers, or not
                // a tree of this seed at all (then it cannot be one of the exact answer).
                // Without a follower the shop knows no planted tree, and scores none.
                None if self.following.load(Ordering::Relaxed) => {
                    let number = (orchard.next..orchard.next + LOOK_AHEAD_FOR_FOUND)
                        .find(|&i| self.workforce.tree(i) == *id);
                    if let Some(i) = number {
                        scored.push((dot(query, &self.workforce.tree_profile(i)), *id));
                    }
                }
                None => {}
            }
        }
        drop(orchard);
        // Runs on the loop's thread after each query: the K best in linear time, then only they
        // are sorted.
        let nearest_first = |a: &(f32, Uuid), b: &(f32, Uuid)| b.0.total_cmp(&a.0);
        if self.k < scored.len() {
            scored.select_nth_unstable_by(self.k, nearest_first);
            scored.truncate(self.k);
        }
        scored.sort_by(nearest_first);
        scored.into_iter().map(|(_, id)| id).collect()
    }

    /// Trees the exact search holds now, and how many of them were seen planted during the run;
    /// the reads the following took.
    fn grown(&self) -> (usize, usize, u64, u64) {
        let orchard = self.orchard.read().unwrap_or_else(PoisonError::into_inner);
        let trees = orchard.trees.len();
        (
            trees,
            trees - self.registered,
            orchard.probes,
            orchard.given_up,
        )
    }

    /// The ring's answer: the K trees its index finds nearest to `query` (asked for more with
    /// `--overquery`, the first K kept: the index returns them nearest first).
    pub async fn ask(&self, session: &Session, query: &[f32]) -> Result<Vec<Uuid>, ReadError> {
        let limit = i32::try_from(self.asked).unwrap_or(i32::MAX);
        let result = session
            .execute_unpaged(&self.statement, (query, limit))
            .await?;
        if let Some(warning) = result.warnings().find(|w| w.contains("Downgrading")) {
            let _ = self.downgraded.set(warning.to_owned());
        }
        let rows = result
            .into_rows_result()
            .map_err(|e| ReadError::Rows(e.to_string()))?;
        rows.rows::<(Uuid,)>()
            .map_err(|e| ReadError::Rows(e.to_string()))?
            .take(self.k)
            .map(|row| {
                row.map(|(id,)| id)
                    .map_err(|e| ReadError::Rows(e.to_string()))
            })
            .collect()
    }

    /// Follows `factory --plant-trees` until dropped: every 100 ms, asks whether the next tree
    /// (number --trees, then --trees + 1, ...) is in `tree_profiles`, adds each one there to the
    /// exact search, and stops at the first one not there yet, after looking [`LOOK_PAST`]
    /// further: one still being written, or never written, leaves a hole, asked about again at
    /// each look, and never stops the following.
    pub async fn follow_planting(&self, session: &Session) {
        self.following.store(true, Ordering::Relaxed);
        let mut every = tokio::time::interval(Duration::from_millis(100));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let (holes, next) = {
                let orchard = self.orchard.read().unwrap_or_else(PoisonError::into_inner);
                (orchard.holes.clone(), orchard.next)
            };
            let mut found = Vec::new();
            let mut filled = Vec::new();
            for hole in holes {
                if self.is_there(session, hole).await {
                    found.push(hole);
                    filled.push(hole);
                }
            }
            let (mut number, mut probes) = (next, 0u64);
            let mut skipped = Vec::new();
            'look: loop {
                for ahead in 0..=LOOK_PAST {
                    probes += 1;
                    if self.is_there(session, number + ahead).await {
                        skipped.extend(number..number + ahead);
                        found.push(number + ahead);
                        number += ahead + 1;
                        continue 'look;
                    }
                }
                break;
            }
            let mut orchard = self.orchard.write().unwrap_or_else(PoisonError::into_inner);
            orchard.probes += probes + filled.len() as u64;
            orchard.holes.retain(|hole| !filled.contains(hole));
            orchard.holes.extend(skipped);
            // A hole is asked about at every look: past MOST_HOLES, the oldest are given up.
            let excess = orchard.holes.len().saturating_sub(MOST_HOLES);
            orchard.holes.drain(..excess);
            orchard.given_up += excess as u64;
            orchard.next = number;
            for i in found {
                let id = self.workforce.tree(i);
                if !orchard.index.contains_key(&id) {
                    let at = orchard.trees.len();
                    orchard.index.insert(id, at);
                    orchard.trees.push((id, self.workforce.tree_profile(i)));
                }
            }
        }
    }

    /// Whether tree number `i`'s profile is in `tree_profiles` (an error counts as not yet).
    async fn is_there(&self, session: &Session, i: usize) -> bool {
        let answer = session
            .execute_unpaged(&self.exists, (self.workforce.tree(i),))
            .await;
        answer
            .ok()
            .and_then(|result| result.into_rows_result().ok())
            .is_some_and(|rows| rows.rows_num() > 0)
    }

    /// The consistency level the queries ran at: the one asked for, or the one the ring ran
    /// them at instead, with its warning.
    pub fn consistency(&self) -> String {
        match self.downgraded.get() {
            None => self.consistency.to_string(),
            Some(warning) => {
                let used = warning
                    .rsplit(' ')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('.');
                format!(
                    "{used} ({} was asked; the ring said: \"{warning}\")",
                    self.consistency
                )
            }
        }
    }
}

/// How far past the first tree not there yet the follower looks, each time.
const LOOK_PAST: usize = 4;

/// Holes the follower keeps asking about; older ones are given up (and counted).
const MOST_HOLES: usize = 256;

/// How far past the follower's last find a tree the ring returned is looked for.
const LOOK_AHEAD_FOR_FOUND: usize = 4096;

/// The trees the exact answer searches, growing while a planting is followed.
struct Orchard {
    trees: Vec<(Uuid, Vec<f32>)>,
    /// Where each tree is in `trees`.
    index: HashMap<Uuid, usize>,
    /// The first tree number not seen yet, past every one seen.
    next: usize,
    /// Numbers below `next` not seen yet.
    holes: Vec<usize>,
    /// Holes no longer asked about ([`MOST_HOLES`]).
    given_up: u64,
    /// Reads the following took.
    probes: u64,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The share of `exact` that `found` holds.
pub fn recall(found: &[Uuid], exact: &[Uuid]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let hits = exact.iter().filter(|id| found.contains(id)).count();
    hits as f64 / exact.len() as f64
}

/// Recall over many queries.
#[derive(Debug, Default, Serialize)]
pub struct Recall {
    /// Neighbours wanted.
    pub k: usize,
    /// Neighbours the ring was asked for (K x `--overquery`).
    pub asked: usize,
    /// Queries answered.
    pub queries: u64,
    /// Mean recall@K.
    pub mean: f64,
    /// The lowest of any query.
    pub lowest: f64,
    /// Queries whose recall was under 0.9.
    pub under_0_9: u64,
    /// The consistency level the queries went at.
    pub consistency: String,
    /// Trees the exact answer searched (at the end, with those seen planted).
    pub trees: usize,
    /// Of them, trees seen planted during the run (`--follow-planting`).
    pub planted: usize,
    /// Reads the following took ("is tree X there?"), which the report's operations do not
    /// count.
    pub follow_reads: u64,
    /// Tree numbers skipped by the planting (never seen) that the follower stopped asking about.
    pub holes_given_up: u64,
    #[serde(skip)]
    sum: f64,
}

impl Recall {
    fn add(&mut self, recall: f64) {
        self.lowest = if self.queries == 0 {
            recall
        } else {
            self.lowest.min(recall)
        };
        self.queries += 1;
        self.sum += recall;
        self.mean = self.sum / self.queries as f64;
        self.under_0_9 += u64::from(recall < 0.9);
    }

    /// One line.
    pub fn summary(&self) -> String {
        let planted = if self.planted > 0 || self.follow_reads > 0 {
            let given_up = match self.holes_given_up {
                0 => String::new(),
                n => format!("; {n} tree numbers never seen were given up"),
            };
            format!(
                " ({} of them planted during the run and followed with {} reads the report \
                 does not count{given_up})",
                self.planted, self.follow_reads
            )
        } else {
            String::new()
        };
        format!(
            "similar trees: recall@{} {:.3} on average over {} queries (lowest {:.2}, {} under \
             0.9; the ring asked for {} each), against an exact search of {} trees{planted}; \
             consistency {}",
            self.k,
            self.mean,
            self.queries,
            self.lowest,
            self.under_0_9,
            self.asked,
            self.trees,
            self.consistency
        )
    }
}

/// The loop's workload: one ANN query per operation.
pub fn workload() -> Workload {
    Workload {
        tool: "shop",
        op: "lookup",
        request: "read",
        requests_per_op: 1,
        service_tags: vec!["similar-trees"],
        operations: None,
    }
}

/// One query, printed: the K trees the ring found, which of them the exact search has too, and
/// the recall.
pub async fn once(
    cassandra: &Connection,
    similar: &Similar,
    shop: &ShopArgs,
) -> anyhow::Result<()> {
    let query = similar.query(shop.seed);
    let began = tokio::time::Instant::now();
    let found = similar
        .ask(&cassandra.session, &query)
        .await
        .with_context(|| format!("asking for similar trees at {}", similar.consistency()))?;
    let took = began.elapsed();
    let exact = similar.exact(&query, &found, usize::MAX);
    let mut recall = Recall {
        k: similar.k,
        asked: similar.asked,
        consistency: similar.consistency(),
        trees: similar.grown().0,
        ..Recall::default()
    };
    recall.add(self::recall(&found, &exact));
    if shop.json {
        let printed = serde_json::json!({
            "found": found,
            "exact": exact,
            "took_ms": took.as_secs_f64() * 1e3,
            "recall": recall,
        });
        println!("{}", serde_json::to_string_pretty(&printed)?);
    } else {
        for (rank, id) in found.iter().enumerate() {
            let mark = if exact.contains(id) {
                ""
            } else {
                "  (not among the exact nearest)"
            };
            println!("{:>4}  {id}{mark}", rank + 1);
        }
        println!("{} in {:.3} ms", recall.summary(), took.as_secs_f64() * 1e3);
    }
    Ok(())
}

/// Queries at the run's rate until it ends; the report holds the recall beside the latency.
/// With `follow_planting`, the trees planted meanwhile join the exact search as they appear.
pub async fn drive(
    mut run: Run,
    cassandra: &Connection,
    similar: &Similar,
    follow_planting: bool,
) -> anyhow::Result<()> {
    run.note_clock_offset(cassandra.clock_offset_ms().await);
    eprintln!("{}", run.describe());
    let tally = Mutex::new(Recall {
        k: similar.k,
        asked: similar.asked,
        consistency: similar.consistency(),
        trees: similar.grown().0,
        ..Recall::default()
    });
    let tally_ref = &tally;
    let queries = run.drive(|n, _| async move {
        let sent = tokio::time::Instant::now();
        let query = similar.query(n);
        // Recall counts against the trees known when the query was sent: one planted later
        // cannot be missed.
        let known = similar.grown().0;
        let (request, found) =
            measure_on(cassandra, 0, similar.ask(&cassandra.session, &query)).await;
        if let Some(found) = found {
            let recall = recall(&found, &similar.exact(&query, &found, known));
            tally_ref
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .add(recall);
        }
        Completed {
            sent,
            requests: vec![request],
        }
    });
    // The follower runs beside the queries, on the same thread, until they end.
    let mut finished = if follow_planting {
        tokio::select! {
            finished = queries => finished?,
            () = similar.follow_planting(&cassandra.session) => unreachable!("the follower never ends"),
        }
    } else {
        queries.await?
    };
    let mut tally = tally.into_inner().unwrap_or_else(PoisonError::into_inner);
    tally.consistency = similar.consistency();
    (
        tally.trees,
        tally.planted,
        tally.follow_reads,
        tally.holes_given_up,
    ) = similar.grown();
    finished.report.app = serde_json::json!({ "similar_trees": tally });
    print!("{}", finished.report.summary());
    println!("  {}", tally.summary());
    finished.save()?;
    finished.result().with_context(|| {
        format!(
            "asking for similar trees in datacenter {}",
            cassandra.local_dc
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_is_the_share_of_the_exact_answer_found() {
        let ids: Vec<Uuid> = (0..4).map(Uuid::from_u128).collect();
        assert_eq!(recall(&ids, &ids), 1.0);
        assert_eq!(recall(&ids[..2], &ids), 0.5);
        assert_eq!(recall(&[Uuid::from_u128(9)], &ids[..1]), 0.0);
        let mut tally = Recall::default();
        tally.add(1.0);
        tally.add(0.8);
        assert!((tally.mean - 0.9).abs() < 1e-12);
        assert_eq!((tally.lowest, tally.under_0_9), (0.8, 1));
    }
}
