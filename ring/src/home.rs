//! Where rings live: the [`Home`] folder (`$PICKLE_HOME`), with Cassandra's jars downloaded
//! once and one folder per ring, and the file lock that keeps two commands off one ring.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use client::local_network::pickle_home;

use crate::LocalError;
use crate::jars::Jars;

/// The folder that holds the jar cache and every ring: `$PICKLE_HOME`, else
/// `$XDG_DATA_HOME/pickle`, else `~/.local/share/pickle` ([`pickle_home`]).
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at an explicit folder.
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The home the environment points at ([`pickle_home`]).
    pub fn from_env() -> Home {
        Home::at(pickle_home())
    }

    /// The folder of every ring, one folder per ring: where each announces itself to clients.
    pub fn rings_folder(&self) -> PathBuf {
        self.root.join("rings")
    }

    /// The folder of the ring called `name`.
    pub fn ring_dir(&self, name: &str) -> PathBuf {
        self.rings_folder().join(name)
    }

    /// The names of every ring that has a folder here, sorted.
    pub fn ring_names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.rings_folder()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join("ring.json").exists())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    pub(crate) fn jar_cache(&self) -> PathBuf {
        self.root.join("cassandra")
    }

    /// The jars of Cassandra `version`, downloaded into this home once (tests find other tools
    /// among them: HdrHistogram's own log processor, say).
    pub fn jars(&self, version: &str) -> Result<Jars, LocalError> {
        Jars::resolve(&self.jar_cache(), version)
    }

    /// Takes the ring's lock, so that two `up`s (say, two test binaries) never start the same
    /// ring twice. The lock file sits beside the ring's folder, so `--wipe` cannot remove it.
    pub(crate) async fn lock(&self, name: &str) -> Result<fs::File, LocalError> {
        let rings = self.rings_folder();
        fs::create_dir_all(&rings).map_err(|source| LocalError::io("create", &rings, source))?;
        let path = rings.join(format!(".{name}.lock"));
        let file =
            fs::File::create(&path).map_err(|source| LocalError::io("create", &path, source))?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(fs::TryLockError::Error(source)) => {
                    return Err(LocalError::io("lock", &path, source));
                }
            }
        }
    }
}
