//! The connection flags every binary flattens ([`ConnectionArgs`]), with an environment variable
//! for each, and their way back to flags for a child process that must reach the same ring.
//!
//! Only the options live here; the session they build is in `session`, so that reading the flags
//! does not mean reading the driver's builder too.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};
use serde::Serialize;

use super::ConnectError;
use crate::options::{ConsistencyLevel, ContactPoint, parse_duration, serialize_duration};

/// The environment variable the password is read from (never a flag: a password on the command
/// line shows in `ps`).
pub const PASSWORD_VARIABLE: &str = "CASSANDRA_PASSWORD";

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
    pub(super) fn password(&self) -> Result<Option<String>, ConnectError> {
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
