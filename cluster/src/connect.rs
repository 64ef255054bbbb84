//! How every binary reaches a ring: one clap option group, [`ConnectionArgs`], that `factory`,
//! `shop`, `schema` and `bench` all flatten, with an environment variable for every flag.
//!
//! The session it builds is the one this project recommends for Cassandra:
//! - **token-aware**, so each request goes straight to a replica (no extra coordinator hop);
//! - **DC-aware**: requests stay in the local datacenter, where LOCAL_* consistency is evaluated,
//!   and go to another DC only when `--dc-failover` allows it;
//! - **LZ4 compression** on, which costs little CPU and saves bandwidth on real networks;
//! - explicit connect and request timeouts, so a dead ring is one clear line, not a hang.
//!
//! When no `--dc` is given, the datacenter of the first contact point is used, and said so.

use std::collections::BTreeSet;
use std::net::ToSocketAddrs;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use scylla::client::Compression;
use scylla::client::PoolSize;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::{OpenSsl010Config, Session};
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use serde::Serialize;

use crate::options::{ConsistencyLevel, ContactPoint, parse_duration, serialize_duration};

/// The environment variable the password is read from (never a flag: a password on the command
/// line shows in `ps`).
pub const PASSWORD_VARIABLE: &str = "CASSANDRA_PASSWORD";

/// How long a schema change waits for every reachable node to agree on the new schema.
const SCHEMA_AGREEMENT_TIMEOUT: Duration = Duration::from_secs(180);

/// The hint every "cannot reach the ring" message ends with.
const START_A_RING: &str = "start a local ring with `bench ring up`, or the containerized one with `docker-compose up` in compose/";

/// Where the ring is and how to talk to it. Every flag can also be set through the environment
/// variable named in `--help`; a flag wins over its variable.
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Connection (flags or environment)")]
pub struct ConnectionArgs {
    /// Contact points, comma-separated HOST[:PORT] (IPv6 as [ADDR]:PORT). The original apps'
    /// single CASSANDRA_HOST is read too. [default: 127.0.0.1]
    #[arg(
        global = true,
        long = "hosts",
        env = "CASSANDRA_HOSTS",
        value_name = "HOST[:PORT],...",
        value_delimiter = ','
    )]
    pub hosts: Vec<ContactPoint>,

    /// Native-protocol port for contact points given without one.
    #[arg(
        global = true,
        long,
        env = "CASSANDRA_PORT",
        value_name = "PORT",
        default_value_t = 9042
    )]
    pub port: u16,

    /// Local datacenter: requests are routed to its nodes and LOCAL_* consistency is counted in
    /// it. [default: the datacenter of the first contact point]
    #[arg(global = true, long, env = "CASSANDRA_DC", value_name = "DC")]
    pub dc: Option<String>,

    /// Preferred rack inside the local datacenter, tried before its other racks.
    #[arg(
        global = true,
        long,
        env = "CASSANDRA_RACK",
        value_name = "RACK",
        requires = "dc"
    )]
    pub rack: Option<String>,

    /// Let requests go to other datacenters when no node of the local one can serve them.
    /// Off by default: a DC outage then fails fast instead of silently crossing a WAN.
    #[arg(global = true, long, env = "CASSANDRA_DC_FAILOVER", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub dc_failover: bool,

    /// User name, for rings with PasswordAuthenticator. The password is read from
    /// CASSANDRA_PASSWORD or --password-file, never from the command line.
    #[arg(global = true, long, env = "CASSANDRA_USER", value_name = "USER")]
    pub user: Option<String>,

    /// File whose first line is the password (the environment variable CASSANDRA_PASSWORD works
    /// too).
    #[arg(
        global = true,
        long,
        env = "CASSANDRA_PASSWORD_FILE",
        value_name = "PATH"
    )]
    pub password_file: Option<PathBuf>,

    /// Connect with TLS, trusting this CA certificate (PEM); the ring's certificates must name the
    /// addresses connected to.
    #[arg(global = true, long, env = "CASSANDRA_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,

    /// Connect with TLS, trusting the system's CA certificates (implied by --tls-ca).
    #[arg(global = true, long, env = "CASSANDRA_TLS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub tls: bool,

    /// Client certificate (PEM) to present, for rings that require one; needs --tls-key.
    #[arg(
        global = true,
        long,
        env = "CASSANDRA_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(
        global = true,
        long,
        env = "CASSANDRA_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Keyspace the apps read and write.
    #[arg(
        global = true,
        long,
        env = "CASSANDRA_KEYSPACE",
        value_name = "NAME",
        default_value = "pickle"
    )]
    pub keyspace: String,

    /// Default consistency level of requests (ONE, LOCAL_ONE, QUORUM, LOCAL_QUORUM, EACH_QUORUM,
    /// ALL...).
    #[arg(
        global = true,
        long,
        env = "CASSANDRA_CONSISTENCY",
        value_name = "LEVEL",
        default_value = "LOCAL_QUORUM"
    )]
    pub consistency: ConsistencyLevel,

    /// How long to wait for the first connection before giving up.
    #[arg(global = true, long, env = "CASSANDRA_CONNECT_TIMEOUT", value_name = "DURATION", default_value = "5s", value_parser = parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "serialize_duration")]
    pub connect_timeout: Duration,

    /// Client-side timeout of one request, retries included. Above the server's own write (2 s)
    /// and read (5 s) timeouts, so the server's answer is seen rather than cut off.
    #[arg(global = true, long, env = "CASSANDRA_REQUEST_TIMEOUT", value_name = "DURATION", default_value = "12s", value_parser = parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "serialize_duration")]
    pub request_timeout: Duration,

    /// Connections the driver keeps to each node. One carries thousands of concurrent requests;
    /// more spread a node's request decoding over more of its event-loop threads.
    #[arg(global = true, long, env = "CASSANDRA_CONNECTIONS", value_name = "COUNT", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub connections: u16,

    /// Compression of the native protocol.
    #[arg(
        global = true,
        long,
        env = "CASSANDRA_COMPRESSION",
        value_name = "ALGORITHM",
        default_value = "lz4"
    )]
    pub compression: CompressionChoice,
}

/// The native protocol's compression choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionChoice {
    /// LZ4: fast, the usual choice.
    Lz4,
    /// Snappy.
    Snappy,
    /// No compression.
    None,
}

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

/// Why a connection could not be made. Every message says what to do about it.
// Each variant's #[error] text says what its fields hold.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing answered in time, or the contact points refused.
    #[error("cannot reach Cassandra at {hosts} within {timeout}: {reason}; {START_A_RING}")]
    Unreachable {
        hosts: String,
        timeout: String,
        reason: String,
    },
    /// The ring answered but refused the credentials.
    #[error(
        "Cassandra at {hosts} refused the credentials of user '{user}': check CASSANDRA_USER and CASSANDRA_PASSWORD (or --password-file)"
    )]
    Authentication { hosts: String, user: String },
    /// The ring wants credentials and none were given.
    #[error(
        "Cassandra at {hosts} requires authentication: set CASSANDRA_USER and CASSANDRA_PASSWORD (or --password-file)"
    )]
    CredentialsRequired { hosts: String },
    /// `--dc` names a datacenter the ring does not have.
    #[error(
        "datacenter '{dc}' (--dc / CASSANDRA_DC) is not in the ring; its datacenters are: {known}"
    )]
    UnknownDatacenter { dc: String, known: String },
    /// No `--dc`, and the first contact point does not tell which DC is local.
    #[error(
        "the ring has several datacenters ({known}) and none was chosen: pass --dc or set CASSANDRA_DC"
    )]
    AmbiguousDatacenter { known: String },
    /// The password file could not be read.
    #[error(
        "cannot read the password file {path} (--password-file / CASSANDRA_PASSWORD_FILE): {reason}"
    )]
    PasswordFile { path: PathBuf, reason: String },
    /// The TLS settings could not be used.
    #[error("TLS: cannot use {what} {path}: {reason}")]
    Tls {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// A password was given without a user.
    #[error("a password was given but no user: set CASSANDRA_USER or --user")]
    PasswordWithoutUser,
}

impl ConnectionArgs {
    /// These options as command-line flags, for a child process that must reach the same ring
    /// the same way (`bench` runs `factory` and `shop` so). The password is not among them: the
    /// child reads it where this process did, from `--password-file` or the environment.
    pub fn to_flags(&self) -> Vec<String> {
        let duration = |d: Duration| humantime::format_duration(d).to_string();
        let compression = match self.compression {
            CompressionChoice::Lz4 => "lz4",
            CompressionChoice::Snappy => "snappy",
            CompressionChoice::None => "none",
        };
        let mut flags: Vec<String> = [
            ("--hosts", self.contact_points().join(",")),
            ("--keyspace", self.keyspace.clone()),
            ("--consistency", self.consistency.to_string()),
            ("--connect-timeout", duration(self.connect_timeout)),
            ("--request-timeout", duration(self.request_timeout)),
            ("--connections", self.connections.to_string()),
            ("--compression", compression.to_owned()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect();
        let user = self.user.clone().filter(|user| !user.is_empty());
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        for (flag, value) in [
            ("--dc", self.dc.clone()),
            ("--rack", self.rack.clone()),
            ("--user", user),
            ("--password-file", path(&self.password_file)),
            ("--tls-ca", path(&self.tls_ca)),
            ("--tls-cert", path(&self.tls_cert)),
            ("--tls-key", path(&self.tls_key)),
        ] {
            if let Some(value) = value {
                flags.extend([flag.to_owned(), value]);
            }
        }
        for (flag, on) in [("--tls", self.tls), ("--dc-failover", self.dc_failover)] {
            if on {
                flags.push(flag.to_owned());
            }
        }
        flags
    }

    /// The contact points as `host:port` strings: `--hosts`/`CASSANDRA_HOSTS`, else the original
    /// apps' `CASSANDRA_HOST`, else 127.0.0.1.
    pub fn contact_points(&self) -> Vec<String> {
        let mut hosts = self.hosts.clone();
        if hosts.is_empty()
            && let Some(single) = std::env::var("CASSANDRA_HOST")
                .ok()
                .filter(|h| !h.trim().is_empty())
        {
            hosts = single.split(',').filter_map(|h| h.parse().ok()).collect();
        }
        if hosts.is_empty() {
            hosts.push(ContactPoint::localhost());
        }
        hosts
            .iter()
            .map(|h| h.with_default_port(self.port))
            .collect()
    }

    /// The password, from the password file or else the environment ([`PASSWORD_VARIABLE`]).
    fn password(&self) -> Result<Option<String>, ConnectError> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| ConnectError::PasswordFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            return Ok(Some(text.lines().next().unwrap_or_default().to_owned()));
        }
        // An empty value means none, as an env file's `CASSANDRA_PASSWORD=` line says.
        Ok(std::env::var(PASSWORD_VARIABLE)
            .ok()
            .filter(|password| !password.is_empty()))
    }

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
        let session = match tokio::time::timeout(bound, builder.build()).await {
            Ok(Ok(session)) => session,
            Ok(Err(error)) => return Err(self.explain(&hosts, &error.to_string())),
            Err(_) => return Err(self.explain(&hosts, "no answer")),
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

    /// The TLS context, when any TLS option is set: the system's CAs or `--tls-ca`, and the client
    /// certificate when given. Each file is checked here, so a wrong path is one clear line.
    fn tls_context(&self) -> Result<Option<OpenSsl010Config>, ConnectError> {
        if !self.tls && self.tls_ca.is_none() && self.tls_cert.is_none() {
            return Ok(None);
        }
        let tls_error = |what, path: &PathBuf, error: &dyn std::fmt::Display| ConnectError::Tls {
            what,
            path: path.clone(),
            reason: error.to_string(),
        };
        let mut builder = SslConnector::builder(SslMethod::tls())
            .map_err(|e| tls_error("OpenSSL", &PathBuf::from("(library)"), &e))?;
        let readable = |what, path: &PathBuf| {
            std::fs::File::open(path)
                .map(drop)
                .map_err(|e| tls_error(what, path, &e))
        };
        if let Some(ca) = &self.tls_ca {
            readable("the CA certificate", ca)?;
            builder
                .set_ca_file(ca)
                .map_err(|e| tls_error("the CA certificate", ca, &e))?;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            readable("the client certificate", cert)?;
            readable("the client key", key)?;
            builder
                .set_certificate_chain_file(cert)
                .map_err(|e| tls_error("the client certificate", cert, &e))?;
            builder
                .set_private_key_file(key, SslFiletype::PEM)
                .map_err(|e| tls_error("the client key", key, &e))?;
            builder
                .check_private_key()
                .map_err(|e| tls_error("the client key", key, &e))?;
        }
        Ok(Some(OpenSsl010Config::new(builder)))
    }

    /// Turns the driver's error text into one of our messages.
    fn explain(&self, hosts: &str, driver_error: &str) -> ConnectError {
        let lowered = driver_error.to_lowercase();
        if lowered.contains("bad credentials") || lowered.contains("provided username") {
            return ConnectError::Authentication {
                hosts: hosts.to_owned(),
                user: self.user.clone().unwrap_or_default(),
            };
        }
        if lowered.contains("authenticat") && self.user.is_none() {
            return ConnectError::CredentialsRequired {
                hosts: hosts.to_owned(),
            };
        }
        let tls_hint = if self.tls_ca.is_none() && !self.tls {
            " (if the ring requires TLS, pass --tls-ca)"
        } else {
            ""
        };
        let reason = if lowered.contains("connection refused") {
            "connection refused".to_owned()
        } else if lowered.contains("connection reset") {
            format!("the server closed the connection{tls_hint}")
        } else if lowered.contains("certificate")
            || lowered.contains("ssl")
            || lowered.contains("handshake")
        {
            format!("the TLS handshake failed: {}", last_clause(driver_error))
        } else if lowered.contains("timed out")
            || lowered.contains("timeout")
            || driver_error == "no answer"
        {
            format!("no answer{tls_hint}")
        } else {
            format!("{}{tls_hint}", last_clause(driver_error))
        };
        ConnectError::Unreachable {
            hosts: hosts.to_owned(),
            timeout: humantime::format_duration(self.connect_timeout).to_string(),
            reason,
        }
    }
}

/// The innermost reason of a driver error: the text after its last "reason: " or ": ".
fn last_clause(driver_error: &str) -> &str {
    driver_error
        .rsplit_once("reason: ")
        .or_else(|| driver_error.rsplit_once(": "))
        .map_or(driver_error, |(_, reason)| reason)
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        connection: ConnectionArgs,
    }

    fn parse(words: &[String]) -> ConnectionArgs {
        Flags::try_parse_from(std::iter::once("t".to_owned()).chain(words.iter().cloned()))
            .expect("the flags parse")
            .connection
    }

    #[test]
    fn flags_given_to_a_child_reach_the_ring_the_same_way() {
        let words: Vec<String> = [
            "--hosts",
            "10.0.0.1:9043,10.0.0.2",
            "--port",
            "9142",
            "--dc",
            "dc2",
            "--rack",
            "r1",
            "--dc-failover",
            "--user",
            "pickler",
            "--password-file",
            "/run/secret",
            "--tls-ca",
            "/ca.pem",
            "--tls-cert",
            "/c.pem",
            "--tls-key",
            "/k.pem",
            "--keyspace",
            "orchard",
            "--consistency",
            "QUORUM",
            "--connect-timeout",
            "7s",
            "--request-timeout",
            "1m 30s",
            "--connections",
            "3",
            "--compression",
            "snappy",
        ]
        .map(str::to_owned)
        .to_vec();
        let given = parse(&words);
        let child = parse(&given.to_flags());
        let json = |args: &ConnectionArgs| serde_json::to_value(args).expect("serializable");
        let mut expected = json(&given);
        // The child gets every contact point with its port, so --port no longer matters.
        expected["hosts"] = json(&child)["hosts"].clone();
        expected["port"] = json(&child)["port"].clone();
        assert_eq!(json(&child), expected);
        assert_eq!(child.contact_points(), given.contact_points());
        assert!(parse(&ConnectionArgs::to_flags(&parse(&[]))).user.is_none());
    }
}
