//! A measured run from start to report, so that an app's `main` only says what one operation is.
//!
//! [`Run::drive`] builds the schedule from the load options, starts the timer, the recorder and
//! the HDR log, drives the operations, prints a live line every second, stops on Ctrl-C, and
//! turns what was recorded into a [`RunReport`] (written to `--report` when asked).
//!
//! Ctrl-C and SIGTERM are caught from [`Run::new`] on: work an app does before the run
//! ([`Run::before_start`], registering its data, say) stops at once too, and the report of a run
//! that measured nothing still comes out, saying so.

use std::future::Future;
use std::time::{Duration, SystemTime};

use client::ring_view::RingWatch;
use client::{Connection, ConnectionArgs};
use serde::Serialize;
use tokio::time::Instant;

use crate::args::{Rate, RunArgs, TimerChoice};
use crate::drive::{Ending, Intended, Outcome, Plan, drive};
use crate::record::hdr_log::HdrLog;
use crate::record::{Exporter, IntervalSummary, Recorder, Usage};
use crate::report::{ReportError, RingSide, RingWatcher, RunReport, describe_ending, live_line};
use crate::schedule::{
    End, Pace, PreciseTimer, Schedule, Shard, StartPassed, TokioTimer, check_start_at,
    describe_share, next_whole_ten_seconds, start_of_schedule,
};
use crate::shutdown::Signals;

/// What an app's operations look like.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The program (`factory`).
    pub tool: &'static str,
    /// One operation (`visit`).
    pub op: &'static str,
    /// One request (`write`).
    pub request: &'static str,
    /// Requests per operation: the permits each takes.
    pub requests_per_op: usize,
    /// One service-time tag per kind of request (per table).
    pub service_tags: Vec<&'static str>,
    /// Stop after this many operations (warm-up included), if given.
    pub operations: Option<u64>,
}

/// Why a run could not produce its report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The HDR log could not be created or completed.
    #[error("HDR log {path}: {source}")]
    HdrLog {
        /// The log's path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The run's start (`--start-at`) passed before this process was ready to send.
    #[error(transparent)]
    StartPassed(#[from] StartPassed),
    /// The pacing timer could not be made (a timerfd: Linux only).
    #[error("cannot start the pacing timer: {0}")]
    Timer(std::io::Error),
    /// The JSON report could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The Prometheus endpoint could not be served.
    #[error(transparent)]
    Metrics(#[from] crate::record::ExporterError),
}

/// Why a run that produced its report still failed ([`Finished::result`]).
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// Ctrl-C or SIGTERM; the [`client::cli::Interrupted`] inside makes the exit code 130.
    #[error("the run stopped early")]
    Interrupted(#[source] client::cli::Interrupted),
    /// Errors stopped it (too many, a fatal one, an outage); the exit code is 1.
    #[error("the run stopped early: {0}")]
    Errors(String),
}

/// A run whose options have been checked.
pub struct Run {
    args: RunArgs,
    workload: Workload,
    /// This process's share of the run ([`Shard::WHOLE`] when it runs alone).
    shard: Shard,
    /// When the schedule starts on the wall clock, if it is fixed in advance.
    start_at: Option<SystemTime>,
    /// How far the ring's clock is ahead of this machine's, ms, if the app read it.
    clock_offset_ms: Option<f64>,
    /// The session that samples the ring's own view ([`Run::watch_the_ring`]), or why there is
    /// none; `None` when the app did not ask.
    ring: Option<Result<RingWatch, String>>,
    /// The delay the ring models, when it is a local ring with a modelled network.
    modelled_network: Option<String>,
    /// The ring's settings for the run's tables, when the app read them.
    ring_settings: Option<client::ring_settings::RingSettings>,
    config: serde_json::Value,
    signals: Signals,
}

/// How a run ended, with its report.
pub struct Finished {
    /// The report; [`Finished::save`] writes it to `--report`.
    pub report: RunReport,
    /// Why the driver stopped.
    pub outcome: Outcome,
    report_path: Option<std::path::PathBuf>,
}

impl Finished {
    /// Writes the report to `--report`, if one was asked for (atomically).
    pub fn save(&self) -> Result<(), ReportError> {
        match &self.report_path {
            Some(path) => self.report.write(path),
            None => Ok(()),
        }
    }

    /// What the run's ending means for the process: `Ok` when the schedule ran to its end;
    /// [`Stopped::Interrupted`] (exit code 130) after Ctrl-C; [`Stopped::Errors`] (exit code 1)
    /// when errors stopped it.
    pub fn result(&self) -> Result<(), Stopped> {
        match &self.outcome.ending {
            Ending::Finished => Ok(()),
            Ending::Interrupted => Err(Stopped::Interrupted(client::cli::Interrupted)),
            other => Err(Stopped::Errors(describe_ending(other))),
        }
    }
}

impl Run {
    /// Checks the load options for this workload (see [`RunArgs::validate`]); `config` is the
    /// app's whole configuration, embedded in the report. From here on, Ctrl-C and SIGTERM stop
    /// the run instead of the process. Must be called inside the tokio runtime.
    pub fn new(
        args: &RunArgs,
        workload: Workload,
        config: &impl Serialize,
    ) -> Result<Run, client::cli::UsageError> {
        let args = args.resolved()?;
        args.validate(workload.requests_per_op)?;
        let mut config = serde_json::to_value(config).unwrap_or(serde_json::Value::Null);
        // The report records the options as the run took them: its shard, and the paths it
        // wrote (`{host}` and `{shard}` filled), which `bench merge` and `compare` follow.
        if let Some(run) = config.get_mut("run") {
            *run = serde_json::to_value(&args).unwrap_or(serde_json::Value::Null);
        }
        let shard = args.shard.unwrap_or(Shard::WHOLE);
        // Shards start the one schedule together: at --start-at, or at the next whole ten
        // seconds, computed now, when the processes are launched, so that their set-up times
        // (connecting, registering) cannot pull them apart.
        if let Some(at) = args.start_at {
            check_start_at(at, SystemTime::now(), crate::args::LONGEST)?;
        }
        let start_at = args
            .start_at
            .or_else(|| (!shard.is_whole()).then(|| next_whole_ten_seconds(SystemTime::now())));
        Ok(Run {
            args,
            workload,
            shard,
            start_at,
            clock_offset_ms: None,
            ring: None,
            modelled_network: None,
            ring_settings: None,
            config,
            signals: Signals::catch(),
        })
    }

    /// Does `work` (what the app must do before its run: registering data, say) unless Ctrl-C
    /// or SIGTERM comes first; then it is dropped at once, `Ok(None)` is returned, and
    /// [`Run::drive`] reports a run that measured nothing.
    pub async fn before_start<T, E>(
        &mut self,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<Option<T>, E> {
        if self.signals.seen() {
            return Ok(None);
        }
        tokio::select! {
            result = work => result.map(Some),
            _ = self.signals.next() => Ok(None),
        }
    }

    /// Notes how far the ring's clock is from this machine's (see
    /// [`client::Connection::clock_offset_ms`]), for the report and the summary.
    pub fn note_clock_offset(&mut self, offset_ms: Option<f64>) {
        self.clock_offset_ms = offset_ms;
    }

    /// Reads the ring's settings for `tables` of `keyspace` (compaction, memtable, compression,
    /// and every node's SSTable format) into the report, so that a comparison of two runs says
    /// when their rings were set up differently.
    pub async fn note_ring_settings(
        &mut self,
        connection: &Connection,
        keyspace: &str,
        tables: &[&str],
    ) {
        let settings =
            client::ring_settings::RingSettings::read(&connection.session, keyspace, tables).await;
        self.ring_settings = Some(settings);
    }

    /// Samples the ring's own view of its load while the run is measured: every node's thread
    /// pools, compactions and hints, once a second, over a session of its own (see
    /// [`RingSide`](crate::report::RingSide)). A ring that cannot be watched (no `system_views`, or
    /// `--no-ring-view`) is noted in the report, and the run goes on. `connection` is the app's
    /// connected session, whose local datacenter the watching session takes.
    pub async fn watch_the_ring(&mut self, args: &ConnectionArgs, connection: &Connection) {
        // A local ring with a modelled network: the report says how much delay it added.
        self.modelled_network =
            client::local_network::describe_modelled_network(&args.contact_points());
        self.ring = Some(if self.args.no_ring_view {
            Err("--no-ring-view".to_owned())
        } else {
            RingWatch::connect(args, &connection.local_dc)
                .await
                .map_err(|e| e.to_string())
        });
    }

    /// This process's share of the run: an app uses it to split work of its own (the factory's
    /// registration) the way the schedule is split.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The target rate of this process: its shard's share of `--rate`; for a ramp, the mean
    /// rate due over the run's length (see [`Run::target_over`]).
    fn rate(&self) -> Option<f64> {
        let length = self.args.duration.unwrap_or(Duration::from_secs(60));
        self.target_over(length.as_secs_f64())
    }

    /// The target rate over the first `measured` seconds after the warm-up: the rate, or for a
    /// ramp the operations due in them per second.
    pub(crate) fn target_over(&self, measured: f64) -> Option<f64> {
        let rate = self.args.rate?;
        if rate.from.is_none() {
            return Some(self.shard.rate(rate.to));
        }
        let warmup = self.args.warmup.as_secs_f64();
        self.pace().mean_rate(warmup, warmup + measured)
    }

    /// This process's pace: its share of the rate, or the ramp.
    fn pace(&self) -> Pace {
        match self.args.rate {
            None => Pace::Unthrottled,
            Some(Rate { from: None, to }) => Pace::Fixed {
                per_second: self.shard.rate(to),
            },
            Some(Rate {
                from: Some(from),
                to,
            }) => Pace::Ramp {
                from,
                to,
                hold: self.args.warmup,
                over: self.args.ramp.unwrap_or_default(),
            },
        }
    }

    /// A one-line description of what the run will do, for the user before it starts.
    pub fn describe(&self) -> String {
        let w = &self.workload;
        let rate = self.args.rate.map_or_else(
            || "as fast as the bound allows".to_owned(),
            |r| match (r.from, self.args.ramp) {
                (Some(from), Some(ramp)) => format!(
                    "from {from} to {} {}s/s over {}",
                    r.to,
                    w.op,
                    humantime::format_duration(ramp)
                ),
                _ => format!("at {} {}s/s", r.to, w.op),
            },
        );
        let rate = match (self.args.rate, self.args.pace_window.is_zero()) {
            (Some(_), false) => format!(
                "{rate} (in batches: each sent up to {} after its due time)",
                humantime::format_duration(self.args.pace_window)
            ),
            _ => rate,
        };
        let length = match (self.args.duration, w.operations) {
            (Some(d), _) => format!("for {}", humantime::format_duration(d)),
            (None, Some(n)) => format!("for {n} {}s", w.op),
            (None, None) => "for 60s".to_owned(),
        };
        let warmup = if self.args.warmup.is_zero() {
            String::new()
        } else {
            format!(
                " after {} of warm-up",
                humantime::format_duration(self.args.warmup)
            )
        };
        let shard = describe_share(self.shard, w.op, self.start_at);
        format!(
            "{}: {}s {rate} {length}{warmup}, at most {} {}s in flight{shard}; Ctrl-C stops and reports",
            w.tool, w.op, self.args.max_in_flight, w.request
        )
    }

    /// Drives `operation(n, intended)` on the schedule and reports. After a Ctrl-C in
    /// [`Run::before_start`], nothing is driven and the report says nothing was measured.
    pub async fn drive<Op, Fut>(mut self, operation: Op) -> Result<Finished, RunError>
    where
        Op: FnMut(u64, Intended) -> Fut,
        Fut: Future<Output = crate::record::Completed>,
    {
        let scheduled = start_of_schedule(self.start_at)?;
        let (start, identity) = (scheduled.at, self.identity(&scheduled));
        let measure_from = start + self.args.warmup;
        let plan = self.plan(start);
        // The driver counts this shard's operations 0, 1, 2...; the app sees their numbers in
        // the one global schedule.
        let shard = self.shard;
        let mut operation = operation;
        let operation = move |k, intended| operation(shard.global(k), intended);
        let mut recorder = Recorder::new(
            &self.workload.service_tags,
            measure_from,
            self.hdr_log(measure_from)?,
        );
        if let Some(addr) = self.args.metrics_addr {
            recorder.publish_to(Exporter::listen(addr, self.workload.tool, self.rate())?);
        }
        // One sample when measurement begins, taken by a task of its own (one timer, once).
        let usage_at_start = tokio::spawn(async move {
            tokio::time::sleep_until(measure_from).await;
            Usage::now()
        });
        // The ring's own view, sampled beside the run (its first round is the baseline).
        let (watcher, unwatched) = match self.ring.take() {
            Some(Ok(watch)) => (Some(RingWatcher::start(watch)), None),
            Some(Err(why)) => (None, Some(RingSide::unavailable(&why))),
            None => (None, None),
        };
        let quiet = self.args.quiet;
        let names = (self.workload.op, self.workload.request);
        let progress = move |interval: &IntervalSummary| {
            if !quiet {
                eprintln!("{}", live_line(interval, names));
            }
        };
        // A signal that came before the run (while registering, say): nothing is driven, and
        // the report says nothing was measured.
        let stopped_already = self.signals.seen();
        let already = futures::stream::iter(stopped_already.then_some(()));
        let shutdown = futures::StreamExt::chain(already, self.signals.stream());
        let outcome = match self.args.timer {
            _ if stopped_already => {
                drop(shutdown);
                Outcome::stopped_before(start)
            }
            TimerChoice::Precise => {
                let timer = PreciseTimer::start().map_err(RunError::Timer)?;
                drive(&plan, timer, &mut recorder, shutdown, progress, operation).await
            }
            TimerChoice::Tokio => {
                let timer = TokioTimer::new();
                drive(&plan, timer, &mut recorder, shutdown, progress, operation).await
            }
        };
        let recording = recorder
            .finish(outcome.stopped, Instant::now())
            .map_err(|source| RunError::HdrLog {
                path: self.hdr_log_name(),
                source,
            })?;
        let end_usage = Usage::now();
        let ring = match watcher {
            Some(watcher) => Some(watcher.finish(measure_from)),
            None => unwatched,
        };
        // A run stopped during its warm-up never began measuring: it cost nothing measured.
        let start_usage = if usage_at_start.is_finished() {
            usage_at_start.await.unwrap_or(end_usage)
        } else {
            usage_at_start.abort();
            end_usage
        };
        let usage = (start_usage, end_usage);
        let report = self.report(&recording, &outcome, identity, usage, ring);
        Ok(Finished {
            report,
            outcome,
            report_path: self.args.report.clone(),
        })
    }

    /// The driver's plan for a run starting at `start`.
    fn plan(&self, start: Instant) -> Plan {
        let (args, w) = (&self.args, &self.workload);
        let duration = args.duration.or(if w.operations.is_some() {
            None
        } else {
            Some(Duration::from_secs(60))
        });
        // A shard's schedule is the global one thinned: its share of the rate, from the due
        // time of its first operation; it ends when the global schedule does.
        let offset = args
            .rate
            .map_or(Duration::ZERO, |r| self.shard.offset(r.to));
        let end = End {
            after: duration.map(|d| (d + args.warmup).saturating_sub(offset)),
            operations: w.operations.map(|total| self.shard.share_of(total)),
        };
        let pace = self.pace();
        Plan {
            schedule: Schedule::new(start + offset, pace, end),
            max_in_flight: args.max_in_flight as usize,
            requests_per_op: w.requests_per_op,
            drain_timeout: args.drain_timeout,
            max_errors: args.max_errors,
            pace_window: args.pace_window,
            outage_limit: args.outage_limit,
        }
    }

    /// The HDR interval log, if `--hdr-log` asks for one, starting at `measure_from`.
    fn hdr_log(&self, measure_from: Instant) -> Result<Option<HdrLog>, RunError> {
        let Some(path) = &self.args.hdr_log else {
            return Ok(None);
        };
        let measured_wall = std::time::SystemTime::now() + (measure_from - Instant::now());
        let comment = format!(
            "pickle {} {}",
            self.workload.tool,
            env!("CARGO_PKG_VERSION")
        );
        HdrLog::create(path, measured_wall, &comment)
            .map(Some)
            .map_err(|source| RunError::HdrLog {
                path: path.display().to_string(),
                source,
            })
    }

    fn hdr_log_name(&self) -> String {
        self.args
            .hdr_log
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}

mod reporting;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_run_carries_interrupted_as_its_cause_for_exit_code_130() {
        let stopped = Stopped::Interrupted(client::cli::Interrupted);
        let cause = std::error::Error::source(&stopped).expect("a cause");
        assert!(cause.is::<client::cli::Interrupted>());
    }
}
