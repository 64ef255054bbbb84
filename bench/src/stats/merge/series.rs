//! The per-second side of a merge: the inputs' one-second summaries on one wall clock, and
//! their HDR logs added second by second, from which the merged seconds get their percentiles.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::{MergeError, started};
use loadgen::record::hdr_log::{HdrLog, IntervalLog};
use loadgen::record::{Counts, IntervalSummary, Percentiles, RESPONSE, add_into, new_histogram};
use loadgen::report::RunReport;

/// The per-second series of all reports on one wall clock: counts added per second. Percentiles
/// cannot be added; they stay empty until HDR logs fill them in.
pub(super) fn merge_intervals(reports: &[&RunReport]) -> Vec<IntervalSummary> {
    let base = reports
        .iter()
        .map(|r| started(r))
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut seconds: BTreeMap<u64, IntervalSummary> = BTreeMap::new();
    for report in reports {
        let offset = started(report)
            .duration_since(base)
            .unwrap_or_default()
            .as_secs_f64();
        // In flight and memory are snapshots: one per process and second (the larger, when a
        // sliver and a whole second of one process fall into one), then added across processes.
        let mut snapshots: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
        for interval in &report.intervals {
            let bucket = (interval.at + offset).round().max(1.0) as u64;
            let snapshot = snapshots.entry(bucket).or_default();
            snapshot.0 = snapshot.0.max(interval.in_flight);
            snapshot.1 = snapshot.1.max(interval.rss_bytes);
        }
        for interval in &report.intervals {
            let at = interval.at + offset;
            let bucket = at.round().max(1.0) as u64;
            let merged = seconds.entry(bucket).or_insert_with(|| IntervalSummary {
                at: bucket as f64,
                seconds: interval.seconds,
                counts: Counts::default(),
                response_us: Percentiles::default(),
                all_us: Percentiles::default(),
                oldest_outstanding_us: 0.0,
                in_flight: 0,
                rss_bytes: 0,
                errors: BTreeMap::new(),
            });
            // A sliver (the first interval can end a millisecond after the warm-up) must not
            // stand for a bucket to which others bring whole seconds: that would be a
            // thousandfold rate spike.
            merged.seconds = merged.seconds.max(interval.seconds);
            merged.counts.add(&interval.counts);
            // The oldest operation out anywhere is the oldest of the merged run.
            merged.oldest_outstanding_us = merged
                .oldest_outstanding_us
                .max(interval.oldest_outstanding_us);
            for (kind, count) in &interval.errors {
                *merged.errors.entry(*kind).or_insert(0) += count;
            }
        }
        for (bucket, (in_flight, rss_bytes)) in snapshots {
            if let Some(merged) = seconds.get_mut(&bucket) {
                merged.in_flight += in_flight;
                merged.rss_bytes += rss_bytes;
            }
        }
    }
    seconds.into_values().collect()
}

/// A histogram's tag in a merged log: `None` for the untagged headline.
pub type Tag = Option<String>;

/// Each tag's histogram of each merged second.
pub type Seconds = BTreeMap<(Tag, u64), Histogram<u64>>;

/// How long each merged second is, by second.
pub type Lengths = BTreeMap<u64, f64>;

/// HDR logs merged: each log's intervals placed on the wall clock by the log's own times, from
/// `base`, and added per tag and per second.
pub(super) fn merge_logs(logs: &[IntervalLog], base: SystemTime) -> (Seconds, Lengths) {
    let base_s = base
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut merged: BTreeMap<(Tag, u64), Histogram<u64>> = BTreeMap::new();
    let mut lengths: BTreeMap<u64, f64> = BTreeMap::new();
    for log in logs {
        for interval in &log.intervals {
            let at = log.start_time_s + interval.start_s - base_s;
            let second = at.round().max(0.0) as u64;
            let length = lengths.entry(second).or_default();
            *length = length.max(interval.length.as_secs_f64());
            let total = merged
                .entry((interval.tag.clone(), second))
                .or_insert_with(new_histogram);
            add_into(total, &interval.histogram);
        }
    }
    (merged, lengths)
}

/// Fills each merged second's percentiles (the headline, `all`, and the successful-only
/// `response`) from the merged logs.
pub(super) fn fill_interval_percentiles(
    intervals: &mut [IntervalSummary],
    logs: &BTreeMap<(Tag, u64), Histogram<u64>>,
) {
    for interval in intervals {
        // The interval ending at second s started at s - 1.
        let start = (interval.at.round() as u64).saturating_sub(1);
        if let Some(histogram) = logs.get(&(Some(RESPONSE.to_owned()), start)) {
            interval.response_us = Percentiles::of(histogram);
        }
        if let Some(histogram) = logs.get(&(None, start)) {
            interval.all_us = Percentiles::of(histogram);
        }
    }
}

/// Writes merged seconds as an interval log, each second as long as `lengths` says (a second
/// whose inputs were all slivers stays a sliver, so that a window cut from the log does not count
/// a whole second no input ran).
pub(super) fn write_log(
    path: &Path,
    (merged, lengths): (&Seconds, &Lengths),
    base: SystemTime,
) -> Result<(), MergeError> {
    let fail = |source| MergeError::WriteLog {
        path: path.display().to_string(),
        source,
    };
    let mut log = HdrLog::create(
        path,
        base,
        &format!("pickle bench merge {}", env!("CARGO_PKG_VERSION")),
    )
    .map_err(fail)?;
    let mut in_time_order: Vec<(&(Tag, u64), &Histogram<u64>)> = merged.iter().collect();
    in_time_order.sort_by_key(|((tag, second), _)| (*second, tag.clone()));
    for ((tag, second), histogram) in in_time_order {
        let start = Duration::from_secs(*second);
        let length = lengths
            .get(second)
            .copied()
            .unwrap_or(1.0)
            .clamp(0.001, 1.0);
        let length = Duration::from_secs_f64(length);
        match tag {
            None => log.write_untagged(histogram, start, length),
            Some(tag) => log.write_tagged(tag, histogram, start, length),
        }
    }
    log.finish().map_err(fail)
}
