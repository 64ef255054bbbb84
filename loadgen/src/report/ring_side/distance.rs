//! How far the local datacenter's nodes were from the client, as the ring's own view timed them:
//! before the load (the distance alone, nothing queued) and during the run (the distance and,
//! since the view's queries pass through the node's request stage like the workload's, any
//! queue). Only the local datacenter counts: at LOCAL_QUORUM no request leaves it, however far
//! the others are.

use super::{NodeSeries, RingSide};

/// The local datacenter's nodes, timed.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalDistance {
    /// The datacenter.
    pub datacenter: String,
    /// Its nodes.
    pub nodes: usize,
    /// How long they took to answer the view before the load: the median of their own fastest
    /// answers then, ms.
    pub before_ms: f64,
    /// How long they took during the run: the median of their answered rounds, ms.
    pub during_ms: f64,
    /// Their samples during the run that went unanswered.
    pub unanswered: usize,
    /// Their samples during the run.
    pub samples: usize,
}

impl RingSide {
    /// The local datacenter's nodes, timed before and during the run; `None` when the ring was
    /// not timed before the load (a report from before it was), or no local node answered.
    pub fn local_distance(&self) -> Option<LocalDistance> {
        let local: Vec<&NodeSeries> = (self.nodes.iter())
            .filter(|n| !self.local_dc.is_empty() && n.datacenter == self.local_dc)
            .collect();
        let before = median(local.iter().filter_map(|n| n.baseline_ms).collect())?;
        let seconds = || local.iter().flat_map(|n| n.seconds.iter());
        let answered = seconds()
            .filter(|s| s.answered)
            .map(|s| s.took_ms)
            .collect();
        Some(LocalDistance {
            datacenter: self.local_dc.clone(),
            nodes: local.len(),
            before_ms: before,
            during_ms: median(answered)?,
            unanswered: seconds().filter(|s| !s.answered).count(),
            samples: seconds().count(),
        })
    }
}

/// The median of `values`, if there are any.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}
