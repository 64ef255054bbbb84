//! The tests of `limiter`.

use super::*;
use crate::record::Pacing;

fn evidence() -> Evidence {
    Evidence::example()
}

#[test]
fn a_run_on_target_kept_up_and_says_how_late_it_sent() {
    let limiter = diagnose(&evidence());
    assert_eq!(limiter.verdict, Verdict::KeptUp);
    assert!(
        limiter
            .explanation
            .contains("a median 0.100 ms after their due time"),
        "{}",
        limiter.explanation
    );
    assert!(limiter.warning.is_none());
}

#[test]
fn a_small_window_is_named_with_littles_law() {
    let pacing = Pacing {
        waiting_for_permits_s: 40.0,
        ..evidence().pacing
    };
    let e = Evidence {
        achieved_rate: 2600.0,
        max_in_flight: 8,
        pacing,
        ..evidence()
    };
    let limiter = diagnose(&e);
    assert_eq!(limiter.verdict, Verdict::InFlightBound);
    assert!(
        limiter
            .explanation
            .contains("needs about 15 requests in flight"),
        "{}",
        limiter.explanation
    );
    assert!(limiter.warning.unwrap().contains("52.0% of the target"));
}

#[test]
fn a_slow_server_fills_an_ample_window() {
    let pacing = Pacing {
        waiting_for_permits_s: 40.0,
        ..evidence().pacing
    };
    let e = Evidence {
        achieved_rate: 3000.0,
        pacing,
        service_mean_s: 0.05,
        service_p99_s: 0.4,
        ..evidence()
    };
    assert_eq!(diagnose(&e).verdict, Verdict::ServerLatency);
}

#[test]
fn a_saturated_server_is_the_server_not_the_bound() {
    // Seen on a two-node containerized ring: 74% of 1,000 visits/s, median service time 96 ms
    // with 256 in flight. At that median the rate "needs" 288 in flight, but the fastest tenth
    // answered in 2 ms: the service time is the queue, and a bigger window would lengthen it.
    let e = Evidence {
        target_rate: Some(1000.0),
        achieved_rate: 740.0,
        succeeded_rate: 740.0,
        pacing: Pacing {
            waiting_for_permits_s: 50.0,
            late_with_free_permits_s: 0.5,
            peak_in_flight: 256,
        },
        service_p10_s: 0.002,
        service_p50_s: 0.096,
        service_mean_s: 0.1,
        service_p99_s: 0.3,
        machine_busy: 0.6,
        ..evidence()
    };
    let limiter = diagnose(&e);
    assert_eq!(
        limiter.verdict,
        Verdict::ServerLatency,
        "{}",
        limiter.explanation
    );
    assert!(
        limiter.explanation.contains("queued in the server")
            && !limiter.explanation.contains("Raise --max-in-flight"),
        "{}",
        limiter.explanation
    );
    // The same on a machine whose cores a local node took: the machine says so.
    let local = Evidence {
        service_p10_s: 0.05,
        machine_busy: 0.98,
        cores_busy: 0.3,
        ..e
    };
    let limiter = diagnose(&local);
    assert_eq!(
        limiter.verdict,
        Verdict::ServerLatency,
        "{}",
        limiter.explanation
    );
    assert!(limiter.explanation.contains("busy with other processes"));
}

#[test]
fn a_rate_reached_by_failing_operations_did_not_keep_up() {
    let e = Evidence {
        succeeded_rate: 3000.0,
        ..evidence()
    };
    let limiter = diagnose(&e);
    assert_eq!(limiter.verdict, Verdict::Failures);
    assert!(
        limiter
            .warning
            .unwrap()
            .contains("40.0% of the target rate failed")
    );
}

#[test]
fn a_late_loop_with_free_permits_is_the_client() {
    let pacing = Pacing {
        late_with_free_permits_s: 40.0,
        ..evidence().pacing
    };
    let e = Evidence {
        achieved_rate: 4000.0,
        pacing,
        cores_busy: 1.9,
        ..evidence()
    };
    let limiter = diagnose(&e);
    assert_eq!(limiter.verdict, Verdict::ClientCpu);
    assert!(limiter.explanation.contains("1.90 cores"));
}

#[test]
fn a_late_loop_on_a_machine_busy_with_others_is_the_machine() {
    let pacing = Pacing {
        late_with_free_permits_s: 40.0,
        ..evidence().pacing
    };
    let e = Evidence {
        achieved_rate: 1645.0,
        pacing,
        cores_busy: 0.33,
        machine_busy: 0.97,
        ..evidence()
    };
    let limiter = diagnose(&e);
    assert_eq!(limiter.verdict, Verdict::MachineCpu);
    assert!(
        limiter
            .explanation
            .contains("the machine's 2 cores were 97% busy, 0.33 of them in this process"),
        "{}",
        limiter.explanation
    );
    assert!(!limiter.explanation.contains("Give the client more CPU"));
    // The same loop on a machine with CPU to spare: the client's own share is what it had.
    let idle_machine = Evidence {
        machine_busy: 0.4,
        ..e
    };
    assert_eq!(diagnose(&idle_machine).verdict, Verdict::ClientCpu);
}

#[test]
fn a_run_that_measured_nothing_gets_no_verdict() {
    let e = Evidence {
        operations: 0,
        measured_seconds: 0.0,
        achieved_rate: 0.0,
        wait_p50_s: 0.0,
        service_p50_s: 0.0,
        ..evidence()
    };
    let limiter = diagnose(&e);
    assert_eq!(limiter.verdict, Verdict::NothingMeasured);
    assert!(limiter.explanation.contains("nothing was measured"));
    assert!(limiter.warning.is_none());
}

#[test]
fn unthrottled_runs_explain_their_pace() {
    let e = Evidence {
        target_rate: None,
        achieved_rate: 60_000.0,
        ..evidence()
    };
    let limiter = diagnose(&e);
    assert_eq!(limiter.verdict, Verdict::Unthrottled);
    assert!(
        limiter.explanation.contains("allow about 71111/s"),
        "{}",
        limiter.explanation
    );
}

/// A new user's first run on a fresh compose ring (`factory --rate 300 --duration 60s`, a window
/// of 64): the window was full for 37 of the 60 s, visits went out a median 1,978 ms late, and
/// the backlog drained before the end, so the rate was reached.
fn caught_up_late() -> Evidence {
    Evidence {
        target_rate: Some(300.0),
        achieved_rate: 300.0,
        succeeded_rate: 300.0,
        pacing: Pacing {
            waiting_for_permits_s: 37.0,
            late_with_free_permits_s: 0.4,
            peak_in_flight: 64,
        },
        wait_p50_s: 1.978,
        send_late_p50_s: 1.978,
        max_in_flight: 64,
        service_p10_s: 0.004,
        service_p50_s: 0.045,
        service_mean_s: 0.09,
        service_p99_s: 0.9,
        operations: 18_000,
        ..evidence()
    }
}

#[test]
fn a_run_that_reached_its_rate_only_by_catching_up_did_not_keep_up() {
    let limiter = diagnose(&caught_up_late());
    assert_eq!(
        limiter.verdict,
        Verdict::ServerLatency,
        "{}",
        limiter.explanation
    );
    let warning = limiter.warning.expect("a warning");
    for part in [
        "reached 100.0% of the target 300/s only by catching up late",
        "a median 1978.000 ms after their due time",
        "waited 37.0 s of the 60.0 s for permits",
    ] {
        assert!(warning.contains(part), "{part}: {warning}");
    }
    // The same backlog with service times flat at 80 ms: the window of 64 holds 21 visits,
    // and Little's law says 300/s x 3 writes x 80 ms needs 72 in flight.
    let flat = Evidence {
        service_p10_s: 0.07,
        service_p50_s: 0.08,
        ..caught_up_late()
    };
    let limiter = diagnose(&flat);
    assert_eq!(limiter.verdict, Verdict::InFlightBound);
    assert!(
        limiter
            .explanation
            .contains("needs about 72 requests in flight"),
        "{}",
        limiter.explanation
    );
    // Sent late with permits free, later than a request takes: the client, caught up late.
    let slow_loop = Evidence {
        achieved_rate: 5000.0,
        pacing: Pacing {
            waiting_for_permits_s: 0.0,
            late_with_free_permits_s: 20.0,
            peak_in_flight: 40,
        },
        wait_p50_s: 0.004,
        send_late_p50_s: 0.004,
        ..evidence()
    };
    let limiter = diagnose(&slow_loop);
    assert_eq!(limiter.verdict, Verdict::ClientCpu);
    assert!(
        limiter
            .warning
            .unwrap()
            .contains("only by catching up late")
    );
}

#[test]
fn a_run_on_time_keeps_up_though_its_timer_or_a_short_stall_left_it_a_little_late() {
    // One local node at 1000 visits/s (debug build): sent a median 0.069 ms late against
    // 0.47 ms of service, the window full for 0.16 of 30 s, late with permits free 3.2 s.
    let on_time = Evidence {
        target_rate: Some(1000.0),
        achieved_rate: 1000.0,
        succeeded_rate: 1000.0,
        measured_seconds: 30.0,
        pacing: Pacing {
            waiting_for_permits_s: 0.16,
            late_with_free_permits_s: 3.2,
            peak_in_flight: 180,
        },
        wait_p50_s: 0.000069,
        send_late_p50_s: 0.000069,
        service_p10_s: 0.0003,
        service_p50_s: 0.00047,
        ..evidence()
    };
    let limiter = diagnose(&on_time);
    assert_eq!(limiter.verdict, Verdict::KeptUp, "{}", limiter.explanation);
    assert!(
        limiter.explanation.contains("permits 0.5% of the time"),
        "{}",
        limiter.explanation
    );
    // A 1 ms pace window leaves the median visit 0.6 ms after its due time, later than the
    // service time, but on the window's time: still on time.
    let windowed = Evidence {
        wait_p50_s: 0.0006,
        send_late_p50_s: 0.00005,
        pace_window_s: 0.001,
        ..on_time
    };
    assert_eq!(diagnose(&windowed).verdict, Verdict::KeptUp);
}
