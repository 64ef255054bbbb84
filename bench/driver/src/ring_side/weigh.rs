//! The ring's evidence in the rate's verdict: a full window while the ring queued work is the
//! server, not the bound; one while the requests' time went on the way to the ring and back is
//! the network; every other limit cites what the ring showed.

use super::{RingSide, SATURATED_PENDING};
use crate::limiter::{Evidence, Limiter, Verdict};

/// A median round of the ring's own view at least this long (loopback: about 1 ms) can be the
/// network's, when it is also at least half the requests' service time.
pub const NETWORK_ROUND_MS: f64 = 10.0;

impl RingSide {
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
