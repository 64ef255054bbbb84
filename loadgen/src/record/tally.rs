//! What a recording is made of: operation and request counts, HDR histograms of nanoseconds with
//! their tags and percentiles, the summary of one second, and where time behind schedule went.
//! The recorder (`record.rs`) fills them; reports, plots, merges and comparisons read them.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::errors::ErrorKind;

mod decode;
pub use decode::decode_histogram;

/// The highest time a histogram holds: one hour, in nanoseconds. Longer times are clamped.
const HIGHEST_NANOS: u64 = 3_600_000_000_000;

/// The tag of response times in histograms, logs and reports.
pub const RESPONSE: &str = "response";
/// The tag of wait times.
pub const WAIT: &str = "wait";
/// The tag of response times of failed operations.
pub const FAILED: &str = "failed";
/// The tag of missed operations: due, never sent, late by the time left until the run ended.
pub const MISSED: &str = "missed";
/// The tag of operations still in flight when the drain gave up: late by the time until then.
pub const ABANDONED: &str = "abandoned";
/// The tag of every operation due in the measured time: succeeded, failed, missed and abandoned
/// together. This is the headline: its percentiles cannot look better by leaving the operations
/// that fared worst out. In the HDR interval log it is the untagged histogram, the one
/// HdrHistogram's own tools read by default.
pub const ALL: &str = "all";

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
    /// Operations due in the measured time but never sent: the run ended (its duration, Ctrl-C,
    /// errors) while the loop was behind schedule.
    #[serde(default)]
    pub missed: u64,
    /// Operations due in the measured time and still in flight when the drain gave up.
    #[serde(default)]
    pub abandoned: u64,
}

impl Counts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Counts) {
        self.ops += other.ops;
        self.ops_failed += other.ops_failed;
        self.requests += other.requests;
        self.requests_failed += other.requests_failed;
        self.requests_remote += other.requests_remote;
        self.missed += other.missed;
        self.abandoned += other.abandoned;
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
    /// Response time of successful operations completed in the interval, microseconds.
    pub response_us: Percentiles,
    /// Response time of every operation that ended in the interval (succeeded, failed, missed,
    /// abandoned), microseconds: the headline. Its count is 0 in a second where nothing ended.
    #[serde(default)]
    pub all_us: Percentiles,
    /// Age of the oldest operation due and not yet answered when the interval closed (in flight,
    /// or due and not yet sent), microseconds. During a stall nothing completes, so percentiles of
    /// completions say nothing; this grows with the stall.
    #[serde(default)]
    pub oldest_outstanding_us: f64,
    /// Requests in flight when the interval closed.
    pub in_flight: usize,
    /// Resident memory of the process when the interval closed, bytes (0 when unknown).
    #[serde(default)]
    pub rss_bytes: u64,
    /// Failed requests in the interval, by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<ErrorKind, u64>,
}

impl IntervalSummary {
    /// The headline percentiles of the operations that ended in this second (every one, failed and
    /// missed too); a report written before the headline existed gives its successful ones. `None`
    /// when nothing ended: a stalled second has no latency to show, only the age of the oldest
    /// operation out.
    pub fn headline(&self) -> Option<Percentiles> {
        [self.all_us, self.response_us]
            .into_iter()
            .find(|p| p.count > 0)
    }
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

/// Adds `addend` into `sum`. Histograms from [`new_histogram`] always add; one that does not (read
/// from a file with other bounds, say) is left out of the sum, and a warning says so, once.
pub fn add_into(sum: &mut Histogram<u64>, addend: &Histogram<u64>) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if let Err(error) = sum.add(addend) {
        WARNED.call_once(|| {
            tracing::warn!(
                "a histogram could not be added ({error}); totals and percentiles leave it out"
            );
        });
    }
}

/// A duration in whole nanoseconds, at least 1 (a histogram holds no zero).
pub(crate) fn nanos(duration: Duration) -> u64 {
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
    /// Lateness of missed operations at the end of the run.
    pub missed: Histogram<u64>,
    /// Lateness of operations abandoned in flight at the drain timeout.
    pub abandoned: Histogram<u64>,
    /// Service times of successful requests, one histogram per tag.
    pub service: Vec<Histogram<u64>>,
}

impl Histograms {
    pub(crate) fn new(tags: usize) -> Histograms {
        Histograms {
            response: new_histogram(),
            wait: new_histogram(),
            failed: new_histogram(),
            missed: new_histogram(),
            abandoned: new_histogram(),
            service: (0..tags).map(|_| new_histogram()).collect(),
        }
    }

    /// Adds `other` into these histograms (same tags).
    pub(crate) fn add(&mut self, other: &Histograms) {
        add_into(&mut self.response, &other.response);
        add_into(&mut self.wait, &other.wait);
        add_into(&mut self.failed, &other.failed);
        add_into(&mut self.missed, &other.missed);
        add_into(&mut self.abandoned, &other.abandoned);
        for (total, interval) in self.service.iter_mut().zip(&other.service) {
            add_into(total, interval);
        }
    }

    pub(crate) fn reset(&mut self) {
        self.response.reset();
        self.wait.reset();
        self.failed.reset();
        self.missed.reset();
        self.abandoned.reset();
        self.service.iter_mut().for_each(Histogram::reset);
    }

    /// Every operation's response time, failed, missed and abandoned ones included (the [`ALL`]
    /// tag).
    pub fn all(&self) -> Histogram<u64> {
        let mut all = self.response.clone();
        add_into(&mut all, &self.failed);
        add_into(&mut all, &self.missed);
        add_into(&mut all, &self.abandoned);
        all
    }

    /// Every histogram with its tag but the sum [`ALL`]: `response`, `wait`, `failed`, `missed`,
    /// `abandoned`, then `service-<tag>`.
    pub fn tagged<'a>(
        &'a self,
        tags: &'a [String],
    ) -> impl Iterator<Item = (String, &'a Histogram<u64>)> + 'a {
        [
            (RESPONSE.to_owned(), &self.response),
            (WAIT.to_owned(), &self.wait),
            (FAILED.to_owned(), &self.failed),
            (MISSED.to_owned(), &self.missed),
            (ABANDONED.to_owned(), &self.abandoned),
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
