//! The measurements behind a verdict ([`Evidence`]), and what they say on their own: whether the
//! run was on time, how busy the machine was, whether the server queued, what Little's law asks
//! of the window. [`super::diagnose`] weighs them.

use crate::record::Pacing;

/// The measurements the diagnosis needs.
#[derive(Debug, Clone, Copy)]
pub struct Evidence {
    /// Target operations per second, `None` when unthrottled.
    pub target_rate: Option<f64>,
    /// Achieved operations per second, successful and failed.
    pub achieved_rate: f64,
    /// Operations per second that succeeded.
    pub succeeded_rate: f64,
    /// Measured seconds.
    pub measured_seconds: f64,
    /// Where the loop's time behind schedule went.
    pub pacing: Pacing,
    /// Median time from due to send (the wait histogram), seconds.
    pub wait_p50_s: f64,
    /// Median time from when an operation was meant to go out (its due time, or with a pace
    /// window the window's send time) to when it went out, seconds: the lateness not planned.
    pub send_late_p50_s: f64,
    /// `--pace-window`, seconds (0 without one).
    pub pace_window_s: f64,
    /// `--max-in-flight`.
    pub max_in_flight: usize,
    /// Requests per operation.
    pub requests_per_op: usize,
    /// Service time of the fastest tenth of requests (p10), seconds: the nearest to an unloaded
    /// server's.
    pub service_p10_s: f64,
    /// Median service time of a request, seconds.
    pub service_p50_s: f64,
    /// Mean service time of a request, seconds.
    pub service_mean_s: f64,
    /// 99th percentile service time, seconds.
    pub service_p99_s: f64,
    /// Mean response time of an operation (its due time to its last answer), seconds.
    pub response_mean_s: f64,
    /// CPU cores the client kept busy.
    pub cores_busy: f64,
    /// The machine's cores (0 when unknown).
    pub machine_cores: usize,
    /// How busy the machine's cores were, every process together (0 to 1).
    pub machine_busy: f64,
    /// Operations the measured time held: sent or missed. None means nothing was measured.
    pub operations: u64,
}

/// Above this share of its cores busy, the machine had no CPU to spare.
const MACHINE_SATURATED: f64 = 0.9;

/// A run whose loop waited for permits at least this share of its measured time was held by its
/// window, whatever rate it reached by the end. A twentieth: then at least one visit in twenty
/// was due while the window was full, so the window reached the headline's p95. Runs that were
/// on time here waited 0.02% (one node, 300 visits/s) and 0.05 to 0.06% (1000 visits/s) of
/// their time, the waits of a flush or a pause that only the tail shows; the run that drained
/// its backlog before the end and was called "kept up" waited 62% (37 of 60 s).
const PERMIT_WAIT_SHARE: f64 = 0.05;

impl Evidence {
    #[cfg(test)]
    /// A run at 5000/s that kept up, on a machine half busy: tests vary it.
    pub(crate) fn example() -> Evidence {
        Evidence {
            target_rate: Some(5000.0),
            achieved_rate: 5000.0,
            succeeded_rate: 5000.0,
            measured_seconds: 60.0,
            pacing: Pacing {
                waiting_for_permits_s: 0.0,
                late_with_free_permits_s: 3.0,
                peak_in_flight: 40,
            },
            wait_p50_s: 0.0001,
            send_late_p50_s: 0.0001,
            pace_window_s: 0.0,
            max_in_flight: 256,
            requests_per_op: 3,
            service_p10_s: 0.0007,
            service_p50_s: 0.001,
            service_mean_s: 0.0012,
            service_p99_s: 0.004,
            response_mean_s: 0.0012,
            cores_busy: 0.4,
            machine_cores: 2,
            machine_busy: 0.5,
            operations: 300_000,
        }
    }

    /// "the machine's 2 cores were 97% busy, 0.33 of them in this process", or nothing when the
    /// machine's CPU is unknown.
    pub(crate) fn machine(&self) -> Option<String> {
        (self.machine_cores > 0).then(|| {
            format!(
                "the machine's {} cores were {:.0}% busy, {:.2} of them in this process",
                self.machine_cores,
                self.machine_busy * 100.0,
                self.cores_busy
            )
        })
    }

    /// [`Evidence::machine`] as the tail of a sentence ("; the machine's..."), or nothing.
    pub(crate) fn machine_clause(&self) -> String {
        self.machine()
            .map_or_else(String::new, |m| format!("; {m}"))
    }

    /// Whether the machine's cores were nearly all busy, mostly with other processes' work.
    pub(crate) fn machine_taken_by_others(&self) -> bool {
        let others = self.machine_busy * self.machine_cores as f64 - self.cores_busy;
        self.machine_busy >= MACHINE_SATURATED && others > self.cores_busy
    }

    /// Where the loop's time behind schedule went, as shares of the measured time.
    pub(crate) fn lateness(&self) -> String {
        let seconds = self.measured_seconds.max(f64::EPSILON);
        format!(
            "the loop was behind schedule {:.1}% of the time waiting for permits and {:.1}% with permits free",
            self.pacing.waiting_for_permits_s / seconds * 100.0,
            self.pacing.late_with_free_permits_s / seconds * 100.0
        )
    }

    /// Whether the loop waited for permits a meaningful share of the measured time
    /// ([`PERMIT_WAIT_SHARE`]).
    pub(crate) fn waited_for_permits(&self) -> bool {
        self.pacing.waiting_for_permits_s >= PERMIT_WAIT_SHARE * self.measured_seconds
    }

    /// Whether the median operation went out later than it was meant to by more than the
    /// median request's service time: then lateness, not the server, made most of its latency.
    /// The timer alone leaves a visit a median 0.07 to 0.1 ms late here, against service times
    /// of 0.4 ms and more for a write on loopback.
    pub(crate) fn sent_late(&self) -> bool {
        self.send_late_p50_s > self.service_p50_s
    }

    /// Whether operations went out on time: the loop neither waited for permits a meaningful
    /// share of the time nor sent the median operation later than a request's service time.
    /// A run that reached its rate only by catching up on a backlog was not on time.
    pub(crate) fn on_time(&self) -> bool {
        !self.waited_for_permits() && !self.sent_late()
    }

    /// How late operations went out, for a warning: the median lateness from the due time (and
    /// from the pace window's send time, with one), against the median service time, and the
    /// seconds spent waiting for permits.
    pub(crate) fn how_late(&self) -> String {
        let window = if self.pace_window_s > 0.0 {
            format!(
                " ({:.3} ms after the --pace-window of {:.1} ms sent them)",
                self.send_late_p50_s * 1e3,
                self.pace_window_s * 1e3
            )
        } else {
            String::new()
        };
        format!(
            "operations went out a median {:.3} ms after their due time{window}, against a median \
             service time of {:.3} ms, and the loop waited {:.1} s of the {:.1} s for permits",
            self.wait_p50_s * 1e3,
            self.service_p50_s * 1e3,
            self.pacing.waiting_for_permits_s,
            self.measured_seconds
        )
    }

    /// Whether the loop was behind schedule more with permits free than waiting for them.
    pub(crate) fn mostly_late_with_permits_free(&self) -> bool {
        self.pacing.late_with_free_permits_s > self.pacing.waiting_for_permits_s
    }

    /// The service times, p10 to p99, or that none was measured.
    pub(crate) fn service_times(&self) -> String {
        if self.service_p50_s > 0.0 {
            format!(
                "service time p10 {:.3} ms, median {:.3} ms, mean {:.3} ms, p99 {:.3} ms",
                self.service_p10_s * 1e3,
                self.service_p50_s * 1e3,
                self.service_mean_s * 1e3,
                self.service_p99_s * 1e3
            )
        } else {
            "no request was answered in the measured time".to_owned()
        }
    }

    /// Service time that grew with load: requests queued in the server.
    pub(crate) fn queued_in_server(&self) -> bool {
        self.service_p50_s > 2.0 * self.service_p10_s
    }

    /// Requests in flight that `target` operations per second need at `service_s` per request
    /// (Little's law).
    pub(crate) fn needed_in_flight(&self, target: f64, service_s: f64) -> f64 {
        target * self.requests_per_op as f64 * service_s
    }

    /// The share of the window a need must fit in.
    pub(crate) fn window(&self) -> f64 {
        self.max_in_flight as f64 * 0.9
    }
}
