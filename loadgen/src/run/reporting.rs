//! How a run's recording becomes its [`RunReport`]: the rates, what the client cost, the evidence
//! the limiter judges, and the latency of every tag. [`Run::report`] reads as the report's outline;
//! each number that takes more than a line to work out comes from a helper named after it. Kept
//! apart from [`super`] so that the file that drives a run is about driving.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::Run;
use crate::drive::Outcome;
use crate::record::{ALL, ClientCost, Percentiles, Recording, Usage, add_into, new_histogram};
use crate::report::{
    Evidence, FORMAT, Names, RingSide, RunIdentity, RunReport, describe_ending, diagnose,
};
use crate::schedule::{Scheduled, default_run_id};

impl Run {
    /// The report of a run: what was recorded, what the client cost between the `start` and
    /// `end` samples, and what limited the rate.
    pub(super) fn report(
        &self,
        recording: &Recording,
        outcome: &Outcome,
        run: RunIdentity,
        (start, end): (Usage, Usage),
        ring: Option<RingSide>,
    ) -> RunReport {
        let w = &self.workload;
        let seconds = recording.measured.as_secs_f64();
        let counts = recording.counts;
        let client = client_cost(recording, start, end);
        let achieved_rate = per_second(counts.ops + counts.ops_failed, seconds);
        let evidence = self.evidence(recording, &client);
        let limiter = diagnose(&evidence);
        // What the ring said about its own load weighs in: a full window while a node queued
        // work is the server's doing, one while the ring's own view was as slow to answer with
        // nothing queued is the network's, and every limit cites the ring's evidence.
        let limiter = match &ring {
            Some(ring) => ring.weigh(limiter, &evidence),
            None => limiter,
        };
        let (latency_us, histograms) = latency_by_tag(recording);
        RunReport {
            format: FORMAT,
            tool: w.tool.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: humantime::format_rfc3339_millis(recording.measured_from).to_string(),
            run,
            names: Names {
                op: w.op.to_owned(),
                request: w.request.to_owned(),
            },
            config: self.config.clone(),
            ending: describe_ending(&outcome.ending),
            target_rate: self.target_over(seconds),
            latency_from: RunReport::latency_from(self.args.rate.map(|r| r.to)).to_owned(),
            achieved_rate,
            achieved_request_rate: per_second(counts.requests + counts.requests_failed, seconds),
            measured_seconds: seconds,
            wall_seconds: recording.wall.as_secs_f64(),
            counts,
            abandoned: outcome.abandoned as u64,
            errors: errors_by_kind(recording),
            latency_us,
            histograms,
            intervals: recording.intervals.clone(),
            pacing: recording.pacing,
            client,
            limiter,
            ring,
            modelled_network: self.modelled_network.clone(),
            ring_settings: self.ring_settings.clone(),
            app: serde_json::Value::Null,
        }
    }

    /// Which run this is: its id, shard, host and start, how late this process was ready for
    /// it, and how far the ring's clock was from ours.
    pub(super) fn identity(&self, scheduled: &Scheduled) -> RunIdentity {
        RunIdentity {
            id: (self.args.run_id.clone())
                .unwrap_or_else(|| default_run_id(self.workload.tool, scheduled.wall)),
            shard: (!self.shard.is_whole()).then_some(self.shard),
            host: crate::args::host_name(),
            start_at: humantime::format_rfc3339_millis(scheduled.wall).to_string(),
            ready_late_ms: scheduled.ready_late.as_secs_f64() * 1e3,
            clock_offset_ms: self.clock_offset_ms,
        }
    }

    /// What the limiter needs to say what limited the rate, from the recording, the options and
    /// the client's cost.
    fn evidence(&self, recording: &Recording, client: &ClientCost) -> Evidence {
        let seconds = recording.measured.as_secs_f64();
        let counts = recording.counts;
        let all_service = all_service_times(recording);
        let service = Percentiles::of(&all_service);
        Evidence {
            target_rate: self.target_over(seconds),
            achieved_rate: per_second(counts.ops + counts.ops_failed, seconds),
            succeeded_rate: per_second(counts.ops, seconds),
            measured_seconds: seconds,
            pacing: recording.pacing,
            wait_p50_s: Percentiles::of(&recording.histograms.wait).p50 / 1e6,
            send_late_p50_s: Percentiles::of(&recording.send_late).p50 / 1e6,
            pace_window_s: self.args.pace_window.as_secs_f64(),
            max_in_flight: self.args.max_in_flight as usize,
            requests_per_op: self.workload.requests_per_op,
            service_p10_s: all_service.value_at_quantile(0.1) as f64 / 1e9,
            service_p50_s: service.p50 / 1e6,
            service_mean_s: service.mean / 1e6,
            service_p99_s: service.p99 / 1e6,
            response_mean_s: Percentiles::of(&recording.histograms.response).mean / 1e6,
            cores_busy: client.cores_busy,
            machine_cores: client.machine_cores,
            machine_busy: client.machine_busy,
            operations: counts.ops + counts.ops_failed + counts.missed,
        }
    }
}

/// `count` over the measured `seconds`; 0 when nothing was measured.
fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// What the client cost between the two samples, per operation and per request sent.
fn client_cost(recording: &Recording, start: Usage, end: Usage) -> ClientCost {
    let counts = recording.counts;
    ClientCost::between(
        start,
        end,
        recording.measured,
        counts.ops + counts.ops_failed,
        counts.requests + counts.requests_failed,
    )
}

/// The service times of every kind of request, in one histogram.
fn all_service_times(recording: &Recording) -> Histogram<u64> {
    let mut all_service = new_histogram();
    for histogram in &recording.histograms.service {
        add_into(&mut all_service, histogram);
    }
    all_service
}

/// Failed requests by the name of their kind.
fn errors_by_kind(recording: &Recording) -> BTreeMap<String, u64> {
    recording
        .errors
        .iter()
        .map(|(kind, n)| (kind.name().to_owned(), *n))
        .collect()
}

/// The percentiles (µs) and the encoded histogram of `all` and of every tag.
fn latency_by_tag(
    recording: &Recording,
) -> (BTreeMap<String, Percentiles>, BTreeMap<String, String>) {
    let all = recording.histograms.all();
    let tagged: Vec<(String, &Histogram<u64>)> = std::iter::once((ALL.to_owned(), &all))
        .chain(recording.histograms.tagged(&recording.tags))
        .collect();
    let latency_us = tagged
        .iter()
        .map(|(tag, h)| (tag.clone(), Percentiles::of(h)))
        .collect();
    let histograms = tagged
        .iter()
        .map(|(tag, h)| (tag.clone(), RunReport::encode(h)))
        .collect();
    (latency_us, histograms)
}
