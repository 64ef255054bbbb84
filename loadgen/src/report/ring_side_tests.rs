//! The tests of `ring_side`: rounds as sampled become the report's series, and the ring's
//! evidence weighs in the rate's verdict.

use super::*;
use crate::report::{Evidence, Limiter, Verdict};

/// A node's answer with one pool: MutationStage with `pending` queued and `completed` so far.
pub(super) fn sample(address: &str, pending: i64, completed: i64) -> NodeSample {
    let state = PoolState {
        active: 2,
        pending,
        blocked: 0,
        completed,
    };
    NodeSample {
        address: address.to_owned(),
        datacenter: "dc1".to_owned(),
        pools: BTreeMap::from([("MutationStage".to_owned(), state)]),
        compactions: 1,
        hint_files: 0,
        failed: None,
        took: Duration::from_millis(1),
    }
}

pub(super) fn unanswered(address: &str) -> NodeSample {
    NodeSample {
        failed: Some("timed out".to_owned()),
        pools: BTreeMap::new(),
        ..sample(address, 0, 0)
    }
}

/// Rounds one second apart from `start`, one per list of samples.
pub(super) fn rounds(start: Instant, samples: Vec<Vec<NodeSample>>) -> Vec<Round> {
    samples
        .into_iter()
        .enumerate()
        .map(|(i, samples)| Round {
            at: start + Duration::from_secs(i as u64),
            took: Duration::from_millis(3 + i as u64),
            samples,
        })
        .collect()
}

#[test]
fn the_round_before_measurement_is_the_baseline_and_is_not_kept() {
    let start = Instant::now();
    let measured_from = start + Duration::from_millis(1500);
    // Rounds at 0, 1, 2, 3 s: 1 s is the baseline, 2 s and 3 s are measured.
    let side = RingSide::from_rounds(
        &rounds(
            start,
            vec![
                vec![sample("10.0.0.1", 0, 0)],
                vec![sample("10.0.0.1", 0, 1_000)],
                vec![sample("10.0.0.1", 0, 4_000)],
                vec![sample("10.0.0.1", 0, 9_000)],
            ],
        ),
        measured_from,
    );
    assert_eq!(side.rounds, 2);
    let node = &side.nodes[0];
    assert_eq!(node.seconds.len(), 2);
    assert!((node.seconds[0].at_s - 0.5).abs() < 1e-6);
    let completed: Vec<f64> = (node.seconds.iter())
        .map(|s| s.pools["MutationStage"].completed_per_s)
        .collect();
    assert_eq!(completed, [3_000.0, 5_000.0]);
    assert_eq!(side.completed_per_s("MutationStage"), 4_000.0);
    assert_eq!(side.round_ms_max, 6.0);
}

#[test]
fn an_unanswered_round_is_kept_as_such_and_the_next_rate_counts_from_the_last_answer() {
    let start = Instant::now();
    let side = RingSide::from_rounds(
        &rounds(
            start,
            vec![
                vec![sample("10.0.0.1", 0, 0)],
                vec![unanswered("10.0.0.1")],
                vec![sample("10.0.0.1", 0, 6_000)],
            ],
        ),
        start,
    );
    let seconds = &side.nodes[0].seconds;
    assert_eq!(seconds.len(), 3);
    assert!(!seconds[1].answered && seconds[1].pools.is_empty());
    // 6,000 tasks over the 2 s since the last answer.
    assert_eq!(seconds[2].pools["MutationStage"].completed_per_s, 3_000.0);
    assert!(
        side.describe().contains("1 samples unanswered"),
        "{}",
        side.describe()
    );
}

/// Evidence of a run whose requests took a median 1 ms, on a machine half busy.
pub(super) fn quiet() -> Evidence {
    Evidence::example()
}

pub(super) fn limited_by_the_bound() -> Limiter {
    Limiter {
        verdict: Verdict::InFlightBound,
        explanation: "The window of 64 was full.".to_owned(),
        warning: None,
    }
}

#[test]
fn a_full_window_while_a_node_queued_work_is_the_server_not_the_bound() {
    let start = Instant::now();
    let queued = |pending| vec![sample("10.0.0.1", 0, 0), sample("10.0.0.2", pending, 0)];
    let side = RingSide::from_rounds(
        &rounds(start, vec![queued(40), queued(2_400), queued(0)]),
        start,
    );
    let strain = side.strain().expect("a strain");
    assert_eq!(strain.node, "10.0.0.2 (dc1)");
    assert_eq!(
        (strain.pending_max, strain.queued_rounds, strain.rounds),
        (2_400, 2, 3)
    );
    let limiter = side.weigh(limited_by_the_bound(), &quiet());
    assert_eq!(limiter.verdict, Verdict::ServerLatency);
    assert!(
        limiter
            .explanation
            .contains("MutationStage on 10.0.0.2 (dc1) queued up to 2400 tasks"),
        "{}",
        limiter.explanation
    );
}

#[test]
fn a_ring_is_saturated_only_when_it_queued_eight_tasks_in_a_quarter_of_the_seconds() {
    let start = Instant::now();
    // As one node that kept up with 1000 visits/s here: 8 tasks queued once, a task or two in
    // 9 of 30 rounds. Deep once and shallow often is not a ring that cannot keep up.
    let mut shallow: Vec<Vec<NodeSample>> = (0..30)
        .map(|i| vec![sample("10.0.0.1", i64::from(i % 3 == 0), 0)])
        .collect();
    shallow[4] = vec![sample("10.0.0.1", 8, 0)];
    let side = RingSide::from_rounds(&rounds(start, shallow), start);
    let strain = side.strain().expect("a strain");
    assert_eq!((strain.depth(), strain.deep_rounds), (8, 1));
    assert!(strain.queued_rounds * 4 >= strain.rounds, "{strain:?}");
    assert_eq!(side.saturated(), None);
    assert_eq!(
        side.weigh(limited_by_the_bound(), &quiet()).verdict,
        Verdict::InFlightBound
    );
    // Eight or more in 8 of 30 rounds (more than a quarter): the ring could not keep up.
    let deep: Vec<Vec<NodeSample>> = (0..30)
        .map(|i| vec![sample("10.0.0.1", if i % 4 == 0 { 9 } else { 0 }, 0)])
        .collect();
    let side = RingSide::from_rounds(&rounds(start, deep), start);
    let saturated = side.saturated().expect("saturated");
    assert_eq!((saturated.deep_rounds, saturated.rounds), (8, 30));
    let limiter = side.weigh(limited_by_the_bound(), &quiet());
    assert_eq!(limiter.verdict, Verdict::ServerLatency);
    assert!(
        limiter.explanation.contains("8 or more in 8 of 30 seconds"),
        "{}",
        limiter.explanation
    );
    // Seven of 30 is under a quarter.
    let rare: Vec<Vec<NodeSample>> = (0..30)
        .map(|i| {
            vec![sample(
                "10.0.0.1",
                if i % 4 == 0 && i > 0 { 9 } else { 0 },
                0,
            )]
        })
        .collect();
    let side = RingSide::from_rounds(&rounds(start, rare), start);
    assert_eq!(side.saturated(), None);
}

#[test]
fn a_ring_with_no_queue_leaves_the_verdict_and_says_so() {
    let start = Instant::now();
    let idle = || vec![sample("10.0.0.1", 0, 0)];
    let side = RingSide::from_rounds(&rounds(start, vec![idle(), idle()]), start);
    assert_eq!(side.strain(), None);
    let limiter = side.weigh(limited_by_the_bound(), &quiet());
    assert_eq!(limiter.verdict, Verdict::InFlightBound);
    assert!(
        limiter
            .explanation
            .ends_with("no node queued work in its request pools.")
    );
    // A shallow, rare queue is cited but does not change the verdict.
    let rare = RingSide::from_rounds(
        &rounds(
            start,
            vec![
                vec![sample("10.0.0.1", 3, 0)],
                idle(),
                idle(),
                idle(),
                idle(),
            ],
        ),
        start,
    );
    assert_eq!(
        rare.weigh(limited_by_the_bound(), &quiet()).verdict,
        Verdict::InFlightBound
    );
    // A run that kept up gets no server sentence.
    let kept = Limiter {
        verdict: Verdict::KeptUp,
        ..limited_by_the_bound()
    };
    assert_eq!(side.weigh(kept.clone(), &quiet()), kept);
}

#[test]
fn a_ring_not_sampled_says_why_and_weighs_nothing() {
    let side = RingSide::unavailable("no system_views");
    assert_eq!(
        side.describe(),
        "the ring's own view: not sampled: no system_views"
    );
    assert_eq!(
        side.weigh(limited_by_the_bound(), &quiet()),
        limited_by_the_bound()
    );
    assert_eq!(RingSide::from_rounds(&[], Instant::now()).nodes.len(), 0);
}

#[test]
fn a_run_that_caught_up_late_is_weighed_with_the_ring_like_one_that_fell_short() {
    let start = Instant::now();
    // The window was full for 37 of 60 s at a flat 80 ms of service, while the node queued
    // 40 tasks or more every second: the ring could not keep up, though the backlog drained.
    let queued = || vec![sample("10.0.0.1", 40, 0)];
    let side = RingSide::from_rounds(&rounds(start, (0..8).map(|_| queued()).collect()), start);
    let late = Evidence {
        target_rate: Some(300.0),
        achieved_rate: 300.0,
        succeeded_rate: 300.0,
        pacing: crate::record::Pacing {
            waiting_for_permits_s: 37.0,
            late_with_free_permits_s: 0.4,
            peak_in_flight: 64,
        },
        wait_p50_s: 1.978,
        send_late_p50_s: 1.978,
        max_in_flight: 64,
        service_p10_s: 0.07,
        service_p50_s: 0.08,
        ..quiet()
    };
    let limiter = side.weigh(crate::report::diagnose(&late), &late);
    assert_eq!(limiter.verdict, Verdict::ServerLatency);
    assert!(
        limiter
            .explanation
            .starts_with("The window was full because the ring could not keep up"),
        "{}",
        limiter.explanation
    );
    assert!(
        (limiter.warning.as_deref()).is_some_and(|w| w.contains("only by catching up late")),
        "{:?}",
        limiter.warning
    );
}
