//! What `bench ring up` remembers about a ring between commands: its shape, each node's plan and
//! pid, in `ring.json` inside the ring's folder; and what it tells the clients of this machine
//! about the ring, in `announcement.json` beside it.
//!
//! The file is written atomically (a temporary file, then a rename), so a crash never leaves a
//! half-written state that would make `down` forget a running node.
//!
//! The announcement ([`Announcement`], a type of the `client` crate, which every app links) is
//! written every time the state is saved, and when `up` finds the ring running: so every app can
//! say which delay its numbers carry without linking this runner. It holds what a client needs to
//! tell whether its contact points reach this ring while it runs: the delays it models, each
//! node's addresses (the one clients are handed and its own) and its process. A stopped ring's
//! announcement says no process, and counts for nothing.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use client::local_network::{AnnouncedNode, Announcement};
use serde::{Deserialize, Serialize};

use crate::LocalError;
use crate::delay::Latency;
use crate::shape::{NodePlan, Shape};

/// The persisted description of one local ring.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RingState {
    /// The ring's name (`--name`).
    pub name: String,
    /// Cassandra release the nodes run.
    pub cassandra_version: String,
    /// Nodes, datacenters and addresses.
    pub shape: Shape,
    /// Heap per node, as the JVM spells it.
    pub heap: String,
    /// Authentication and TLS.
    #[serde(default)]
    pub security: crate::security::Security,
    /// Whether every node serves its metrics for Prometheus (`bench ring up --metrics`).
    #[serde(default)]
    pub metrics: bool,
    /// The one-way delays the ring models with proxies (`--client-latency`, `--dc-latency`).
    #[serde(default)]
    pub latency: Latency,
    /// The delaying proxies' process, while it runs.
    #[serde(default)]
    pub proxy: Option<ProxyState>,
    /// Each node, in index order.
    pub nodes: Vec<NodeState>,
}

/// The process that serves a ring's delaying proxies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyState {
    /// The program that serves them (`bench`, run as `bench ring proxy`).
    pub program: PathBuf,
    /// Its pid when it was last started; `None` once stopped.
    pub pid: Option<u32>,
}

/// One node's plan plus what is known of its process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    /// Where the node sits in the ring.
    #[serde(flatten)]
    pub plan: NodePlan,
    /// The pid of the node's JVM when it was last started; `None` after `down`.
    pub pid: Option<u32>,
    /// Length of `system.log` when the node was last started: readiness is read after it.
    #[serde(default)]
    pub log_mark: u64,
}

impl RingState {
    /// A ring not started yet: every node planned, none running, no security, metrics or
    /// modelled latency (set them on the result).
    pub fn planned(name: &str, cassandra_version: &str, shape: Shape, heap: &str) -> RingState {
        RingState {
            name: name.to_owned(),
            cassandra_version: cassandra_version.to_owned(),
            shape,
            heap: heap.to_owned(),
            security: Default::default(),
            metrics: false,
            latency: Latency::default(),
            proxy: None,
            nodes: shape
                .plan()
                .into_iter()
                .map(|plan| NodeState {
                    plan,
                    pid: None,
                    log_mark: 0,
                })
                .collect(),
        }
    }

    /// The path of the state file inside a ring's folder.
    pub fn path(ring_dir: &Path) -> PathBuf {
        ring_dir.join("ring.json")
    }

    /// Reads the state of the ring in `ring_dir`, or `None` if it was never started.
    pub fn load(ring_dir: &Path) -> Result<Option<RingState>, LocalError> {
        let path = Self::path(ring_dir);
        match fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|error| LocalError::CorruptState {
                        path,
                        reason: error.to_string(),
                    })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LocalError::io("read", &path, source)),
        }
    }

    /// Writes the state atomically, and announces it to the clients of this machine
    /// ([`RingState::announce`]).
    pub fn save(&self, ring_dir: &Path) -> Result<(), LocalError> {
        let path = Self::path(ring_dir);
        let temporary = ring_dir.join("ring.json.tmp");
        let text =
            serde_json::to_string_pretty(self).map_err(|error| LocalError::CorruptState {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        fs::write(&temporary, text)
            .map_err(|source| LocalError::io("write", &temporary, source))?;
        fs::rename(&temporary, &path)
            .map_err(|source| LocalError::io("rename", &temporary, source))?;
        self.announce(ring_dir)
    }

    /// Writes the ring's [`Announcement`] into its folder, `ring_dir`.
    pub fn announce(&self, ring_dir: &Path) -> Result<(), LocalError> {
        let announcement = Announcement {
            ring: self.name.clone(),
            client_latency: self.latency.client,
            dc_latency: self.latency.between_dcs,
            network: self.latency.to_string(),
            nodes: (self.nodes.iter())
                .map(|node| AnnouncedNode {
                    client_address: self.client_address(&node.plan),
                    address: node.plan.address,
                    pid: node.pid,
                    // A node's JVM is started with its configuration folder on its command line.
                    command_line_marker: Self::node_dir(ring_dir, node.plan.index).join("conf"),
                })
                .collect(),
        };
        let path = ring_dir.join(Announcement::FILE);
        announcement
            .write(ring_dir)
            .map_err(|source| LocalError::io("write", &path, source))
    }

    /// The modelled delay, each way, between a client and `node`. Clients are modelled in the
    /// first datacenter (the one `bench ring up` tells them to use): a node of another DC is the
    /// client latency plus the latency between DCs away, so failing over to it costs what
    /// crossing costs.
    pub fn client_delay(&self, node: &NodePlan) -> Duration {
        let first_dc = self.nodes.first().map(|n| n.plan.datacenter.as_str());
        if first_dc.is_some_and(|dc| dc != node.datacenter) {
            self.latency.client + self.latency.between_dcs
        } else {
            self.latency.client
        }
    }

    /// The address clients are handed for `node`: the proxy in front of it when the ring models a
    /// delay between it and the clients, else the node's own.
    pub fn client_address(&self, node: &NodePlan) -> Ipv4Addr {
        if self.client_delay(node).is_zero() {
            node.address
        } else {
            self.shape.ip_prefix.client_proxy_address(node.index)
        }
    }

    /// The address `node` is known by to the other nodes (its broadcast address): the proxy in
    /// front of its storage port when the ring models a latency between datacenters.
    pub fn peer_address(&self, node: &NodePlan) -> Ipv4Addr {
        if self.latency.between_dcs.is_zero() {
            node.address
        } else {
            self.shape.ip_prefix.peer_proxy_address(node.index)
        }
    }

    /// The folder of the ring's proxies (their routes, their log).
    pub fn proxy_dir(ring_dir: &Path) -> PathBuf {
        ring_dir.join("proxy")
    }

    /// The folder of node `index` inside the ring's folder.
    pub fn node_dir(ring_dir: &Path, index: u8) -> PathBuf {
        ring_dir.join(format!("node{index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::IpPrefix;

    fn ring(latency: Latency) -> RingState {
        let shape = Shape::new(3, 2, IpPrefix::DEFAULT).expect("a shape");
        RingState {
            latency,
            ..RingState::planned("far", "5.0.8", shape, "1G")
        }
    }

    #[test]
    fn clients_are_in_the_first_datacenter_and_reach_others_across_the_distance() {
        let ms = Duration::from_millis;
        let far = ring(Latency {
            client: ms(1),
            between_dcs: ms(40),
        });
        let [a, b, c] = [0, 1, 2].map(|i| far.nodes[i].plan.clone());
        assert_eq!(
            (a.datacenter.as_str(), c.datacenter.as_str()),
            ("dc1", "dc2")
        );
        assert_eq!(far.client_delay(&a), ms(1));
        assert_eq!(far.client_delay(&b), ms(1));
        assert_eq!(far.client_delay(&c), ms(41));
        assert_eq!(far.client_address(&a).to_string(), "127.1.0.1");
        assert_eq!(far.peer_address(&c).to_string(), "127.2.0.3");
        // Only the distance between DCs: dc1's nodes are reached directly, dc2's through a proxy.
        let wan = ring(Latency {
            client: Duration::ZERO,
            between_dcs: ms(40),
        });
        assert_eq!(wan.client_address(&a), a.address);
        assert_eq!(wan.client_address(&c).to_string(), "127.1.0.3");
        // No latency: every address is the node's own, as on a ring without distance.
        let near = ring(Latency::default());
        assert_eq!(near.client_address(&c), c.address);
        assert_eq!(near.peer_address(&c), c.address);
    }
}

#[cfg(test)]
#[path = "state_announcement_tests.rs"]
mod announcement_tests;
