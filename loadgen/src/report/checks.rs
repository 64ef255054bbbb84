//! What a report read from a file must hold before anything adds, compares or plots it: every
//! number finite and within what a run can give, every count small enough to add without
//! overflow, every histogram readable, and the headline histogram holding exactly the operations
//! the counts say were due. A file that fails is refused with what is wrong, so that no total
//! can quietly leave a part out (a histogram that does not decode) and no absurd number can
//! reach an allocation, a clock or a division.

use crate::record::{ALL, Counts, IntervalSummary, Percentiles};

use super::RunReport;

/// The longest time a report may hold, seconds: a year.
const LONGEST_S: f64 = 366.0 * 24.0 * 3600.0;

/// The highest rate a report may hold, per second.
const FASTEST: f64 = 1e10;

/// The largest count a report may hold: counts are added up and divided as `f64`, exact to 2^53.
const MOST: u64 = 1 << 53;

/// `value` is finite and within `low..=high`, or what is wrong with `name`.
fn within(name: &str, value: f64, low: f64, high: f64) -> Result<(), String> {
    if value.is_finite() && (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{name} is {}, not within {} to {}",
            show(value),
            show(low),
            show(high)
        ))
    }
}

/// A number as people write it: `1e300`, not three hundred digits.
fn show(value: f64) -> String {
    if value.is_finite() && value.abs() >= 1e9 {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// A count no larger than [`MOST`].
fn count(name: &str, value: u64) -> Result<(), String> {
    if value <= MOST {
        Ok(())
    } else {
        Err(format!("{name} is {value}, more than a report can hold"))
    }
}

fn counts(name: &str, c: &Counts) -> Result<(), String> {
    for (field, value) in [
        ("ops", c.ops),
        ("ops_failed", c.ops_failed),
        ("requests", c.requests),
        ("requests_failed", c.requests_failed),
        ("requests_remote", c.requests_remote),
        ("missed", c.missed),
        ("abandoned", c.abandoned),
    ] {
        count(&format!("{name}.{field}"), value)?;
    }
    Ok(())
}

fn percentiles(name: &str, p: &Percentiles) -> Result<(), String> {
    count(&format!("{name}.count"), p.count)?;
    for (field, value) in [
        ("mean", p.mean),
        ("p50", p.p50),
        ("p90", p.p90),
        ("p99", p.p99),
        ("p999", p.p999),
        ("max", p.max),
    ] {
        within(&format!("{name}.{field}"), value, 0.0, LONGEST_S * 1e6)?;
    }
    Ok(())
}

fn interval(i: usize, interval: &IntervalSummary) -> Result<(), String> {
    let name = format!("intervals[{i}]");
    within(&format!("{name}.at"), interval.at, 0.0, LONGEST_S)?;
    within(&format!("{name}.seconds"), interval.seconds, 0.0, LONGEST_S)?;
    within(
        &format!("{name}.oldest_outstanding_us"),
        interval.oldest_outstanding_us,
        0.0,
        LONGEST_S * 1e6,
    )?;
    counts(&format!("{name}.counts"), &interval.counts)?;
    percentiles(&format!("{name}.response_us"), &interval.response_us)?;
    percentiles(&format!("{name}.all_us"), &interval.all_us)?;
    for (kind, n) in &interval.errors {
        count(&format!("{name}.errors.{kind:?}"), *n)?;
    }
    Ok(())
}

/// Whether `text` is an RFC 3339 time.
fn time(name: &str, text: &str) -> Result<(), String> {
    humantime::parse_rfc3339_weak(text)
        .map(|_| ())
        .map_err(|e| format!("{name} '{text}' is not a time ({e})"))
}

impl RunReport {
    /// Checks a report read from a file (see the module documentation); what is wrong, if
    /// anything.
    pub fn check(&self) -> Result<(), String> {
        time("started_at", &self.started_at)?;
        if !self.run.start_at.is_empty() {
            time("run.start_at", &self.run.start_at)?;
        }
        if let Some(rate) = self.target_rate {
            within("target_rate", rate, f64::MIN_POSITIVE, FASTEST)?;
        }
        within("achieved_rate", self.achieved_rate, 0.0, FASTEST)?;
        within(
            "achieved_request_rate",
            self.achieved_request_rate,
            0.0,
            FASTEST,
        )?;
        within("measured_seconds", self.measured_seconds, 0.0, LONGEST_S)?;
        within("wall_seconds", self.wall_seconds, 0.0, LONGEST_S)?;
        within(
            "run.ready_late_ms",
            self.run.ready_late_ms,
            0.0,
            LONGEST_S * 1e3,
        )?;
        if let Some(offset) = self.run.clock_offset_ms {
            within(
                "run.clock_offset_ms",
                offset,
                -LONGEST_S * 1e3,
                LONGEST_S * 1e3,
            )?;
        }
        counts("counts", &self.counts)?;
        count("abandoned", self.abandoned)?;
        let c = &self.counts;
        count(
            "operations due",
            c.ops + c.ops_failed + c.missed + c.abandoned,
        )?;
        count("requests", c.requests + c.requests_failed)?;
        for (kind, n) in &self.errors {
            count(&format!("errors.{kind}"), *n)?;
        }
        for (tag, p) in &self.latency_us {
            percentiles(&format!("latency_us.{tag}"), p)?;
        }
        for (i, summary) in self.intervals.iter().enumerate() {
            interval(i, summary)?;
        }
        self.check_histograms()?;
        self.check_costs()
    }

    /// Every histogram decodes, and the headline holds every operation due.
    fn check_histograms(&self) -> Result<(), String> {
        for tag in self.histograms.keys() {
            if let Some(Err(why)) = self.decoded(tag) {
                return Err(format!(
                    "histogram '{tag}' is not a readable HDR histogram: {why}"
                ));
            }
        }
        if let Some(all) = self.histogram(ALL) {
            let due = self.operations_due();
            if all.len() != due {
                return Err(format!(
                    "the headline histogram holds {} operations, but {due} were due",
                    all.len()
                ));
            }
        }
        Ok(())
    }

    /// The pacing, the client's cost and the ring's side hold finite, non-negative numbers.
    fn check_costs(&self) -> Result<(), String> {
        let p = &self.pacing;
        within(
            "pacing.waiting_for_permits_s",
            p.waiting_for_permits_s,
            0.0,
            LONGEST_S,
        )?;
        within(
            "pacing.late_with_free_permits_s",
            p.late_with_free_permits_s,
            0.0,
            LONGEST_S,
        )?;
        let c = &self.client;
        for (field, value) in [
            ("cpu_seconds", c.cpu_seconds),
            ("cores_busy", c.cores_busy),
            ("cpu_us_per_request", c.cpu_us_per_request),
            ("cpu_us_per_op", c.cpu_us_per_op),
            ("wake_ups_per_op", c.wake_ups_per_op),
            ("machine_busy", c.machine_busy),
        ] {
            within(&format!("client.{field}"), value, 0.0, f64::MAX)?;
        }
        count("client.wake_ups", c.wake_ups)?;
        if let Some(ring) = &self.ring {
            within("ring.interval_s", ring.interval_s, 0.0, LONGEST_S)?;
            within("ring.round_ms_p50", ring.round_ms_p50, 0.0, LONGEST_S * 1e3)?;
            within("ring.round_ms_max", ring.round_ms_max, 0.0, LONGEST_S * 1e3)?;
            for node in &ring.nodes {
                for second in &node.seconds {
                    within("ring node's at_s", second.at_s, -LONGEST_S, LONGEST_S)?;
                    for pool in second.pools.values() {
                        within(
                            "ring pool's completed_per_s",
                            pool.completed_per_s,
                            0.0,
                            FASTEST,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RESPONSE;
    use crate::record::new_histogram;

    /// A report as a finished run writes it: ten operations due, ten in the headline.
    fn sound() -> RunReport {
        let mut histogram = new_histogram();
        histogram.record_n(1_000_000, 10).unwrap();
        let encoded = RunReport::encode(&histogram);
        serde_json::from_value(serde_json::json!({
            "format": 1, "tool": "factory", "version": "t",
            "started_at": "2026-12-01T00:00:00.000Z",
            "names": {"op": "visit", "request": "write"},
            "config": null, "ending": "finished", "target_rate": 10.0,
            "achieved_rate": 10.0, "achieved_request_rate": 30.0,
            "measured_seconds": 1.0, "wall_seconds": 1.0,
            "counts": {"ops": 10, "ops_failed": 0, "requests": 30, "requests_failed": 0},
            "abandoned": 0, "errors": {},
            "latency_us": {}, "histograms": {"all": encoded, "response": encoded},
            "intervals": [],
            "pacing": {"waiting_for_permits_s": 0.0, "late_with_free_permits_s": 0.0, "peak_in_flight": 3},
            "client": {"cpu_seconds": 0.1, "cores_busy": 0.1, "cpu_us_per_request": 3.0,
                "cpu_us_per_op": 9.0, "rss_start_bytes": 1, "rss_end_bytes": 1, "peak_rss_bytes": 1},
            "limiter": {"verdict": "kept_up", "explanation": "", "warning": null}
        }))
        .unwrap()
    }

    #[test]
    fn a_sound_report_passes() {
        sound().check().unwrap();
    }

    #[test]
    fn absurd_numbers_unreadable_histograms_and_missing_operations_are_refused() {
        let refused = |change: &dyn Fn(&mut RunReport), says: &str| {
            let mut report = sound();
            change(&mut report);
            let why = report.check().unwrap_err();
            assert!(why.contains(says), "{says}: {why}");
        };
        refused(&|r| r.wall_seconds = 1e300, "wall_seconds is 1e300");
        refused(
            &|r| r.measured_seconds = f64::NAN,
            "measured_seconds is NaN",
        );
        refused(&|r| r.target_rate = Some(-5.0), "target_rate");
        refused(
            &|r| r.started_at = "yesterday".into(),
            "started_at 'yesterday'",
        );
        refused(&|r| r.counts.ops = u64::MAX, "counts.ops");
        refused(
            &|r| {
                r.histograms.insert(RESPONSE.into(), "AAAA".into());
            },
            "histogram 'response' is not a readable",
        );
        // A histogram cut short, as a truncated copy would leave it.
        refused(
            &|r| {
                let all = r.histograms[ALL].clone();
                r.histograms
                    .insert(ALL.into(), all[..all.len() / 2].to_owned());
            },
            "histogram 'all' is not a readable",
        );
        refused(
            &|r| r.counts.missed = 5,
            "holds 10 operations, but 15 were due",
        );
        refused(
            &|r| r.client.cores_busy = f64::INFINITY,
            "client.cores_busy",
        );
    }
}
