//! Where the ring queued work: each pool of each node that had tasks pending or blocked, how
//! deep and how often, and whether that is a ring that could not keep up.

use super::{NodeSecond, PoolSecond, RingSide};

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

impl RingSide {
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
}

/// The strain of the deepest queue among `strains`.
fn deepest(strains: impl IntoIterator<Item = Strain>) -> Option<Strain> {
    strains
        .into_iter()
        .reduce(|worst, s| if s.depth() > worst.depth() { s } else { worst })
}
