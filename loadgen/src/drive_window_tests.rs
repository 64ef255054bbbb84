//! The windows and what the verdict books to them. The pace window, under tokio's paused clock:
//! visits due within one window go out together, each as late as the window made it in its wait
//! and response times, but the window's wait is the plan, so the verdict's split of lateness
//! counts from the window's send time. The in-flight window, on the real clock: only a full one
//! is waiting for permits, not a loop busy with its own answers.

use std::time::Duration;

use tokio::time::Instant;

use super::tests::{never, plan, run};
use super::*;
use crate::record::Percentiles;
use crate::report::{Evidence, Verdict, diagnose};
use crate::schedule::End;

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn a_pace_window_sends_in_batches_each_as_late_as_the_window_made_it() {
    let start = Instant::now() + MS;
    let end = End {
        operations: Some(120),
        after: None,
    };
    let batched = Plan {
        pace_window: 5 * MS,
        ..plan(start, Some(1000.0), end, 64)
    };
    let (recording, outcome, calls) = run(&batched, |sent| sent + MS, never()).await;
    assert_eq!((outcome.started, outcome.missed), (120, 0));
    // Operation 0 goes at the start. Then at 1000/s a wake-up waits 5 ms after the first
    // operation due since the last went out, and takes the six due by then: 1 + 20 wake-ups for
    // 120 operations.
    let mut wakes: Vec<Instant> = calls.iter().map(|(_, _, sent)| *sent).collect();
    wakes.dedup();
    assert_eq!(wakes.len(), 21);
    for (n, intended, sent) in &calls {
        assert_eq!(
            *intended,
            start + Duration::from_millis(*n),
            "{n} was due then"
        );
        let late = *sent - *intended;
        assert!(late <= 5 * MS, "operation {n} went out {late:?} late");
    }
    // The lateness is the report's: every response counts from the due time.
    let response = Percentiles::of(&recording.histograms.response);
    assert!((response.max - 6_000.0).abs() < 10.0, "{response:?}");
    assert!((response.p50 - 3_000.0).abs() < 600.0, "{response:?}");

    // A run bounded by time sends every operation due before its end: the last window is not
    // batched (waking at the end would miss them).
    let timed = End {
        operations: None,
        after: Some(Duration::from_millis(100)),
    };
    let batched = Plan {
        pace_window: 5 * MS,
        ..plan(start + Duration::from_secs(2), Some(1000.0), timed, 64)
    };
    let (_, outcome, _) = run(&batched, |sent| sent + MS, never()).await;
    assert_eq!((outcome.started, outcome.missed), (100, 0));

    // Without a window, one wake-up per operation, each on time.
    let (_, _, calls) = run(
        &plan(start + Duration::from_secs(3), Some(1000.0), end, 64),
        |sent| sent + MS,
        never(),
    )
    .await;
    let mut wakes: Vec<Instant> = calls.iter().map(|(_, _, sent)| *sent).collect();
    wakes.dedup();
    assert_eq!(wakes.len(), 120);
}

#[tokio::test(start_paused = true)]
async fn a_pace_window_is_not_booked_as_the_clients_lateness() {
    let start = Instant::now() + MS;
    let end = End {
        operations: Some(2000),
        after: None,
    };
    let batched = Plan {
        pace_window: 5 * MS,
        ..plan(start, Some(1000.0), end, 64)
    };
    let (recording, outcome, _) = run(&batched, |sent| sent + MS, never()).await;
    assert_eq!((outcome.started, outcome.missed), (2000, 0));
    // Batches of six, each sent 5 ms after its first was due: that wait is the window's, and
    // the loop sent every visit when the window said. Counted from the due time, five sixths of
    // the 2 s would be "late with permits free", which blames the client's CPU.
    assert!(
        recording.pacing.late_with_free_permits_s < 0.001,
        "{:?}",
        recording.pacing
    );
    assert_eq!(recording.pacing.waiting_for_permits_s, 0.0);
    let late = Percentiles::of(&recording.send_late);
    assert!(
        late.count == 2000 && late.max < 1.0,
        "from the window's send time (µs): {late:?}"
    );
    // The wait and response times still count from the due time: the window is in them.
    let wait = Percentiles::of(&recording.histograms.wait);
    assert!((2_000.0..=3_100.0).contains(&wait.p50), "{wait:?}");
    assert!((wait.max - 5_000.0).abs() < 10.0, "{wait:?}");
    // So the verdict is that the run kept up on time, not that the client's CPU held it.
    let service = Percentiles::of(&recording.histograms.service[0]);
    let evidence = Evidence {
        target_rate: Some(1000.0),
        achieved_rate: 1000.0,
        succeeded_rate: 1000.0,
        measured_seconds: 2.0,
        pacing: recording.pacing,
        wait_p50_s: wait.p50 / 1e6,
        send_late_p50_s: late.p50 / 1e6,
        pace_window_s: 0.005,
        requests_per_op: 1,
        service_p50_s: service.p50 / 1e6,
        operations: 2000,
        ..Evidence::example()
    };
    let limiter = diagnose(&evidence);
    assert_eq!(limiter.verdict, Verdict::KeptUp, "{}", limiter.explanation);
}

/// A loop short of CPU, its window far from full: handling each answer costs the client 2 ms
/// (here a blocking sleep while the answer is polled, on the real clock: the loop can do nothing
/// else meanwhile), so at 1000/s it falls behind with permits free. The time it spends on
/// answers while an operation is due is its own, not the window's: booked as waiting for
/// permits, a client short of CPU reads as a full window, and the verdict blames the server
/// (seen live: a machine whose cores other processes took, 2.3 to 2.7 of 5 s booked as waiting
/// while at most 18,651 of 100,000 permits were ever taken).
#[tokio::test]
async fn a_loop_busy_with_answers_while_permits_are_free_is_not_waiting_for_permits() {
    let start = Instant::now() + 10 * MS;
    let end = End {
        operations: Some(300),
        after: None,
    };
    let plan = plan(start, Some(1000.0), end, 100_000);
    let mut recorder = crate::record::Recorder::new(&["table"], start, None);
    let outcome = drive(
        &plan,
        crate::schedule::TokioTimer::new(),
        &mut recorder,
        never(),
        |_| {},
        |_, _| {
            let sent = Instant::now();
            async move {
                tokio::time::sleep_until(sent + MS).await;
                std::thread::sleep(2 * MS);
                super::tests::ok_after(sent)
            }
        },
    )
    .await;
    let recording = recorder.finish(outcome.stopped, Instant::now()).unwrap();
    assert_eq!(outcome.started, 300);
    let pacing = recording.pacing;
    // About 0.6 s of the client's work for a schedule of 0.3 s: the loop fell behind, and the
    // answers waiting for its CPU never came near the 100,000 permits.
    assert!(pacing.peak_in_flight < 1000, "{pacing:?}");
    assert!(pacing.late_with_free_permits_s > 0.1, "{pacing:?}");
    assert!(pacing.waiting_for_permits_s < 0.01, "{pacing:?}");
}
