//! Which running local ring a run's contact points reach, and the network it models: reports use
//! it to say how much delay their numbers carry.
//!
//! Only a running ring's nodes count (a node whose process is alive, paused included): a stopped
//! ring's saved state (`ring.json`) still names its addresses, and a ring started since on the
//! same addresses, or none at all, is what the contact points reach. Contact points that
//! match more than one running ring are refused ([`AmbiguousRing`]) rather than guessed at.

use std::path::Path;

use super::process::{self, ProcessState};
use super::state::{NodeState, RingState};
use super::{Home, Latency};

/// Contact points that reach more than one running local ring: which one carried the numbers
/// is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an unknown local ring: the contact points {hosts} reach the running rings {}, so which \
     delay these numbers carry is not known",
    rings.iter().map(|r| format!("'{r}'")).collect::<Vec<_>>().join(" and ")
)]
pub struct AmbiguousRing {
    /// The contact points, comma-separated.
    pub hosts: String,
    /// The running rings they reach, by name.
    pub rings: Vec<String>,
}

/// The network the running local ring of this machine that `hosts` (contact points, `host` or
/// `host:port`) reach models, if it models any delay: the ring's name and its latencies.
pub fn modelled_network(hosts: &[String]) -> Result<Option<(String, Latency)>, AmbiguousRing> {
    modelled_network_in(&Home::from_env(), hosts)
}

/// [`modelled_network`] among the rings of `home`.
pub fn modelled_network_in(
    home: &Home,
    hosts: &[String],
) -> Result<Option<(String, Latency)>, AmbiguousRing> {
    let reached: Vec<(String, RingState)> = (home.ring_names().into_iter())
        .filter_map(|name| {
            let state = RingState::load(&home.ring_dir(&name)).ok().flatten()?;
            reaches(home, &name, &state, hosts).then_some((name, state))
        })
        .collect();
    match reached.as_slice() {
        [] => Ok(None),
        [(name, state)] => Ok(state
            .latency
            .is_modelled()
            .then(|| (name.clone(), state.latency))),
        _ => Err(AmbiguousRing {
            hosts: hosts.join(","),
            rings: reached.into_iter().map(|(name, _)| name).collect(),
        }),
    }
}

/// [`modelled_network`] in words, for a report: "local ring 'far': 1ms each way client-node
/// (modelled by delaying proxies), not a real network"; or, for contact points that reach more
/// than one running ring, that which one is not known.
pub fn describe_modelled_network(hosts: &[String]) -> Option<String> {
    match modelled_network(hosts) {
        Ok(found) => found
            .map(|(name, latency)| format!("local ring '{name}': {latency}, not a real network")),
        Err(ambiguous) => Some(ambiguous.to_string()),
    }
}

/// Whether one of `hosts` is an address of one of the ring's running nodes: the one clients are
/// handed (its proxy, when the ring models a delay) or its own.
fn reaches(home: &Home, name: &str, state: &RingState, hosts: &[String]) -> bool {
    let dir = home.ring_dir(name);
    state.nodes.iter().any(|node| {
        if !running(&dir, node) {
            return false;
        }
        let addresses = [state.client_address(&node.plan), node.plan.address];
        hosts.iter().any(|host| {
            let ip = host.rsplit_once(':').map_or(host.as_str(), |(ip, _)| ip);
            addresses.iter().any(|a| a.to_string() == ip)
        })
    })
}

/// Whether the node of the ring in `ring_dir` is running (or paused: still the ring, with its
/// connections open).
fn running(ring_dir: &Path, node: &NodeState) -> bool {
    node.pid.is_some_and(|pid| {
        let node_dir = RingState::node_dir(ring_dir, node.plan.index);
        matches!(
            process::process_state(pid, &node_dir),
            ProcessState::Running | ProcessState::Paused
        )
    })
}

#[cfg(test)]
#[path = "modelled_tests.rs"]
mod tests;
