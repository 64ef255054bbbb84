//! A whole ring's lifecycle: [`LocalRing::up`] (idempotent: it starts whatever is not running and
//! waits until every node is up), and [`LocalRing::down`].
//!
//! Starting nodes is shared with `faults`, which restarts a single node the same way, so that a
//! node brought back by a fault test is configured exactly as `up` would have configured it.

use std::fs;
use std::time::{Duration, Instant};

use super::{LocalRing, distance, is_running, stop_node};
use crate::config::NodeConfig;
use crate::jars::Jars;
use crate::metrics::MetricsAgent;
use crate::ports;
use crate::process::Launch;
use crate::readiness::{self, Wait};
use crate::security::{SUPERUSER, Security};
use crate::shape::{NodePlan, Shape};
use crate::state::RingState;
use crate::toolchain::Java;
use crate::{DEFAULT_HEAP, LocalError, RingSpec, UpOutcome, check_heap, heap_kib};

impl LocalRing {
    /// Starts the nodes of the ring that are not running and waits until all are up. A ring of
    /// another shape or security is refused.
    pub async fn up(&self, spec: &RingSpec) -> Result<(RingState, UpOutcome), LocalError> {
        if let Some(heap) = &spec.heap {
            check_heap(heap)?;
        }
        let _lock = self.home.lock(&self.name).await?;
        let dir = self.dir();
        let mut state = match self.state()? {
            Some(existing)
                if existing.shape != spec.shape || existing.security != spec.security =>
            {
                return Err(LocalError::ShapeMismatch {
                    name: self.name.clone(),
                    existing: describe(existing.shape, existing.security),
                    requested: describe(spec.shape, spec.security),
                });
            }
            Some(existing) => existing,
            None => RingState {
                security: spec.security,
                metrics: spec.metrics.unwrap_or(false),
                latency: spec.latency.unwrap_or_default(),
                ..RingState::planned(
                    &self.name,
                    &spec.cassandra_version,
                    spec.shape,
                    spec.heap.as_deref().unwrap_or(DEFAULT_HEAP),
                )
            },
        };
        let stopped: Vec<usize> = (0..state.nodes.len())
            .filter(|i| !is_running(&dir, &state.nodes[*i]))
            .collect();
        if let Some(requested) = &spec.heap
            && stopped.len() < state.nodes.len()
            && heap_kib(requested).ok() != heap_kib(&state.heap).ok()
        {
            return Err(LocalError::HeapMismatch {
                name: self.name.clone(),
                running: state.heap.clone(),
                requested: requested.clone(),
            });
        }
        if let Some(requested) = spec.metrics
            && stopped.len() < state.nodes.len()
            && requested != state.metrics
        {
            let (with, without) = ("with", "without");
            return Err(LocalError::MetricsMismatch {
                name: self.name.clone(),
                running: if state.metrics { with } else { without },
                requested: if requested { with } else { without },
            });
        }
        if let Some(requested) = spec.latency
            && stopped.len() < state.nodes.len()
            && requested != state.latency
        {
            return Err(LocalError::LatencyMismatch {
                name: self.name.clone(),
                running: state.latency.to_string(),
                requested: requested.to_string(),
            });
        }
        let deadline = Instant::now() + spec.timeout;
        let everyone = vec![true; state.nodes.len()];
        if let Some(program) = &spec.proxy_program {
            distance::serve_proxies_with(&mut state, program);
        }
        if stopped.is_empty() {
            distance::start_proxies(&dir, &mut state).await?;
            let marks = readiness::log_marks(&dir, &state);
            let wait = Wait {
                checked: &everyone,
                started: &vec![false; state.nodes.len()],
                gossip_marks: &marks,
            };
            readiness::wait_until_up(&dir, &state, &wait, &self.access(&state), deadline).await?;
            // A ring started by an older `bench` has no announcement yet: reused, it has one.
            state.announce(&dir)?;
            return Ok((state, UpOutcome::Reused));
        }
        // The heap and metrics of a restarted ring follow this call's, if it gave them.
        if let Some(heap) = &spec.heap {
            state.heap = heap.clone();
        }
        if let Some(metrics) = spec.metrics {
            state.metrics = metrics;
        }
        if let Some(latency) = spec.latency
            && latency != state.latency
        {
            distance::stop_proxies(&dir, &mut state).await?;
            state.latency = latency;
        }
        self.start_nodes(&mut state, &stopped, &everyone, deadline)
            .await?;
        self.retire_default_password(&state).await?;
        Ok((
            state,
            UpOutcome::Started {
                nodes: stopped.len(),
            },
        ))
    }

    /// Starts the nodes at `indices` (0-based) and waits until every `checked` node is up.
    pub(super) async fn start_nodes(
        &self,
        state: &mut RingState,
        indices: &[usize],
        checked: &[bool],
        deadline: Instant,
    ) -> Result<(), LocalError> {
        let dir = self.dir();
        let starting: Vec<&NodePlan> = indices.iter().map(|&i| &state.nodes[i].plan).collect();
        ports::wait_for_nodes(&starting, state.metrics, deadline).await?;
        // The nodes are configured to be reached through the proxies: they come first.
        distance::start_proxies(&dir, state).await?;
        let java = Java::find()?;
        let jars = Jars::resolve(&self.home.jar_cache(), &state.cassandra_version)?;
        let agent = if state.metrics {
            Some(MetricsAgent::resolve(&self.home.jar_cache())?)
        } else {
            None
        };
        let plans: Vec<NodePlan> = state.nodes.iter().map(|n| n.plan.clone()).collect();
        let security = self.security_files();
        security.prepare(state.security, &plans)?;
        let seeds: Vec<String> = plans
            .iter()
            .map(|p| state.peer_address(p).to_string())
            .collect();
        let gossip_marks = readiness::log_marks(&dir, state);
        let mut started = vec![false; state.nodes.len()];
        for &i in indices {
            let node_dir = RingState::node_dir(&dir, state.nodes[i].plan.index);
            let extra = security.yaml(state.security, state.nodes[i].plan.index)?;
            let config = NodeConfig {
                cluster_name: &format!("pickle-{}", self.name),
                node: &state.nodes[i].plan,
                seeds: &seeds,
                node_dir: &node_dir,
                broadcast_address: state.peer_address(&state.nodes[i].plan),
                broadcast_rpc_address: state.client_address(&state.nodes[i].plan),
            };
            config.write(&extra)?;
            let metrics_agent = match &agent {
                Some(agent) => Some(agent.java_option(&node_dir, state.nodes[i].plan.address)?),
                None => None,
            };
            state.nodes[i].log_mark = readiness::log_mark(&node_dir);
            let launch = Launch {
                java: &java,
                jars: &jars,
                node_dir: &node_dir,
                heap: &state.heap,
                jmx_port: state.nodes[i].plan.jmx_port,
                auth: state.security.auth,
                metrics_agent,
            };
            state.nodes[i].pid = Some(launch.spawn()?);
            started[i] = true;
            // Saved after every spawn, so that `down` can find a node even if this call dies.
            state.save(&dir)?;
        }
        let wait = Wait {
            checked,
            started: &started,
            gossip_marks: &gossip_marks,
        };
        let access = self.access(state);
        let waited = tokio::select! {
            result = readiness::wait_until_up(&dir, state, &wait, &access, deadline) => result,
            _ = tokio::signal::ctrl_c() => Err(LocalError::Interrupted),
        };
        if let Err(error) = waited {
            for &i in indices {
                let stopped = stop_node(
                    &dir,
                    &state.nodes[i],
                    state.metrics,
                    Duration::from_secs(10),
                )
                .await;
                if let Err(stopping) = stopped {
                    tracing::warn!("{stopping}");
                }
            }
            return Err(error);
        }
        Ok(())
    }

    /// Stops every node (SIGTERM, then SIGKILL after `grace`); with `wipe`, deletes the ring's
    /// folder too. Returns how many nodes were running.
    pub async fn down(&self, grace: Duration, wipe: bool) -> Result<usize, LocalError> {
        let _lock = self.home.lock(&self.name).await?;
        let dir = self.dir();
        let Some(mut state) = self.state()? else {
            return if dir.exists() && wipe {
                fs::remove_dir_all(&dir)
                    .map_err(|source| LocalError::io("remove", &dir, source))
                    .map(|_| 0)
            } else {
                Err(LocalError::NoSuchRing(self.name.clone()))
            };
        };
        let running = state
            .nodes
            .iter()
            .filter(|node| is_running(&dir, node))
            .count();
        let stops = state
            .nodes
            .iter()
            .map(|node| stop_node(&dir, node, state.metrics, grace));
        for result in futures::future::join_all(stops).await {
            result?;
        }
        distance::stop_proxies(&dir, &mut state).await?;
        if wipe {
            fs::remove_dir_all(&dir).map_err(|source| LocalError::io("remove", &dir, source))?;
        } else {
            state.nodes.iter_mut().for_each(|node| node.pid = None);
            state.save(&dir)?;
        }
        Ok(running)
    }

    /// A ring with `--auth` starts with the superuser's well-known password; the first `up`
    /// replaces it with a random one, kept in the owner-only password file.
    async fn retire_default_password(&self, state: &RingState) -> Result<(), LocalError> {
        let files = self.security_files();
        let current = fs::read_to_string(files.password_file()).unwrap_or_default();
        if !state.security.auth || current.trim() != SUPERUSER {
            return Ok(());
        }
        let fresh: String = (0..24)
            .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
            .collect();
        let contact = format!("{}:9042", state.nodes[0].plan.address);
        readiness::change_superuser_password(&contact, &self.access(state), &fresh).await?;
        files.remember_password(&fresh)?;
        // Cassandra caches credentials for a few seconds: `up` returns once the new password works.
        readiness::wait_for_login(
            &contact,
            &self.access(state),
            Instant::now() + Duration::from_secs(20),
        )
        .await
    }
}

/// A ring's shape and security in words: "3 nodes in 2 DCs on 127.0.1.x, with auth and TLS".
fn describe(shape: Shape, security: Security) -> String {
    let extras: Vec<&str> = [
        security.auth.then_some("auth"),
        security.tls.then_some("TLS"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if extras.is_empty() {
        shape.to_string()
    } else {
        format!("{shape}, with {}", extras.join(" and "))
    }
}
