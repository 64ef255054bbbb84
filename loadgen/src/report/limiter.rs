//! What limited the rate, in words: the report's answer to "why not faster?".
//!
//! When a fixed-rate run falls behind its schedule, the driver knows what held it there (time,
//! each instant counted once):
//! - **waiting for permits**: an operation was due but the in-flight window was full. By
//!   Little's law the window needed is rate x requests per operation x service time. Which
//!   service time matters: one measured under the very overload would blame the bound for a
//!   saturated server, whose service time grows with whatever is in flight (raising the bound
//!   then only adds latency). So the verdict is **the server** when the evidence says its service
//!   time grew with load: the machine's cores were taken by other processes while the window was
//!   full (a node on this machine, saturated), or the median service time is more than twice that
//!   of the fastest tenth of requests (what an unloaded server gives) although the fastest
//!   tenth's need fits the window. It is **the bound** when even the fastest tenth's service time
//!   needs more than the window, or when service time stayed flat and the median's need exceeds
//!   it; otherwise the server's latency spikes filled the window;
//! - **late with permits free**: the loop got to an operation late although permits were free:
//!   the client is busy or starved of CPU. Which one, the machine's CPU (`/proc/stat`) tells:
//!   when the machine's cores were nearly all busy and most of that work was other processes'
//!   (a node on the same machine, say), **the machine** is short of CPU, and more CPU for the
//!   client alone would not help; otherwise **the client** is.
//!
//! **Kept up** means on time, not caught up by the end: a run that reached its rate only by
//! draining a backlog (it waited for permits a meaningful share of its time, or sent its median
//! operation later than a request's service time) gets the same diagnosis as a run that fell
//! short, with a warning that says how late it caught up. A run that reached its rate with
//! operations that failed did not keep up: **failures** is its verdict. A run that measured
//! nothing (stopped during its warm-up) gets no verdict, and says so.

use serde::{Deserialize, Serialize};

mod evidence;

pub use evidence::Evidence;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The target rate was achieved (within 1%) by operations that succeeded, on time: the loop
    /// did not wait for permits a meaningful share of the time, and the median operation went
    /// out less late than a request's service time.
    KeptUp,
    /// The target rate was reached, but more than 1% of it by operations that failed.
    Failures,
    /// The in-flight bound was too small for the rate at the service times measured.
    InFlightBound,
    /// The server's latency rose until the window filled.
    ServerLatency,
    /// The client could not keep up with the schedule.
    ClientCpu,
    /// The machine's cores were busy, mostly with other processes (a node on the same machine):
    /// the client's loop fell behind for lack of CPU that was not its own to take.
    MachineCpu,
    /// The requests' time went on the way to the ring and back, not in it: the ring's own view
    /// was as slow to answer while no node queued work (set by [`RingSide`](super::RingSide)).
    NetworkLatency,
    /// Nothing was measured (the run stopped before its warm-up ended): no verdict.
    NothingMeasured,
    /// No target rate: the window and the server's latency set the pace, by design.
    Unthrottled,
}

impl Verdict {
    /// The verdict in a few words, for tables: what limited the rate.
    pub fn describe(self) -> &'static str {
        match self {
            Verdict::KeptUp => "kept up",
            Verdict::Failures => "failed operations",
            Verdict::InFlightBound => "the in-flight bound",
            Verdict::ServerLatency => "the server's latency",
            Verdict::ClientCpu => "the client's CPU",
            Verdict::MachineCpu => "the machine's CPU",
            Verdict::NetworkLatency => "the network's latency",
            Verdict::NothingMeasured => "nothing measured",
            Verdict::Unthrottled => "unthrottled",
        }
    }
}

/// The verdict with its explanation, and a warning when the rate fell short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limiter {
    /// What limited the rate.
    pub verdict: Verdict,
    /// One or two sentences with the numbers behind the verdict.
    pub explanation: String,
    /// Set when the achieved rate is below 99% of the target, when it was reached only by
    /// catching up late, or when operations failed.
    pub warning: Option<String>,
}

/// Decides what limited the rate.
pub fn diagnose(e: &Evidence) -> Limiter {
    if e.operations == 0 || e.measured_seconds <= 0.0 {
        return nothing_measured();
    }
    let Some(target) = e.target_rate else {
        return unthrottled(e);
    };
    let share = e.achieved_rate / target;
    let succeeded = e.succeeded_rate / target;
    if share >= 0.99 && succeeded < 0.99 {
        return failures(share, succeeded);
    }
    // Short of the target, or at it only by catching up: either way the same question, what
    // held the operations. A run that fell short asks which wait took more of its time; one
    // that caught up asks whether it waited for permits at all, since its timer's own lateness
    // (a few percent of the time at 1000/s) would otherwise outweigh a window full for 5%.
    let (warning, held_by_window) = if share < 0.99 {
        let warning = format!(
            "achieved {:.1}/s is {:.1}% of the target {target:.0}/s",
            e.achieved_rate,
            share * 100.0
        );
        (warning, !e.mostly_late_with_permits_free())
    } else if e.on_time() {
        return kept_up(e, share);
    } else {
        let warning = format!(
            "reached {:.1}% of the target {target:.0}/s only by catching up late: {}",
            share * 100.0,
            e.how_late()
        );
        (warning, e.waited_for_permits())
    };
    let needed_unloaded = e.needed_in_flight(target, e.service_p10_s);
    let needed_typical = e.needed_in_flight(target, e.service_p50_s);
    let (verdict, explanation) = if !held_by_window && e.machine_taken_by_others() {
        the_machine_cpu(e)
    } else if !held_by_window {
        the_client_cpu(e)
    } else if e.machine_taken_by_others() {
        a_saturated_server_on_this_machine(e)
    } else if e.queued_in_server() && needed_unloaded <= e.window() {
        a_server_queueing_under_load(e, target)
    } else if needed_unloaded > e.window() || needed_typical > e.window() {
        the_in_flight_bound(e, target)
    } else {
        the_server_latency_spikes(e, target)
    };
    Limiter {
        verdict,
        explanation,
        warning: Some(warning),
    }
}

/// No verdict: the run measured nothing.
fn nothing_measured() -> Limiter {
    Limiter {
        verdict: Verdict::NothingMeasured,
        explanation: "nothing was measured: the run stopped before any operation of its \
                      measured time was due, so there is no verdict"
            .to_owned(),
        warning: None,
    }
}

/// No target: what the window allows at the measured response time, and what was achieved.
fn unthrottled(e: &Evidence) -> Limiter {
    let window_ops = e.max_in_flight as f64 / e.requests_per_op.max(1) as f64;
    let possible = window_ops / e.response_mean_s.max(1e-9);
    Limiter {
        verdict: Verdict::Unthrottled,
        explanation: format!(
            "unthrottled: {window_ops:.0} operation(s) in flight at a mean response time of {:.3} ms allow about \
             {possible:.0}/s (Little's law); achieved {:.1}/s with {:.2} client cores busy",
            e.response_mean_s * 1e3,
            e.achieved_rate,
            e.cores_busy
        ),
        warning: None,
    }
}

/// The rate was reached, but not by operations that succeeded.
fn failures(share: f64, succeeded: f64) -> Limiter {
    Limiter {
        verdict: Verdict::Failures,
        explanation: format!(
            "failed operations: the rate was reached ({:.1}% of the target), but only {:.1}% of \
             the target succeeded; the errors by kind say what failed",
            share * 100.0,
            succeeded * 100.0
        ),
        warning: Some(format!(
            "{:.1}% of the target rate failed",
            (share - succeeded) * 100.0
        )),
    }
}

/// The rate was reached on time by operations that succeeded.
fn kept_up(e: &Evidence, share: f64) -> Limiter {
    let waited = if e.pacing.waiting_for_permits_s > 0.0 {
        format!(
            "; the loop waited for permits {:.1}% of the time",
            e.pacing.waiting_for_permits_s / e.measured_seconds * 100.0
        )
    } else {
        String::new()
    };
    Limiter {
        verdict: Verdict::KeptUp,
        explanation: format!(
            "kept up with the target ({:.1}% of it), on time; operations were sent a median {:.3} ms after their due time{waited}",
            share * 100.0,
            e.wait_p50_s * 1e3
        ),
        warning: None,
    }
}

/// Late with permits free, on a machine whose cores other processes took.
fn the_machine_cpu(e: &Evidence) -> (Verdict, String) {
    let (lateness, machine) = (e.lateness(), e.machine_clause());
    (
        Verdict::MachineCpu,
        format!(
            "the machine: {lateness}, so the loop fell behind for lack of CPU{machine}: the rest \
             was other processes' (a node on this machine, say). The client did not use up a \
             share of its own: run it on another machine, or give the machine more cores"
        ),
    )
}

/// Late with permits free, with the machine's CPU to spare: the client's loop is too slow.
fn the_client_cpu(e: &Evidence) -> (Verdict, String) {
    let (lateness, machine) = (e.lateness(), e.machine_clause());
    (
        Verdict::ClientCpu,
        format!(
            "the client: {lateness}, so the loop itself fell behind; the process kept {:.2} cores busy{machine}. \
             Give the client more CPU, or run several clients and merge their reports",
            e.cores_busy
        ),
    )
}

/// Waiting for permits while other processes (a node) took the machine's cores.
fn a_saturated_server_on_this_machine(e: &Evidence) -> (Verdict, String) {
    let (lateness, machine, service) = (e.lateness(), e.machine_clause(), e.service_times());
    (
        Verdict::ServerLatency,
        format!(
            "the server: the window of {} filled while the machine's cores were busy with other \
             processes (a node on this machine, it seems), and service time grew with load \
             ({service}): the server is saturated (its service times are its queue, so Little's \
             law on them would ask for a window that only queues longer); {lateness}{machine}",
            e.max_in_flight
        ),
    )
}

/// Waiting for permits while the median service time grew past twice the fastest tenth's,
/// although the fastest tenth's need fits the window.
fn a_server_queueing_under_load(e: &Evidence, target: f64) -> (Verdict, String) {
    let (lateness, machine, service) = (e.lateness(), e.machine_clause(), e.service_times());
    let needed_unloaded = e.needed_in_flight(target, e.service_p10_s);
    (
        Verdict::ServerLatency,
        format!(
            "the server: the window of {} filled because service time grew with load ({service}): \
             the median is more than twice the fastest tenth's, so requests queued in the server. \
             An unloaded server would need about {needed_unloaded:.0} requests in flight for \
             {target:.0}/s. If raising --max-in-flight does not raise the rate, the server is \
             saturated and more in flight only queues longer; {lateness}{machine}",
            e.max_in_flight
        ),
    )
}

/// Waiting for permits, and the fastest tenth's or the median's need exceeds the window.
fn the_in_flight_bound(e: &Evidence, target: f64) -> (Verdict, String) {
    let (lateness, machine) = (e.lateness(), e.machine_clause());
    let needed_typical = e.needed_in_flight(target, e.service_p50_s);
    (
        Verdict::InFlightBound,
        format!(
            "the in-flight bound: at a median service time of {:.3} ms, {target:.0}/s needs about \
             {needed_typical:.0} requests in flight (Little's law: rate x {} requests x latency), and \
             --max-in-flight is {}; {lateness}{machine}. Raise --max-in-flight or lower --rate",
            e.service_p50_s * 1e3,
            e.requests_per_op,
            e.max_in_flight
        ),
    )
}

/// Waiting for permits although the median's need fits: the server's latency spikes filled the
/// window.
fn the_server_latency_spikes(e: &Evidence, target: f64) -> (Verdict, String) {
    let (lateness, machine) = (e.lateness(), e.machine_clause());
    let needed_typical = e.needed_in_flight(target, e.service_p50_s);
    let needed_mean = e.needed_in_flight(target, e.service_mean_s);
    (
        Verdict::ServerLatency,
        format!(
            "the server: at the median service time ({:.3} ms) {needed_typical:.0} requests in flight would do, \
             but service times rose (mean {:.3} ms, p99 {:.3} ms, needing {needed_mean:.0}) until the window \
             of {} filled; {lateness}{machine}",
            e.service_p50_s * 1e3,
            e.service_mean_s * 1e3,
            e.service_p99_s * 1e3,
            e.max_in_flight
        ),
    )
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
