//! The shape of a local ring: how many nodes, spread over how many datacenters, on which loopback
//! addresses, with which tokens and ports.
//!
//! Everything here is pure arithmetic, decided before any process starts, so that `bench ring up`
//! can check every port it needs and refuse a half ring before launching anything.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The most nodes one local ring may have. Each node is a JVM with its own heap; past a handful
/// the machine runs out of memory long before loopback runs out of addresses.
pub const MAX_NODES: u8 = 32;

/// The first three octets of the loopback addresses a ring listens on: `127.0.X`.
///
/// Node `i` (1-based) listens on `127.0.X.i`. Linux routes all of 127.0.0.0/8 to `lo`, so no
/// alias is needed; distinct rings on distinct prefixes never fight over a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpPrefix {
    third_octet: u8,
}

impl IpPrefix {
    /// The prefix `127.0.0`, where a single-node ring answers at the driver's default 127.0.0.1.
    pub const DEFAULT: IpPrefix = IpPrefix { third_octet: 0 };

    /// The address of node `index` (1-based).
    pub fn node_address(self, index: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, self.third_octet, index)
    }

    /// The address of the proxy in front of node `index`'s CQL port when the ring models a
    /// client-node latency: `127.1.X.index`. Clients are handed this one.
    pub fn client_proxy_address(self, index: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 1, self.third_octet, index)
    }

    /// The node's broadcast address when the ring models a latency between datacenters:
    /// `127.2.X.index`, a proxy in front of its storage port. Nodes of other DCs reach it there.
    pub fn peer_proxy_address(self, index: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 2, self.third_octet, index)
    }

    /// The JMX port of node `index`. JMX listens on 127.0.0.1 whatever the node's address, so
    /// every node of every ring needs its own port: 17000 + 100 × third octet + index.
    pub fn jmx_port(self, index: u8) -> u16 {
        17_000 + 100 * u16::from(self.third_octet) + u16::from(index)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "127.0.{}", self.third_octet)
    }
}

impl FromStr for IpPrefix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected =
            || format!("'{text}' is not a loopback prefix of the form 127.0.X (X in 0..=255)");
        let octets: Vec<&str> = text.trim().trim_end_matches(".x").split('.').collect();
        match octets.as_slice() {
            ["127", "0", third] => third
                .parse()
                .map(|third_octet| IpPrefix { third_octet })
                .map_err(|_| expected()),
            _ => Err(expected()),
        }
    }
}

impl TryFrom<String> for IpPrefix {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<IpPrefix> for String {
    fn from(prefix: IpPrefix) -> String {
        prefix.to_string()
    }
}

/// The shape that decides whether a running ring can be reused: nodes, datacenters, addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Number of nodes, 1..=[`MAX_NODES`].
    pub nodes: u8,
    /// Number of datacenters, named `dc1..dcD`; nodes are spread over them in contiguous blocks.
    pub datacenters: u8,
    /// Loopback prefix the nodes listen on.
    pub ip_prefix: IpPrefix,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u8, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        write!(
            f,
            "{} in {} on {}.x",
            plural(self.nodes, "node"),
            plural(self.datacenters, "DC"),
            self.ip_prefix
        )
    }
}

/// Where one node sits in the ring, decided before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// 1-based index; also the last octet of the node's address.
    pub index: u8,
    /// Listen, broadcast and native-transport address.
    pub address: Ipv4Addr,
    /// Datacenter name, `dc1..dcD`.
    pub datacenter: String,
    /// Rack name; every node is in `rack1`.
    pub rack: String,
    /// The node's single Murmur3 token, as a decimal string (Cassandra's yaml form).
    pub token: String,
    /// Local JMX port, for nodetool.
    pub jmx_port: u16,
}

impl Shape {
    /// Checks the numbers a user gave, with messages that name the flag.
    pub fn new(nodes: u8, datacenters: u8, ip_prefix: IpPrefix) -> Result<Shape, String> {
        if nodes == 0 || nodes > MAX_NODES {
            return Err(format!(
                "--nodes {nodes}: a local ring has 1 to {MAX_NODES} nodes"
            ));
        }
        if datacenters == 0 || datacenters > nodes {
            return Err(format!(
                "--dcs {datacenters}: every datacenter needs at least one node, so 1 <= --dcs <= --nodes ({nodes})"
            ));
        }
        Ok(Shape {
            nodes,
            datacenters,
            ip_prefix,
        })
    }

    /// How many nodes datacenter `dc` (0-based) gets: an even split, the first DCs taking one
    /// more when it does not divide (3 nodes in 2 DCs: dc1 has 2, dc2 has 1).
    fn nodes_in_dc(&self, dc: u8) -> u8 {
        self.nodes / self.datacenters + u8::from(dc < self.nodes % self.datacenters)
    }

    /// Every node's address, datacenter, token and port.
    ///
    /// Tokens are balanced within each datacenter (node k of m gets `k * 2^64 / m - 2^63`) and
    /// offset by 100 per datacenter so that no two nodes share a token, as ccm does.
    pub fn plan(&self) -> Vec<NodePlan> {
        let mut plans = Vec::with_capacity(usize::from(self.nodes));
        let mut index = 1u8;
        for dc in 0..self.datacenters {
            let in_dc = self.nodes_in_dc(dc);
            for k in 0..in_dc {
                let token = i128::from(k) * ((1i128 << 64) / i128::from(in_dc)) - (1i128 << 63)
                    + 100 * i128::from(dc);
                plans.push(NodePlan {
                    index,
                    address: self.ip_prefix.node_address(index),
                    datacenter: format!("dc{}", dc + 1),
                    rack: "rack1".to_owned(),
                    token: token.to_string(),
                    jmx_port: self.ip_prefix.jmx_port(index),
                });
                index += 1;
            }
        }
        plans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_nodes_in_two_dcs_put_two_in_dc1() {
        let shape = Shape::new(3, 2, "127.0.1".parse().unwrap()).unwrap();
        let plan = shape.plan();
        let dcs: Vec<&str> = plan.iter().map(|n| n.datacenter.as_str()).collect();
        assert_eq!(dcs, ["dc1", "dc1", "dc2"]);
        assert_eq!(plan[2].address, Ipv4Addr::new(127, 0, 1, 3));
        assert_eq!(plan[0].jmx_port, 17_101);
    }

    #[test]
    fn tokens_are_balanced_per_dc_and_unique() {
        let plan = Shape::new(3, 1, IpPrefix::DEFAULT).unwrap().plan();
        let tokens: Vec<&str> = plan.iter().map(|n| n.token.as_str()).collect();
        assert_eq!(
            tokens,
            [
                "-9223372036854775808",
                "-3074457345618258603",
                "3074457345618258602"
            ]
        );

        let two_dcs = Shape::new(4, 2, IpPrefix::DEFAULT).unwrap().plan();
        let tokens: Vec<&str> = two_dcs.iter().map(|n| n.token.as_str()).collect();
        assert_eq!(
            tokens,
            ["-9223372036854775808", "0", "-9223372036854775708", "100"]
        );
    }

    #[test]
    fn bad_shapes_name_the_flag() {
        assert!(
            Shape::new(0, 1, IpPrefix::DEFAULT)
                .unwrap_err()
                .contains("--nodes")
        );
        assert!(
            Shape::new(2, 3, IpPrefix::DEFAULT)
                .unwrap_err()
                .contains("--dcs")
        );
        assert!(Shape::new(40, 1, IpPrefix::DEFAULT).is_err());
    }

    #[test]
    fn prefixes_parse_only_on_127_0() {
        assert_eq!(
            "127.0.7".parse::<IpPrefix>().unwrap().to_string(),
            "127.0.7"
        );
        assert_eq!(
            "127.0.7.x".parse::<IpPrefix>().unwrap().to_string(),
            "127.0.7"
        );
        assert!("10.0.0".parse::<IpPrefix>().is_err());
        assert!("127.0.300".parse::<IpPrefix>().is_err());
        assert!("127.0".parse::<IpPrefix>().is_err());
    }
}
