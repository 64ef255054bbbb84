//! The TLS context of a connection, built from `--tls`, `--tls-ca`, `--tls-cert` and `--tls-key`.
//!
//! It is its own module because it is the one place that touches OpenSSL, and because each file it
//! is given is checked up front, so that a wrong path is one clear line rather than a failed
//! handshake.

use std::path::PathBuf;

use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use scylla::client::session::OpenSsl010Config;

use super::{ConnectError, ConnectionArgs};

impl ConnectionArgs {
    /// The TLS context, when any TLS option is set: the system's CAs or `--tls-ca`, and the client
    /// certificate when given. Each file is checked here, so a wrong path is one clear line.
    pub(super) fn tls_context(&self) -> Result<Option<OpenSsl010Config>, ConnectError> {
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
}
