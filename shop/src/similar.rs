//! `--similar-trees K`: "the K trees most like this one", asked of the ring's vector index (an
//! approximate nearest-neighbour search, `ORDER BY profile ANN OF ? LIMIT K`) and checked against
//! the exact answer, which the shop computes itself: every tree's profile comes from the
//! factory's seed, so the shop knows them all without reading them. Recall@K is the share of the
//! exact K nearest trees that the ring returned; it is reported beside the latency, because an
//! index that answers fast and wrong is not fast.
//!
//! Query `n` is the profile of a tree drawn from the seed and `n`: the same queries, run after
//! run, whatever the timing.

use std::sync::{Mutex, PoisonError};

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
    trees: Vec<(Uuid, Vec<f32>)>,
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
        let trees = (0..workforce.tree_count())
            .map(|i| (workforce.tree(i), workforce.tree_profile(i)))
            .collect();
        Ok(Similar {
            statement,
            trees,
            k: k as usize,
            asked: (k.saturating_mul(overquery)).min(MOST) as usize,
            seed,
            consistency,
            downgraded: std::sync::OnceLock::new(),
        })
    }

    /// Query `n`: a tree's profile.
    fn query(&self, n: u64) -> &[f32] {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(self.seed ^ n.wrapping_mul(0x9E37));
        &self.trees[rng.random_range(0..self.trees.len())].1
    }

    /// The exact K nearest trees to `query`, by cosine similarity (the profiles are of unit
    /// length, so the dot product).
    pub fn exact(&self, query: &[f32]) -> Vec<Uuid> {
        let mut scored: Vec<(f32, Uuid)> = (self.trees.iter())
            .map(|(id, profile)| (dot(query, profile), *id))
            .collect();
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
    /// Trees the exact answer searched.
    pub trees: usize,
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
        format!(
            "similar trees: recall@{} {:.3} on average over {} queries (lowest {:.2}, {} under \
             0.9; the ring asked for {} each), against an exact search of {} trees; consistency {}",
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
        op: "search",
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
        .ask(&cassandra.session, query)
        .await
        .with_context(|| format!("asking for similar trees at {}", similar.consistency()))?;
    let took = began.elapsed();
    let exact = similar.exact(query);
    let mut recall = Recall {
        k: similar.k,
        asked: similar.asked,
        consistency: similar.consistency(),
        trees: similar.trees.len(),
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
pub async fn drive(mut run: Run, cassandra: &Connection, similar: &Similar) -> anyhow::Result<()> {
    run.note_clock_offset(cassandra.clock_offset_ms().await);
    eprintln!("{}", run.describe());
    let tally = Mutex::new(Recall {
        k: similar.k,
        asked: similar.asked,
        consistency: similar.consistency(),
        trees: similar.trees.len(),
        ..Recall::default()
    });
    let tally_ref = &tally;
    let mut finished = run
        .drive(|n, _| async move {
            let sent = tokio::time::Instant::now();
            let query = similar.query(n);
            let (request, found) =
                measure_on(cassandra, 0, similar.ask(&cassandra.session, query)).await;
            if let Some(found) = found {
                let recall = recall(&found, &similar.exact(query));
                tally_ref
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .add(recall);
            }
            Completed {
                sent,
                requests: vec![request],
            }
        })
        .await?;
    let mut tally = tally.into_inner().unwrap_or_else(PoisonError::into_inner);
    tally.consistency = similar.consistency();
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
