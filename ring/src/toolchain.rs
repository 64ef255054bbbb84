//! Finding the two programs a local ring needs: a Java 17 (or 11) to run Cassandra 5.0, and Maven
//! to fetch it from Maven Central the first time.
//!
//! Machines often carry several JDKs (Debian's 17 next to a newer Temurin). Cassandra 5.0 refuses
//! anything but 11 and 17, so the version is checked, not assumed: `JAVA_HOME` first, then `java`
//! on the `PATH`, then every JDK under `/usr/lib/jvm`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::LocalError;

/// The Java majors Cassandra 5.0 runs on, best first.
const SUPPORTED_JAVA: [u32; 2] = [17, 11];

/// A Java runtime that can run Cassandra 5.0.
#[derive(Debug, Clone)]
pub struct Java {
    /// The `java` executable.
    pub executable: PathBuf,
    /// Its major version, 17 or 11.
    pub major: u32,
    /// Whether `javac` sits next to it. Only a full JDK has the `jdk.compiler` module that some
    /// of Cassandra's module flags refer to; a JRE fails to start if they are passed.
    pub is_full_jdk: bool,
}

impl Java {
    /// Finds a Java 17 (or 11), or says exactly what to install.
    pub fn find() -> Result<Java, LocalError> {
        let mut seen = Vec::new();
        for candidate in java_candidates() {
            match major_version(&candidate) {
                Some(major) if SUPPORTED_JAVA.contains(&major) => {
                    let is_full_jdk = candidate.with_file_name("javac").exists();
                    return Ok(Java {
                        executable: candidate,
                        major,
                        is_full_jdk,
                    });
                }
                Some(major) => seen.push(format!("{} is Java {major}", candidate.display())),
                None => {}
            }
        }
        Err(LocalError::JavaNotFound {
            seen: if seen.is_empty() {
                "no java at all".into()
            } else {
                seen.join(", ")
            },
        })
    }
}

/// Where to look for `java`, in order of preference, without duplicates.
fn java_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        candidates.push(Path::new(&home).join("bin/java"));
    }
    if let Some(on_path) = find_on_path("java") {
        candidates.push(on_path);
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/jvm") {
        let mut jdks: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("bin/java"))
            .collect();
        jdks.sort();
        candidates.extend(jdks);
    }
    let mut unique = Vec::new();
    for candidate in candidates {
        let resolved = candidate.canonicalize().unwrap_or(candidate);
        if resolved.exists() && !unique.contains(&resolved) {
            unique.push(resolved);
        }
    }
    unique
}

/// The major version printed by `java -version` (`openjdk version "17.0.15"` gives 17, the old
/// `"1.8.0_392"` form gives 8), or `None` if it does not run.
fn major_version(java: &Path) -> Option<u32> {
    let output = Command::new(java).arg("-version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    parse_java_major(&text)
}

fn parse_java_major(version_output: &str) -> Option<u32> {
    let quoted = version_output.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '-', '+', '_']);
    match parts.next()?.parse().ok()? {
        1 => parts.next()?.parse().ok(),
        major => Some(major),
    }
}

/// The first executable called `name` on the `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Finds Maven, or says how to install it.
pub fn find_maven() -> Result<PathBuf, LocalError> {
    find_on_path("mvn").ok_or(LocalError::MavenNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_versions_parse_in_old_and_new_forms() {
        assert_eq!(
            parse_java_major("openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime"),
            Some(17)
        );
        assert_eq!(
            parse_java_major("openjdk version \"25\" 2025-09-16"),
            Some(25)
        );
        assert_eq!(parse_java_major("java version \"1.8.0_392\""), Some(8));
        assert_eq!(parse_java_major("openjdk version \"11.0.2-ea\""), Some(11));
        assert_eq!(parse_java_major("garbage"), None);
    }
}
