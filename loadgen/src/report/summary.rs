//! The run's words: the summary printed at the end of a run, and the line printed every second.
//! Both read from the report and the per-second summaries, so what is printed is what is saved.

use std::fmt::Write as _;

use crate::record::{ALL, IntervalSummary, Percentiles, RESPONSE};
use crate::report::RunReport;

impl RunReport {
    /// The summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        write_headline(&mut out, self);
        write_shard(&mut out, self);
        write_missed_operations(&mut out, self);
        write_counts(&mut out, self);
        write_remote_requests(&mut out, self);
        write_errors_by_kind(&mut out, self);
        write_latency_table(&mut out, self);
        write_client_cost(&mut out, self);
        write_machine_cpu(&mut out, self);
        write_ring_side(&mut out, self);
        write_modelled_network(&mut out, self);
        write_rate_verdict(&mut out, self);
        out
    }
}

/// What ran, for how long, at what rate against which target, and how it ended.
fn write_headline(out: &mut String, r: &RunReport) {
    let (op, request) = (&r.names.op, &r.names.request);
    let target = r.target_rate.map_or_else(
        || "unthrottled".to_owned(),
        |rate| format!("target {rate:.0} {op}s/s"),
    );
    let missed = match r.counts.missed {
        0 => String::new(),
        n => format!(", {n} {op}s missed"),
    };
    let _ = writeln!(
        out,
        "{tool}: {seconds:.1} s measured ({wall:.1} s of wall time with the drain), {target}, achieved {achieved:.1} {op}s/s ({requests:.0} {request}s/s){missed}; ended: {ending}",
        tool = r.tool,
        seconds = r.measured_seconds,
        wall = r.wall_seconds,
        achieved = r.achieved_rate,
        requests = r.achieved_request_rate,
        ending = r.ending,
    );
}

/// Which shard of which run this was, and how late it was ready for the run's start.
fn write_shard(out: &mut String, r: &RunReport) {
    if let Some(shard) = r.run.shard {
        let clock = r.run.clock_offset_ms.map_or(String::new(), |ms| {
            format!("; the ring's clock was {ms:+.0} ms from this machine's")
        });
        let _ = writeln!(
            out,
            "  shard {shard} of run {} on {}: the schedule started at {}; this process was ready \
             {:.0} ms after it{clock} (`bench merge` adds the shards up)",
            r.run.id, r.run.host, r.run.start_at, r.run.ready_late_ms
        );
    }
}

/// Operations due but never sent, and how they count, if there were any.
fn write_missed_operations(out: &mut String, r: &RunReport) {
    if r.counts.missed > 0 {
        let _ = writeln!(
            out,
            "  {} {op}s were due but never sent: the run ended while behind schedule; each counts in `all` \
             (and `missed`) as late by the time left until the end",
            r.counts.missed,
            op = r.names.op,
        );
    }
}

/// Operations and requests that succeeded and failed, and those abandoned at the drain.
fn write_counts(out: &mut String, r: &RunReport) {
    let (op, request) = (&r.names.op, &r.names.request);
    let c = &r.counts;
    let _ = writeln!(
        out,
        "  {ops} {op}s ok, {failed} failed; {reqs} {request}s ok, {reqs_failed} failed{abandoned}",
        ops = c.ops,
        failed = c.ops_failed,
        reqs = c.requests,
        reqs_failed = c.requests_failed,
        abandoned = if r.abandoned > 0 {
            format!("; {} abandoned at the drain timeout", r.abandoned)
        } else {
            String::new()
        },
    );
}

/// Requests coordinated outside the local datacenter (`--dc-failover`), if there were any.
fn write_remote_requests(out: &mut String, r: &RunReport) {
    let c = &r.counts;
    if c.requests_remote > 0 {
        let _ = writeln!(
            out,
            "  {} {request}s ({:.1}%) were coordinated outside the local datacenter: --dc-failover let them leave it",
            c.requests_remote,
            c.requests_remote as f64 * 100.0 / c.requests.max(1) as f64,
            request = r.names.request,
        );
    }
}

/// Failed requests by kind, if any failed.
fn write_errors_by_kind(out: &mut String, r: &RunReport) {
    if !r.errors.is_empty() {
        let kinds: Vec<String> = r
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        let _ = writeln!(out, "  errors: {}", kinds.join(", "));
    }
}

/// What the latency measures, a table of it per tag, and what `all` and `response` count.
fn write_latency_table(out: &mut String, r: &RunReport) {
    let _ = writeln!(out, "  latency, {}", r.measures());
    // The headline first, then the successful-only view beside it, then the rest.
    let order = |tag: &str| match tag {
        ALL => 0,
        RESPONSE => 1,
        _ => 2,
    };
    let mut rows: Vec<(&String, &Percentiles)> = r.latency_us.iter().collect();
    rows.sort_by_key(|(tag, _)| order(tag));
    let header = ["ms", "p50", "p90", "p99", "p99.9", "max", "count"];
    let mut latency = crate::report::table::new(&header, &[0]);
    for (tag, p) in rows.into_iter().filter(|(_, p)| p.count > 0) {
        let ms = [p.p50, p.p90, p.p99, p.p999, p.max].map(|us| format!("{:.3}", us / 1e3));
        let mut row = vec![tag.clone()];
        row.extend(ms);
        row.push(p.count.to_string());
        latency.add_row(row);
    }
    out.push_str(&crate::report::table::render(&latency, 4));
    let _ = writeln!(
        out,
        "  `all` counts every {op} due in the measured time ({total}), {errors:.2}% of them failed, missed or \
         abandoned; `response`, the {ok} that succeeded",
        op = r.names.op,
        total = r.operations_due(),
        errors = r.error_rate() * 100.0,
        ok = r.counts.ops,
    );
}

/// What the client itself cost in CPU and memory.
fn write_client_cost(out: &mut String, r: &RunReport) {
    let (op, request) = (&r.names.op, &r.names.request);
    let cost = &r.client;
    let _ = writeln!(
        out,
        "  client: {:.2} CPU s ({:.2} cores busy), {:.1} CPU µs per {request}, {:.1} per {op}, {:.2} wake-ups per {op}; RSS {} MiB at start, {} MiB at end, {} MiB peak",
        cost.cpu_seconds,
        cost.cores_busy,
        cost.cpu_us_per_request,
        cost.cpu_us_per_op,
        cost.wake_ups_per_op,
        cost.rss_start_bytes >> 20,
        cost.rss_end_bytes >> 20,
        cost.peak_rss_bytes >> 20,
    );
}

/// How busy the whole machine was, if its CPU is known.
fn write_machine_cpu(out: &mut String, r: &RunReport) {
    let cost = &r.client;
    if cost.machine_cores > 0 {
        let _ = writeln!(
            out,
            "  machine: {} cores, {:.0}% busy over the measured time (this process and every other)",
            cost.machine_cores,
            cost.machine_busy * 100.0
        );
    }
}

/// What the ring said about its own load, with how it was sampled and what a round took.
/// The delay a local ring added between the client and the ring, when it modelled one.
fn write_modelled_network(out: &mut String, r: &RunReport) {
    if let Some(network) = &r.modelled_network {
        let _ = writeln!(out, "  network: delay added by {network}");
    }
}

fn write_ring_side(out: &mut String, r: &RunReport) {
    if let Some(ring) = &r.ring {
        let _ = writeln!(out, "  ring: {}", ring.describe());
    }
    if let Some(settings) = &r.ring_settings {
        let _ = writeln!(out, "  settings: {}", settings.describe());
    }
}

/// What limited the rate, and the warning when it fell short.
fn write_rate_verdict(out: &mut String, r: &RunReport) {
    let _ = writeln!(out, "  rate: {}", r.limiter.explanation);
    if let Some(warning) = &r.limiter.warning {
        let _ = writeln!(out, "  WARNING: {warning}");
    }
}

/// The line printed every second: the response times of every operation that ended in it (failed
/// ones too); in a second where none ended, the age of the oldest one still out instead, so a stall
/// never reads as 0 ms.
pub fn live_line(interval: &IntervalSummary, (op, request): (&str, &str)) -> String {
    let c = &interval.counts;
    let per_second = |n: u64| n as f64 / interval.seconds.max(1e-9);
    let latency = if interval.all_us.count > 0 {
        format!(
            "response p50 {:>7.3} ms  p99 {:>8.3} ms",
            interval.all_us.p50 / 1e3,
            interval.all_us.p99 / 1e3
        )
    } else {
        format!(
            "nothing ended; oldest out {:>9.3} ms",
            interval.oldest_outstanding_us / 1e3
        )
    };
    format!(
        "[{:>6.0} s] {:>8.0} {op}s/s {:>8.0} {request}s/s   {latency}   errors {:<5} in flight {}",
        interval.at,
        per_second(c.ops + c.ops_failed),
        per_second(c.requests + c.requests_failed),
        c.requests_failed,
        interval.in_flight
    )
}
