//! A run cut into windows of time, each a report of its own with its own interval log: what a
//! calibration cuts a long run into (pairs of windows of one unchanged process are A/A pairs), and
//! what a per-window check judges.
//!
//! A window holds the seconds of the interval log, and the report's per-second summaries, that
//! start within it; its histograms are those seconds' histograms added up,
//! tag by tag, so its percentiles are exactly those of the operations it holds. Its counts are
//! its seconds' counts. What cannot be cut (the client's CPU, the verdict) is the whole run's,
//! and the window's report says it is a window.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use loadgen::record::hdr_log::{IntervalLog, LoggedInterval};
use loadgen::record::{ALL, Counts, add_into, new_histogram};
use loadgen::report::RunReport;

/// One window of a run: its report and its interval log.
#[derive(Debug, Clone)]
pub struct Window {
    /// Its start, seconds after measurement began.
    pub from_s: f64,
    /// Its end.
    pub to_s: f64,
    /// The window as a report of its own.
    pub report: RunReport,
    /// Its seconds of the interval log, timed from the window's start.
    pub log: IntervalLog,
}

/// The window `[from_s, to_s)` of a run: `None` when no second of the log starts in it.
pub fn window(report: &RunReport, log: &IntervalLog, from_s: f64, to_s: f64) -> Option<Window> {
    let inside = |i: &&LoggedInterval| i.start_s >= from_s - 1e-6 && i.start_s < to_s - 1e-6;
    let seconds: Vec<LoggedInterval> = log
        .intervals
        .iter()
        .filter(inside)
        .map(|i| LoggedInterval {
            start_s: i.start_s - from_s,
            ..i.clone()
        })
        .collect();
    if !seconds.iter().any(LoggedInterval::is_untagged) {
        return None;
    }
    let mut histograms: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for second in &seconds {
        let tag = second.tag.clone().unwrap_or_else(|| ALL.to_owned());
        add_into(
            histograms.entry(tag).or_insert_with(new_histogram),
            &second.histogram,
        );
    }
    // A summary belongs where its second of the log does, by its middle. (Seconds are the
    // recorder's ticks, not whole seconds from the start: the first can be a sliver. A merged
    // report's second ends on the whole second but is as long as the longest of its shards' (a
    // tick of 1.004 s ending at 4 s): by its start it would land in the window before its log's.)
    let intervals: Vec<_> = report
        .intervals
        .iter()
        .filter(|i| {
            let middle = i.at - i.seconds / 2.0;
            middle >= from_s - 1e-6 && middle < to_s - 1e-6
        })
        .map(|i| loadgen::record::IntervalSummary {
            at: i.at - from_s,
            ..i.clone()
        })
        .collect();
    let mut counts = Counts::default();
    intervals.iter().for_each(|i| counts.add(&i.counts));
    let length = seconds
        .iter()
        .map(|s| s.start_s + s.length.as_secs_f64())
        .fold(0.0, f64::max);
    let mut errors = BTreeMap::new();
    for interval in &intervals {
        for (kind, n) in &interval.errors {
            *errors.entry(kind.name().to_owned()).or_insert(0) += n;
        }
    }
    let ops = counts.ops + counts.ops_failed;
    let (latency_us, encoded) = RunReport::tagged(&histograms);
    let window_report = RunReport {
        started_at: later(&report.started_at, from_s),
        ending: report.ending.clone(),
        achieved_rate: ops as f64 / length.max(f64::MIN_POSITIVE),
        achieved_request_rate: (counts.requests + counts.requests_failed) as f64
            / length.max(f64::MIN_POSITIVE),
        measured_seconds: length,
        wall_seconds: length,
        counts,
        abandoned: counts.abandoned,
        errors,
        latency_us,
        histograms: encoded,
        intervals,
        ring: report.ring.as_ref().map(|ring| {
            let mut ring = ring.clone();
            for node in &mut ring.nodes {
                node.seconds
                    .retain(|s| s.at_s >= from_s - 1e-6 && s.at_s < to_s - 1e-6);
            }
            ring
        }),
        ..report.clone()
    };
    Some(Window {
        from_s,
        to_s,
        report: window_report,
        log: IntervalLog {
            start_time_s: log.start_time_s + from_s,
            intervals: seconds,
        },
    })
}

/// `started_at` moved `seconds` later, in RFC 3339.
fn later(started_at: &str, seconds: f64) -> String {
    humantime::parse_rfc3339_weak(started_at)
        .map(|t| {
            humantime::format_rfc3339_millis(
                t + std::time::Duration::from_secs_f64(seconds.max(0.0)),
            )
            .to_string()
        })
        .unwrap_or_else(|_| started_at.to_owned())
}

/// A run cut into consecutive windows of `length` seconds from `skip` seconds on; a last window
/// shorter than `length` is left out (windows to be compared with each other must be alike).
pub fn cut(report: &RunReport, log: &IntervalLog, length: f64, skip: f64) -> Vec<Window> {
    cut_windows(report, log, length, skip, false)
}

/// A run's last tick can be a sliver (the few milliseconds between the last whole second and the
/// end, where the visits never sent are booked): less than this, and it joins the window before
/// instead of standing alone, where 27 visits missed of 32 read as 84% errors.
const SLIVER_S: f64 = 1.0;

/// A run cut into consecutive windows of `length` seconds, the last one shorter if the run does
/// not end on a window's end (or a little longer, when what is left after it is a sliver of
/// less than a second): every second is in a window (what a per-window check judges).
pub fn cut_all(report: &RunReport, log: &IntervalLog, length: f64) -> Vec<Window> {
    cut_windows(report, log, length, 0.0, true)
}

fn cut_windows(
    report: &RunReport,
    log: &IntervalLog,
    length: f64,
    skip: f64,
    last_too: bool,
) -> Vec<Window> {
    let end = log
        .intervals
        .iter()
        .map(|i| i.start_s + i.length.as_secs_f64())
        .fold(0.0, f64::max);
    let mut windows = Vec::new();
    let mut from = skip;
    while length > 0.0 && from < end - 1e-6 {
        let mut to = from + length;
        if last_too && end - to < SLIVER_S {
            to = to.max(end);
        }
        if to > end + 1e-6 && !last_too {
            break;
        }
        windows.extend(window(report, log, from, to.min(end.max(from))));
        from = to;
    }
    windows
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::merge::tests::report_of;
    use loadgen::record::{IntervalSummary, Percentiles};

    /// A run of `seconds` seconds, second `i` holding `i + 1` operations of `i + 1` ms.
    fn run(seconds: usize) -> (RunReport, IntervalLog) {
        run_of(
            (0..seconds as u64)
                .map(|i| {
                    let mut second = new_histogram();
                    second.record_n((i + 1) * 1_000_000, i + 1).unwrap();
                    second
                })
                .collect(),
        )
    }

    /// A run of one second per histogram, its report and its interval log, every operation a
    /// visit of three writes, none failed.
    pub(crate) fn run_of(seconds: Vec<Histogram<u64>>) -> (RunReport, IntervalLog) {
        let mut report = report_of(&[]);
        let mut log = IntervalLog {
            start_time_s: 1_764_000_000.0,
            intervals: Vec::new(),
        };
        let mut total = new_histogram();
        for (i, second) in seconds.into_iter().enumerate() {
            total.add(&second).unwrap();
            let counts = Counts {
                ops: second.len(),
                requests: 3 * second.len(),
                ..Counts::default()
            };
            report.counts.add(&counts);
            report.intervals.push(IntervalSummary {
                at: (i + 1) as f64,
                seconds: 1.0,
                counts,
                response_us: Percentiles::of(&second),
                all_us: Percentiles::of(&second),
                oldest_outstanding_us: 0.0,
                in_flight: 0,
                rss_bytes: 0,
                errors: BTreeMap::new(),
            });
            log.intervals.push(LoggedInterval {
                tag: None,
                start_s: i as f64,
                length: std::time::Duration::from_secs(1),
                histogram: second,
            });
        }
        report.histograms = BTreeMap::from([(ALL.to_owned(), RunReport::encode(&total))]);
        (report, log)
    }

    #[test]
    fn a_window_holds_exactly_its_seconds_operations_and_percentiles() {
        let (report, log) = run(10);
        let w = window(&report, &log, 2.0, 5.0).unwrap();
        // Seconds 2, 3 and 4: 3 + 4 + 5 operations of 3, 4 and 5 ms.
        assert_eq!(w.report.counts.ops, 12);
        assert_eq!(w.report.operations_due(), 12);
        assert_eq!(w.report.measured_seconds, 3.0);
        assert_eq!(w.report.achieved_rate, 4.0);
        assert_eq!(w.report.intervals.len(), 3);
        assert_eq!(w.report.intervals[0].at, 1.0);
        assert_eq!(w.log.intervals[0].start_s, 0.0);
        let all = w.report.histogram(ALL).unwrap();
        assert_eq!(all.len(), 12);
        assert!(all.equivalent(all.max(), 5_000_000));
        assert_eq!(w.report.started_at, "2026-11-22T06:00:02.000Z");
        w.report.check().unwrap();
    }

    #[test]
    fn a_sliver_at_the_end_of_a_run_joins_the_last_window() {
        let (mut report, mut log) = run(20);
        // The last tick: 5 ms holding 27 visits never sent and 5 that ended.
        let mut sliver = new_histogram();
        sliver.record_n(1_000_000_000, 32).unwrap();
        log.intervals.push(LoggedInterval {
            tag: None,
            start_s: 20.0,
            length: std::time::Duration::from_millis(5),
            histogram: sliver.clone(),
        });
        let counts = Counts {
            ops: 5,
            missed: 27,
            ..Counts::default()
        };
        report.intervals.push(IntervalSummary {
            at: 20.005,
            seconds: 0.005,
            counts,
            response_us: Percentiles::of(&sliver),
            all_us: Percentiles::of(&sliver),
            oldest_outstanding_us: 0.0,
            in_flight: 0,
            rss_bytes: 0,
            errors: BTreeMap::new(),
        });
        let windows = cut_all(&report, &log, 10.0);
        assert_eq!(windows.len(), 2, "no window of the sliver alone");
        let last = &windows[1];
        assert!((last.to_s - 20.005).abs() < 1e-9, "{}", last.to_s);
        assert_eq!(last.report.counts.missed, 27);
        // Cut for comparison, windows stay alike: the sliver is left out with the rest.
        assert!(
            cut(&report, &log, 10.0, 0.0)
                .iter()
                .all(|w| w.to_s - w.from_s == 10.0)
        );
    }

    #[test]
    fn a_merged_second_longer_than_a_second_stays_in_the_window_of_its_log() {
        // A merged report's seconds end on whole seconds, each as long as its longest shard's:
        // second 3-4 as a tick of 1.004 s ending at 4 s.
        let (mut report, log) = run(6);
        report.intervals[3].seconds = 1.004;
        let windows = cut_all(&report, &log, 3.0);
        let ops: Vec<u64> = windows.iter().map(|w| w.report.counts.ops).collect();
        // Seconds 0-2 hold 1 + 2 + 3 operations, seconds 3-5 hold 4 + 5 + 6.
        assert_eq!(ops, [6, 15]);
        for w in &windows {
            assert_eq!(w.report.counts.ops, w.report.histogram(ALL).unwrap().len());
        }
    }

    #[test]
    fn a_run_cuts_into_whole_windows_after_the_part_skipped() {
        let (report, log) = run(10);
        let windows = cut(&report, &log, 3.0, 1.0);
        let spans: Vec<(f64, f64)> = windows.iter().map(|w| (w.from_s, w.to_s)).collect();
        assert_eq!(spans, [(1.0, 4.0), (4.0, 7.0), (7.0, 10.0)]);
        assert!(window(&report, &log, 20.0, 30.0).is_none());
        // Every second is in some window when the last may be shorter.
        let all = cut_all(&report, &log, 4.0);
        let spans: Vec<(f64, f64)> = all.iter().map(|w| (w.from_s, w.to_s)).collect();
        assert_eq!(spans, [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]);
        let ops: u64 = all.iter().map(|w| w.report.counts.ops).sum();
        assert_eq!(ops, report.counts.ops);
    }
}
