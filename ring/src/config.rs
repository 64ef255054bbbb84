//! The files each node reads at startup: `cassandra.yaml`, `logback.xml` and
//! `cassandra-rackdc.properties`, written fresh for Cassandra 5.0.
//!
//! The yaml is our own, not a copy of the stock one: 5.0 rejects unknown keys, so it lists only
//! what a node on a shared 2-core machine needs. Request timeouts keep Cassandra's defaults so that
//! benchmarks measure a stock server.

use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::LocalError;
use crate::shape::NodePlan;

/// The settings of one node's `cassandra.yaml`.
pub struct NodeConfig<'a> {
    /// Cluster name, shared by every node of the ring.
    pub cluster_name: &'a str,
    /// Where the node sits: address, DC, token.
    pub node: &'a NodePlan,
    /// Every node's address: all nodes are seeds, so a fresh ring starts concurrently.
    pub seeds: &'a [String],
    /// The node's own folder; data, commit log, caches and hints go under it.
    pub node_dir: &'a Path,
    /// The address the other nodes know it by: its own, or the delaying proxy in front of its
    /// storage port when the ring models a latency between datacenters.
    pub broadcast_address: Ipv4Addr,
    /// The address clients are told to reach it at: its own, or the delaying proxy in front of
    /// its CQL port when the ring models a client latency.
    pub broadcast_rpc_address: Ipv4Addr,
}

impl NodeConfig<'_> {
    /// Writes the three files into the node's `conf/`, the yaml followed by `security_yaml`.
    pub fn write(&self, security_yaml: &str) -> Result<(), LocalError> {
        let conf = self.node_dir.join("conf");
        fs::create_dir_all(&conf).map_err(|source| LocalError::io("create", &conf, source))?;
        for (file, text) in [
            ("cassandra.yaml", self.cassandra_yaml() + security_yaml),
            ("cassandra-rackdc.properties", self.rackdc_properties()),
            ("logback.xml", self.logback_xml()),
        ] {
            let path = conf.join(file);
            fs::write(&path, text).map_err(|source| LocalError::io("write", &path, source))?;
        }
        Ok(())
    }

    /// The yaml text. All nodes are seeds and `auto_bootstrap` is off, which is what lets every
    /// node of a fresh ring start at once (ccm does the same).
    pub fn cassandra_yaml(&self) -> String {
        let dir = self.node_dir.display();
        let node = self.node;
        let mut yaml = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            yaml,
            "# Written by `bench ring up` for node {index} of cluster '{cluster}'. Rewritten at every start.
cluster_name: '{cluster}'
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: GossipingPropertyFileSnitch
num_tokens: 1
initial_token: '{token}'
auto_bootstrap: false
listen_address: {address}
rpc_address: {address}
broadcast_address: {broadcast}
broadcast_rpc_address: {broadcast_rpc}
storage_port: 7000
native_transport_port: 9042
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: '{seeds}'
data_file_directories: ['{dir}/data']
commitlog_directory: '{dir}/commitlog'
saved_caches_directory: '{dir}/saved_caches'
hints_directory: '{dir}/hints'
cdc_raw_directory: '{dir}/cdc_raw'
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 32MiB
# Sized for a 2-core machine shared by several nodes and the load generator.
concurrent_reads: 16
concurrent_writes: 16
concurrent_counter_writes: 8
concurrent_compactors: 1
memtable_flush_writers: 1
memtable_allocation_type: heap_buffers
# The memtable implementations a table may name (`WITH memtable = 'trie'`, `schema apply
# --memtable trie`); a table that names none uses `default`, the skip list as before 5.0.
memtable:
  configurations:
    skiplist:
      class_name: SkipListMemtable
    trie:
      class_name: TrieMemtable
    default:
      inherits: skiplist
file_cache_size: 64MiB
# Fast DROP and TRUNCATE: the tests and benchmarks drop many throwaway keyspaces.
auto_snapshot: false
",
            index = node.index,
            cluster = self.cluster_name,
            token = node.token,
            address = node.address,
            broadcast = self.broadcast_address,
            broadcast_rpc = self.broadcast_rpc_address,
            seeds = self.seeds.join(","),
        );
        yaml
    }

    /// The snitch's view of where this node is. A node with a broadcast address of its own
    /// prefers its DC's nodes' listen addresses (`prefer_local`), so that only traffic between
    /// datacenters crosses the delaying proxies.
    pub fn rackdc_properties(&self) -> String {
        let prefer_local = if self.broadcast_address == self.node.address {
            ""
        } else {
            "prefer_local=true\n"
        };
        format!(
            "dc={}\nrack={}\n{prefer_local}",
            self.node.datacenter, self.node.rack
        )
    }

    /// Logging at INFO into `logs/system.log` (the readiness check reads it), rolled at 50 MiB so
    /// that a long benchmark cannot fill the disk with logs.
    pub fn logback_xml(&self) -> String {
        let logs = self.node_dir.join("logs");
        let logs = logs.display();
        format!(
            r#"<configuration scan="false">
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>{logs}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>{logs}/system.log.%i.zip</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>5</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>50MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG" />
  </root>
</configuration>
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{IpPrefix, Shape};

    #[test]
    fn yaml_names_the_node_and_all_seeds() {
        let plan = Shape::new(3, 2, IpPrefix::DEFAULT).unwrap().plan();
        let seeds: Vec<String> = plan.iter().map(|n| n.address.to_string()).collect();
        let config = NodeConfig {
            cluster_name: "pickle-test",
            node: &plan[2],
            seeds: &seeds,
            node_dir: Path::new("/rings/test/node3"),
            broadcast_address: plan[2].address,
            broadcast_rpc_address: plan[2].address,
        };
        let yaml = config.cassandra_yaml();
        assert!(yaml.contains("listen_address: 127.0.0.3\n"));
        assert!(yaml.contains("seeds: '127.0.0.1,127.0.0.2,127.0.0.3'"));
        assert!(yaml.contains(&format!("initial_token: '{}'", plan[2].token)));
        assert!(yaml.contains("commitlog_directory: '/rings/test/node3/commitlog'"));
        assert_eq!(config.rackdc_properties(), "dc=dc2\nrack=rack1\n");
        assert!(yaml.contains("broadcast_address: 127.0.0.3\n"));
        // With distance between the DCs, the node is known by its proxy, and talks to its own
        // DC's nodes directly.
        let far = NodeConfig {
            broadcast_address: "127.2.0.3".parse().expect("address"),
            broadcast_rpc_address: "127.1.0.3".parse().expect("address"),
            ..config
        };
        let yaml = far.cassandra_yaml();
        assert!(yaml.contains("listen_address: 127.0.0.3\nrpc_address: 127.0.0.3\n"));
        assert!(yaml.contains("broadcast_address: 127.2.0.3\nbroadcast_rpc_address: 127.1.0.3\n"));
        assert_eq!(
            far.rackdc_properties(),
            "dc=dc2\nrack=rack1\nprefer_local=true\n"
        );
        assert!(
            config
                .logback_xml()
                .contains("/rings/test/node3/logs/system.log</file>")
        );
    }
}
