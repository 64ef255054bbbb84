//! Authentication and TLS for a local ring: `bench ring up --auth` and `--tls`.
//!
//! `--auth` turns on Cassandra's PasswordAuthenticator and CassandraAuthorizer; the default
//! superuser (`cassandra`) is created at once, and its well-known password is replaced by a
//! random one, written to a file only the owner can read, so that it is passed to the apps as
//! `CASSANDRA_PASSWORD_FILE` and never shows on a command line or in a log.
//!
//! `--tls` makes a throwaway certificate authority and, for each node, a certificate for its IP
//! address (the driver checks the node's certificate against the address it connects to), packed
//! with its key into a PKCS#12 keystore. Client encryption is then required: plaintext clients
//! are refused. Clients trust the CA with `--tls-ca <ring>/tls/ca.crt`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::LocalError;
use crate::shape::NodePlan;

/// The security a ring runs with; part of its identity, like its shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// Password authentication and authorization.
    pub auth: bool,
    /// Client-to-node TLS, required.
    pub tls: bool,
}

/// The superuser a fresh ring with `--auth` has.
pub const SUPERUSER: &str = "cassandra";

/// Where a ring keeps its security material.
pub struct SecurityFiles {
    folder: PathBuf,
}

impl SecurityFiles {
    /// The material of the ring in `ring_dir`.
    pub fn of(ring_dir: &Path) -> SecurityFiles {
        SecurityFiles {
            folder: ring_dir.join("security"),
        }
    }

    /// The file holding the superuser's password.
    pub fn password_file(&self) -> PathBuf {
        self.folder.join("superuser.password")
    }

    /// Keeps a new superuser password in the password file (owner-only).
    pub fn remember_password(&self, password: &str) -> Result<(), LocalError> {
        write_private(&self.password_file(), password)
    }

    /// The CA certificate clients trust.
    pub fn ca_certificate(&self) -> PathBuf {
        self.folder.join("ca.crt")
    }

    /// A client certificate and key signed by the CA, for clients that present one.
    pub fn client_certificate(&self) -> (PathBuf, PathBuf) {
        (
            self.folder.join("client.crt"),
            self.folder.join("client.key"),
        )
    }

    fn keystore(&self, node: u8) -> PathBuf {
        self.folder.join(format!("node{node}.p12"))
    }

    fn keystore_password_file(&self) -> PathBuf {
        self.folder.join("keystore.password")
    }

    /// Writes what `security` needs and is not there yet: the password file, the CA, the node
    /// keystores. Existing material is kept, so a restarted ring keeps its certificates.
    pub fn prepare(&self, security: Security, nodes: &[NodePlan]) -> Result<(), LocalError> {
        if !security.auth && !security.tls {
            return Ok(());
        }
        fs::create_dir_all(&self.folder).map_err(|e| LocalError::io("create", &self.folder, e))?;
        // A fresh ring's superuser has the well-known default password until `up` replaces it.
        if security.auth && !self.password_file().exists() {
            write_private(&self.password_file(), SUPERUSER)?;
        }
        if security.tls {
            self.make_certificates(nodes)?;
        }
        Ok(())
    }

    fn make_certificates(&self, nodes: &[NodePlan]) -> Result<(), LocalError> {
        let f = &self.folder;
        let (ca_key, ca_cert) = (f.join("ca.key"), self.ca_certificate());
        if !ca_cert.exists() {
            openssl(
                f,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "3650",
                    "-subj",
                    "/CN=pickle local ring CA",
                ],
                &[("-keyout", &ca_key), ("-out", &ca_cert)],
            )?;
        }
        let password_file = self.keystore_password_file();
        if !password_file.exists() {
            let password: String = (0..24)
                .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
                .collect();
            write_private(&password_file, &password)?;
        }
        let password = fs::read_to_string(&password_file)
            .map_err(|e| LocalError::io("read", &password_file, e))?;
        for node in nodes {
            let keystore = self.keystore(node.index);
            if keystore.exists() {
                continue;
            }
            let name = format!("node{}", node.index);
            let signed = sign(f, &name, &format!("IP:{}", node.address), &ca_cert, &ca_key)?;
            openssl(
                f,
                &[
                    "pkcs12",
                    "-export",
                    "-name",
                    &name,
                    "-passout",
                    &format!("pass:{}", password.trim()),
                ],
                &[
                    ("-in", &signed.0),
                    ("-inkey", &signed.1),
                    ("-certfile", &ca_cert),
                    ("-out", &keystore),
                ],
            )?;
        }
        let (client_cert, _) = self.client_certificate();
        if !client_cert.exists() {
            sign(f, "client", "DNS:pickle-client", &ca_cert, &ca_key)?;
        }
        Ok(())
    }

    /// The yaml lines that turn on what `security` asks for, for node `node`.
    pub fn yaml(&self, security: Security, node: u8) -> Result<String, LocalError> {
        let mut yaml = String::new();
        if security.auth {
            yaml.push_str(
                "# --auth: logins and permissions checked by Cassandra itself.\n\
                 authenticator: PasswordAuthenticator\nauthorizer: CassandraAuthorizer\nrole_manager: CassandraRoleManager\n",
            );
        }
        if security.tls {
            let password_file = self.keystore_password_file();
            let password = fs::read_to_string(&password_file)
                .map_err(|e| LocalError::io("read", &password_file, e))?;
            yaml.push_str(&format!(
                "# --tls: clients must speak TLS; plaintext connections are refused.\n\
                 client_encryption_options:\n  enabled: true\n  optional: false\n  keystore: '{}'\n  \
                 keystore_password: '{}'\n  store_type: PKCS12\n  require_client_auth: false\n",
                self.keystore(node).display(),
                password.trim()
            ));
        }
        Ok(yaml)
    }
}

/// A key and a certificate for `name`, signed by the CA, with `san` as subject alternative name.
fn sign(
    folder: &Path,
    name: &str,
    san: &str,
    ca_cert: &Path,
    ca_key: &Path,
) -> Result<(PathBuf, PathBuf), LocalError> {
    let (key, csr, cert, ext) = (
        folder.join(format!("{name}.key")),
        folder.join(format!("{name}.csr")),
        folder.join(format!("{name}.crt")),
        folder.join(format!("{name}.ext")),
    );
    fs::write(&ext, format!("subjectAltName={san}\n"))
        .map_err(|e| LocalError::io("write", &ext, e))?;
    openssl(
        folder,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
        ],
        &[("-keyout", &key), ("-out", &csr)],
    )?;
    openssl(
        folder,
        &["x509", "-req", "-days", "3650", "-CAcreateserial"],
        &[
            ("-in", &csr),
            ("-CA", ca_cert),
            ("-CAkey", ca_key),
            ("-extfile", &ext),
            ("-out", &cert),
        ],
    )?;
    Ok((cert, key))
}

/// Runs `openssl` with `args` and path arguments, or says what failed.
fn openssl(folder: &Path, args: &[&str], paths: &[(&str, &Path)]) -> Result<(), LocalError> {
    let mut command = Command::new("openssl");
    command.args(args).current_dir(folder);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.output().map_err(|_| LocalError::OpensslMissing)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LocalError::Openssl {
            step: args.join(" "),
            reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> Result<(), LocalError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| LocalError::io("create", path, e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| LocalError::io("write", path, e))
}
