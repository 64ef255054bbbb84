//! Lesson 5: size the in-flight bound by Little's law.
//!
//! First the ring's capacity: visits as fast as 256 writes in flight allow, and as fast as one
//! visit (3 writes) at a time allows. Then a target the ring carries but one visit at a time
//! cannot (twice the latter, within 70% of the former), with three bounds: one visit at a time,
//! the bound Little's law asks for at the typical latency (rate x 3 writes x latency, rounded up
//! to whole visits, doubled for headroom), and the factory's default 256. Too small a bound caps
//! the rate at bound / latency whatever the ring could do, and the run's report names the bound
//! as the cause.

use crate::error::Result;
use loadgen::report::RunReport;

use crate::report::plots::PlotError;

use super::lab::{Lab, response, visits};
use super::report::{Lesson, ms};

async fn write_visits(lab: &Lab, rate: Option<f64>, bound: u32) -> Result<RunReport> {
    lab.drive(
        lab.load(rate, bound),
        visits("lesson-bound"),
        |n, intended| lab.write_visit(lab.workforce.visit(n, intended.wall)),
    )
    .await
}

/// How far above the one-visit-at-a-time ceiling the target must be for the lesson to show the
/// bound clearly.
const CLEAR_MARGIN: f64 = 1.5;

/// What the finding says when the ring is too close to one visit at a time for the bound to
/// matter much (a machine whose cores the ring and the client share, a debug build).
pub const SMALL_MARGIN: &str = "On this ring the bound costs little";

fn small_margin(capacity: &RunReport, one_at_a_time: &RunReport) -> String {
    format!(
        "all writes in flight carried only {:.1}x the rate of one visit at a time, so no target \
         the ring carries is far beyond one visit's reach; on a ring with cores of its own the \
         gap, and the lesson, are larger.",
        capacity.achieved_rate / one_at_a_time.achieved_rate.max(f64::EPSILON)
    )
}

/// The table's header: one row per bound.
const COLUMNS: [&str; 6] = [
    "max in flight",
    "target/s",
    "achieved/s",
    "of target",
    "p99 ms",
    "limited by",
];

pub(super) async fn run(lab: &Lab) -> Result<Lesson> {
    let bounds = measure_three_bounds(lab).await?;
    let plot = lab.save_plot("bound", &bounds.plot()?)?;
    Ok(Lesson::measured(
        "bound",
        "Size the in-flight bound by Little's law",
        &COLUMNS,
        bounds.rows(),
        plot,
        bounds.finding(),
    ))
}

/// What the lesson measured: the ring's capacity, one visit at a time's ceiling, and the target
/// run with three bounds.
struct Bounds {
    /// Visits as fast as 256 writes in flight allow: the ring's capacity.
    capacity: RunReport,
    /// Visits as fast as one visit (3 writes) in flight allows: 1 / latency.
    one_at_a_time: RunReport,
    /// Visits per second asked of each bound.
    target: f64,
    /// The median write time at the target with the default bound, in seconds.
    service_s: f64,
    /// Writes in flight the target needs at that write time, by Little's law.
    needed: f64,
    /// One visit at a time, the bound Little's law asks for, and the default 256, with their runs.
    variants: [(u32, RunReport); 3],
}

/// Measures the ring's capacity and one visit at a time's ceiling, picks a target between them,
/// and runs it with each of the three bounds.
async fn measure_three_bounds(lab: &Lab) -> Result<Bounds> {
    // What the ring can do, and what one visit in flight can do: by Little's law, 1 / latency.
    let capacity = write_visits(lab, None, 256).await?;
    let one_at_a_time = write_visits(lab, None, 3).await?;
    // A target the ring carries but one visit at a time cannot: twice that ceiling, within 70%
    // of the capacity.
    let target = (2.0 * one_at_a_time.achieved_rate)
        .min(0.7 * capacity.achieved_rate)
        .max(1.0)
        .round();
    // The default bound first: its median write time at the target is the latency Little's law
    // needs.
    let roomy = write_visits(lab, Some(target), 256).await?;
    let service_s = roomy
        .latency_us
        .get("service-timesheets")
        .map_or(0.001, |p| p.p50 / 1e6);
    let needed = target * 3.0 * service_s;
    let little = ((needed / 3.0).ceil() as u32 * 3 * 2).clamp(6, 255);
    let variants = [
        (3, write_visits(lab, Some(target), 3).await?),
        (little, write_visits(lab, Some(target), little).await?),
        (256, roomy),
    ];
    Ok(Bounds {
        capacity,
        one_at_a_time,
        target,
        service_s,
        needed,
        variants,
    })
}

impl Bounds {
    /// One row per bound: what it achieved of the target, and what limited it.
    fn rows(&self) -> Vec<Vec<String>> {
        let target = self.target;
        self.variants
            .iter()
            .map(|(bound, report)| {
                let p = response(report);
                vec![
                    bound.to_string(),
                    format!("{target:.0}"),
                    format!("{:.0}", report.achieved_rate),
                    format!("{:.1}%", report.achieved_rate / target * 100.0),
                    ms(p.p99),
                    report.limiter.verdict.describe().to_owned(),
                ]
            })
            .collect()
    }

    /// The achieved rate of each bound against the target, as SVG.
    fn plot(&self) -> Result<String, PlotError> {
        let target = self.target;
        let points: Vec<(String, Option<f64>, f64)> = self
            .variants
            .iter()
            .map(|(bound, report)| (format!("bound {bound}"), Some(target), report.achieved_rate))
            .collect();
        crate::report::plots::rates(
            &format!("{target:.0} visits/s with three in-flight bounds"),
            "visit",
            &points,
        )
    }

    /// What the bounds cost, and why, in numbers; with a note when the ring leaves little room.
    fn finding(&self) -> String {
        let Bounds {
            capacity,
            one_at_a_time,
            target,
            service_s,
            needed,
            variants,
        } = self;
        let (small, small_report) = &variants[0];
        let little = variants[1].0;
        let mut finding = format!(
            "The ring took {:.0} visits/s unthrottled with 256 writes in flight, and {:.0}/s with one \
             visit (3 writes) at a time: by Little's law, requests in flight = rate x latency, so one \
             visit in flight allows 1 / latency. The target was {target:.0}/s. At a median write \
             time of {:.3} ms that rate needs about {needed:.1} writes in flight. With a bound of \
             {small} (one visit at a time) the run \
             achieved {:.0}/s ({:.1}%), and its report says why: \"{}\". With {little} (twice the need, \
             in whole visits) it achieved {:.1}%, with 256 {:.1}%. A bound protects the client's memory \
             and the ring from a flood; set it from the rate and the latency you expect, with room for \
             spikes, and read the report's verdict when the rate falls short.",
            capacity.achieved_rate,
            one_at_a_time.achieved_rate,
            service_s * 1e3,
            small_report.achieved_rate,
            small_report.achieved_rate / target * 100.0,
            small_report.limiter.explanation,
            variants[1].1.achieved_rate / target * 100.0,
            variants[2].1.achieved_rate / target * 100.0,
        );
        if *target < CLEAR_MARGIN * one_at_a_time.achieved_rate {
            finding.push_str(&format!(
                " {SMALL_MARGIN}: {}",
                small_margin(capacity, one_at_a_time)
            ));
        }
        finding
    }
}
