//! The driver under tokio's paused clock: time only moves when every task waits, so the schedule
//! can be checked to the nanosecond, and a one-hour run takes milliseconds.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::Stream;
use tokio::time::Instant;

use super::*;
use crate::errors::{ErrorKind, Failure};
use crate::record::{Percentiles, Recorder, Recording, Request};
use crate::schedule::{End, Pace, Schedule, TokioTimer};

const MS: Duration = Duration::from_millis(1);

pub(super) fn plan(
    start: Instant,
    per_second: Option<f64>,
    end: End,
    max_in_flight: usize,
) -> Plan {
    let pace = per_second.map_or(Pace::Unthrottled, |per_second| Pace::Fixed { per_second });
    Plan {
        schedule: Schedule::new(start, pace, end),
        max_in_flight,
        requests_per_op: 1,
        drain_timeout: Duration::from_secs(5),
        max_errors: None,
        outage_limit: Duration::from_secs(30),
        pace_window: Duration::ZERO,
    }
}

/// No Ctrl-C, ever.
pub(super) fn never() -> impl Stream<Item = ()> {
    futures::stream::pending()
}

/// One Ctrl-C, when `signal` resolves.
pub(super) fn once(signal: impl Future<Output = ()>) -> impl Stream<Item = ()> {
    futures::stream::once(signal).chain(futures::stream::pending())
}

pub(super) fn ok_after(sent: Instant) -> Completed {
    Completed {
        sent,
        requests: vec![Request {
            tag: 0,
            service: Instant::now() - sent,
            error: None,
            remote: false,
        }],
    }
}

/// Runs `plan` with operations that answer after `service(sent)`, returning the recording, the
/// outcome, and (n, intended, sent) for every operation.
pub(super) async fn run(
    plan: &Plan,
    service: impl Fn(Instant) -> Instant + 'static,
    shutdown: impl Stream<Item = ()>,
) -> (Recording, Outcome, Vec<(u64, Instant, Instant)>) {
    run_measured_from(plan, plan.schedule.start(), service, shutdown).await
}

/// Like [`run`], measuring from `measure_from` (after a warm-up).
pub(super) async fn run_measured_from(
    plan: &Plan,
    measure_from: Instant,
    service: impl Fn(Instant) -> Instant + 'static,
    shutdown: impl Stream<Item = ()>,
) -> (Recording, Outcome, Vec<(u64, Instant, Instant)>) {
    let mut recorder = Recorder::new(&["table"], measure_from, None);
    let calls = Rc::new(RefCell::new(Vec::new()));
    let service = Rc::new(service);
    let seen = Rc::clone(&calls);
    let outcome = drive(
        plan,
        TokioTimer::new(),
        &mut recorder,
        shutdown,
        |_| {},
        move |n, intended| {
            let sent = Instant::now();
            seen.borrow_mut().push((n, intended.at, sent));
            let answer_at = service(sent);
            async move {
                tokio::time::sleep_until(answer_at).await;
                ok_after(sent)
            }
        },
    )
    .await;
    let recording = recorder.finish(outcome.stopped, Instant::now()).unwrap();
    let calls = calls.borrow().clone();
    (recording, outcome, calls)
}

#[tokio::test(start_paused = true)]
async fn operations_start_exactly_on_schedule() {
    let start = Instant::now() + MS;
    let plan = plan(
        start,
        Some(1000.0),
        End {
            operations: Some(500),
            after: None,
        },
        64,
    );
    let (recording, outcome, calls) = run(&plan, |sent| sent + MS, never()).await;
    assert_eq!(
        (outcome.ending.clone(), outcome.abandoned, outcome.missed),
        (Ending::Finished, 0, 0)
    );
    assert_eq!(outcome.started, 500);
    assert_eq!(calls.len(), 500);
    for (n, intended, sent) in calls {
        assert_eq!(
            intended,
            start + Duration::from_millis(n),
            "operation {n} was due then"
        );
        assert_eq!(sent, intended, "operation {n} started late");
    }
    assert_eq!(recording.counts.ops, 500);
    let response = Percentiles::of(&recording.histograms.response);
    assert!((response.max - 1_000.0).abs() < 2.0, "{response:?}");
}

/// A server that answers in 1 ms, except that everything sent during the stall from `from` to
/// `to` waits for its end.
fn stalled(from: Instant, to: Instant) -> impl Fn(Instant) -> Instant {
    move |sent| {
        if sent >= from && sent < to {
            to
        } else {
            sent + MS
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_stall_is_caught_up_without_dropping_and_shows_in_response_time() {
    let start = Instant::now();
    let stall_to = start + 1000 * MS;
    let service = stalled(start + 500 * MS, stall_to);
    let plan = plan(
        start,
        Some(1000.0),
        End {
            operations: Some(2000),
            after: None,
        },
        10,
    );
    let (recording, outcome, calls) = run(&plan, service, never()).await;

    assert_eq!(outcome.started, 2000, "no operation is skipped");
    assert_eq!(recording.counts.ops, 2000);
    // Operations due during the stall were sent when permits came back, late, and their
    // response time counts from their due time: the 500 ms stall is in the numbers.
    let (_, due, sent) = calls[600];
    assert!(sent >= stall_to && due == start + 600 * MS);
    let response = Percentiles::of(&recording.histograms.response);
    assert!(
        response.max >= 500_000.0,
        "max response {} µs hides the stall",
        response.max
    );
    // Service time alone would hide it for all but the ten stuck requests.
    assert!(Percentiles::of(&recording.histograms.service[0]).p99 <= 1_100.0);
    // Once the server answers again, the backlog goes out at the window's pace and the schedule
    // ends on time: the last operation is sent when it is due.
    let (_, due, sent) = calls[1999];
    assert_eq!(sent, due);
    // The loop spent the stall waiting for permits, and no time behind with permits free.
    assert!(
        (0.45..0.6).contains(&recording.pacing.waiting_for_permits_s),
        "{:?}",
        recording.pacing
    );
    assert_eq!(recording.pacing.late_with_free_permits_s, 0.0);
}

#[tokio::test(start_paused = true)]
async fn an_hour_at_a_fractional_rate_does_not_drift() {
    let start = Instant::now();
    let plan = plan(
        start,
        Some(3.0),
        End {
            after: Some(Duration::from_secs(3600)),
            operations: None,
        },
        8,
    );
    let (_, outcome, calls) = run(&plan, |sent| sent + MS, never()).await;
    assert_eq!(outcome.started, 10_800);
    let (n, due, sent) = calls[calls.len() - 1];
    assert_eq!(due, start + Duration::from_secs_f64(n as f64 / 3.0));
    // tokio's wheel rounds up to its 1 ms tick; the schedule itself has not moved.
    assert!(
        sent - due <= MS,
        "the last operation started {:?} late",
        sent - due
    );
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_stops_scheduling_and_drains_what_is_in_flight() {
    let start = Instant::now();
    let plan = plan(start, Some(100.0), End::default(), 64);
    let shutdown = once(tokio::time::sleep(Duration::from_millis(1005)));
    let (recording, outcome, calls) = run(&plan, |sent| sent + 50 * MS, shutdown).await;
    assert_eq!(outcome.ending, Ending::Interrupted);
    assert_eq!(outcome.abandoned, 0);
    assert_eq!(calls.len(), 101);
    assert_eq!(
        recording.counts.ops, 101,
        "every started operation was waited for"
    );
}

#[tokio::test(start_paused = true)]
async fn the_drain_gives_up_after_its_timeout() {
    let start = Instant::now();
    let mut plan = plan(start, Some(100.0), End::default(), 64);
    plan.drain_timeout = Duration::from_secs(2);
    let never = |sent: Instant| sent + Duration::from_secs(86_400);
    let began = Instant::now();
    let (recording, outcome, calls) = run(
        &plan,
        never,
        once(tokio::time::sleep(Duration::from_millis(105))),
    )
    .await;
    assert_eq!(outcome.ending, Ending::Interrupted);
    assert_eq!(outcome.abandoned, calls.len());
    assert!(Instant::now() - began < Duration::from_secs(4));
    // Each abandoned visit is in the numbers, late by at least the drain it outlasted.
    let abandoned = Percentiles::of(&recording.histograms.abandoned);
    assert_eq!(abandoned.count, calls.len() as u64);
    assert!(abandoned.p50 >= 2_000_000.0, "{abandoned:?}");
    assert_eq!(
        Percentiles::of(&recording.histograms.all()).count,
        abandoned.count
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_stall_shows_as_the_age_of_the_oldest_visit_out_not_as_zero() {
    let start = Instant::now();
    // Nothing ends during the stall.
    let service = stalled(start + 1000 * MS, start + 4000 * MS);
    let plan = plan(
        start,
        Some(100.0),
        End {
            after: Some(Duration::from_secs(6)),
            operations: None,
        },
        10,
    );
    let (recording, _, _) = run(&plan, service, never()).await;
    let second = |at: f64| {
        recording
            .intervals
            .iter()
            .find(|i| (i.at - at).abs() < 0.01)
            .unwrap_or_else(|| panic!("no interval ends at {at} s: {:?}", recording.intervals))
    };
    assert!(second(1.0).all_us.count > 0 && second(1.0).oldest_outstanding_us < 10_000.0);
    for (at, stalled_for) in [(2.0, 1.0), (3.0, 2.0)] {
        let interval = second(at);
        assert_eq!(interval.all_us.count, 0, "nothing ended in second {at}");
        let oldest = interval.oldest_outstanding_us / 1e6;
        assert!(
            (stalled_for - 0.02..stalled_for + 0.02).contains(&oldest),
            "second {at}: oldest out {oldest} s, stalled for {stalled_for} s"
        );
    }
    // When the stall ends, its visits end with their whole wait in the headline.
    let worst = recording
        .intervals
        .iter()
        .map(|i| i.all_us.max)
        .fold(0.0, f64::max);
    assert!(worst >= 2_990_000.0, "{worst} µs");
}

/// Operations that fail with `kind`.
pub(super) async fn failing(kind: ErrorKind, max_errors: Option<u64>) -> Outcome {
    let start = Instant::now();
    let mut plan = plan(
        start,
        Some(1000.0),
        End {
            operations: Some(1000),
            after: None,
        },
        4,
    );
    plan.max_errors = max_errors;
    let mut recorder = Recorder::new(&["table"], start, None);
    drive(
        &plan,
        TokioTimer::new(),
        &mut recorder,
        never(),
        |_| {},
        move |_, _| async move {
            let failure = Failure {
                kind,
                detail: kind
                    .is_fatal()
                    .then(|| "unconfigured table visits".to_owned()),
            };
            Completed {
                sent: Instant::now(),
                requests: vec![Request {
                    tag: 0,
                    service: MS,
                    error: Some(failure),
                    remote: false,
                }],
            }
        },
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn too_many_errors_end_the_run_and_fatal_ones_end_it_at_once() {
    let outcome = failing(ErrorKind::WriteTimeout, Some(5)).await;
    assert_eq!(
        outcome.ending,
        Ending::TooManyErrors {
            errors: 6,
            limit: 5
        }
    );
    assert!(outcome.started < 20);
    assert_eq!(
        failing(ErrorKind::WriteTimeout, None).await.ending,
        Ending::Finished
    );
    let fatal = failing(ErrorKind::Invalid, None).await;
    assert!(matches!(
        fatal.ending,
        Ending::Fatal(Failure {
            kind: ErrorKind::Invalid,
            ..
        })
    ));
    assert!(fatal.started < 10);
}

#[tokio::test(start_paused = true)]
async fn the_window_bounds_requests_in_flight() {
    let start = Instant::now();
    let mut plan = plan(
        start,
        None,
        End {
            operations: Some(300),
            after: None,
        },
        12,
    );
    plan.requests_per_op = 3;
    let (now_in_flight, peak) = (Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0usize)));
    let (now2, peak2) = (Rc::clone(&now_in_flight), Rc::clone(&peak));
    let mut recorder = Recorder::new(&["table"], start, None);
    let outcome = drive(
        &plan,
        TokioTimer::new(),
        &mut recorder,
        never(),
        |_| {},
        move |_, _| {
            let (now, peak) = (Rc::clone(&now2), Rc::clone(&peak2));
            async move {
                now.set(now.get() + 1);
                peak.set(peak.get().max(now.get()));
                let sent = Instant::now();
                tokio::time::sleep(2 * MS).await;
                now.set(now.get() - 1);
                ok_after(sent)
            }
        },
    )
    .await;
    assert_eq!(outcome.started, 300);
    assert_eq!(
        peak.get(),
        4,
        "12 permits at 3 requests an operation allow 4 operations at once"
    );
}

#[tokio::test(start_paused = true)]
async fn unthrottled_runs_as_fast_as_the_window_allows() {
    let start = Instant::now();
    let plan = plan(
        start,
        None,
        End {
            after: Some(Duration::from_secs(1)),
            operations: None,
        },
        4,
    );
    let (recording, outcome, _) = run(&plan, |sent| sent + 10 * MS, never()).await;
    // Little's law: 4 in flight / 10 ms each = 400 operations a second.
    assert!(
        (396..=404).contains(&outcome.started),
        "{}",
        outcome.started
    );
    let wait = Percentiles::of(&recording.histograms.wait);
    assert!(
        wait.max < 1.0,
        "unthrottled operations start when their permit frees: {wait:?}"
    );
}
