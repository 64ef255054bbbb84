//! The ring's metrics for Prometheus, without Docker: `bench ring up --metrics` loads the
//! Prometheus JMX exporter agent into every node, with the rules the containerized ring uses
//! (`compose/monitoring/jmx/cassandra.yml`), so both rings give Prometheus the same series.
//!
//! The agent is a jar on Maven Central (`io.prometheus.jmx:jmx_prometheus_javaagent`), fetched
//! once into the jar cache like Cassandra's own jars. Each node serves its metrics on its own
//! address, at [`METRICS_PORT`]: `http://127.0.0.2:7070/metrics` for node 2. The agent reads the
//! node's MBeans only when it is scraped, so a ring nobody scrapes pays nothing for it.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::jars::last_lines;
use crate::{LocalError, toolchain};

/// The port every node's agent serves its metrics on, at the node's own address.
pub const METRICS_PORT: u16 = 7070;

/// The agent's release, the same the compose ring mounts (`compose/monitoring/jmx/fetch.sh`).
const AGENT_VERSION: &str = "1.0.1";

/// Which MBeans become which series: one rules file for both rings.
const RULES: &str = include_str!("../../compose/monitoring/jmx/cassandra.yml");

/// Where Prometheus scrapes the node at `address`.
pub fn metrics_endpoint(address: Ipv4Addr) -> String {
    format!("http://{address}:{METRICS_PORT}/metrics")
}

/// The agent's jar, fetched.
pub(super) struct MetricsAgent {
    jar: PathBuf,
}

impl MetricsAgent {
    /// The agent under `cache`, downloaded with Maven the first time (into a temporary folder
    /// renamed once complete, under a file lock, as Cassandra's jars are).
    pub(super) fn resolve(cache: &Path) -> Result<MetricsAgent, LocalError> {
        let dir = cache.join(format!("jmx_prometheus_javaagent-{AGENT_VERSION}"));
        let jar = dir.join("jmx_prometheus_javaagent.jar");
        if jar.exists() {
            return Ok(MetricsAgent { jar });
        }
        fs::create_dir_all(&dir).map_err(|source| LocalError::io("create", &dir, source))?;
        let lock_path = dir.join(".lock");
        let lock = fs::File::create(&lock_path)
            .map_err(|source| LocalError::io("create", &lock_path, source))?;
        lock.lock()
            .map_err(|source| LocalError::io("lock", &lock_path, source))?;
        if jar.exists() {
            return Ok(MetricsAgent { jar });
        }
        let partial = dir.join("partial");
        let artifact = format!("io.prometheus.jmx:jmx_prometheus_javaagent:{AGENT_VERSION}");
        tracing::info!("downloading the Prometheus JMX exporter agent {AGENT_VERSION} (once)");
        let output = Command::new(toolchain::find_maven()?)
            .current_dir(&dir)
            .args(["-B", "-q", "dependency:copy", "-Dmdep.stripVersion=true"])
            .arg(format!("-Dartifact={artifact}"))
            .arg(format!("-DoutputDirectory={}", partial.display()))
            .output()
            .map_err(|source| LocalError::io("run mvn in", &dir, source))?;
        let fetched = partial.join("jmx_prometheus_javaagent.jar");
        if !output.status.success() || !fetched.exists() {
            let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
            log.push_str(&String::from_utf8_lossy(&output.stderr));
            return Err(LocalError::Maven {
                artifact,
                tail: last_lines(&log, 15),
            });
        }
        fs::rename(&fetched, &jar).map_err(|source| LocalError::io("rename", &fetched, source))?;
        let _ = fs::remove_dir_all(&partial);
        Ok(MetricsAgent { jar })
    }

    /// The JVM option that loads the agent into the node in `node_dir`, serving on `address`;
    /// writes the rules into the node's `conf/`.
    pub(super) fn java_option(
        &self,
        node_dir: &Path,
        address: Ipv4Addr,
    ) -> Result<String, LocalError> {
        let rules = node_dir.join("conf").join("jmx-exporter.yml");
        fs::write(&rules, RULES).map_err(|source| LocalError::io("write", &rules, source))?;
        Ok(format!(
            "-javaagent:{}={address}:{METRICS_PORT}:{}",
            self.jar.display(),
            rules.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_serves_on_the_nodes_own_address_with_the_compose_rings_rules() {
        let node_dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(node_dir.path().join("conf")).unwrap();
        let agent = MetricsAgent {
            jar: PathBuf::from("/cache/agent.jar"),
        };
        let option = agent
            .java_option(node_dir.path(), Ipv4Addr::new(127, 0, 0, 2))
            .unwrap();
        let rules = node_dir.path().join("conf/jmx-exporter.yml");
        assert_eq!(
            option,
            format!(
                "-javaagent:/cache/agent.jar=127.0.0.2:7070:{}",
                rules.display()
            )
        );
        assert_eq!(fs::read_to_string(rules).unwrap(), RULES);
        assert_eq!(
            metrics_endpoint(Ipv4Addr::new(127, 0, 0, 2)),
            "http://127.0.0.2:7070/metrics"
        );
    }
}
