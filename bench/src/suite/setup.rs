//! What every measuring command of `bench` needs first: a ring (reached, or started on loopback
//! when nothing answers), a new report folder, and a keyspace named after the run.

use crate::error::Result;
use std::path::{Path, PathBuf};
use std::time::Duration;

use client::ConnectionArgs;
use client::cli::UsageError;
use ring::{Home, IpPrefix, LocalRing, RingSpec, Shape};

/// The report folder: given, or `reports/<start time>`; it must not exist and must be creatable.
pub fn prepare_folder(out: Option<&Path>) -> Result<PathBuf, UsageError> {
    let folder = match out {
        Some(folder) => folder.to_path_buf(),
        None => {
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace(':', "-");
            PathBuf::from("reports").join(stamp)
        }
    };
    if folder.exists() {
        return Err(UsageError(format!(
            "--out {}: already exists; give a new folder",
            folder.display()
        )));
    }
    std::fs::create_dir_all(&folder).map_err(|error| {
        UsageError(format!(
            "--out {}: cannot create the report folder: {error}",
            folder.display()
        ))
    })?;
    Ok(folder)
}

/// Whether `bench` may start a local ring: when allowed, and only for loopback contact points.
fn may_start_local_ring(connection: &ConnectionArgs, allowed: bool) -> bool {
    allowed
        && connection.contact_points().iter().all(|cp| {
            cp.starts_with("127.") || cp.starts_with("localhost:") || cp.starts_with("[::1]")
        })
}

/// A keyspace name for a run that began at `started_at` (RFC 3339): `prefix_YYYYMMDDhhmmss`.
pub(crate) fn stamped_keyspace(prefix: &str, started_at: &str) -> String {
    let digits: String = started_at
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    format!("{prefix}_{digits}")
}

/// Connects; when nothing answers on loopback and `may_start` allows it, starts the local ring
/// (`nodes` nodes in `dcs` datacenters) first. Returns whether it started one.
pub async fn reach_ring(
    args: &ConnectionArgs,
    may_start: bool,
    nodes: u8,
    dcs: u8,
) -> Result<(client::Connection, bool)> {
    match args.connect().await {
        Ok(connection) => Ok((connection, false)),
        Err(client::ConnectError::Unreachable { .. }) if may_start_local_ring(args, may_start) => {
            let shape = Shape::new(nodes, dcs, IpPrefix::DEFAULT).map_err(UsageError)?;
            eprintln!(
                "bench: nothing answers at {}; starting a local ring ({shape})",
                args.contact_points().join(",")
            );
            let ring = LocalRing::new(Home::from_env(), "local")?;
            let spec = RingSpec {
                latency: None,
                proxy_program: std::env::current_exe().ok(),
                name: "local".to_owned(),
                shape,
                heap: None,
                cassandra_version: ring::DEFAULT_CASSANDRA_VERSION.to_owned(),
                timeout: Duration::from_secs(300),
                security: ring::Security::default(),
                metrics: None,
            };
            let (state, _) = ring.up(&spec).await?;
            eprintln!(
                "bench: the local ring is up; it keeps running for the next run (`bench ring down` stops it)"
            );
            let mut connection = args.clone();
            if connection.hosts.is_empty() {
                connection.hosts = state
                    .nodes
                    .iter()
                    .filter_map(|n| state.client_address(&n.plan).to_string().parse().ok())
                    .collect();
            }
            Ok((connection.connect().await?, true))
        }
        Err(error) => Err(error.into()),
    }
}

pub(crate) async fn release_version(session: &scylla::client::session::Session) -> Option<String> {
    let result = session
        .query_unpaged("SELECT release_version FROM system.local", &[])
        .await
        .ok()?;
    let (version,): (String,) = result.into_rows_result().ok()?.single_row().ok()?;
    Some(version)
}
