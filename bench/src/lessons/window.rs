//! Lesson 2: write asynchronously behind a sliding window.
//!
//! The factory's visits (three writes each), three ways, first at one target rate and then as
//! fast as each way can go:
//! - **sliding window**: the factory's loop; a new visit starts when it is due, as long as fewer
//!   than 3003 writes are in flight, and each finished write frees its permit at once;
//! - **stop-and-wait, 3000**: the original's loop; visits start when due until more than 3000
//!   writes have been started since the last drain, then nothing starts until every one of them
//!   has answered;
//! - **synchronous**: one write at a time, each awaited before the next.
//!
//! Both bounded ways allow the same 3003 writes in flight, so only the discipline differs. Every
//! variant is paced by the same clock and measured from each visit's due time, so a visit that
//! had to wait for the loop shows that wait in its response time, and a visit the loop never got
//! to before the end counts as missed, late by the time left until then: a way that falls behind
//! cannot look faster by leaving its worst visits out. The variants run for half the time each in
//! mirrored order (A B C, then C B A), each pair's histograms added, so that none has the ring's
//! warm-up or its compactions to itself.
//!
//! This file is the experiment; the two hand-written loops it compares with the factory's are in
//! `window/loops.rs`.

mod loops;

use crate::error::Result;
use hdrhistogram::Histogram;

use loadgen::record::{Percentiles, add_into};

use loadgen::fair::mirrored;

use crate::report::plots::PlotError;

use super::lab::{Lab, response_histogram, visits};
use super::report::{Lesson, ms};
use loops::{stop_and_wait, synchronous};

/// The original's threshold: it drained every pending write once more than 3000 were pending.
const ORIGINAL_BUFFER: usize = 3000;
/// Visits the original started before each drain: the first count of writes above 3000.
const BATCH_VISITS: usize = ORIGINAL_BUFFER / 3 + 1;
/// The window: the same 1001 visits (3003 writes) as the original's batch, so that only the
/// discipline differs, sliding or stop-and-wait.
const WINDOW: u32 = (BATCH_VISITS * 3) as u32;

/// What one variant achieved.
struct Measured {
    name: &'static str,
    achieved: f64,
    response: Histogram<u64>,
    wait: Histogram<u64>,
    peak_in_flight: usize,
    /// Share of the measured time spent in batches' tails: under a tenth of the batch pending,
    /// nothing new started (stop-and-wait).
    stalled: f64,
    /// Visits due in the measured time that the loop never started.
    missed: u64,
}

impl Measured {
    /// Two runs of one variant as one: rates averaged, histograms and misses added.
    fn and(mut self, other: Measured) -> Measured {
        self.achieved = (self.achieved + other.achieved) / 2.0;
        self.stalled = (self.stalled + other.stalled) / 2.0;
        self.peak_in_flight = self.peak_in_flight.max(other.peak_in_flight);
        self.missed += other.missed;
        add_into(&mut self.response, &other.response);
        add_into(&mut self.wait, &other.wait);
        self
    }
}

/// The three ways, by index.
const WAYS: usize = 3;

/// Runs way `way` of the lesson at `pace`.
async fn run_way(lab: &Lab, way: usize, pace: Option<f64>) -> Result<Measured> {
    match way {
        0 => sliding_window(lab, pace).await,
        1 => stop_and_wait(lab, pace).await,
        _ => synchronous(lab, pace).await,
    }
}

/// Each way twice at `pace`, in mirrored order, each pair taken together; in the ways' order.
async fn mirrored_runs(lab: &Lab, pace: Option<f64>) -> Result<Vec<Measured>> {
    let mut runs: Vec<Option<Measured>> = (0..WAYS).map(|_| None).collect();
    for way in mirrored(WAYS) {
        let measured = run_way(lab, way, pace).await?;
        runs[way] = Some(match runs[way].take() {
            Some(first) => first.and(measured),
            None => measured,
        });
    }
    Ok(runs.into_iter().flatten().collect())
}

/// The table's header: one row per way.
const COLUMNS: [&str; 9] = [
    "variant",
    "max visits/s",
    "of target",
    "p50 ms",
    "p99 ms",
    "max ms",
    "start lag p99 ms",
    "never started",
    "peak writes in flight",
];

pub(super) async fn run(lab: &Lab) -> Result<Lesson> {
    let rate = lab.args.rate;
    // At the target (the schedule), then as fast as each can go (throughput); the paced runs go
    // first, before the unthrottled ones flood the ring; within each, mirrored.
    let paced = mirrored_runs(lab, Some(rate)).await?;
    let flat_out = mirrored_runs(lab, None).await?;
    let plot = lab.save_plot("window", &plot(&paced, rate)?)?;
    Ok(Lesson::measured(
        "window",
        "Write asynchronously behind a sliding window",
        &COLUMNS,
        rows(&paced, &flat_out, rate),
        plot,
        finding(&paced, &flat_out, rate),
    ))
}

/// One row per way: its top speed, and at the target, its share of the rate and its response
/// times from the due time.
fn rows(paced: &[Measured], flat_out: &[Measured], rate: f64) -> Vec<Vec<String>> {
    flat_out
        .iter()
        .zip(paced)
        .map(|(fast, v)| {
            let (response, wait) = (Percentiles::of(&v.response), Percentiles::of(&v.wait));
            vec![
                v.name.to_owned(),
                format!("{:.0}", fast.achieved),
                format!("{:.1}%", v.achieved / rate * 100.0),
                ms(response.p50),
                ms(response.p99),
                ms(response.max),
                ms(wait.p99),
                v.missed.to_string(),
                fast.peak_in_flight.to_string(),
            ]
        })
        .collect()
}

/// Each way's response-time percentiles at the target, as SVG.
fn plot(paced: &[Measured], rate: f64) -> Result<String, PlotError> {
    let curves: Vec<_> = paced
        .iter()
        .map(|v| (v.name.to_owned(), v.response.clone()))
        .collect();
    crate::report::plots::percentile_curves(
        &format!("{rate:.0} visits/s three ways: response time from the due time"),
        &curves,
    )
}

/// How stop-and-wait's top speed compares with the sliding window's, and, when they come out
/// close, why the gap is small here.
fn stopping_versus_sliding(flat_out: &[Measured]) -> String {
    let (sliding, stopping) = (flat_out[0].achieved, flat_out[1].achieved);
    if stopping < 0.9 * sliding {
        format!(
            "stop-and-wait lost {:.0}% of the throughput",
            (1.0 - stopping / sliding) * 100.0
        )
    } else {
        format!(
            "the two stay within {:.0}% of each other: on one machine's loopback a batch drains \
             in milliseconds, and the stall grows with the slowest write of each batch, so it \
             costs more where latency has spikes",
            ((stopping / sliding) - 1.0).abs() * 100.0
        )
    }
}

fn finding(paced: &[Measured], flat_out: &[Measured], rate: f64) -> String {
    let p99 = |i: usize| ms(Percentiles::of(&paced[i].response).p99);
    let share = |i: usize| paced[i].achieved / rate * 100.0;
    let (sliding, stopping) = (flat_out[0].achieved, flat_out[1].achieved);
    let versus = stopping_versus_sliding(flat_out);
    format!(
        "As fast as each can go, with the same {WINDOW} writes allowed in flight, the sliding window \
         wrote {sliding:.0} visits/s, stop-and-wait {stopping:.0} and synchronous writes {:.0}. \
         Stop-and-wait starts {} visits, {} writes in one burst, then starts nothing until the \
         last of them has answered: {:.1}% of its run went by in batches' tails, with under a \
         tenth of the batch still pending and nothing new started, while the ring idled on the \
         last writes; the window keeps the pipe full instead. Here {versus}. At {rate:.0} visits/s, measured from each visit's due time, the \
         window held {:.1}% of the rate with a p99 of {} ms, stop-and-wait {:.1}% (p99 {} ms) and \
         synchronous writes {:.1}% (p99 {} ms): with one write at a time, the rate can be no more \
         than one over the latency of three writes in a row, and once the schedule gets ahead, \
         every later visit is later still; the {} visits it never started count in its \
         percentiles as late by the time left until the end. Little's law: writes in flight = \
         rate x latency. Each way ran twice at each pace, in mirrored order.",
        flat_out[2].achieved,
        BATCH_VISITS,
        WINDOW,
        flat_out[1].stalled * 100.0,
        share(0),
        p99(0),
        share(1),
        p99(1),
        share(2),
        p99(2),
        paced[2].missed,
    )
}

/// The factory's loop, with its window.
async fn sliding_window(lab: &Lab, rate: Option<f64>) -> Result<Measured> {
    let report = lab
        .drive(
            lab.half_load(rate, WINDOW),
            visits("lesson-window"),
            |n, intended| lab.write_visit(lab.workforce.visit(n, intended.wall)),
        )
        .await?;
    Ok(Measured {
        name: "sliding window (3003)",
        achieved: report.achieved_rate,
        response: response_histogram(&report),
        wait: report
            .histogram(loadgen::record::WAIT)
            .unwrap_or_else(loadgen::record::new_histogram),
        peak_in_flight: report.pacing.peak_in_flight,
        stalled: 0.0,
        missed: report.counts.missed,
    })
}
