//! Why a connection could not be made ([`ConnectError`]), and how the driver's error is turned
//! into one of its variants.
//!
//! Every message names what failed and says what to do about it; keeping the wording in one file
//! keeps those messages consistent.

use std::path::PathBuf;
use std::time::Duration;

/// The hint every "cannot reach the ring" message ends with.
const START_A_RING: &str = "start a local ring with `bench ring up`, or the containerized one with `docker-compose up` in compose/";

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

/// A connection that failed: what was tried, which the message about it names.
pub(super) struct Attempt<'a> {
    /// The contact points, comma-separated.
    pub(super) hosts: &'a str,
    /// The user it logged in as, if any.
    pub(super) user: Option<&'a str>,
    /// Whether it used TLS (`--tls` or `--tls-ca`).
    pub(super) tls: bool,
    /// How long it waited for a connection (`--connect-timeout`).
    pub(super) connect_timeout: Duration,
}

impl Attempt<'_> {
    /// Turns the driver's error text into one of our messages.
    pub(super) fn explain(&self, driver_error: &str) -> ConnectError {
        let hosts = self.hosts;
        let lowered = driver_error.to_lowercase();
        if lowered.contains("bad credentials") || lowered.contains("provided username") {
            return ConnectError::Authentication {
                hosts: hosts.to_owned(),
                user: self.user.unwrap_or_default().to_owned(),
            };
        }
        if lowered.contains("authenticat") && self.user.is_none() {
            return ConnectError::CredentialsRequired {
                hosts: hosts.to_owned(),
            };
        }
        let tls_hint = if !self.tls {
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
