//! What the load generator itself costs: CPU time and memory of this process.
//!
//! A benchmark that does not measure its own client cannot tell a slow server from a starved
//! client. CPU time comes from `getrusage` (user + system, all threads), and so do wake-ups (the
//! times a thread went to sleep until something woke it); memory from
//! `/proc/self/statm` (resident now) and `getrusage` (peak resident). The machine's CPU comes
//! from `/proc/stat`, so that a client short of CPU can be told from a machine short of CPU:
//! when a node runs on the same machine, its cores are not the client's.

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
    /// Voluntary context switches so far, all threads: each is a thread that went to sleep and
    /// was later woken, which on a virtual machine costs tens of µs of CPU.
    pub wake_ups: u64,
    /// The whole machine's CPU time so far, busy and in all, every process together.
    pub machine: MachineCpu,
}

/// The machine's CPU time since boot, from the first line of `/proc/stat` (clock ticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineCpu {
    /// Ticks some process (or the kernel) ran: all but idle and waiting for I/O.
    pub busy_ticks: u64,
    /// All ticks, of every core.
    pub total_ticks: u64,
    /// The machine's cores (the `cpuN` lines).
    pub cores: usize,
}

impl MachineCpu {
    /// Reads `/proc/stat`; all zero where it cannot be read (not Linux).
    pub fn now() -> MachineCpu {
        std::fs::read_to_string("/proc/stat")
            .map(|text| MachineCpu::parse(&text))
            .unwrap_or_default()
    }

    /// Parses the text of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal ...`.
    fn parse(text: &str) -> MachineCpu {
        let mut lines = text.lines();
        let ticks: Vec<u64> = lines
            .next()
            .filter(|line| line.starts_with("cpu "))
            .map(|line| {
                line.split_whitespace()
                    .skip(1)
                    .take(8)
                    .map(|field| field.parse().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default();
        let total_ticks: u64 = ticks.iter().sum();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        MachineCpu {
            busy_ticks: total_ticks.saturating_sub(idle),
            total_ticks,
            cores: lines.take_while(|line| line.starts_with("cpu")).count(),
        }
    }
}

impl Usage {
    /// Samples the current process. Fields that cannot be read stay zero.
    pub fn now() -> Usage {
        let (cpu, peak_rss_bytes, wake_ups) = match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(usage) => {
                let time = |tv: nix::sys::time::TimeVal| {
                    Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap_or(0))
                        + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap_or(0))
                };
                // Linux reports the peak in kilobytes.
                (
                    time(usage.user_time()) + time(usage.system_time()),
                    u64::try_from(usage.max_rss()).unwrap_or(0) * 1024,
                    u64::try_from(usage.voluntary_context_switches()).unwrap_or(0),
                )
            }
            Err(_) => (Duration::ZERO, 0, 0),
        };
        Usage {
            cpu,
            rss_bytes: resident_bytes(),
            peak_rss_bytes,
            wake_ups,
            machine: MachineCpu::now(),
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
    /// Times a thread of the client went to sleep and was woken (voluntary context switches).
    /// Unthrottled, a busy client seldom sleeps; paced, it wakes at least once per operation.
    #[serde(default)]
    pub wake_ups: u64,
    /// Wake-ups per operation.
    #[serde(default)]
    pub wake_ups_per_op: f64,
    /// Resident memory when measurement began, bytes.
    pub rss_start_bytes: u64,
    /// Resident memory at the end, bytes.
    pub rss_end_bytes: u64,
    /// Peak resident memory of the whole process, bytes.
    pub peak_rss_bytes: u64,
    /// The machine's cores (0 when unknown).
    #[serde(default)]
    pub machine_cores: usize,
    /// How busy the machine's cores were over the same time, every process together: 1.0 is
    /// every core busy all the time.
    #[serde(default)]
    pub machine_busy: f64,
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
        let wake_ups = end.wake_ups.saturating_sub(start.wake_ups);
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
            wake_ups,
            wake_ups_per_op: if ops == 0 {
                0.0
            } else {
                wake_ups as f64 / ops as f64
            },
            rss_start_bytes: start.rss_bytes,
            rss_end_bytes: end.rss_bytes,
            peak_rss_bytes: end.peak_rss_bytes,
            machine_cores: end.machine.cores,
            machine_busy: {
                let total = end
                    .machine
                    .total_ticks
                    .saturating_sub(start.machine.total_ticks);
                let busy = end
                    .machine
                    .busy_ticks
                    .saturating_sub(start.machine.busy_ticks);
                if total == 0 {
                    0.0
                } else {
                    busy as f64 / total as f64
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_some_cpu_and_memory() {
        // Work until the process's CPU clock shows 20 ms, for at most 10 s of wall time: a reader
        // that always said zero (which the old `end >= start` let pass) runs into the 10 s.
        let start = Usage::now();
        let began = std::time::Instant::now();
        let mut x = 0u64;
        let mut end = start;
        while end.cpu.saturating_sub(start.cpu) < Duration::from_millis(20)
            && began.elapsed() < Duration::from_secs(10)
        {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            end = Usage::now();
        }
        std::hint::black_box(x);
        let used = end.cpu.saturating_sub(start.cpu);
        assert!(
            used >= Duration::from_millis(20),
            "{:?} of work showed {used:?} of CPU",
            began.elapsed()
        );
        assert!(end.rss_bytes > 0 && end.peak_rss_bytes >= end.rss_bytes / 2);
        let cost = ClientCost::between(start, end, Duration::from_secs(1), 10, 20);
        assert!(cost.cpu_seconds >= 0.020, "{cost:?}");
        assert!((cost.cpu_us_per_op - 2.0 * cost.cpu_us_per_request).abs() < 1e-6);
        // Sleeping is waking up later: one sleep shows as at least one more wake-up.
        let before = Usage::now();
        std::thread::sleep(Duration::from_millis(5));
        let after = Usage::now();
        assert!(after.wake_ups > before.wake_ups, "{before:?} {after:?}");
        let slept = ClientCost::between(before, after, Duration::from_secs(1), 1, 1);
        assert_eq!(slept.wake_ups_per_op, slept.wake_ups as f64);
        assert!(end.machine.cores >= 1 && end.machine.total_ticks >= end.machine.busy_ticks);
        assert!((0.0..=1.0).contains(&cost.machine_busy));
    }

    #[test]
    fn the_machines_cpu_is_read_from_proc_stat() {
        let text = "cpu  700 0 200 50 50 0 0 0 0 0\ncpu0 350 0 100 25 25 0 0 0 0 0\n\
                    cpu1 350 0 100 25 25 0 0 0 0 0\nintr 1 2 3\n";
        let cpu = MachineCpu::parse(text);
        assert_eq!(
            cpu,
            MachineCpu {
                busy_ticks: 900,
                total_ticks: 1000,
                cores: 2
            }
        );
        assert_eq!(MachineCpu::parse("nonsense"), MachineCpu::default());
    }
}
