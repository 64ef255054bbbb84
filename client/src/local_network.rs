//! Which running local ring of this machine a run's contact points reach, and the network it
//! models: reports use it to say how much delay their numbers carry ("local ring 'far': 1ms each
//! way client-node (modelled by delaying proxies), not a real network").
//!
//! The ring runner (`bench ring up`) writes an [`Announcement`] into each ring's folder,
//! `$PICKLE_HOME/rings/<name>/announcement.json`, whenever the ring's state changes: its name, the
//! delays it models, and each node's addresses and process. This module only reads them, so that
//! every app can label its numbers without linking the ring runner.
//!
//! Only a running ring's nodes count (a node whose process is alive, paused included): a stopped
//! ring's announcement still names its addresses, and a ring started since on the same addresses,
//! or none at all, is what the contact points reach. Contact points that match more than one
//! running ring are refused ([`AmbiguousRing`]) rather than guessed at.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a local ring tells the clients of this machine about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The ring's name (`--name`), also its folder's.
    pub ring: String,
    /// The delay the ring adds each way between a client and a node of its first datacenter.
    pub client_latency: Duration,
    /// The delay the ring adds each way between its datacenters.
    pub dc_latency: Duration,
    /// Those delays in words, as `bench ring status` gives them: "1ms each way client-node
    /// (modelled by delaying proxies)".
    pub network: String,
    /// Each node, in index order.
    pub nodes: Vec<AnnouncedNode>,
}

/// One node of an announced ring: where clients reach it, and its process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedNode {
    /// The address clients are handed for the node: the proxy in front of it when the ring models
    /// a delay between it and the clients, else the node's own.
    pub client_address: Ipv4Addr,
    /// The node's own address.
    pub address: Ipv4Addr,
    /// The pid of the node's process when it was last started; `None` once stopped.
    pub pid: Option<u32>,
    /// A path the node's command line names (its configuration folder): a pid the system has
    /// since given to another program does not name it, and is not taken for the node.
    pub command_line_marker: PathBuf,
}

impl Announcement {
    /// The announcement's file name inside a ring's folder.
    pub const FILE: &'static str = "announcement.json";

    /// Whether the ring adds any delay (and so runs delaying proxies).
    pub fn models_delay(&self) -> bool {
        !self.client_latency.is_zero() || !self.dc_latency.is_zero()
    }

    /// Writes the announcement into `ring_dir` atomically (a temporary file, then a rename), so
    /// that a reader never sees half of one.
    pub fn write(&self, ring_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let temporary = ring_dir.join(format!("{}.tmp", Self::FILE));
        fs::write(&temporary, text)?;
        fs::rename(&temporary, ring_dir.join(Self::FILE))
    }

    /// The announcement in `ring_dir`, if there is one that reads.
    pub fn read(ring_dir: &Path) -> Option<Announcement> {
        let text = fs::read_to_string(ring_dir.join(Self::FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether one of `hosts` is an address of one of the ring's running nodes: the one clients
    /// are handed (its proxy, when the ring models a delay) or its own.
    fn reaches(&self, hosts: &[String]) -> bool {
        self.nodes.iter().any(|node| {
            if !node.is_running() {
                return false;
            }
            let addresses = [node.client_address, node.address];
            hosts.iter().any(|host| {
                let ip = host.rsplit_once(':').map_or(host.as_str(), |(ip, _)| ip);
                addresses.iter().any(|a| a.to_string() == ip)
            })
        })
    }
}

impl AnnouncedNode {
    /// Whether the node's process runs (or is paused: still the ring, with its connections open).
    /// A process whose main thread has exited does not, nor one whose command line names
    /// something else (its pid was recycled).
    pub fn is_running(&self) -> bool {
        let Some(pid) = self.pid else {
            return false;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // The state letter follows the parenthesised command name, which may itself hold spaces
        // and parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            return false;
        }
        // The command line reads empty for an instant while a JVM launcher re-executes itself.
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        cmdline.is_empty()
            || String::from_utf8_lossy(&cmdline)
                .contains(&*self.command_line_marker.to_string_lossy())
    }
}

/// Contact points that reach more than one running local ring: which one carried the numbers
/// is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an unknown local ring: the contact points {hosts} reach the running rings {}, so which \
     delay these numbers carry is not known",
    rings.iter().map(|r| format!("'{r}'")).collect::<Vec<_>>().join(" and ")
)]
pub struct AmbiguousRing {
    /// The contact points, comma-separated.
    pub hosts: String,
    /// The running rings they reach, by name.
    pub rings: Vec<String>,
}

/// The folder that holds the local rings' jar cache and every ring: `$PICKLE_HOME`, else
/// `$XDG_DATA_HOME/pickle`, else `~/.local/share/pickle`.
pub fn pickle_home() -> PathBuf {
    if let Some(root) = std::env::var_os("PICKLE_HOME") {
        return PathBuf::from(root);
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        return Path::new(&data).join("pickle");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".local/share/pickle")
}

/// The folder of every local ring of this machine, one folder per ring: `rings` in
/// [`pickle_home`].
pub fn rings_folder() -> PathBuf {
    pickle_home().join("rings")
}

/// The announcement of the running local ring of this machine that `hosts` (contact points,
/// `host` or `host:port`) reach, if that ring models any delay.
pub fn modelled_network(hosts: &[String]) -> Result<Option<Announcement>, AmbiguousRing> {
    modelled_network_in(&rings_folder(), hosts)
}

/// [`modelled_network`] among the rings announced in `rings` (one folder per ring).
pub fn modelled_network_in(
    rings: &Path,
    hosts: &[String],
) -> Result<Option<Announcement>, AmbiguousRing> {
    let reached: Vec<Announcement> = announcements(rings)
        .into_iter()
        .filter(|announcement| announcement.reaches(hosts))
        .collect();
    match reached.len() {
        0 => Ok(None),
        1 => Ok(reached.into_iter().find(Announcement::models_delay)),
        _ => Err(AmbiguousRing {
            hosts: hosts.join(","),
            rings: reached.into_iter().map(|a| a.ring).collect(),
        }),
    }
}

/// [`modelled_network`] in words, for a report: "local ring 'far': 1ms each way client-node
/// (modelled by delaying proxies), not a real network"; or, for contact points that reach more
/// than one running ring, that which one is not known.
pub fn describe_modelled_network(hosts: &[String]) -> Option<String> {
    match modelled_network(hosts) {
        Ok(found) => found.map(|ring| {
            format!(
                "local ring '{}': {}, not a real network",
                ring.ring, ring.network
            )
        }),
        Err(ambiguous) => Some(ambiguous.to_string()),
    }
}

/// Every announcement in `rings`, in the order of the rings' names.
fn announcements(rings: &Path) -> Vec<Announcement> {
    let Ok(entries) = fs::read_dir(rings) else {
        return Vec::new();
    };
    let mut folders: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    folders.sort();
    folders
        .iter()
        .filter_map(|folder| Announcement::read(folder))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(pid: Option<u32>, command_line_marker: &str) -> AnnouncedNode {
        AnnouncedNode {
            client_address: Ipv4Addr::new(127, 1, 9, 1),
            address: Ipv4Addr::new(127, 0, 9, 1),
            pid,
            command_line_marker: command_line_marker.into(),
        }
    }

    #[test]
    fn a_node_runs_only_while_a_process_that_names_it_is_alive() {
        let this = std::process::id();
        // This test's own process: alive, and its command line names the test binary.
        let program = std::env::args().next().expect("a program name");
        assert!(node(Some(this), &program).is_running());
        // A pid given since to a program that does not name the node is not the node.
        assert!(!node(Some(this), "/nowhere/node1/conf").is_running());
        assert!(!node(None, &program).is_running());
    }

    #[test]
    fn an_announcement_reads_back_what_it_wrote_and_nothing_else() {
        let folder = tempfile::tempdir().expect("a folder");
        let announcement = Announcement {
            ring: "far".to_owned(),
            client_latency: Duration::from_millis(1),
            dc_latency: Duration::ZERO,
            network: "1ms each way client-node (modelled by delaying proxies)".to_owned(),
            nodes: vec![node(None, "/rings/far/node1/conf")],
        };
        assert!(announcement.models_delay());
        announcement.write(folder.path()).expect("written");
        assert_eq!(Announcement::read(folder.path()), Some(announcement));
        std::fs::write(folder.path().join(Announcement::FILE), "{").expect("written");
        assert_eq!(Announcement::read(folder.path()), None);
    }
}
