//! Live metrics for Prometheus (`--metrics-addr`): once a second, what the live line shows, on
//! `http://ADDR/metrics`.
//!
//! The report stays the measurement of record; this endpoint is for watching a long run (or many
//! scaled-out processes) on a dashboard. It is fed from the same one-second intervals as the live
//! line and the HDR log, so the three never disagree, and it costs nothing per operation: the
//! interval's HDR histogram is folded into the Prometheus histogram bucket by bucket.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `pickle_operations_total` | counter | `tool`, `outcome` (`ok`, `failed`) |
//! | `pickle_requests_total` | counter | `tool`, `outcome` (`ok`, `failed`) |
//! | `pickle_errors_total` | counter | `tool`, `kind` (every kind, from 0) |
//! | `pickle_in_flight` | gauge | `tool` |
//! | `pickle_target_rate` | gauge | `tool` (0 when unthrottled) |
//! | `pickle_achieved_rate` | gauge | `tool` |
//! | `pickle_response_p50_seconds`, `pickle_response_p99_seconds` | gauge | `tool` |
//! | `pickle_oldest_outstanding_seconds` | gauge | `tool` |
//! | `pickle_response_seconds` | histogram | `tool` |
//!
//! Response time counts from each operation's intended start, like every other number here, and
//! counts every operation that ended: succeeded, failed, missed or abandoned. In a second where
//! none ended (a stall) the percentile gauges are NaN, not their last value, and the age of the
//! oldest unanswered operation shows how long the stall has lasted.

use std::net::SocketAddr;

use hdrhistogram::Histogram;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::errors::ErrorKind;
use crate::record::IntervalSummary;

/// The response-time histogram's bucket bounds, in seconds: 100 µs to 10 s.
const RESPONSE_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The endpoint could not be served.
#[derive(Debug, thiserror::Error)]
#[error("--metrics-addr {addr}: cannot serve metrics there: {reason}")]
pub struct ExporterError {
    addr: SocketAddr,
    reason: String,
}

/// Publishes each closed interval to the process's Prometheus endpoint.
#[derive(Debug, Clone)]
pub struct Exporter {
    tool: &'static str,
}

impl Exporter {
    /// Serves `/metrics` on `addr` (from the current tokio runtime) for the app `tool`, whose
    /// target rate is `target_rate` (`None`: unthrottled). Every series exists from the start, at
    /// zero, so that a dashboard shows "no errors" rather than "no data".
    pub fn listen(
        addr: SocketAddr,
        tool: &'static str,
        target_rate: Option<f64>,
    ) -> Result<Exporter, ExporterError> {
        let failed = |reason: String| ExporterError { addr, reason };
        PrometheusBuilder::new()
            .with_http_listener(addr)
            .set_buckets_for_metric(
                Matcher::Full("pickle_response_seconds".to_owned()),
                &RESPONSE_BUCKETS,
            )
            .and_then(PrometheusBuilder::install)
            .map_err(|e| failed(e.to_string()))?;
        describe();
        for outcome in ["ok", "failed"] {
            counter!("pickle_operations_total", "tool" => tool, "outcome" => outcome).absolute(0);
            counter!("pickle_requests_total", "tool" => tool, "outcome" => outcome).absolute(0);
        }
        for kind in ErrorKind::ALL {
            counter!("pickle_errors_total", "tool" => tool, "kind" => kind.name()).absolute(0);
        }
        gauge!("pickle_target_rate", "tool" => tool).set(target_rate.unwrap_or(0.0));
        gauge!("pickle_in_flight", "tool" => tool).set(0.0);
        gauge!("pickle_achieved_rate", "tool" => tool).set(0.0);
        gauge!("pickle_oldest_outstanding_seconds", "tool" => tool).set(0.0);
        Ok(Exporter { tool })
    }

    /// Adds one closed interval: its counts, errors, in-flight requests, rate and response times
    /// (`all`: the response times of every operation that ended in it, nanoseconds).
    pub fn publish(&self, interval: &IntervalSummary, all: &Histogram<u64>) {
        let tool = self.tool;
        let c = &interval.counts;
        counter!("pickle_operations_total", "tool" => tool, "outcome" => "ok").increment(c.ops);
        counter!("pickle_operations_total", "tool" => tool, "outcome" => "failed")
            .increment(c.ops_failed);
        counter!("pickle_requests_total", "tool" => tool, "outcome" => "ok").increment(c.requests);
        counter!("pickle_requests_total", "tool" => tool, "outcome" => "failed")
            .increment(c.requests_failed);
        for (kind, count) in &interval.errors {
            counter!("pickle_errors_total", "tool" => tool, "kind" => kind.name())
                .increment(*count);
        }
        gauge!("pickle_in_flight", "tool" => tool).set(interval.in_flight as f64);
        gauge!("pickle_achieved_rate", "tool" => tool)
            .set((c.ops + c.ops_failed) as f64 / interval.seconds.max(1e-9));
        let ended = interval.all_us.count > 0;
        let seconds_or_nan = |micros: f64| if ended { micros / 1e6 } else { f64::NAN };
        gauge!("pickle_response_p50_seconds", "tool" => tool)
            .set(seconds_or_nan(interval.all_us.p50));
        gauge!("pickle_response_p99_seconds", "tool" => tool)
            .set(seconds_or_nan(interval.all_us.p99));
        gauge!("pickle_oldest_outstanding_seconds", "tool" => tool)
            .set(interval.oldest_outstanding_us / 1e6);
        let seconds = histogram!("pickle_response_seconds", "tool" => tool);
        for value in all.iter_recorded() {
            let count = usize::try_from(value.count_at_value()).unwrap_or(usize::MAX);
            seconds.record_many(value.value_iterated_to() as f64 / 1e9, count);
        }
    }
}

fn describe() {
    describe_counter!(
        "pickle_operations_total",
        "Operations (visits written, fan-outs read) by outcome."
    );
    describe_counter!("pickle_requests_total", "CQL requests by outcome.");
    describe_counter!("pickle_errors_total", "Failed requests by kind of failure.");
    describe_gauge!(
        "pickle_in_flight",
        "Requests in flight at the end of the last second."
    );
    describe_gauge!(
        "pickle_target_rate",
        "Target operations per second (0: unthrottled)."
    );
    describe_gauge!(
        "pickle_achieved_rate",
        "Operations completed in the last second, per second."
    );
    describe_gauge!(
        "pickle_response_p50_seconds",
        "Median response time of the operations that ended in the last second (failed and missed \
         too), from each one's intended start; NaN when none ended."
    );
    describe_gauge!(
        "pickle_response_p99_seconds",
        "99th percentile response time of the operations that ended in the last second (failed and \
         missed too), from each one's intended start; NaN when none ended."
    );
    describe_gauge!(
        "pickle_oldest_outstanding_seconds",
        "Age of the oldest operation due and not yet answered (in flight, or not yet sent)."
    );
    describe_histogram!(
        "pickle_response_seconds",
        "Response time of every operation (succeeded, failed, missed, abandoned), from its intended \
         start."
    );
}
