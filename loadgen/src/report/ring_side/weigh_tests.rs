//! The tests of the network's verdict: only the local datacenter's nodes count, timed against
//! their time before the load, so a far datacenter at LOCAL_QUORUM, a busy server, a node that
//! stopped answering and loopback are never "the network", and a slow network is.

use std::time::Duration;

use tokio::time::Instant;

use super::super::tests::{limited_by_the_bound, quiet, sample, unanswered};
use super::super::{RingSide, Round};
use crate::report::{Evidence, Limiter, Verdict};
use client::ring_view::{Baseline, NodeSample};

const MS: Duration = Duration::from_millis(1);

/// A node of `datacenter` that answered its round in `took`.
fn answered(address: &str, datacenter: &str, took: Duration) -> NodeSample {
    NodeSample {
        datacenter: datacenter.to_owned(),
        took,
        ..sample(address, 0, 0)
    }
}

/// `count` rounds of the same samples, one second apart; each round took as long as its
/// slowest node.
fn every_second(start: Instant, count: usize, samples: &[NodeSample]) -> Vec<Round> {
    (0..count)
        .map(|i| Round {
            at: start + Duration::from_secs(i as u64),
            took: samples.iter().map(|s| s.took).max().unwrap_or_default(),
            samples: samples.to_vec(),
        })
        .collect()
}

/// The ring's side of `rounds`, its nodes timed before the load as `before` says, the workload
/// in dc1.
fn timed(rounds: &[Round], before: &[(&str, Duration)]) -> RingSide {
    let start = rounds.first().map_or_else(Instant::now, |r| r.at);
    let baseline: Baseline = before.iter().map(|(a, t)| ((*a).to_owned(), *t)).collect();
    RingSide::from_rounds(rounds, start).timed_before("dc1", &baseline)
}

/// Requests that took a median `service` (a window of 6 for 200 visits/s).
fn served_in(service: Duration) -> Evidence {
    Evidence {
        service_p50_s: service.as_secs_f64(),
        target_rate: Some(200.0),
        max_in_flight: 6,
        ..quiet()
    }
}

#[test]
fn a_full_window_while_the_local_nodes_answered_as_slowly_before_the_load_is_the_network() {
    // A node 30 ms away each way: its view took 61 ms before the load and 62 ms during it,
    // and the requests a median 64 ms.
    let node = answered("10.0.0.1", "dc1", 62 * MS);
    let side = timed(
        &every_second(Instant::now(), 4, &[node]),
        &[("10.0.0.1", 61 * MS)],
    );
    let far = served_in(64 * MS);
    let limiter = side.weigh(limited_by_the_bound(), &far);
    assert_eq!(limiter.verdict, Verdict::NetworkLatency);
    assert_eq!(limiter.verdict.describe(), "the network's latency");
    for part in [
        "the local datacenter's node (dc1) answered",
        "in a median 61.0 ms before the load began and 62.0 ms during the run, while no node queued work",
        "against a median service time of 64.000 ms",
        "about 38 requests in flight",
        "the window holds 6",
    ] {
        assert!(
            limiter.explanation.contains(part),
            "{part}: {}",
            limiter.explanation
        );
    }
    // Failures keep their verdict, and say where the time went.
    let failed = Limiter {
        verdict: Verdict::Failures,
        ..limited_by_the_bound()
    };
    let limiter = side.weigh(failed, &far);
    assert_eq!(limiter.verdict, Verdict::Failures);
    assert!(limiter.explanation.contains("the way to the ring and back"));
}

#[test]
fn a_far_datacenter_at_local_quorum_is_not_the_network() {
    // dc1 answers in a millisecond; dc2 is 41 ms away each way, so every round waits 83 ms for
    // it. At LOCAL_QUORUM no request leaves dc1: requests took a median 1 ms.
    let near = answered("10.0.0.1", "dc1", MS);
    let far = answered("10.0.0.2", "dc2", 83 * MS);
    let side = timed(
        &every_second(Instant::now(), 6, &[near, far]),
        &[("10.0.0.1", MS), ("10.0.0.2", 82 * MS)],
    );
    assert_eq!(side.round_ms_p50, 83.0);
    let local = side.local_distance().expect("dc1 was timed");
    assert_eq!(
        (local.nodes, local.before_ms, local.during_ms),
        (1, 1.0, 1.0)
    );
    let limiter = side.weigh(limited_by_the_bound(), &served_in(MS));
    assert_eq!(
        limiter.verdict,
        Verdict::InFlightBound,
        "{}",
        limiter.explanation
    );
    assert!(
        limiter.explanation.contains("dc1 answering in 1.0 ms"),
        "{}",
        limiter.explanation
    );
}

#[test]
fn a_busy_server_is_not_the_network_though_it_answered_its_view_slowly() {
    // On loopback the node answered in 1.5 ms before the load; under it, its request stage (which
    // the view's queries share with the workload's) made them wait 40 ms, beside requests of
    // 45 ms, with at most a few tasks queued at the instants sampled.
    let busy = NodeSample {
        took: 40 * MS,
        ..sample("10.0.0.1", 3, 0)
    };
    let side = timed(
        &every_second(Instant::now(), 6, &[busy]),
        &[("10.0.0.1", Duration::from_micros(1500))],
    );
    let limiter = side.weigh(limited_by_the_bound(), &served_in(45 * MS));
    assert_eq!(
        limiter.verdict,
        Verdict::InFlightBound,
        "{}",
        limiter.explanation
    );
    // On a far ring too, when the distance is under half the requests' time: the server.
    let far_and_busy = NodeSample {
        took: 150 * MS,
        ..sample("10.0.0.1", 3, 0)
    };
    let side = timed(
        &every_second(Instant::now(), 6, &[far_and_busy]),
        &[("10.0.0.1", 61 * MS)],
    );
    assert_eq!(
        side.weigh(limited_by_the_bound(), &served_in(160 * MS))
            .verdict,
        Verdict::InFlightBound
    );
}

#[test]
fn a_node_that_stopped_answering_is_not_the_network_even_far_away() {
    // 61 ms away, answering 4 rounds of 10: it hung (a long GC, SIGSTOP), which is the server.
    let start = Instant::now();
    let mut rounds = every_second(start, 10, &[answered("10.0.0.1", "dc1", 62 * MS)]);
    for round in &mut rounds[4..] {
        round.samples = vec![unanswered("10.0.0.1")];
        round.took = 2000 * MS;
    }
    let side = timed(&rounds, &[("10.0.0.1", 61 * MS)]);
    assert_eq!(
        side.weigh(limited_by_the_bound(), &served_in(64 * MS))
            .verdict,
        Verdict::InFlightBound
    );
    // On loopback, the rounds' own median (2 s, the timeout) would have said the network.
    let loopback = timed(&rounds, &[("10.0.0.1", MS)]);
    assert!(loopback.round_ms_p50 >= 2000.0);
    assert_eq!(
        loopback
            .weigh(limited_by_the_bound(), &served_in(MS))
            .verdict,
        Verdict::InFlightBound
    );
}

#[test]
fn loopback_a_full_machine_or_a_slow_server_beside_a_near_ring_is_not_the_network() {
    let start = Instant::now();
    // Loopback: 1 ms before the load, 5 ms during it, requests of 4 ms.
    let loopback = timed(
        &every_second(start, 4, &[answered("10.0.0.1", "dc1", 5 * MS)]),
        &[("10.0.0.1", MS)],
    );
    assert_eq!(
        loopback
            .weigh(limited_by_the_bound(), &served_in(4 * MS))
            .verdict,
        Verdict::InFlightBound
    );
    // A loopback node started seconds before, on a crowded machine: its fastest round before
    // the load took 13.3 ms, beside requests of 9.3 ms. Still not a network.
    let cold = timed(
        &every_second(start, 4, &[answered("10.0.0.1", "dc1", 18 * MS)]),
        &[("10.0.0.1", Duration::from_micros(13_300))],
    );
    assert_eq!(
        cold.weigh(
            limited_by_the_bound(),
            &served_in(Duration::from_micros(9_300))
        )
        .verdict,
        Verdict::InFlightBound
    );
    // 25 ms away, beside requests of 60 ms: the time was in the server.
    let near = timed(
        &every_second(start, 4, &[answered("10.0.0.1", "dc1", 25 * MS)]),
        &[("10.0.0.1", 25 * MS)],
    );
    assert_eq!(
        near.weigh(limited_by_the_bound(), &served_in(60 * MS))
            .verdict,
        Verdict::InFlightBound
    );
    // 25 ms beside requests of 30 ms, on a machine other processes took: the CPU.
    let busy = Evidence {
        machine_busy: 0.99,
        cores_busy: 0.1,
        ..served_in(30 * MS)
    };
    assert_eq!(
        near.weigh(limited_by_the_bound(), &busy).verdict,
        Verdict::InFlightBound
    );
    // A report from before the ring was timed before the load: never the network.
    let untimed = RingSide::from_rounds(
        &every_second(start, 4, &[answered("10.0.0.1", "dc1", 62 * MS)]),
        start,
    );
    assert_eq!(untimed.local_distance(), None);
    assert_eq!(
        untimed
            .weigh(limited_by_the_bound(), &served_in(64 * MS))
            .verdict,
        Verdict::InFlightBound
    );
}
