//! How many copies of each row every datacenter keeps: NetworkTopologyStrategy, one replication
//! factor per datacenter.
//!
//! By default it is derived from the ring: every datacenter gets min(3, its node count) replicas.
//! Three is the usual production choice (LOCAL_QUORUM then survives one node down); fewer nodes
//! than that cap it, because a replication factor above the node count makes LOCAL_QUORUM fail
//! outright.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The replication factor every datacenter gets when its node count allows it.
pub const TARGET_REPLICATION_FACTOR: u32 = 3;

/// Replication factor per datacenter, sorted by datacenter name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replication(pub BTreeMap<String, u32>);

impl Replication {
    /// min(3, nodes) replicas in every datacenter that has nodes.
    pub fn derived_from_ring(nodes_per_dc: &BTreeMap<String, usize>) -> Replication {
        Replication(
            nodes_per_dc
                .iter()
                .filter(|(_, nodes)| **nodes > 0)
                .map(|(dc, nodes)| {
                    (
                        dc.clone(),
                        TARGET_REPLICATION_FACTOR.min(u32::try_from(*nodes).unwrap_or(u32::MAX)),
                    )
                })
                .collect(),
        )
    }

    /// The CQL map for `WITH replication = ...`.
    pub fn to_cql(&self) -> String {
        let mut map = String::from("{'class': 'NetworkTopologyStrategy'");
        for (dc, factor) in &self.0 {
            map.push_str(&format!(", '{}': {factor}", dc.replace('\'', "''")));
        }
        map.push('}');
        map
    }

    /// Reads the `replication` column of `system_schema.keyspaces`. `None` when the strategy is
    /// not NetworkTopologyStrategy (SimpleStrategy knows nothing of datacenters).
    pub fn from_live(map: &BTreeMap<String, String>) -> Option<Replication> {
        let class = map.get("class")?;
        if !class.ends_with("NetworkTopologyStrategy") {
            return None;
        }
        let factors = map
            .iter()
            .filter(|(key, _)| key.as_str() != "class")
            // Transient replication is written "3/1": the full count comes first.
            .filter_map(|(dc, factor)| Some((dc.clone(), factor.split('/').next()?.parse().ok()?)))
            .collect();
        Some(Replication(factors))
    }

    /// Problems this replication has on a ring with `nodes_per_dc`: a datacenter without
    /// replicas, a datacenter that does not exist, more replicas than nodes.
    pub fn problems_on(&self, nodes_per_dc: &BTreeMap<String, usize>) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (dc, nodes) in nodes_per_dc {
            match self.0.get(dc) {
                None | Some(0) => problems.push(Problem::NoReplicas(dc.clone())),
                Some(factor) if usize::try_from(*factor).unwrap_or(usize::MAX) > *nodes => {
                    problems.push(Problem::MoreReplicasThanNodes {
                        dc: dc.clone(),
                        factor: *factor,
                        nodes: *nodes,
                    });
                }
                Some(_) => {}
            }
        }
        for dc in self.0.keys().filter(|dc| !nodes_per_dc.contains_key(*dc)) {
            problems.push(Problem::UnknownDatacenter(dc.clone()));
        }
        problems
    }
}

/// What is wrong with a replication map on a given ring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A datacenter of the ring holds no replica.
    #[error(
        "datacenter {0} has no replicas: clients there cannot read or write at LOCAL_* consistency"
    )]
    NoReplicas(String),
    /// A datacenter is asked for more replicas than it has nodes.
    #[error(
        "datacenter {dc} has replication factor {factor} but only {nodes} node(s): LOCAL_QUORUM cannot be met there"
    )]
    MoreReplicasThanNodes {
        /// The datacenter.
        dc: String,
        /// Its replication factor.
        factor: u32,
        /// Its nodes.
        nodes: usize,
    },
    /// The map names a datacenter the ring does not have.
    #[error("replication names datacenter {0}, which the ring does not have")]
    UnknownDatacenter(String),
}

impl fmt::Display for Replication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(dc, factor)| format!("{dc}:{factor}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Replication {
    type Err = String;

    /// `dc1:3,dc2:2`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = || {
            format!(
                "'{text}' is not a replication map; expected DC:FACTOR[,DC:FACTOR...] such as dc1:3,dc2:2"
            )
        };
        let mut factors = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (dc, factor) = part.split_once(':').ok_or_else(expected)?;
            let factor: u32 = factor.trim().parse().map_err(|_| expected())?;
            if dc.trim().is_empty() || factor == 0 || factor > 10 {
                return Err(format!(
                    "'{part}': a datacenter name and a replication factor from 1 to 10 are needed"
                ));
            }
            if factors.insert(dc.trim().to_owned(), factor).is_some() {
                return Err(format!(
                    "datacenter {} appears twice in '{text}'",
                    dc.trim()
                ));
            }
        }
        if factors.is_empty() {
            return Err(expected());
        }
        Ok(Replication(factors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(dcs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        dcs.iter().map(|(dc, n)| (dc.to_string(), *n)).collect()
    }

    #[test]
    fn derived_replication_is_capped_by_nodes_and_by_three() {
        let derived = Replication::derived_from_ring(&ring(&[("dc1", 2), ("dc2", 1), ("dc3", 5)]));
        assert_eq!(derived.to_string(), "dc1:2,dc2:1,dc3:3");
        assert_eq!(
            derived.to_cql(),
            "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1, 'dc3': 3}"
        );
    }

    #[test]
    fn flags_parse_and_reject_nonsense() {
        assert_eq!(
            "dc1:3, dc2:2".parse::<Replication>().unwrap().to_string(),
            "dc1:3,dc2:2"
        );
        assert!("dc1".parse::<Replication>().is_err());
        assert!("dc1:0".parse::<Replication>().is_err());
        assert!("dc1:x".parse::<Replication>().is_err());
        assert!(
            "dc1:1,dc1:2"
                .parse::<Replication>()
                .unwrap_err()
                .contains("twice")
        );
        assert!("".parse::<Replication>().is_err());
    }

    #[test]
    fn live_maps_are_read_and_checked_against_the_ring() {
        let live: BTreeMap<String, String> = [
            (
                "class",
                "org.apache.cassandra.locator.NetworkTopologyStrategy",
            ),
            ("dc1", "3"),
            ("dc9", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let replication = Replication::from_live(&live).unwrap();
        let problems = replication.problems_on(&ring(&[("dc1", 1), ("dc2", 1)]));
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.contains(&Problem::NoReplicas("dc2".into())));
        assert!(
            problems
                .iter()
                .any(|p| p.to_string().contains("factor 3 but only 1"))
        );
        assert!(problems.contains(&Problem::UnknownDatacenter("dc9".into())));

        let simple: BTreeMap<String, String> = [(
            "class".to_owned(),
            "org.apache.cassandra.locator.SimpleStrategy".to_owned(),
        )]
        .into();
        assert!(Replication::from_live(&simple).is_none());
    }
}
