//! What a ring tells the clients of this machine about itself: its
//! [`Announcement`](client::local_network::Announcement), written beside `ring.json` every time the
//! ring's state is saved (and when `up` finds the ring running), so that every app can say which
//! delay its numbers carry without linking this runner.
//!
//! The announcement holds what a client needs to tell whether its contact points reach this ring
//! while it runs: the delays it models, each node's addresses (the one clients are handed and its
//! own) and its process. A stopped ring's announcement says no process, and counts for nothing.

use std::path::Path;

use client::local_network::{AnnouncedNode, Announcement};

use crate::LocalError;
use crate::state::RingState;

/// Writes the announcement of the ring in `ring_dir`, whose state is `state`.
pub fn announce(state: &RingState, ring_dir: &Path) -> Result<(), LocalError> {
    let announcement = Announcement {
        ring: state.name.clone(),
        client_latency: state.latency.client,
        dc_latency: state.latency.between_dcs,
        network: state.latency.to_string(),
        nodes: (state.nodes.iter())
            .map(|node| AnnouncedNode {
                client_address: state.client_address(&node.plan),
                address: node.plan.address,
                pid: node.pid,
                // A node's JVM is started with its configuration folder on its command line.
                command_names: RingState::node_dir(ring_dir, node.plan.index).join("conf"),
            })
            .collect(),
    };
    announcement
        .write(ring_dir)
        .map_err(|source| LocalError::io("write", &ring_dir.join(Announcement::FILE), source))
}

#[cfg(test)]
#[path = "announce_tests.rs"]
mod tests;
