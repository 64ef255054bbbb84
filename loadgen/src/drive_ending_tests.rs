//! How runs end, under tokio's paused clock: on time however far behind, with what was missed
//! counted; at once on Ctrl-C in every phase; never for a node that answers, only for an outage
//! longer than the limit.

use std::time::Duration;

use tokio::time::Instant;

use super::tests::{failing, never, once, plan, run, run_measured_from};
use super::*;
use crate::errors::{ErrorKind, Failure};
use crate::record::{Percentiles, Recorder, Request};
use crate::schedule::{End, TokioTimer};

const MS: Duration = Duration::from_millis(1);

fn for_time(seconds: u64) -> End {
    End {
        after: Some(Duration::from_secs(seconds)),
        operations: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_ends_when_its_time_is_up_and_counts_every_visit_it_missed() {
    let start = Instant::now();
    // 1000 operations a second are due, but one at a time at 4 ms each allows 250.
    let plan = plan(start, Some(1000.0), for_time(2), 1);
    let (recording, outcome, calls) = run(&plan, |sent| sent + 4 * MS, never()).await;

    assert_eq!(outcome.ending, Ending::Finished);
    assert_eq!(outcome.stopped, start + Duration::from_secs(2));
    assert!(
        Instant::now() - start <= Duration::from_secs(2) + 4 * MS,
        "the run took its duration and a drain, not {:?}",
        Instant::now() - start
    );
    let sent = calls.len() as u64;
    assert!((499..=501).contains(&sent), "{sent}");
    assert_eq!(
        outcome.missed,
        2000 - sent,
        "every due operation is sent or missed"
    );
    assert_eq!(recording.counts.missed, outcome.missed);
    assert_eq!(recording.measured, Duration::from_secs(2));
    assert!(recording.wall >= recording.measured && recording.wall <= recording.measured + 4 * MS);

    // The missed operations are late by the time left until the end: the first of them, due at
    // about 0.5 s, by about 1.5 s; the last, due 1 ms before the end, by 1 ms.
    let missed = Percentiles::of(&recording.histograms.missed);
    assert_eq!(missed.count, outcome.missed);
    assert!(
        (1_490_000.0..=1_510_000.0).contains(&missed.max),
        "{missed:?}"
    );
    let all = recording.histograms.all();
    assert_eq!(all.len(), recording.counts.ops + outcome.missed);
    assert!(
        Percentiles::of(&all).p50 > 500_000.0,
        "the missed operations weigh in the headline: {:?}",
        Percentiles::of(&all)
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_stuck_on_a_full_window_still_ends_on_time() {
    let start = Instant::now();
    let mut plan = plan(start, Some(100.0), for_time(1), 2);
    plan.drain_timeout = Duration::from_secs(2);
    // The server never answers: the window fills at once and stays full.
    let hung = |sent: Instant| sent + Duration::from_secs(86_400);
    let (recording, outcome, calls) = run(&plan, hung, never()).await;
    assert_eq!(calls.len(), 2);
    assert_eq!(outcome.missed, 98);
    assert_eq!(outcome.abandoned, 2);
    // The loop waited for permits from the third visit's due time (10 ms) to the end: that wait
    // is in the pacing, though the permits never came.
    let waited = recording.pacing.waiting_for_permits_s;
    assert!((0.98..=1.0).contains(&waited), "{waited}");
    assert_eq!(
        Instant::now() - start,
        Duration::from_secs(3),
        "the duration, then the drain timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_the_drain_ends_it_at_once() {
    let start = Instant::now();
    let mut plan = plan(start, Some(100.0), End::default(), 64);
    plan.drain_timeout = Duration::from_secs(30);
    let hung = |sent: Instant| sent + Duration::from_secs(86_400);
    let signals = futures::stream::iter([100u32, 300])
        .then(move |ms| tokio::time::sleep_until(start + ms * MS))
        .chain(futures::stream::pending());
    let (_, outcome, calls) = run(&plan, hung, signals).await;
    assert_eq!(outcome.ending, Ending::Interrupted);
    assert_eq!(outcome.abandoned, calls.len());
    assert_eq!(
        Instant::now() - start,
        300 * MS,
        "the second Ctrl-C ended the drain"
    );
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_the_warm_up_stops_at_once_and_measures_nothing() {
    let start = Instant::now();
    let plan = plan(start, Some(10.0), for_time(90), 64);
    let measure_from = start + Duration::from_secs(30);
    let shutdown = once(tokio::time::sleep(Duration::from_secs(5)));
    let (recording, outcome, _) =
        run_measured_from(&plan, measure_from, |sent| sent + MS, shutdown).await;
    assert_eq!(outcome.ending, Ending::Interrupted);
    assert!(Instant::now() - start < Duration::from_secs(5) + 10 * MS);
    assert_eq!(recording.measured, Duration::ZERO);
    assert_eq!(recording.counts, Default::default());
}

#[tokio::test(start_paused = true)]
async fn a_node_that_answers_with_overload_or_timeouts_is_not_down() {
    for kind in [
        ErrorKind::Overloaded,
        ErrorKind::ClientTimeout,
        ErrorKind::WriteTimeout,
    ] {
        assert_eq!(failing(kind, None).await.ending, Ending::Finished, "{kind}");
    }
}

/// A run of 10 s at 100/s whose operations reach no node (`no_node`) while `down` says so.
async fn with_outage(limit: Duration, down: impl Fn(Duration) -> bool + 'static) -> Outcome {
    let start = Instant::now();
    let mut plan = plan(start, Some(100.0), for_time(10), 64);
    plan.outage_limit = limit;
    let mut recorder = Recorder::new(&["table"], start, None);
    drive(
        &plan,
        TokioTimer::new(),
        &mut recorder,
        never(),
        |_| {},
        move |_, intended| {
            let error = down(intended.at - start).then(|| Failure {
                kind: ErrorKind::NoNode,
                detail: Some("every node of datacenter dc2 is down".to_owned()),
            });
            async move {
                Completed {
                    sent: Instant::now(),
                    requests: vec![Request {
                        tag: 0,
                        service: MS,
                        error,
                        remote: false,
                    }],
                }
            }
        },
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn an_outage_shorter_than_the_limit_is_ridden_out() {
    let limit = Duration::from_secs(5);
    let outage = |at: Duration| at >= Duration::from_secs(2) && at < Duration::from_secs(6);
    let outcome = with_outage(limit, outage).await;
    assert_eq!(outcome.ending, Ending::Finished);
    assert_eq!(
        outcome.started, 1000,
        "the schedule was kept through the outage"
    );
}

#[tokio::test(start_paused = true)]
async fn an_outage_longer_than_the_limit_ends_the_run_and_says_why() {
    let start = Instant::now();
    let limit = Duration::from_secs(3);
    let outcome = with_outage(limit, |at| at >= Duration::from_secs(2)).await;
    let Ending::Outage {
        failure,
        lasted,
        limit: said,
    } = &outcome.ending
    else {
        panic!("{:?}", outcome.ending)
    };
    assert_eq!(failure.kind, ErrorKind::NoNode);
    assert!(failure.detail.as_deref().is_some_and(|d| d.contains("dc2")));
    assert!(*lasted > limit && *lasted <= limit + 20 * MS, "{lasted:?}");
    assert_eq!(*said, limit);
    let stopped = outcome.stopped - start;
    assert!(
        stopped > Duration::from_secs(5) && stopped < Duration::from_secs(6),
        "stopped {stopped:?} after the start, once the outage outlasted its limit"
    );
}
