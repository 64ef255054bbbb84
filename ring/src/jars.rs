//! Cassandra's jars, fetched once from Maven Central and kept in a cache folder.
//!
//! The committed `ring/cassandra/pom.xml` declares one dependency, `cassandra-all`; Maven copies
//! it and its runtime dependencies into a flat `lib/`, as in the release tarball. The copy goes to
//! a temporary folder that is renamed only when Maven succeeded, so an interrupted download is
//! never mistaken for a complete one. A file lock keeps two first runs from downloading at once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{LocalError, toolchain};

/// The Cassandra release the project pins; `--cassandra-version` can pick another 5.0.x.
pub const DEFAULT_CASSANDRA_VERSION: &str = "5.0.8";

/// The committed pom, written next to the jars it resolved.
const POM: &str = include_str!("../cassandra/pom.xml");

/// A folder of jars that can start a Cassandra node.
#[derive(Debug, Clone)]
pub struct Jars {
    /// The flat folder of jars.
    pub lib: PathBuf,
}

impl Jars {
    /// The jars of `version` under `cache`, downloading them with Maven if they are not there.
    pub fn resolve(cache: &Path, version: &str) -> Result<Jars, LocalError> {
        let dir = cache.join(version);
        let lib = dir.join("lib");
        if lib.join(cassandra_jar_name(version)).exists() {
            return Ok(Jars { lib });
        }
        fs::create_dir_all(&dir)
            .map_err(|source| LocalError::io("create the jar cache", &dir, source))?;
        let lock_path = dir.join(".lock");
        let lock = fs::File::create(&lock_path)
            .map_err(|source| LocalError::io("create", &lock_path, source))?;
        lock.lock()
            .map_err(|source| LocalError::io("lock", &lock_path, source))?;
        // Another process may have finished the download while we waited for the lock.
        if lib.join(cassandra_jar_name(version)).exists() {
            return Ok(Jars { lib });
        }
        download(&dir, version)?;
        Ok(Jars { lib })
    }

    /// Every jar, sorted, for the classpath.
    pub fn classpath(&self) -> Result<Vec<PathBuf>, LocalError> {
        let entries =
            fs::read_dir(&self.lib).map_err(|source| LocalError::io("read", &self.lib, source))?;
        let mut jars: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "jar"))
            .collect();
        jars.sort();
        Ok(jars)
    }

    /// The jamm jar, loaded as a Java agent so that memtables are measured exactly.
    pub fn jamm_agent(&self) -> Option<PathBuf> {
        self.classpath().ok()?.into_iter().find(|jar| {
            jar.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|name| name.starts_with("jamm-"))
        })
    }
}

fn cassandra_jar_name(version: &str) -> String {
    format!("cassandra-all-{version}.jar")
}

/// Runs Maven into `dir/lib.partial`, then renames it to `dir/lib`.
fn download(dir: &Path, version: &str) -> Result<(), LocalError> {
    let mvn = toolchain::find_maven()?;
    let pom = dir.join("pom.xml");
    fs::write(&pom, POM).map_err(|source| LocalError::io("write", &pom, source))?;
    let partial = dir.join("lib.partial");
    if partial.exists() {
        fs::remove_dir_all(&partial)
            .map_err(|source| LocalError::io("remove", &partial, source))?;
    }
    tracing::info!(
        version,
        "downloading Cassandra {version} and its dependencies from Maven Central (once)"
    );
    let output = Command::new(mvn)
        .arg("-B")
        .arg("-q")
        .arg("-f")
        .arg(&pom)
        .arg("dependency:copy-dependencies")
        .arg("-DincludeScope=runtime")
        .arg(format!("-Dcassandra.version={version}"))
        .arg(format!("-DoutputDirectory={}", partial.display()))
        .output()
        .map_err(|source| LocalError::io("run mvn for", &pom, source))?;
    if !output.status.success() || !partial.join(cassandra_jar_name(version)).exists() {
        let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(LocalError::Maven {
            artifact: format!("org.apache.cassandra:cassandra-all:{version}"),
            tail: last_lines(&log, 15),
        });
    }
    let lib = dir.join("lib");
    fs::rename(&partial, &lib).map_err(|source| LocalError::io("rename", &partial, source))?;
    Ok(())
}

/// The last `n` lines of `text`, for error messages that show what went wrong.
pub(crate) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
