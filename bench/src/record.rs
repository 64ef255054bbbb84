//! Recording what every operation took, without letting memory grow with the run.
//!
//! Each completed operation gives three kinds of time, all in nanoseconds in HDR histograms:
//! - **response**: from the operation's *intended* start (its due time) to its last answer;
//!   this is what a user waiting on the schedule experiences, stalls included;
//! - **wait**: from the intended start to the moment it was sent (late schedule, full window);
//! - **service** per tag (per table, say): from send to answer, what the server took.
//!
//! Two sets of histograms are kept: the run's totals, and the current one-second interval, which
//! is summarised (for the live line and the report's time series), written to the HDR interval log
//! if there is one, and reset. Only accumulators stay in memory.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::errors::{ErrorKind, Failure};
use crate::hdr_log::HdrLog;
use crate::prometheus::Exporter;

/// The highest time a histogram holds: one hour, in nanoseconds. Longer times are clamped.
const HIGHEST_NANOS: u64 = 3_600_000_000_000;

/// The tag of response times in histograms, logs and reports.
pub const RESPONSE: &str = "response";
/// The tag of wait times.
pub const WAIT: &str = "wait";
/// The tag of response times of failed operations.
pub const FAILED: &str = "failed";

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

/// Operation and request counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Operations whose every request succeeded.
    pub ops: u64,
    /// Operations with at least one failed request.
    pub ops_failed: u64,
    /// Requests that succeeded.
    pub requests: u64,
    /// Requests that failed.
    pub requests_failed: u64,
    /// Successful requests coordinated outside the local datacenter.
    #[serde(default)]
    pub requests_remote: u64,
}

impl Counts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Counts) {
        self.ops += other.ops;
        self.ops_failed += other.ops_failed;
        self.requests += other.requests;
        self.requests_failed += other.requests_failed;
        self.requests_remote += other.requests_remote;
    }
}

/// One second of the run, as the live line and the report's time series show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalSummary {
    /// End of the interval, in seconds since measurement began.
    pub at: f64,
    /// Length of the interval in seconds (1, except for the last).
    pub seconds: f64,
    /// Counts in the interval.
    pub counts: Counts,
    /// Response time of successful operations in the interval, microseconds.
    pub response_us: Percentiles,
    /// Requests in flight when the interval closed.
    pub in_flight: usize,
    /// Resident memory of the process when the interval closed, bytes (0 when unknown).
    #[serde(default)]
    pub rss_bytes: u64,
    /// Failed requests in the interval, by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<ErrorKind, u64>,
}

/// The usual percentiles of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Number of values.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

impl Percentiles {
    /// The percentiles of a nanosecond histogram, converted to microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        let micros = |nanos: u64| nanos as f64 / 1_000.0;
        Percentiles {
            count: histogram.len(),
            mean: histogram.mean() / 1_000.0,
            p50: micros(histogram.value_at_quantile(0.50)),
            p90: micros(histogram.value_at_quantile(0.90)),
            p99: micros(histogram.value_at_quantile(0.99)),
            p999: micros(histogram.value_at_quantile(0.999)),
            max: micros(histogram.max()),
        }
    }
}

/// A nanosecond histogram from 1 ns to one hour, three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram always accepts; no input of the user's reaches this.
    Histogram::new_with_bounds(1, HIGHEST_NANOS, 3)
        .expect("1 ns to 1 h at 3 significant digits is a valid histogram")
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Response, wait and per-tag service histograms.
#[derive(Debug, Clone)]
pub struct Histograms {
    /// Response times of successful operations.
    pub response: Histogram<u64>,
    /// Wait times of successful operations.
    pub wait: Histogram<u64>,
    /// Response times of failed operations, kept apart so failures do not blur the latency.
    pub failed: Histogram<u64>,
    /// Service times of successful requests, one histogram per tag.
    pub service: Vec<Histogram<u64>>,
}

impl Histograms {
    fn new(tags: usize) -> Histograms {
        Histograms {
            response: new_histogram(),
            wait: new_histogram(),
            failed: new_histogram(),
            service: (0..tags).map(|_| new_histogram()).collect(),
        }
    }

    /// Adds `other` into these histograms (same tags).
    fn add(&mut self, other: &Histograms) {
        // Histograms with the same bounds always add; a failure would only lose this interval.
        let _ = self.response.add(&other.response);
        let _ = self.wait.add(&other.wait);
        let _ = self.failed.add(&other.failed);
        for (total, interval) in self.service.iter_mut().zip(&other.service) {
            let _ = total.add(interval);
        }
    }

    fn reset(&mut self) {
        self.response.reset();
        self.wait.reset();
        self.failed.reset();
        self.service.iter_mut().for_each(Histogram::reset);
    }

    /// Every histogram with its tag: `response`, `wait`, `failed`, then `service-<tag>`.
    pub fn tagged<'a>(
        &'a self,
        tags: &'a [String],
    ) -> impl Iterator<Item = (String, &'a Histogram<u64>)> + 'a {
        [
            (RESPONSE.to_owned(), &self.response),
            (WAIT.to_owned(), &self.wait),
            (FAILED.to_owned(), &self.failed),
        ]
        .into_iter()
        .chain(
            tags.iter()
                .zip(&self.service)
                .map(|(tag, h)| (format!("service-{tag}"), h)),
        )
    }
}

/// Where the loop's time behind schedule went, for the report's "what limited the rate": the
/// loop's wall-clock time while the next operation was already due, split by what held it. Each
/// instant counts once, so the two add up to at most the measured time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pacing {
    /// Seconds the loop waited for in-flight permits while an operation was due (window full).
    pub waiting_for_permits_s: f64,
    /// Seconds an operation was due with permits free but the loop had not reached it (timer
    /// precision, a busy or CPU-starved client).
    pub late_with_free_permits_s: f64,
    /// Most requests in flight at once.
    pub peak_in_flight: usize,
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
    /// Length of the measured part of the run.
    pub measured: Duration,
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
    log: Option<HdrLog>,
    fatal: Option<Failure>,
    last_completion: Option<Instant>,
}

impl Recorder {
    /// A recorder whose service times are tagged `tags` (say, one per table), measuring
    /// operations due at or after `measure_from` (the end of the warm-up), optionally writing an
    /// HDR interval log.
    pub fn new(tags: &[&str], measure_from: Instant, log: Option<HdrLog>) -> Recorder {
        let now = Instant::now();
        let measure_from_wall = if measure_from >= now {
            SystemTime::now() + (measure_from - now)
        } else {
            SystemTime::now() - (now - measure_from)
        };
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
            log,
            fatal: None,
            last_completion: None,
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
        if intended < self.measure_from {
            return;
        }
        self.last_completion = Some(finished);
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

    /// Notes how the loop got to an operation due at `due` (`None` when unthrottled): it turned to
    /// it at `turned_to`, could have as early as `could_start` (the previous operation's start),
    /// and got its permits at `acquired`.
    pub fn record_pacing(
        &mut self,
        due: Option<Instant>,
        could_start: Instant,
        turned_to: Instant,
        acquired: Instant,
    ) {
        let Some(due) = due else { return };
        if due < self.measure_from {
            return;
        }
        let behind = turned_to.saturating_duration_since(due.max(could_start));
        self.pacing.late_with_free_permits_s += behind.as_secs_f64();
        self.pacing.waiting_for_permits_s += acquired
            .saturating_duration_since(turned_to.max(due))
            .as_secs_f64();
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
    /// its summary.
    pub fn close_interval(
        &mut self,
        now: Instant,
        in_flight: usize,
        rss_bytes: u64,
    ) -> Option<IntervalSummary> {
        if now <= self.measure_from || now <= self.interval_started {
            return None;
        }
        let summary = IntervalSummary {
            at: (now - self.measure_from).as_secs_f64(),
            seconds: (now - self.interval_started).as_secs_f64(),
            counts: self.interval_counts,
            response_us: Percentiles::of(&self.interval.response),
            in_flight,
            rss_bytes,
            errors: self.interval_errors.clone(),
        };
        if let Some(exporter) = &self.exporter {
            exporter.publish(&summary, &self.interval.response);
        }
        if let Some(log) = self.log.as_mut() {
            let start = self.interval_started - self.measure_from;
            let length = now - self.interval_started;
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

    /// Ends the recording at `end` (the last operation's completion, or now): closes the last
    /// partial interval and the HDR log.
    pub fn finish(mut self, end: Instant) -> Result<Recording, std::io::Error> {
        let end = self
            .last_completion
            .map_or(end, |last| last.max(self.interval_started));
        if self.interval_counts != Counts::default()
            && self
                .close_interval(end, 0, crate::usage::Usage::now().rss_bytes)
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
            measured: end.saturating_duration_since(self.measure_from),
            measured_from: self.measure_from_wall,
            fatal: self.fatal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(tag: usize, micros: u64) -> Request {
        Request {
            tag,
            service: Duration::from_micros(micros),
            error: None,
            remote: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn response_time_runs_from_the_intended_start() {
        let start = Instant::now();
        let mut recorder = Recorder::new(&["a", "b"], start, None);
        // Due at start, sent 3 ms late, answered 5 ms after sending.
        let sent = start + Duration::from_millis(3);
        let completed = Completed {
            sent,
            requests: vec![ok(0, 5_000), ok(1, 4_000)],
        };
        recorder.record(start, &completed, sent + Duration::from_millis(5));
        let recording = recorder.finish(start + Duration::from_secs(1)).unwrap();
        let response = Percentiles::of(&recording.histograms.response);
        assert!((response.max - 8_000.0).abs() < 10.0, "{response:?}");
        assert!((Percentiles::of(&recording.histograms.wait).max - 3_000.0).abs() < 5.0);
        assert_eq!(
            recording.counts,
            Counts {
                ops: 1,
                ops_failed: 0,
                requests: 2,
                requests_failed: 0,
                requests_remote: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_counted_by_kind_and_kept_out_of_the_latency() {
        let start = Instant::now();
        let mut recorder = Recorder::new(&["a"], start, None);
        let timeout = Failure {
            kind: ErrorKind::WriteTimeout,
            detail: None,
        };
        let completed = Completed {
            sent: start,
            requests: vec![
                ok(0, 100),
                Request {
                    tag: 0,
                    service: Duration::from_secs(2),
                    error: Some(timeout),
                    remote: false,
                },
            ],
        };
        recorder.record(start, &completed, start + Duration::from_secs(2));
        assert_eq!(recorder.error_count(), 1);
        assert!(recorder.fatal().is_none());
        let interval = recorder
            .close_interval(start + Duration::from_secs(1), 0, 0)
            .unwrap();
        assert_eq!(interval.errors[&ErrorKind::WriteTimeout], 1, "by second");
        assert_eq!(recorder.error_count(), 1, "still counted once closed");
        let recording = recorder.finish(start + Duration::from_secs(2)).unwrap();
        assert!(recording.histograms.response.is_empty());
        assert_eq!(recording.histograms.failed.len(), 1);
        assert_eq!(recording.errors[&ErrorKind::WriteTimeout], 1);
        assert_eq!(recording.counts.ops_failed, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn warm_up_is_not_measured_but_fatal_errors_still_count() {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs(10);
        let mut recorder = Recorder::new(&["a"], measure_from, None);
        let fatal = Failure {
            kind: ErrorKind::Invalid,
            detail: Some("unconfigured table".into()),
        };
        let completed = Completed {
            sent: start,
            requests: vec![Request {
                tag: 0,
                service: Duration::ZERO,
                error: Some(fatal),
                remote: false,
            }],
        };
        recorder.record(start, &completed, start);
        assert_eq!(recorder.error_count(), 0);
        assert_eq!(recorder.fatal().map(|f| f.kind), Some(ErrorKind::Invalid));
    }

    #[tokio::test(start_paused = true)]
    async fn intervals_summarise_and_reset() {
        let start = Instant::now();
        let mut recorder = Recorder::new(&["a"], start, None);
        for i in 0..10 {
            let at = start + Duration::from_millis(100 * i);
            recorder.record(
                at,
                &Completed {
                    sent: at,
                    requests: vec![ok(0, 1_000)],
                },
                at + Duration::from_millis(1),
            );
        }
        let first = recorder
            .close_interval(start + Duration::from_secs(1), 3, 1 << 20)
            .unwrap();
        assert_eq!(first.counts.ops, 10);
        assert_eq!(first.in_flight, 3);
        let second = recorder
            .close_interval(start + Duration::from_secs(2), 0, 1 << 20)
            .unwrap();
        assert_eq!(second.counts.ops, 0);
        let recording = recorder.finish(start + Duration::from_secs(2)).unwrap();
        assert_eq!(recording.counts.ops, 10);
        assert_eq!(recording.intervals.len(), 2);
    }
}
