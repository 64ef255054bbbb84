//! What the load generator itself costs: CPU time and memory of this process.
//!
//! A benchmark that does not measure its own client cannot tell a slow server from a starved
//! client. CPU time comes from `getrusage` (user + system, all threads); memory from
//! `/proc/self/statm` (resident now) and `getrusage` (peak resident).

use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

/// A sample of this process's resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// CPU time used so far, user plus system, all threads.
    pub cpu: Duration,
    /// Resident memory now, bytes.
    pub rss_bytes: u64,
    /// Peak resident memory so far, bytes.
    pub peak_rss_bytes: u64,
}

impl Usage {
    /// Samples the current process. Fields that cannot be read stay zero.
    pub fn now() -> Usage {
        let (cpu, peak_rss_bytes) = match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(usage) => {
                let time = |tv: nix::sys::time::TimeVal| {
                    Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap_or(0))
                        + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap_or(0))
                };
                // Linux reports the peak in kilobytes.
                (
                    time(usage.user_time()) + time(usage.system_time()),
                    u64::try_from(usage.max_rss()).unwrap_or(0) * 1024,
                )
            }
            Err(_) => (Duration::ZERO, 0),
        };
        Usage {
            cpu,
            rss_bytes: resident_bytes(),
            peak_rss_bytes,
        }
    }
}

/// Resident memory of this process now, bytes (0 when `/proc` cannot tell).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096);
    pages * u64::try_from(page_size).unwrap_or(4096)
}

/// What the client spent during the measured part of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientCost {
    /// CPU seconds, user plus system.
    pub cpu_seconds: f64,
    /// CPU seconds per wall-clock second: 1.0 is one core busy all the time.
    pub cores_busy: f64,
    /// CPU microseconds per request (per write, for the factory).
    pub cpu_us_per_request: f64,
    /// CPU microseconds per operation (per visit, per fan-out).
    pub cpu_us_per_op: f64,
    /// Resident memory when measurement began, bytes.
    pub rss_start_bytes: u64,
    /// Resident memory at the end, bytes.
    pub rss_end_bytes: u64,
    /// Peak resident memory of the whole process, bytes.
    pub peak_rss_bytes: u64,
}

impl ClientCost {
    /// The cost between two samples, spread over `ops` operations and `requests` requests done
    /// in `wall` time.
    pub fn between(
        start: Usage,
        end: Usage,
        wall: Duration,
        ops: u64,
        requests: u64,
    ) -> ClientCost {
        let cpu = end.cpu.saturating_sub(start.cpu).as_secs_f64();
        let per = |count: u64| {
            if count == 0 {
                0.0
            } else {
                cpu * 1e6 / count as f64
            }
        };
        ClientCost {
            cpu_seconds: cpu,
            cores_busy: if wall.is_zero() {
                0.0
            } else {
                cpu / wall.as_secs_f64()
            },
            cpu_us_per_request: per(requests),
            cpu_us_per_op: per(ops),
            rss_start_bytes: start.rss_bytes,
            rss_end_bytes: end.rss_bytes,
            peak_rss_bytes: end.peak_rss_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_some_cpu_and_memory() {
        let start = Usage::now();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let end = Usage::now();
        assert!(end.cpu >= start.cpu);
        assert!(end.rss_bytes > 0 && end.peak_rss_bytes >= end.rss_bytes / 2);
        let cost = ClientCost::between(start, end, Duration::from_secs(1), 10, 20);
        assert!((cost.cpu_us_per_op - 2.0 * cost.cpu_us_per_request).abs() < 1e-6);
    }
}
