//! The load options `factory` and `shop` share: rate, duration, warm-up, the in-flight bound,
//! error limit, and where the reports go. Every flag has a `PICKLE_*` environment variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::{Args, ValueEnum};
use client::cli::UsageError;
use client::options::{parse_duration, serialize_duration};
use serde::Serialize;

use crate::schedule::{Shard, parse_start_at};

/// How fast, how long, how many at once, and where the numbers go.
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Load (flags or environment)")]
pub struct RunArgs {
    /// Target rate in operations per second, on one open-loop schedule: operation n is due at
    /// start + n/rate, and its latency counts from then. `1000..5000` with --ramp is a ramp: the
    /// rate holds at 1000 through the warm-up, grows linearly to 5000 over the ramp, then holds.
    /// [default: unthrottled, as fast as the in-flight bound allows]
    #[arg(long, env = "PICKLE_RATE", value_name = "PER_SECOND", value_parser = parse_rate_or_ramp)]
    pub rate: Option<Rate>,

    /// With `--rate FROM..TO`: how long the rate takes to grow from FROM to TO, from the end of
    /// the warm-up. The report's per-second series then holds latency against the rate reached.
    #[arg(long, env = "PICKLE_RAMP", value_name = "DURATION", value_parser = parse_positive_duration)]
    #[serde(serialize_with = "serialize_optional_duration")]
    pub ramp: Option<Duration>,

    /// How long to run after the warm-up: when it ends, nothing more is sent; visits due but not
    /// yet sent count as missed (late by the time left), and those in flight drain within
    /// --drain-timeout. At most a week. [default: 60s, unless a number of operations is given]
    #[arg(long, env = "PICKLE_DURATION", value_name = "DURATION", value_parser = parse_positive_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "serialize_optional_duration")]
    pub duration: Option<Duration>,

    /// Run unmeasured for this long first, so that connections, caches and the server's JIT are
    /// warm when measurement starts. At most a week.
    #[arg(long, env = "PICKLE_WARMUP", value_name = "DURATION", default_value = "0s", value_parser = parse_bounded_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "serialize_duration")]
    pub warmup: Duration,

    /// The most requests in flight at once (a semaphore: a sliding window). When it is full, the
    /// schedule waits and the wait counts in response time. By Little's law a rate R with L
    /// seconds of latency needs R x L in flight: 5000 visits/s x 3 writes x 5 ms is 75, so 256
    /// leaves room for latency spikes up to about 17 ms before the bound limits the rate.
    #[arg(long, env = "PICKLE_MAX_IN_FLIGHT", value_name = "REQUESTS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,

    /// Stop the run (exit code 1) once more than this many requests have failed. [default: no
    /// limit; failures are counted by kind and the run goes on]
    #[arg(long, env = "PICKLE_MAX_ERRORS", value_name = "COUNT")]
    pub max_errors: Option<u64>,

    /// After the last operation (or Ctrl-C), how long to wait for those still in flight; what
    /// is still out then is counted as abandoned. Ctrl-C during the drain ends it at once.
    #[arg(long, env = "PICKLE_DRAIN_TIMEOUT", value_name = "DURATION", default_value = "30s", value_parser = parse_bounded_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "serialize_duration")]
    pub drain_timeout: Duration,

    /// How long the driver may be unable to reach any node it is allowed to use (connections
    /// refused or lost, every node of the local datacenter down) before the run stops (exit
    /// code 1). Meanwhile the schedule goes on and each failure is counted. A node that answers,
    /// even slowly or with timeouts and overload errors, is reachable: it never stops the run.
    #[arg(long, env = "PICKLE_OUTAGE_LIMIT", value_name = "DURATION", default_value = "30s", value_parser = parse_bounded_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "serialize_duration")]
    pub outage_limit: Duration,

    /// Write the full report (configuration, histograms, time series) as JSON here. `{host}` in
    /// the path is replaced by the machine's host name and `{shard}` by the shard's number, so
    /// that scaled-out copies of an app (say, containers sharing a reports folder) each write
    /// their own file.
    #[arg(long, env = "PICKLE_REPORT", value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// Write an HDR histogram interval log here: one histogram per second and per tag, readable
    /// by HdrHistogram's log tools. `{host}` is replaced as in --report.
    #[arg(long, env = "PICKLE_HDR_LOG", value_name = "PATH")]
    pub hdr_log: Option<PathBuf>,

    /// Replace --report and --hdr-log files that already exist.
    #[arg(long, env = "PICKLE_OVERWRITE")]
    pub overwrite: bool,

    /// Serve live metrics for Prometheus at http://ADDR/metrics (counters by outcome and by
    /// error kind, requests in flight, target and achieved rate, response-time histogram),
    /// updated every second. Off unless given; the compose services listen on 0.0.0.0:9464.
    #[arg(long, env = "PICKLE_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// This process's share of one run spread over N processes (loader machines, containers,
    /// pods): shard I (0-based) of N takes every N-th operation of the one global schedule at
    /// --rate, which is the rate of the whole run. All shards start together (--start-at), and
    /// `bench merge` adds their reports up and refuses a set with a shard missing.
    #[arg(long, env = "PICKLE_SHARD", value_name = "I/N")]
    #[serde(serialize_with = "serialize_display")]
    pub shard: Option<Shard>,

    /// How many shards share the run, when an orchestrator names this one: Kubernetes'
    /// JOB_COMPLETION_INDEX (0-based, set by an Indexed Job) or PICKLE_SHARD_SLOT (1-based:
    /// Docker swarm's {{.Task.Slot}}). Ignored with --shard.
    #[arg(long, env = "PICKLE_SHARDS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub shards: Option<u32>,

    /// When the schedule starts, on the wall clock (RFC 3339, such as 2026-12-02T10:00:00Z), so
    /// that shards on different machines start together; set up (connecting, registering) must
    /// be done by then, or the run stops and says by how much it missed. [default: now; for a
    /// shard, the next whole ten seconds at least five seconds away]
    #[arg(long, env = "PICKLE_START_AT", value_name = "TIME", value_parser = parse_start_at)]
    #[serde(serialize_with = "serialize_time")]
    pub start_at: Option<SystemTime>,

    /// The run's name in its report, the same for every shard of one run. [default: the tool and
    /// the start time, such as factory-20261202T100000000Z]
    #[arg(long, env = "PICKLE_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,

    /// No live line every second; only the final report.
    #[arg(long, env = "PICKLE_QUIET")]
    pub quiet: bool,

    /// Do not sample the ring's own view of its load. By default every node is asked once a
    /// second, over a session of its own, for its thread pools' queues (system_views), its
    /// compactions and its hints; the report shows them beside the client's numbers and the
    /// rate's verdict cites them. Three small queries per node per second.
    #[arg(long, env = "PICKLE_NO_RING_VIEW")]
    pub no_ring_view: bool,

    /// What wakes the loop at each due time. `precise`: a kernel timer (timerfd) in the runtime's
    /// own reactor; operations go out a median ~0.07 ms after their due time.
    /// `tokio`: the runtime's 1 ms timer wheel; cheaper, but operations go out about 1 ms late,
    /// which the wait and response times then show.
    #[arg(
        long,
        env = "PICKLE_TIMER",
        value_name = "TIMER",
        default_value = "precise"
    )]
    pub timer: TimerChoice,

    /// Wake the pacer once for every operation due within this window: when the first is due,
    /// wait this much longer, then send it and every one due by then at once. Each goes out as
    /// late as the window made it (the wait and response times count it, and the report shows
    /// it); in exchange the client and the ring wake once per batch instead of once per
    /// operation, which at fixed rates is most of the client's CPU. 0 (the default) wakes for
    /// each operation. Up to 10ms.
    #[arg(long, env = "PICKLE_PACE_WINDOW", value_name = "DURATION", default_value = "0s", value_parser = parse_pace_window, allow_hyphen_values = true)]
    #[serde(serialize_with = "client::options::serialize_duration")]
    pub pace_window: Duration,

    /// Threads that run this client. 1 (the default): the schedule, the driver's connections
    /// and the timer share one thread, so a due time wakes the thread that sends and an answer
    /// the thread that records it. More: a multi-threaded runtime of that many workers, where
    /// each of those hand-offs wakes another thread too; at fixed rates, where waking up is most
    /// of the client's CPU, that costs more (at 5000 visits/s here: 20 to 23 µs of CPU per write
    /// on one thread, 25 on two). For a loader whose one core cannot keep up unthrottled; beyond
    /// that, run shards (--shards).
    #[arg(long, env = "PICKLE_THREADS", value_name = "COUNT", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,
}

/// A pace window: a duration of at most 10 ms (a longer one would be a different schedule).
pub fn parse_pace_window(text: &str) -> Result<Duration, String> {
    let window = client::options::parse_duration(text)?;
    if window > Duration::from_millis(10) {
        return Err(format!(
            "'{text}' is longer than the 10ms a pace window may be: it delays operations by up to \
             that much"
        ));
    }
    Ok(window)
}

/// Which timer paces the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerChoice {
    /// A kernel timer (timerfd) in the runtime's reactor, with nanosecond deadlines.
    Precise,
    /// tokio's timer wheel (1 ms ticks).
    Tokio,
}

impl RunArgs {
    /// These options with the shard named by an orchestrator's environment when --shard is not
    /// given (see --shards), and the placeholders of the output paths filled.
    pub fn resolved(&self) -> Result<RunArgs, UsageError> {
        let shard = match self.shard {
            Some(shard) => Some(shard),
            None => Shard::from_orchestrator(self.shards, |name| std::env::var(name).ok())?,
        };
        Ok(RunArgs {
            shard,
            ..self.clone()
        }
        .with_placeholders_filled())
    }

    /// These options with `{host}` in the output paths (--report, --hdr-log) replaced by the
    /// host name, and `{shard}` by the shard's number (0 when the run is not sharded).
    pub fn with_placeholders_filled(&self) -> RunArgs {
        let host = host_name();
        let shard = self.shard.map_or(0, |s| s.index).to_string();
        let fill = |path: &Option<PathBuf>| {
            path.as_ref().map(|p| {
                PathBuf::from(
                    p.to_string_lossy()
                        .replace("{host}", &host)
                        .replace("{shard}", &shard),
                )
            })
        };
        RunArgs {
            report: fill(&self.report),
            hdr_log: fill(&self.hdr_log),
            ..self.clone()
        }
    }

    /// Checks what clap cannot: the bound against the operation's size, and the output files
    /// (their folder exists, they do not exist yet unless --overwrite, they are not the same).
    pub fn validate(&self, requests_per_op: usize) -> Result<(), UsageError> {
        match (self.rate.and_then(|r| r.from), self.ramp) {
            (Some(_), None) => {
                return Err(UsageError(format!(
                    "--rate {}: a ramp needs --ramp, how long the rate takes to grow (--ramp 60s)",
                    self.rate.map(|r| r.to_string()).unwrap_or_default()
                )));
            }
            (None, Some(ramp)) => {
                return Err(UsageError(format!(
                    "--ramp {}: give the ramp's rates as --rate FROM..TO (--rate 1000..5000)",
                    humantime::format_duration(ramp)
                )));
            }
            (Some(_), Some(_)) if self.shard.is_some() => {
                return Err(UsageError(
                    "--ramp with --shard: a sharded ramp is not supported; ramp one loader, or \
                     shard fixed rates"
                        .to_owned(),
                ));
            }
            _ => {}
        }
        if (self.max_in_flight as usize) < requests_per_op {
            return Err(UsageError(format!(
                "--max-in-flight {}: one operation makes {requests_per_op} requests, so the bound must be at least {requests_per_op}",
                self.max_in_flight
            )));
        }
        if let (Some(report), Some(log)) = (&self.report, &self.hdr_log)
            && report == log
        {
            return Err(UsageError(format!(
                "--report and --hdr-log are both {}: give them different paths",
                report.display()
            )));
        }
        // Binding (and releasing) the address now fails a taken port before any work is done.
        if let Some(addr) = self.metrics_addr {
            std::net::TcpListener::bind(addr).map_err(|error| {
                UsageError(format!(
                    "--metrics-addr {addr}: cannot serve metrics there: {error}"
                ))
            })?;
        }
        for (flag, path) in [("--report", &self.report), ("--hdr-log", &self.hdr_log)] {
            if let Some(path) = path {
                check_output(flag, path, self.overwrite)?;
            }
        }
        Ok(())
    }
}

/// The machine's host name (`localhost` if it has none), for file names and reports.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// An output file must be creatable, and must not replace a file without --overwrite.
fn check_output(flag: &str, path: &Path, overwrite: bool) -> Result<(), UsageError> {
    if path.is_dir() {
        return Err(UsageError(format!(
            "{flag} {}: is a folder; give a file name",
            path.display()
        )));
    }
    if path.exists() && !overwrite {
        return Err(UsageError(format!(
            "{flag} {}: the file exists; remove it, pick another name, or pass --overwrite",
            path.display()
        )));
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err(UsageError(format!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            folder.display()
        )));
    }
    // Creating (and removing) the temporary file the report is written through proves the
    // folder is writable now, before any work is done.
    let probe = crate::record::hdr_log::partial_path(path);
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|error| {
            UsageError(format!(
                "{flag} {}: cannot write in {}: {error}",
                path.display(),
                folder.display()
            ))
        })
}

/// The slowest rate: one operation a day. Slower rates are typos (`1e-20` once made the due time
/// of the second operation overflow the clock and panic).
pub const SLOWEST_RATE: f64 = 1.0 / 86_400.0;

/// A target rate: fixed, or a ramp from one rate to another (`--rate 1000..5000`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Where a ramp starts; `None` for a fixed rate.
    pub from: Option<f64>,
    /// The rate, or where a ramp ends.
    pub to: f64,
}

impl Rate {
    /// A fixed rate.
    pub fn fixed(per_second: f64) -> Rate {
        Rate {
            from: None,
            to: per_second,
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.from {
            Some(from) => write!(f, "{from}..{}", self.to),
            None => write!(f, "{}", self.to),
        }
    }
}

/// In a report's configuration: a number for a fixed rate, `"1000..5000"` for a ramp.
impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.from {
            Some(_) => serializer.serialize_str(&self.to_string()),
            None => serializer.serialize_f64(self.to),
        }
    }
}

/// `--rate`: a rate (`5000`) or a ramp (`1000..5000`, the end above the start).
pub fn parse_rate_or_ramp(text: &str) -> Result<Rate, String> {
    let Some((from, to)) = text.split_once("..") else {
        return parse_rate(text).map(Rate::fixed);
    };
    let (from, to) = (parse_rate(from)?, parse_rate(to)?);
    if to <= from {
        return Err(format!(
            "--rate {text}: a ramp's end must be above its start (FROM..TO, such as 1000..5000)"
        ));
    }
    Ok(Rate {
        from: Some(from),
        to,
    })
}

/// A rate: a finite number of operations per second, at least one a day.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= SLOWEST_RATE => Ok(rate),
        Ok(rate) if rate.is_finite() && rate > 0.0 => Err(format!(
            "--rate {text} is less than one operation a day ({SLOWEST_RATE:.6}/s); give a rate of \
             at least that"
        )),
        _ => Err(format!(
            "'{text}' is not a rate; expected a positive number of operations per second, such as 5000"
        )),
    }
}

/// The longest --duration, --warmup, --drain-timeout or --outage-limit: a week. Longer values are
/// typos (a missing unit, one digit too many), and far beyond any sensible run; refusing them also
/// keeps every deadline of the run well inside what the clock can represent.
pub const LONGEST: Duration = Duration::from_secs(7 * 24 * 3600);

/// A duration of at most [`LONGEST`] (a week).
pub fn parse_bounded_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration > LONGEST {
        Err(format!(
            "'{text}' is longer than a week, the longest a run may take; give a shorter duration"
        ))
    } else {
        Ok(duration)
    }
}

/// A duration above zero and at most a week.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_bounded_duration(text)?;
    if duration.is_zero() {
        Err(format!("'{text}': the duration must be above zero"))
    } else {
        Ok(duration)
    }
}

fn serialize_display<S: serde::Serializer, T: std::fmt::Display>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

fn serialize_time<S: serde::Serializer>(
    time: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.collect_str(&humantime::format_rfc3339_millis(*time)),
        None => serializer.serialize_none(),
    }
}

fn serialize_optional_duration<S: serde::Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serialize_duration(duration, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn rates_and_durations_are_checked() {
        assert_eq!(parse_rate("5000").unwrap(), 5000.0);
        assert_eq!(parse_rate("0.5").unwrap(), 0.5);
        for bad in ["0", "-5", "fast", "inf", "NaN", "1e-20"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(
            parse_rate("1e-20")
                .unwrap_err()
                .contains("one operation a day")
        );
        assert!(parse_rate("0.0001").is_ok());
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("1m").is_ok());
        assert!(parse_positive_duration("7days").is_ok());
        for long in ["8days", "99999999999s"] {
            let error = parse_bounded_duration(long).unwrap_err();
            assert!(error.contains("longer than a week"), "{error}");
            assert!(parse_positive_duration(long).is_err());
        }
    }

    #[test]
    fn host_in_an_output_path_becomes_the_host_name() {
        let args = Flags::try_parse_from(["t", "--report", "reports/factory-{host}.json"])
            .unwrap()
            .run
            .with_placeholders_filled();
        let report = args.report.unwrap().display().to_string();
        let host = nix::unistd::gethostname().unwrap();
        assert_eq!(
            report,
            format!("reports/factory-{}.json", host.to_string_lossy())
        );
        assert!(!report.contains('{'));
    }

    #[test]
    fn outputs_are_checked_before_any_work() {
        let folder = tempfile::tempdir().unwrap();
        let existing = folder.path().join("old.json");
        std::fs::write(&existing, "{}").unwrap();
        let parse = |args: &[&str]| {
            Flags::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
                .unwrap()
                .run
        };

        let run = parse(&["--report", existing.to_str().unwrap()]);
        assert!(run.validate(3).unwrap_err().0.contains("the file exists"));
        let run = parse(&["--report", existing.to_str().unwrap(), "--overwrite"]);
        assert!(run.validate(3).is_ok());
        let run = parse(&["--report", "/no/such/folder/r.json"]);
        assert!(run.validate(3).unwrap_err().0.contains("does not exist"));
        let run = parse(&["--report", "x.json", "--hdr-log", "x.json"]);
        assert!(run.validate(3).unwrap_err().0.contains("different paths"));
        let run = parse(&["--max-in-flight", "2"]);
        assert!(run.validate(3).unwrap_err().0.contains("at least 3"));
        assert_eq!(
            std::fs::read_to_string(&existing).unwrap(),
            "{}",
            "validation never touches existing files"
        );
    }
}
