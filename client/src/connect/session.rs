//! The session [`ConnectionArgs::connect`] builds: token-aware, DC-aware, compressed, with
//! explicit timeouts, and the datacenter it settles on as local.
//!
//! This is the part a reader looks for when asking "how should a Cassandra session be set up?",
//! so it is kept apart from the flag definitions and the error wording.

use std::collections::BTreeSet;
use std::net::ToSocketAddrs;
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

use scylla::client::Compression;
use scylla::client::PoolSize;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;

use super::errors::Attempt;
use super::{CompressionChoice, ConnectError, ConnectionArgs};

/// How long a schema change waits for every reachable node to agree on the new schema.
const SCHEMA_AGREEMENT_TIMEOUT: Duration = Duration::from_secs(180);

/// A connected session and the datacenter it treats as local.
pub struct Connection {
    /// The driver session, shared by every request of the process.
    pub session: Session,
    /// The datacenter requests are routed to.
    pub local_dc: String,
    /// Every datacenter of the ring, sorted.
    pub datacenters: Vec<String>,
    /// Whether requests may leave the local datacenter (`--dc-failover`).
    pub dc_failover: bool,
}

impl Connection {
    /// How far the ring's clock is ahead of this machine's, in milliseconds (negative: behind),
    /// from the coordinator's `now()` against the middle of the round trip, so within half of
    /// it and the millisecond `now()` is rounded to. `None` when it cannot be read. Processes
    /// that meet at a wall-clock instant (the shards of one run) are that far apart.
    pub async fn clock_offset_ms(&self) -> Option<f64> {
        let before = SystemTime::now();
        let result = self
            .session
            .query_unpaged("SELECT toUnixTimestamp(now()) FROM system.local", &[])
            .await
            .ok()?;
        let after = SystemTime::now();
        let (ring_ms,): (i64,) = result.into_rows_result().ok()?.single_row().ok()?;
        let middle = before + after.duration_since(before).unwrap_or_default() / 2;
        let ours_ms = middle
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs_f64()
            * 1e3;
        Some(ring_ms as f64 - ours_ms)
    }

    /// Whether requests have nowhere to go: failover is off and no node of the local datacenter
    /// holds a live connection. Every later request would fail too, so a run should stop.
    pub fn local_datacenter_is_down(&self) -> bool {
        !self.dc_failover
            && !self
                .session
                .get_cluster_state()
                .get_nodes_info()
                .iter()
                .any(|node| {
                    node.datacenter.as_deref() == Some(self.local_dc.as_str())
                        && node.is_connected()
                })
    }
}

impl ConnectionArgs {
    /// The execution profile: consistency, timeout and a token-aware, DC-aware policy.
    fn profile(&self, local_dc: Option<&str>) -> ExecutionProfile {
        let mut policy = DefaultPolicy::builder()
            .token_aware(true)
            .permit_dc_failover(self.dc_failover);
        policy = match (local_dc, &self.rack) {
            (Some(dc), Some(rack)) => {
                policy.prefer_datacenter_and_rack(dc.to_owned(), rack.clone())
            }
            (Some(dc), None) => policy.prefer_datacenter(dc.to_owned()),
            (None, _) => policy,
        };
        ExecutionProfile::builder()
            .consistency(self.consistency.0)
            .request_timeout(Some(self.request_timeout))
            .load_balancing_policy(policy.build())
            .build()
    }

    /// Connects, checks the datacenter, and returns the session.
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let contact_points = self.contact_points();
        let hosts = contact_points.join(",");
        let password = self.password()?;
        let mut profile = self.profile(self.dc.as_deref()).into_handle();
        let mut builder = SessionBuilder::new()
            .known_nodes(&contact_points)
            .connection_timeout(self.connect_timeout)
            // A schema change waits until every reachable node agrees. On a ring that has just
            // started on a busy machine, one node can take more than the driver's default minute
            // to catch up; a down node never blocks it (only live connections are asked).
            .schema_agreement_timeout(SCHEMA_AGREEMENT_TIMEOUT)
            .compression(match self.compression {
                CompressionChoice::Lz4 => Some(Compression::Lz4),
                CompressionChoice::Snappy => Some(Compression::Snappy),
                CompressionChoice::None => None,
            })
            .pool_size(PoolSize::PerHost(
                NonZeroUsize::new(usize::from(self.connections)).unwrap_or(NonZeroUsize::MIN),
            ))
            .default_execution_profile_handle(profile.clone());
        if let Some(tls) = self.tls_context()? {
            builder = builder.tls_context(Some(tls));
        }
        let user = self.user.as_ref().filter(|user| !user.is_empty());
        match (user, password) {
            (Some(user), Some(password)) => builder = builder.user(user, password),
            (Some(user), None) => builder = builder.user(user, ""),
            (None, Some(_)) => return Err(ConnectError::PasswordWithoutUser),
            (None, None) => {}
        }
        // Session building makes the control connection and reads the ring's metadata; bound
        // the whole of it, not just the TCP connect.
        let bound = self.connect_timeout * 2 + Duration::from_secs(1);
        let attempt = Attempt {
            hosts: &hosts,
            user: self.user.as_deref(),
            tls: self.tls || self.tls_ca.is_some(),
            connect_timeout: self.connect_timeout,
        };
        let session = match tokio::time::timeout(bound, builder.build()).await {
            Ok(Ok(session)) => session,
            Ok(Err(error)) => return Err(attempt.explain(&error.to_string())),
            Err(_) => return Err(attempt.explain("no answer")),
        };
        let cluster = session.get_cluster_state();
        let datacenters: Vec<String> = cluster
            .get_nodes_info()
            .iter()
            .filter_map(|node| node.datacenter.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let local_dc = match &self.dc {
            Some(dc) if datacenters.contains(dc) => dc.clone(),
            Some(dc) => {
                return Err(ConnectError::UnknownDatacenter {
                    dc: dc.clone(),
                    known: datacenters.join(", "),
                });
            }
            None => {
                let dc = first_contact_datacenter(&session, &contact_points, &datacenters)?;
                tracing::info!(
                    "no --dc given: using datacenter '{dc}', where the first contact point is"
                );
                profile.map_to_another_profile(self.profile(Some(&dc)));
                dc
            }
        };
        tracing::debug!(
            nodes = cluster.get_nodes_info().len(),
            local_dc,
            "connected"
        );
        Ok(Connection {
            session,
            local_dc,
            datacenters,
            dc_failover: self.dc_failover,
        })
    }
}

/// The datacenter of the node the first contact point resolves to; with a single datacenter,
/// that one.
fn first_contact_datacenter(
    session: &Session,
    contact_points: &[String],
    datacenters: &[String],
) -> Result<String, ConnectError> {
    if let [only] = datacenters {
        return Ok(only.clone());
    }
    let first_ips: Vec<_> = contact_points
        .first()
        .and_then(|cp| cp.to_socket_addrs().ok())
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .unwrap_or_default();
    session
        .get_cluster_state()
        .get_nodes_info()
        .iter()
        .find(|node| first_ips.contains(&node.address.ip()))
        .and_then(|node| node.datacenter.clone())
        .ok_or_else(|| ConnectError::AmbiguousDatacenter {
            known: datacenters.join(", "),
        })
}
