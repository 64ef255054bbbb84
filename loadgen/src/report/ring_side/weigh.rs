//! The ring's evidence in the rate's verdict: a full window while the ring queued work is the
//! server, not the bound; one while the requests' time went on the way to the ring and back is
//! the network; every other limit cites what the ring showed.

use super::{RingSide, SATURATED_PENDING};
use crate::report::{Evidence, Limiter, Verdict};

/// The local datacenter's nodes answering the ring's own view in at least this long before the
/// load (each node's fastest of five rounds, their median) are far enough away for the network
/// to be the requests' time, when it is also at least half their service time. Loopback here:
/// 1.0 ms on a warm node, 13.3 ms on a node started seconds before, on a machine whose two cores
/// were 100% busy with five JVMs; a node 30 ms away each way (modelled): 67 to 73 ms. So a
/// network 10 ms or more away each way is named, and a cold, crowded loopback is not.
pub const NETWORK_ROUND_MS: f64 = 20.0;

impl RingSide {
    /// Whether the requests' time went on the way to the ring and back rather than in it. Only
    /// the local datacenter counts (at LOCAL_QUORUM no request leaves it), and it is timed
    /// before the load, when nothing queued: under load the view's queries wait in the node's
    /// request stage like the workload's, so their time then is distance and queue together.
    /// The local nodes answered the ring's own view (tiny virtual-table queries) in at least
    /// [`NETWORK_ROUND_MS`] before the load, and in at least half the requests' median service
    /// time (the distance was most of it); during the run they answered three samples in four
    /// at least (a node that hangs is the server); no node ever queued [`SATURATED_PENDING`]
    /// tasks (the view's own queries can queue a couple); and the machine's CPU was not taken
    /// by others (which would slow both as well). How long they took during the run is cited,
    /// not weighed: on a machine shared with other work, a 30 ms ring's view took 73 ms before
    /// a run and 133 ms during it, with requests of 77 ms.
    fn network_bound(&self, e: &Evidence) -> bool {
        self.local_distance().is_some_and(|d| {
            d.before_ms >= NETWORK_ROUND_MS
                && d.before_ms >= 0.5 * e.service_p50_s * 1e3
                && d.unanswered * 4 < d.samples
        }) && self.strain().is_none_or(|s| s.depth() < SATURATED_PENDING)
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
        let Some(d) = self.local_distance() else {
            return String::new();
        };
        let nodes = match d.nodes {
            1 => "node".to_owned(),
            n => format!("{n} nodes"),
        };
        format!(
            "The time went on the way to the ring and back, not in it: the local datacenter's \
             {nodes} ({}) answered the ring's own view (tiny virtual-table queries) in a median \
             {:.1} ms before the load began and {:.1} ms during the run, while {queues}, \
             {service}; on loopback they answer in a few ms. The network (on a local ring, its \
             modelled latency: `bench ring status`) set the service time.",
            d.datacenter, d.before_ms, d.during_ms
        )
    }

    /// The verdict with the ring's evidence: a full window while the ring queued work is the
    /// server, not the bound; a full window or failures while the local datacenter's nodes,
    /// timed before the load, were as far away as most of the requests' time, with nothing
    /// queued, is the network; every verdict about a limit cites what the ring showed.
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

#[cfg(test)]
#[path = "weigh_tests.rs"]
mod tests;
