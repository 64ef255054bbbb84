//! Recording what every operation took, without letting memory grow with the run.
//!
//! Each completed operation gives three kinds of time, all in nanoseconds in HDR histograms (the
//! counts and histograms themselves are in `tally`):
//! - **response**: from the operation's *intended* start (its due time) to its last answer;
//!   this is what a user waiting on the schedule experiences, stalls included;
//! - **wait**: from the intended start to the moment it was sent (late schedule, full window);
//! - **service** per tag (per table, say): from send to answer, what the server took.
//!
//! Two sets of histograms are kept: the run's totals, and the current one-second interval, which
//! is summarised (for the live line and the report's time series), written to the HDR interval log
//! if there is one, and reset. Only accumulators stay in memory.
//!
//! Operations that were due but never sent, because the run ended first, are recorded as missed
//! when it ends, each late by the time left until then; those still in flight when the drain gives
//! up, as abandoned, late by the time until then. The sum of all of them is the headline, `all`.
//! The recorder also notices when no operation reaches a node any more (an outage), and since
//! when.
//!
//! Its parts: `tally` (the counts and histograms a recording is made of), [`hdr_log`] (the HDR
//! interval log, `--hdr-log`), `usage` (what the client itself costs in CPU and memory) and
//! `prometheus` (the same seconds, live, for Prometheus: `--metrics-addr`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use tokio::time::Instant;

use crate::errors::{ErrorKind, Failure};
use crate::schedule::{Schedule, wall_clock_of};

pub mod hdr_log;
mod prometheus;
mod tally;
mod usage;

use hdr_log::HdrLog;
pub(crate) use prometheus::Exporter;
pub use prometheus::ExporterError;
pub use tally::{
    ABANDONED, ALL, Counts, FAILED, Histograms, IntervalSummary, MISSED, Pacing, Percentiles,
    RESPONSE, WAIT, add_into, new_histogram,
};
pub(crate) use tally::{decode_histogram, nanos};
pub(crate) use usage::resident_bytes;
pub use usage::{ClientCost, MachineCpu, Usage};

/// At most this many distinct latencies stand for the missed operations of a run: they are due at
/// evenly spaced times, so groups of them share one lateness with no visible loss (a group spans
/// 1/10,000 of the backlog), and a huge backlog costs no more than a small one to record.
const MISSED_GROUPS: u64 = 10_000;

/// One request an operation made: which tag it counts under, how long it took, how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Index into the recorder's service tags.
    pub tag: usize,
    /// From send to answer.
    pub service: Duration,
    /// `None` when it succeeded.
    pub error: Option<Failure>,
    /// Whether a node outside the local datacenter coordinated it (with `--dc-failover`).
    pub remote: bool,
}

/// What an operation reports when its last request has answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    /// When the operation was actually sent (its first request went out).
    pub sent: Instant,
    /// Each request it made.
    pub requests: Vec<Request>,
}

/// How the loop got to one operation, for [`Recorder::record_pacing`].
#[derive(Debug, Clone, Copy)]
pub struct Turn {
    /// When it was meant to go out: its due time, or with a pace window the window's send time;
    /// `None` when unthrottled (nothing is due in advance).
    pub meant: Option<Instant>,
    /// The earliest the loop could have turned to it: when the previous operation went out.
    pub could_start: Instant,
    /// When the loop turned to it.
    pub turned_to: Instant,
    /// When it got its permits (or, for one the run stopped waiting for, when it stopped).
    pub acquired: Instant,
}

/// Everything recorded about a run, handed over when it ends.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The service tags, in order.
    pub tags: Vec<String>,
    /// Totals over the measured part of the run.
    pub histograms: Histograms,
    /// Counts over the measured part of the run.
    pub counts: Counts,
    /// Failed requests by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// One summary per second.
    pub intervals: Vec<IntervalSummary>,
    /// Where the time behind schedule went.
    pub pacing: Pacing,
    /// From when each measured operation was meant to go out (its due time, or with a pace
    /// window the window's send time) to when it went out, every one sent: the lateness that
    /// was not planned, which the verdict weighs. The wait histogram counts from the due time.
    pub send_late: Histogram<u64>,
    /// Length of the measured part of the run: from the end of the warm-up until sending stopped.
    pub measured: Duration,
    /// Wall-clock time from the end of the warm-up until the recording ended, the drain included.
    pub wall: Duration,
    /// Wall-clock time when measurement began.
    pub measured_from: SystemTime,
    /// The first fatal failure, if any.
    pub fatal: Option<Failure>,
}

/// Records operations as they complete (see the module documentation).
pub struct Recorder {
    tags: Vec<String>,
    measure_from: Instant,
    measure_from_wall: SystemTime,
    total: Histograms,
    interval: Histograms,
    interval_started: Instant,
    counts: Counts,
    interval_counts: Counts,
    errors: BTreeMap<ErrorKind, u64>,
    interval_errors: BTreeMap<ErrorKind, u64>,
    /// Failed requests so far, totals and current interval: read after every completion.
    failed_requests: u64,
    intervals: Vec<IntervalSummary>,
    exporter: Option<Exporter>,
    pacing: Pacing,
    send_late: Histogram<u64>,
    log: Option<HdrLog>,
    fatal: Option<Failure>,
    /// Since when no operation has reached a node, and the last failure that said so.
    outage: Option<(Instant, Failure)>,
}

impl Recorder {
    /// A recorder whose service times are tagged `tags` (say, one per table), measuring
    /// operations due at or after `measure_from` (the end of the warm-up), optionally writing an
    /// HDR interval log.
    pub fn new(tags: &[&str], measure_from: Instant, log: Option<HdrLog>) -> Recorder {
        let measure_from_wall = wall_clock_of(measure_from);
        Recorder {
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            measure_from,
            measure_from_wall,
            total: Histograms::new(tags.len()),
            interval: Histograms::new(tags.len()),
            interval_started: measure_from,
            counts: Counts::default(),
            interval_counts: Counts::default(),
            errors: BTreeMap::new(),
            interval_errors: BTreeMap::new(),
            failed_requests: 0,
            intervals: Vec::new(),
            exporter: None,
            pacing: Pacing::default(),
            send_late: new_histogram(),
            log,
            fatal: None,
            outage: None,
        }
    }

    /// Records one completed operation that was due at `intended` and finished at `finished`.
    /// Operations due during the warm-up are not measured, but a fatal failure always counts.
    pub fn record(&mut self, intended: Instant, completed: &Completed, finished: Instant) {
        if self.fatal.is_none() {
            self.fatal = completed
                .requests
                .iter()
                .filter_map(|r| r.error.clone())
                .find(|f| f.kind.is_fatal());
        }
        self.note_reachability(completed, finished);
        if intended < self.measure_from {
            return;
        }
        // Only the interval's histograms are written here; they are added into the totals when
        // the interval closes, once a second, which halves the work per operation.
        let response = nanos(finished.saturating_duration_since(intended));
        let failed = completed.requests.iter().any(|r| r.error.is_some());
        let (histograms, counts) = (&mut self.interval, &mut self.interval_counts);
        for request in &completed.requests {
            match &request.error {
                None => {
                    counts.requests += 1;
                    counts.requests_remote += u64::from(request.remote);
                    if let Some(service) = histograms.service.get_mut(request.tag) {
                        service.saturating_record(nanos(request.service));
                    }
                }
                Some(_) => counts.requests_failed += 1,
            }
        }
        if failed {
            counts.ops_failed += 1;
            histograms.failed.saturating_record(response);
        } else {
            counts.ops += 1;
            histograms.response.saturating_record(response);
            histograms
                .wait
                .saturating_record(nanos(completed.sent.saturating_duration_since(intended)));
        }
        for failure in completed.requests.iter().filter_map(|r| r.error.as_ref()) {
            *self.interval_errors.entry(failure.kind).or_insert(0) += 1;
            self.failed_requests += 1;
        }
    }

    /// An operation whose every request failed to reach a node starts (or continues) an outage;
    /// any answer from a node, even an error or a timeout, ends it.
    fn note_reachability(&mut self, completed: &Completed, finished: Instant) {
        let unreachable = |r: &Request| r.error.as_ref().is_some_and(|f| f.kind.is_unreachable());
        if completed.requests.is_empty() || !completed.requests.iter().all(unreachable) {
            self.outage = None;
        } else if self.outage.is_none()
            && let Some(failure) = completed.requests.iter().find_map(|r| r.error.as_ref())
        {
            self.outage = Some((finished, failure.clone()));
        }
    }

    /// Since when no node has been reached, with the failure that says why; `None` while nodes
    /// answer.
    pub fn outage(&self) -> Option<(Instant, &Failure)> {
        self.outage
            .as_ref()
            .map(|(since, failure)| (*since, failure))
    }

    /// Records operations `missed` of `schedule` (due, never sent) as late by the time left
    /// until `stopped`, when sending stopped; those due during the warm-up are not measured.
    pub fn record_missed(
        &mut self,
        schedule: &Schedule,
        missed: std::ops::Range<u64>,
        stopped: Instant,
    ) {
        let first = missed.start.max(schedule.due_before(self.measure_from));
        let count = missed.end.saturating_sub(first);
        if count == 0 {
            return;
        }
        self.interval_counts.missed += count;
        let groups = count.min(MISSED_GROUPS);
        let bound = |group: u64| {
            let offset = u128::from(count) * u128::from(group) / u128::from(groups);
            first + u64::try_from(offset).unwrap_or(count)
        };
        for group in 0..groups {
            let (from, to) = (bound(group), bound(group + 1));
            if let Some(due) = schedule.at(from + (to - from) / 2) {
                let late = nanos(stopped.saturating_duration_since(due));
                self.interval.missed.saturating_record_n(late, to - from);
            }
        }
    }

    /// Records an operation due at `intended` that was still in flight when the drain gave up at
    /// `end`, as late by the time until then (if it was due in the measured time).
    pub fn record_abandoned(&mut self, intended: Instant, end: Instant) {
        if intended >= self.measure_from {
            self.interval_counts.abandoned += 1;
            self.interval
                .abandoned
                .saturating_record(nanos(end.saturating_duration_since(intended)));
        }
    }

    /// Notes where the loop's time behind schedule went on the way to one operation: late with
    /// permits free from when it was meant to go out (or the previous one went out) until the
    /// loop turned to it, then waiting for permits. Time before it was meant to go out is not
    /// behind: a pace window's wait is the plan, not a client short of CPU.
    pub fn record_pacing(&mut self, turn: Turn) {
        let Some(meant) = turn.meant else { return };
        // Only the measured time counts: a visit due in the warm-up whose wait runs into the
        // measured time counts from its start (a loop stuck since the warm-up is still stuck).
        let from = self.measure_from;
        let behind = (turn.turned_to.max(from))
            .saturating_duration_since(meant.max(turn.could_start).max(from));
        self.pacing.late_with_free_permits_s += behind.as_secs_f64();
        self.pacing.waiting_for_permits_s += (turn.acquired.max(from))
            .saturating_duration_since(turn.turned_to.max(meant).max(from))
            .as_secs_f64();
    }

    /// Notes that an operation due at `due`, meant to go out at `meant`, went out at `sent` (if it
    /// was due in the measured time).
    pub fn record_sent(&mut self, due: Instant, meant: Instant, sent: Instant) {
        if due >= self.measure_from {
            self.send_late
                .saturating_record(nanos(sent.saturating_duration_since(meant)));
        }
    }

    /// Notes how many requests are in flight now.
    pub fn observe_in_flight(&mut self, in_flight: usize) {
        self.pacing.peak_in_flight = self.pacing.peak_in_flight.max(in_flight);
    }

    /// The first fatal failure seen, if any.
    pub fn fatal(&self) -> Option<&Failure> {
        self.fatal.as_ref()
    }

    /// Also publishes every closed interval to a Prometheus endpoint.
    pub fn publish_to(&mut self, exporter: Exporter) {
        self.exporter = Some(exporter);
    }

    /// Failed requests so far.
    pub fn error_count(&self) -> u64 {
        self.failed_requests
    }

    /// Closes the current interval at `now` (during the warm-up, nothing is closed) and returns
    /// its summary; `oldest_outstanding` is the age of the oldest operation due and unanswered.
    pub fn close_interval(
        &mut self,
        now: Instant,
        in_flight: usize,
        rss_bytes: u64,
        oldest_outstanding: Duration,
    ) -> Option<IntervalSummary> {
        if now <= self.measure_from || now <= self.interval_started {
            return None;
        }
        let all = self.interval.all();
        let summary = IntervalSummary {
            at: (now - self.measure_from).as_secs_f64(),
            seconds: (now - self.interval_started).as_secs_f64(),
            counts: self.interval_counts,
            response_us: Percentiles::of(&self.interval.response),
            all_us: Percentiles::of(&all),
            oldest_outstanding_us: oldest_outstanding.as_secs_f64() * 1e6,
            in_flight,
            rss_bytes,
            errors: self.interval_errors.clone(),
        };
        if let Some(exporter) = &self.exporter {
            exporter.publish(&summary, &all);
        }
        if let Some(log) = self.log.as_mut() {
            let start = self.interval_started - self.measure_from;
            let length = now - self.interval_started;
            log.write(ALL, &all, start, length);
            for (tag, histogram) in self.interval.tagged(&self.tags) {
                log.write(&tag, histogram, start, length);
            }
        }
        self.intervals.push(summary.clone());
        self.fold_interval();
        self.interval_started = now;
        Some(summary)
    }

    /// Adds the current interval into the run's totals and empties it.
    fn fold_interval(&mut self) {
        self.total.add(&self.interval);
        self.counts.add(&self.interval_counts);
        for (kind, count) in std::mem::take(&mut self.interval_errors) {
            *self.errors.entry(kind).or_insert(0) += count;
        }
        self.interval.reset();
        self.interval_counts = Counts::default();
    }

    /// Ends the recording at `end` (now, after the drain), for a run that stopped sending at
    /// `stopped`: closes the last partial interval and the HDR log. The measured time runs from
    /// the end of the warm-up to `stopped`; the wall time to `end`.
    pub fn finish(mut self, stopped: Instant, end: Instant) -> Result<Recording, std::io::Error> {
        let end = end.max(self.interval_started);
        if self.interval_counts != Counts::default()
            && self
                .close_interval(end, 0, Usage::now().rss_bytes, Duration::ZERO)
                .is_none()
        {
            // An interval that cannot close (no time has passed) still belongs in the totals.
            self.fold_interval();
        }
        if let Some(log) = self.log.take() {
            log.finish()?;
        }
        Ok(Recording {
            tags: self.tags,
            histograms: self.total,
            counts: self.counts,
            errors: self.errors,
            intervals: self.intervals,
            pacing: self.pacing,
            send_late: self.send_late,
            measured: stopped.saturating_duration_since(self.measure_from),
            wall: end.saturating_duration_since(self.measure_from),
            measured_from: self.measure_from_wall,
            fatal: self.fatal,
        })
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
