//! `bench plan --rate R REPORT...`: capacity on paper. From run reports measured on a loader like
//! the ones to be used (what one visit cost its CPU at each rate, the most one process sent) and on
//! the ring to be loaded (the most it took, and whether it was what stopped a run), how many
//! loader processes and cores a target rate needs, and which bound comes first: the loaders or
//! the ring. Network cost is not measured, and the plan says so.

use std::fmt::Write as _;

use loadgen::report::{RunReport, Verdict};

/// The most of a loader's cores a plan counts on: the rest is for the kernel, the network and
/// spikes, so that a loader never becomes the bound it is meant to measure past.
pub const DEFAULT_HEADROOM: f64 = 0.7;

/// One measured run the plan reads, under the name the user gave it.
pub struct Measured {
    /// The file it came from.
    pub name: String,
    /// The run.
    pub report: RunReport,
}

impl Measured {
    /// The rate one process ran at: its target, or what it achieved unthrottled.
    fn process_rate(&self) -> f64 {
        self.report
            .target_rate
            .map_or(self.report.achieved_rate, |t| {
                t.min(self.report.achieved_rate)
            })
    }
}

/// The loaders a rate needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaders {
    /// Processes (one per loader machine).
    pub count: u32,
    /// The rate each sends.
    pub each: f64,
    /// CPU per operation at about that rate, microseconds, and the report it comes from.
    pub cpu_us_per_op: f64,
    /// Which report.
    pub from: String,
    /// Cores busy in all.
    pub cores: f64,
    /// Whether one process's top rate, not CPU, set the count.
    pub by_top_rate: bool,
}

/// What the reports say about the ring.
#[derive(Debug, Clone, PartialEq)]
pub enum Ring {
    /// A run fell short of its target because of the server (`stopped`): the most the ring took
    /// in any report, `limit`, is what it can.
    Limit {
        /// Operations per second.
        limit: f64,
        /// Which report took it.
        from: String,
        /// Which report the server stopped.
        stopped: String,
    },
    /// No run was stopped by the server; the most the ring took is a floor of what it can.
    NotReached {
        /// Operations per second.
        highest: f64,
        /// Which report.
        from: String,
    },
}

/// The plan for a rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The target, operations per second.
    pub rate: f64,
    /// Cores a loader has, and the share of them counted on.
    pub cores_per_loader: f64,
    /// The share of a loader's cores counted on.
    pub headroom: f64,
    /// The loaders.
    pub loaders: Loaders,
    /// The ring.
    pub ring: Ring,
}

/// Why no plan can be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No report measured a rate and its CPU.
    #[error(
        "none of the reports measured both a rate and the client's CPU; give reports of runs that sent operations (factory --report, or a bench report folder)"
    )]
    NothingMeasured,
}

/// The plan for `rate` from `measured`, for loaders of `cores_per_loader` cores of which
/// `headroom` (0 to 1) may be used.
pub fn plan(
    rate: f64,
    measured: &[Measured],
    cores_per_loader: f64,
    headroom: f64,
) -> Result<Plan, PlanError> {
    let usable: Vec<&Measured> = measured
        .iter()
        .filter(|m| m.process_rate() > 0.0 && m.report.client.cpu_us_per_op > 0.0)
        .collect();
    // The most one process sent; a run that fell short for lack of CPU (the client's, or the
    // machine's when the ring shares it) caps that: one process does not go past it there.
    let short_of_cpu = |m: &&Measured| {
        matches!(
            m.report.limiter.verdict,
            Verdict::ClientCpu | Verdict::MachineCpu
        )
    };
    let most =
        |ms: &mut dyn Iterator<Item = &Measured>| ms.map(|m| m.process_rate()).fold(0.0, f64::max);
    let mut top = most(&mut usable.iter().copied());
    if usable.iter().any(short_of_cpu) {
        top = top.min(most(
            &mut usable.iter().copied().filter(|m| short_of_cpu(m)),
        ));
    }
    if usable.is_empty() || top <= 0.0 {
        return Err(PlanError::NothingMeasured);
    }
    // CPU per operation depends on the rate (pacing costs more per operation at low rates), so
    // the count is settled by turns: the cost measured nearest the rate each loader would send.
    let budget = cores_per_loader * headroom;
    let by_top_rate = |count: u32| ((rate / top).ceil() as u32).max(count);
    let mut count = by_top_rate(1);
    let mut nearest = usable[0];
    for _ in 0..16 {
        let each = rate / f64::from(count);
        nearest = usable
            .iter()
            .copied()
            .min_by(|a, b| {
                let distance = |m: &Measured| (m.process_rate().ln() - each.ln()).abs();
                distance(a).total_cmp(&distance(b))
            })
            .unwrap_or(nearest);
        let cores = rate * nearest.report.client.cpu_us_per_op / 1e6;
        let needed = by_top_rate(((cores / budget).ceil() as u32).max(1));
        if needed == count {
            break;
        }
        count = needed;
    }
    let cpu_us_per_op = nearest.report.client.cpu_us_per_op;
    let cores_needed = (rate * cpu_us_per_op / 1e6 / budget).ceil() as u32;
    Ok(Plan {
        rate,
        cores_per_loader,
        headroom,
        loaders: Loaders {
            count,
            each: rate / f64::from(count),
            cpu_us_per_op,
            from: nearest.name.clone(),
            cores: rate * cpu_us_per_op / 1e6,
            by_top_rate: count > cores_needed.max(1),
        },
        ring: ring_bound(measured),
    })
}

/// The most the ring took, and whether the server is what stopped a run there.
fn ring_bound(measured: &[Measured]) -> Ring {
    let stopped_by_server = |m: &&Measured| {
        matches!(
            m.report.limiter.verdict,
            Verdict::ServerLatency | Verdict::Failures
        )
    };
    let highest = |ms: &mut dyn Iterator<Item = &Measured>| {
        ms.max_by(|a, b| a.report.achieved_rate.total_cmp(&b.report.achieved_rate))
            .map(|m| (m.report.achieved_rate, m.name.clone()))
    };
    // An unthrottled run may take more than a paced one that the server stopped (its latency
    // filled the window at the higher target): the most taken anywhere is the limit.
    let (top, from) = highest(&mut measured.iter()).unwrap_or_default();
    match measured.iter().find(stopped_by_server) {
        Some(stopped) => Ring::Limit {
            limit: top,
            from,
            stopped: stopped.name.clone(),
        },
        None => Ring::NotReached { highest: top, from },
    }
}

impl Plan {
    /// The plan in words, for the terminal.
    pub fn describe(&self, op: &str) -> String {
        let mut out = String::new();
        let l = &self.loaders;
        let _ = writeln!(out, "plan for {:.0} {op}s/s:", self.rate);
        let why = if l.by_top_rate {
            "one process's top measured rate sets the count, not its CPU"
        } else {
            "CPU sets the count"
        };
        let _ = writeln!(
            out,
            "  loaders: {} process{} of {:.0} cores (counting on {:.0}% of them), {:.0} {op}s/s each; \
             {:.1} CPU µs per {op} at about that rate ({}): {:.1} cores busy in all; {why}",
            l.count,
            if l.count == 1 { "" } else { "es" },
            self.cores_per_loader,
            self.headroom * 100.0,
            l.each,
            l.cpu_us_per_op,
            l.from,
            l.cores,
        );
        let _ = match &self.ring {
            Ring::Limit {
                limit,
                from,
                stopped,
            } if *limit < self.rate => writeln!(
                out,
                "  the ring comes first: it took at most {limit:.0} {op}s/s ({from}), and its \
                 latency stopped a run ({stopped}); {:.0}/s is {:.1}x that, and more loaders will \
                 not help",
                self.rate,
                self.rate / limit
            ),
            Ring::Limit {
                limit,
                from,
                stopped,
            } => writeln!(
                out,
                "  the ring: it took at most {limit:.0} {op}s/s ({from}) before its latency \
                 stopped a run ({stopped}), above this target; the loaders come first"
            ),
            Ring::NotReached { highest, from } => writeln!(
                out,
                "  the ring: no report shows its limit (the most it took was {highest:.0} {op}s/s, \
                 {from}, and the server did not stop that run); measure at this rate to know"
            ),
        };
        let _ = writeln!(
            out,
            "  the network: not measured; count the bytes of a {op} before planning for a WAN"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::merge::tests::report_of;

    fn measured(
        name: &str,
        target: Option<f64>,
        achieved: f64,
        cpu_us: f64,
        v: Verdict,
    ) -> Measured {
        let mut report = report_of(&[1_000]);
        report.target_rate = target;
        report.achieved_rate = achieved;
        report.client.cpu_us_per_op = cpu_us;
        report.limiter.verdict = v;
        Measured {
            name: name.into(),
            report,
        }
    }

    fn this_machine() -> Vec<Measured> {
        vec![
            measured("r1000", Some(1000.0), 1000.0, 250.0, Verdict::KeptUp),
            measured("r5000", Some(5000.0), 5000.0, 95.0, Verdict::KeptUp),
            measured("max", None, 9000.0, 30.0, Verdict::Unthrottled),
        ]
    }

    #[test]
    fn cpu_per_visit_at_the_rate_each_loader_sends_sets_the_count() {
        // 30,000/s on 2-core loaders at 70%: at the unthrottled cost (30 µs) 0.9 cores, but
        // the count must also respect the top rate of one process (9,000/s): 4 loaders of 7,500/s.
        let plan = plan(30_000.0, &this_machine(), 2.0, 0.7).unwrap();
        assert_eq!(plan.loaders.count, 4);
        assert_eq!(plan.loaders.from, "max");
        assert!(plan.loaders.by_top_rate);
        // 2,000/s: two loaders at the 1000/s cost (250 µs) would need 0.5 cores: CPU allows one
        // process, which sends 2,000/s, measured nearest at 1000/s.
        let slow = super::plan(2_000.0, &this_machine(), 2.0, 0.7).unwrap();
        assert_eq!(slow.loaders.count, 1);
        assert_eq!(slow.loaders.from, "r1000");
        assert!((slow.loaders.cores - 0.5).abs() < 1e-9);
        // At 1000 µs per visit, 5000/s needs 5 cores: four loaders of 1.4 usable cores.
        let costly = vec![measured("c", Some(5000.0), 5000.0, 1000.0, Verdict::KeptUp)];
        assert_eq!(
            super::plan(5_000.0, &costly, 2.0, 0.7)
                .unwrap()
                .loaders
                .count,
            4
        );
    }

    #[test]
    fn the_ring_comes_first_when_a_report_shows_it_stopped_a_run() {
        let mut reports = this_machine();
        reports.push(measured(
            "short",
            Some(20_000.0),
            6_837.0,
            50.0,
            Verdict::ServerLatency,
        ));
        let plan = plan(30_000.0, &reports, 2.0, 0.7).unwrap();
        // The unthrottled run took more than the one the server stopped: that is the limit.
        assert_eq!(
            plan.ring,
            Ring::Limit {
                limit: 9_000.0,
                from: "max".into(),
                stopped: "short".into()
            }
        );
        let words = plan.describe("visit");
        assert!(
            words.contains("the ring comes first") && words.contains("3.3x"),
            "{words}"
        );
        let unknown = super::plan(30_000.0, &this_machine(), 2.0, 0.7).unwrap();
        assert!(matches!(unknown.ring, Ring::NotReached { highest, .. } if highest == 9000.0));
        assert!(
            unknown
                .describe("visit")
                .contains("no report shows its limit")
        );
    }

    #[test]
    fn a_run_short_of_cpu_caps_what_one_process_sends() {
        let mut reports = this_machine();
        // 8000/s fell short at 7,800 because the machine's cores were busy (a ring beside it).
        reports.push(measured(
            "c8000",
            Some(8000.0),
            7_800.0,
            48.0,
            Verdict::MachineCpu,
        ));
        let plan = plan(8_000.0, &reports, 2.0, 0.7).unwrap();
        assert_eq!(plan.loaders.count, 2);
        assert!(plan.loaders.by_top_rate);
    }

    #[test]
    fn reports_that_measured_nothing_give_no_plan() {
        let empty = vec![measured(
            "nothing",
            Some(100.0),
            0.0,
            0.0,
            Verdict::NothingMeasured,
        )];
        assert!(matches!(
            plan(1000.0, &empty, 2.0, 0.7),
            Err(PlanError::NothingMeasured)
        ));
    }
}
