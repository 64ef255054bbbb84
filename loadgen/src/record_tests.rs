//! The recorder's own tests, under tokio's paused clock.

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
    let recording = recorder
        .finish(
            start + Duration::from_secs(1),
            start + Duration::from_secs(1),
        )
        .unwrap();
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
            requests_remote: 0,
            missed: 0,
            abandoned: 0,
        }
    );
}

#[tokio::test(start_paused = true)]
async fn failures_are_counted_by_kind_and_in_the_headline_latency_not_the_successful_one() {
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
        .close_interval(start + Duration::from_secs(1), 0, 0, Duration::ZERO)
        .unwrap();
    assert_eq!(interval.errors[&ErrorKind::WriteTimeout], 1, "by second");
    // The second's headline counts the failed visit, with its 2 s; the successful view has none.
    assert_eq!(interval.all_us.count, 1);
    assert!(interval.all_us.p99 >= 1_999_000.0, "{:?}", interval.all_us);
    assert_eq!(interval.response_us.count, 0);
    assert_eq!(recorder.error_count(), 1, "still counted once closed");
    let recording = recorder
        .finish(
            start + Duration::from_secs(2),
            start + Duration::from_secs(2),
        )
        .unwrap();
    assert!(recording.histograms.response.is_empty());
    assert_eq!(recording.histograms.failed.len(), 1);
    assert!(Percentiles::of(&recording.histograms.all()).max >= 1_999_000.0);
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
        .close_interval(
            start + Duration::from_secs(1),
            3,
            1 << 20,
            Duration::from_millis(2),
        )
        .unwrap();
    assert_eq!(first.counts.ops, 10);
    assert_eq!(first.in_flight, 3);
    assert_eq!(first.all_us.count, 10);
    assert_eq!(first.oldest_outstanding_us, 2_000.0);
    let second = recorder
        .close_interval(start + Duration::from_secs(2), 0, 1 << 20, Duration::ZERO)
        .unwrap();
    assert_eq!(second.counts.ops, 0);
    let recording = recorder
        .finish(
            start + Duration::from_secs(2),
            start + Duration::from_secs(2),
        )
        .unwrap();
    assert_eq!(recording.counts.ops, 10);
    assert_eq!(recording.intervals.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_huge_backlog_of_missed_operations_is_recorded_in_bounded_work() {
    use crate::schedule::{End, Pace};
    let start = Instant::now();
    let hour = Duration::from_secs(3600);
    let end = End {
        after: Some(hour),
        operations: None,
    };
    // A billion operations a second for an hour, none of them sent.
    let schedule = Schedule::new(start, Pace::Fixed { per_second: 1e9 }, end);
    let mut recorder = Recorder::new(&["a"], start, None);
    recorder.record_missed(&schedule, 0..3_600_000_000_000, start + hour);
    let recording = recorder.finish(start + hour, start + hour).unwrap();
    assert_eq!(recording.counts.missed, 3_600_000_000_000);
    let missed = Percentiles::of(&recording.histograms.missed);
    assert_eq!(missed.count, 3_600_000_000_000);
    // Due evenly over the hour, late by what was left of it: half an hour at the median.
    assert!((missed.p50 / 1_800e6 - 1.0).abs() < 0.002, "{missed:?}");
    assert_eq!(recording.histograms.all().len(), 3_600_000_000_000);
}

#[tokio::test(start_paused = true)]
async fn operations_due_in_the_warm_up_are_not_counted_as_missed() {
    use crate::schedule::{End, Pace};
    let start = Instant::now();
    let schedule = Schedule::new(start, Pace::Fixed { per_second: 10.0 }, End::default());
    let mut recorder = Recorder::new(&["a"], start + Duration::from_secs(5), None);
    // 100 operations due in the first 10 s, none sent: the 50 of the warm-up are not measured.
    recorder.record_missed(&schedule, 0..100, start + Duration::from_secs(10));
    let end = start + Duration::from_secs(10);
    let recording = recorder.finish(end, end).unwrap();
    assert_eq!(recording.counts.missed, 50);
    assert_eq!(recording.measured, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn an_outage_lasts_from_the_first_unreachable_operation_to_the_next_answer() {
    let start = Instant::now();
    let mut recorder = Recorder::new(&["a", "b"], start, None);
    let failed = |kind| Request {
        tag: 0,
        service: Duration::from_millis(1),
        error: Some(Failure { kind, detail: None }),
        remote: false,
    };
    let operation = |requests| Completed {
        sent: start,
        requests,
    };
    let at = |ms| start + Duration::from_millis(ms);
    let unreachable = vec![failed(ErrorKind::NoNode), failed(ErrorKind::Connection)];
    recorder.record(start, &operation(unreachable.clone()), at(100));
    recorder.record(start, &operation(unreachable.clone()), at(200));
    assert_eq!(recorder.outage().map(|(since, _)| since), Some(at(100)));
    // One request answered, even with a timeout: the node is reachable, the outage is over.
    let answered = vec![failed(ErrorKind::NoNode), failed(ErrorKind::WriteTimeout)];
    recorder.record(start, &operation(answered), at(300));
    assert!(recorder.outage().is_none());
    recorder.record(start, &operation(unreachable), at(400));
    assert_eq!(
        recorder.outage().map(|(since, f)| (since, f.kind)),
        Some((at(400), ErrorKind::NoNode))
    );
}
