//! What a user asks `bench ring up` for ([`RingSpec`]), the checks on it that need no ring (its
//! name, its heap), and how `up` found the ring ([`UpOutcome`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::{Latency, LocalError, Security, Shape};

/// The heap per node of a new ring when none is asked for: three nodes and the load generator
/// stay well inside 24 GiB.
pub const DEFAULT_HEAP: &str = "2G";

/// What a user asks `bench ring up` for.
#[derive(Debug, Clone)]
pub struct RingSpec {
    /// The ring's name; also its folder's name.
    pub name: String,
    /// Nodes, datacenters, addresses.
    pub shape: Shape,
    /// Heap per node, as the JVM spells it; `None`: the heap a running ring has, or
    /// [`DEFAULT_HEAP`] for a new one. A running ring of another heap is refused, never reused
    /// as if it had the one asked for.
    pub heap: Option<String>,
    /// Which Cassandra 5.0.x to run.
    pub cassandra_version: String,
    /// How long to wait for the whole ring to be up.
    pub timeout: Duration,
    /// Authentication and TLS.
    pub security: Security,
    /// Whether every node serves its metrics for Prometheus (on
    /// [`METRICS_PORT`](crate::METRICS_PORT)); `None`: as a running ring does, or off for a new
    /// one. A running ring without them is refused when they are asked for, never reused as if it
    /// had them.
    pub metrics: Option<bool>,
    /// The one-way delays to model with proxies; `None`: as a running ring does, or none for a
    /// new one. A running ring with others is refused.
    pub latency: Option<Latency>,
    /// The program that serves the proxies (`bench`, as `bench ring proxy`); needed only when
    /// the ring models latency and its proxies are not running.
    pub proxy_program: Option<PathBuf>,
}

/// How `up` found the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpOutcome {
    /// Every node was already running; nothing was started.
    Reused,
    /// Some or all nodes were started.
    Started {
        /// How many nodes this call started.
        nodes: usize,
    },
}

/// A ring name is 1 to 32 lowercase letters, digits, `-` or `_`: it becomes a folder name.
pub fn check_ring_name(name: &str) -> Result<(), LocalError> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(LocalError::BadName(name.to_owned()))
    }
}

/// The smallest heap a node is started with: below it Cassandra 5.0 fails at start-up or soon
/// after, with the JVM's error instead of ours.
const SMALLEST_HEAP_MIB: u64 = 256;

/// Accepts what `-Xmx` accepts (digits followed by K, M or G), from 256M up.
pub fn check_heap(heap: &str) -> Result<(), LocalError> {
    heap_kib(heap).map(|_| ())
}

/// The size of a heap the JVM accepts, in KiB; refused as [`check_heap`] says.
pub fn heap_kib(heap: &str) -> Result<u64, LocalError> {
    let (digits, unit) = heap.split_at(heap.len().saturating_sub(1));
    let kib_per_unit: u64 = match unit {
        "K" | "k" => 1,
        "M" | "m" => 1 << 10,
        "G" | "g" => 1 << 20,
        _ => return Err(LocalError::BadHeap(heap.to_owned())),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(LocalError::BadHeap(heap.to_owned()));
    }
    let kib = digits
        .parse::<u64>()
        .map_or(u64::MAX, |n| n.saturating_mul(kib_per_unit));
    if kib < SMALLEST_HEAP_MIB << 10 {
        return Err(LocalError::HeapTooSmall(heap.to_owned()));
    }
    Ok(kib)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Home, LocalRing};

    #[test]
    fn heap_sizes_are_checked_like_the_jvm_would() {
        assert!(check_heap("2G").is_ok());
        assert!(check_heap("1536m").is_ok());
        assert!(check_heap("2").is_err());
        assert!(check_heap("G").is_err());
        assert!(check_heap("2GB").is_err());
        for small in ["1K", "255M", "0G"] {
            assert!(
                matches!(check_heap(small), Err(LocalError::HeapTooSmall(_))),
                "{small}"
            );
        }
        assert!(check_heap("256M").is_ok());
    }

    #[test]
    fn ring_names_become_folder_names_only_when_safe() {
        let home = Home::at("/tmp/x");
        assert!(LocalRing::new(home.clone(), "multi-dc_2").is_ok());
        assert!(LocalRing::new(home.clone(), "../etc").is_err());
        assert!(LocalRing::new(home, "").is_err());
    }
}
