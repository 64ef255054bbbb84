//! The report page's plots, drawn as SVG with plotters: latency by percentile (both axes
//! logarithmic, so p50 and p99.99 fit on one chart), throughput and p99 over time, and achieved
//! against target rate.
//!
//! Text is left for the browser to render: plotters' SVG backend writes `<text>` elements, so no
//! font has to be installed where the report is made.

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;

use loadgen::record::IntervalSummary;

/// Size of every plot, pixels.
const SIZE: (u32, u32) = (760, 400);

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the plot '{plot}' failed: {reason}")]
pub struct PlotError {
    /// The plot.
    pub plot: String,
    /// Why.
    pub reason: String,
}

fn failed<E: std::fmt::Debug>(plot: &str) -> impl Fn(E) -> PlotError + '_ {
    move |error| PlotError {
        plot: plot.to_owned(),
        reason: format!("{error:?}"),
    }
}

/// Draws one plot on a fresh white SVG canvas of the standard size.
fn svg(
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<String, PlotError> {
    let fail = failed(title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&fail)?;
        draw(&root)?;
        root.present().map_err(&fail)?;
    }
    Ok(svg)
}

/// The legend box, the same on every plot.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    fail: &impl Fn(DrawingAreaErrorKind<DB::ErrorType>) -> PlotError,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .position(position)
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(fail)
}

/// Where quantile `q` sits on the percentile axis: the number of nines, so that p90, p99, p99.9
/// and p99.99 are evenly spaced.
fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// Latency by percentile for several runs, one line each. Histograms are in nanoseconds.
pub fn percentile_curves(
    title: &str,
    series: &[(String, Histogram<u64>)],
) -> Result<String, PlotError> {
    let fail = failed(title);
    let drawn: Vec<&(String, Histogram<u64>)> =
        series.iter().filter(|(_, h)| !h.is_empty()).collect();
    let lowest = drawn
        .iter()
        .map(|(_, h)| h.value_at_quantile(0.5) as f64 / 1e6)
        .fold(f64::INFINITY, f64::min);
    let highest = drawn
        .iter()
        .map(|(_, h)| h.max() as f64 / 1e6)
        .fold(0.0, f64::max);
    let (low, high) = if drawn.is_empty() {
        (0.01, 10.0)
    } else {
        ((lowest / 2.0).max(0.001), (highest * 2.0).max(lowest * 4.0))
    };
    svg(title, |root| {
        let x_axis = nines(0.5)..4.0;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x_axis, (low..high).log_scale())
            .map_err(&fail)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("response time (ms)")
            .x_labels(8)
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 0.01 {
                    percentile_label(*x)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y}"))
            .draw()
            .map_err(&fail)?;
        for (i, (name, histogram)) in drawn.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points = (0..=80).map(|step| {
                let x = nines(0.5) + (4.0 - nines(0.5)) * f64::from(step) / 80.0;
                let q = 1.0 - 10f64.powf(-x);
                (x, (histogram.value_at_quantile(q) as f64 / 1e6).max(low))
            });
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(&fail)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, &fail)
    })
}

fn percentile_label(x: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-x));
    let text = format!("{percent:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("p{text}")
}

/// Operations per second (left axis) and, on the right axis, the p99 latency of the operations
/// that ended in each second (every one, failed and missed too) and the age of the oldest one still
/// out. A second in which nothing ended has no p99 (the line breaks) while the age climbs: a stall
/// reads as a stall, not as zero latency.
pub fn over_time(
    title: &str,
    op: &str,
    intervals: &[IntervalSummary],
) -> Result<String, PlotError> {
    let fail = failed(title);
    let rate =
        |i: &IntervalSummary| (i.counts.ops + i.counts.ops_failed) as f64 / i.seconds.max(1e-9);
    let end = intervals.last().map_or(1.0, |i| i.at).max(1.0);
    let top_rate = intervals.iter().map(rate).fold(1.0, f64::max) * 1.15;
    let p99_ms = |i: &IntervalSummary| i.headline().map(|p| p.p99 / 1e3);
    let oldest_ms = |i: &IntervalSummary| i.oldest_outstanding_us / 1e3;
    let top_p99 = intervals
        .iter()
        .flat_map(|i| [p99_ms(i).unwrap_or(0.0), oldest_ms(i)])
        .fold(0.1, f64::max)
        * 1.15;
    svg(title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .right_y_label_area_size(64)
            .build_cartesian_2d(0.0..end, 0.0..top_rate)
            .map_err(&fail)?
            .set_secondary_coord(0.0..end, 0.0..top_p99);
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc(format!("{op}s per second"))
            .draw()
            .map_err(&fail)?;
        chart
            .configure_secondary_axes()
            .y_desc("p99 latency, oldest out (ms)")
            .draw()
            .map_err(&fail)?;
        let blue = BLUE.mix(0.9);
        let red = RED.mix(0.9);
        chart
            .draw_series(LineSeries::new(
                intervals.iter().map(|i| (i.at, rate(i))),
                blue.stroke_width(2),
            ))
            .map_err(&fail)?
            .label(format!("{op}s/s"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], blue.stroke_width(2))
            });
        for (i, run) in p99_runs(intervals).into_iter().enumerate() {
            let series = chart
                .draw_secondary_series(LineSeries::new(run, red.stroke_width(2)))
                .map_err(&fail)?;
            if i == 0 {
                series.label("p99 latency (ms)").legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], red.stroke_width(2))
                });
            }
        }
        let grey = BLACK.mix(0.45);
        chart
            .draw_secondary_series(LineSeries::new(
                intervals.iter().map(|i| (i.at, oldest_ms(i))),
                grey.stroke_width(1),
            ))
            .map_err(&fail)?
            .label("oldest out (ms)")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(1))
            });
        legend(&mut chart, SeriesLabelPosition::LowerRight, &fail)
    })
}

/// The p99 line in pieces, one per run of seconds in which something ended (milliseconds): no
/// line is drawn through a stall.
fn p99_runs(intervals: &[IntervalSummary]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for interval in intervals {
        match interval.headline() {
            Some(p) => runs
                .last_mut()
                .map_or((), |run| run.push((interval.at, p.p99 / 1e3))),
            None => runs.push(Vec::new()),
        }
    }
    runs.retain(|run| !run.is_empty());
    runs
}

/// One line per series of (x, y) points, with markers, on linear axes from zero: latency against
/// the number of reads fanned out, say.
pub fn lines(
    title: &str,
    (x_desc, y_desc): (&str, &str),
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<String, PlotError> {
    let fail = failed(title);
    let points = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let right = points().map(|(x, _)| x).fold(1.0, f64::max) * 1.05;
    let top = points().map(|(_, y)| y).fold(0.01, f64::max) * 1.15;
    svg(title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..right, 0.0..top)
            .map_err(&fail)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(&fail)?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).mix(0.9);
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(&fail)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(&fail)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, &fail)
    })
}

/// Achieved rate (filled) against target (outline) per scenario of a rate ladder.
pub fn rates(
    title: &str,
    op: &str,
    points: &[(String, Option<f64>, f64)],
) -> Result<String, PlotError> {
    let fail = failed(title);
    let top = points
        .iter()
        .map(|(_, target, achieved)| target.unwrap_or(0.0).max(*achieved))
        .fold(1.0, f64::max)
        * 1.15;
    let count = u32::try_from(points.len()).unwrap_or(u32::MAX).max(1);
    svg(title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            // A segmented axis over 0..n-1 has n slots, one per scenario; over 0..0 it has no
            // width at all, so a lone scenario gets two slots, the second empty.
            .build_cartesian_2d((0u32..count.max(2) - 1).into_segmented(), 0.0..top)
            .map_err(&fail)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(format!("{op}s per second"))
            .x_label_formatter(&|segment| match segment {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => points
                    .get(*i as usize)
                    .map_or_else(String::new, |(name, _, _)| name.clone()),
                SegmentValue::Last => String::new(),
            })
            .draw()
            .map_err(&fail)?;
        let achieved = BLUE.mix(0.7);
        chart
            .draw_series(points.iter().enumerate().map(|(i, (_, _, rate))| {
                let i = u32::try_from(i).unwrap_or(0);
                Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), *rate),
                    ],
                    achieved.filled(),
                )
            }))
            .map_err(&fail)?
            .label("achieved")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], achieved.filled()));
        chart
            .draw_series(points.iter().enumerate().filter_map(|(i, (_, target, _))| {
                let i = u32::try_from(i).unwrap_or(0);
                target.map(|t| {
                    Rectangle::new(
                        [
                            (SegmentValue::Exact(i), 0.0),
                            (SegmentValue::Exact(i + 1), t),
                        ],
                        BLACK.stroke_width(2),
                    )
                })
            }))
            .map_err(&fail)?
            .label("target")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], BLACK.stroke_width(2)));
        legend(&mut chart, SeriesLabelPosition::UpperLeft, &fail)
    })
}

/// A point of a capacity search against the rate tried: a step's whole, or one of its windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePoint {
    /// The rate the step tried, per second.
    pub rate: f64,
    /// The measure (ms, percent).
    pub value: f64,
    /// Whether it met every bound.
    pub passed: bool,
}

/// A measure against the rate tried, for a capacity search: every window a small dot, every step
/// a large one (green when it passed, red when it failed), the bound a horizontal line and the
/// knee, between the highest passing and the lowest failing rate, a shaded band. With `log_y` the
/// measure's axis is logarithmic (latency: a failing step's seconds beside a passing one's
/// milliseconds), its labels the values themselves.
pub fn against_rate(
    title: &str,
    y_desc: &str,
    log_y: bool,
    (windows, steps): (&[RatePoint], &[RatePoint]),
    bound: Option<f64>,
    (passed, lowest_failed): (Option<f64>, Option<f64>),
) -> Result<String, PlotError> {
    let fail = failed(title);
    let values = || {
        (windows.iter().chain(steps))
            .map(|p| p.value)
            .chain(bound)
            .filter(|v| v.is_finite())
    };
    // On the logarithmic axis, y is log10 of the value; nothing sits below a floor.
    let floor = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let floor = if floor.is_finite() { floor / 2.0 } else { 0.01 };
    let y = move |v: f64| if log_y { v.max(floor).log10() } else { v };
    let top = values().fold(if log_y { floor * 10.0 } else { 0.01 }, f64::max);
    let (bottom, top) = if log_y {
        (y(floor), y(top) + 0.15)
    } else {
        (0.0, top * 1.15)
    };
    let right = (windows.iter().chain(steps))
        .map(|p| p.rate)
        .chain(lowest_failed)
        .fold(1.0, f64::max)
        * 1.1;
    svg(title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..right, bottom..top)
            .map_err(&fail)?;
        // Whole numbers from 10 up, two significant digits below: a log axis's ticks fall between
        // round values (31.62 ms).
        let label = |v: &f64| {
            let value = if log_y { 10f64.powf(*v) } else { *v };
            if value == 0.0 {
                return "0".to_owned();
            }
            let digits = (1 - value.abs().log10().floor() as i32).max(0) as usize;
            format!("{value:.digits$}")
        };
        chart
            .configure_mesh()
            .x_desc("rate tried, per second")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(y_desc)
            .y_label_formatter(&label)
            .draw()
            .map_err(&fail)?;
        let knee = RGBColor(255, 165, 0).mix(0.18);
        match (passed, lowest_failed) {
            (Some(low), Some(high)) => {
                chart
                    .draw_series([Rectangle::new([(low, bottom), (high, top)], knee.filled())])
                    .map_err(&fail)?
                    .label("knee: highest passing to lowest failing rate")
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 14, y + 5)], knee.filled())
                    });
            }
            (Some(at), None) | (None, Some(at)) => {
                let edge = RGBColor(255, 165, 0).mix(0.8);
                chart
                    .draw_series(LineSeries::new(
                        [(at, bottom), (at, top)],
                        edge.stroke_width(2),
                    ))
                    .map_err(&fail)?
                    .label(if passed.is_some() {
                        "highest rate tried, passed"
                    } else {
                        "lowest rate tried, failed"
                    })
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], edge.stroke_width(2))
                    });
            }
            (None, None) => {}
        }
        if let Some(bound) = bound {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, y(bound)), (right, y(bound))],
                    BLACK.stroke_width(1),
                ))
                .map_err(&fail)?
                .label(format!("bound: {}", label(&y(bound))))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(1))
                });
        }
        let (green, red) = (RGBColor(0, 140, 60), RGBColor(200, 30, 30));
        let colour = |p: &RatePoint| if p.passed { green } else { red };
        chart
            .draw_series(
                windows
                    .iter()
                    .map(|p| Circle::new((p.rate, y(p.value)), 2, colour(p).mix(0.45).filled())),
            )
            .map_err(&fail)?
            .label("a window")
            .legend(move |(x, y)| Circle::new((x + 7, y), 2, BLACK.mix(0.45).filled()));
        chart
            .draw_series(
                steps
                    .iter()
                    .filter(|p| p.passed)
                    .map(|p| Circle::new((p.rate, y(p.value)), 6, green.filled())),
            )
            .map_err(&fail)?
            .label("a step that passed")
            .legend(move |(x, y)| Circle::new((x + 7, y), 5, green.filled()));
        chart
            .draw_series(
                steps
                    .iter()
                    .filter(|p| !p.passed)
                    .map(|p| Cross::new((p.rate, y(p.value)), 6, red.stroke_width(3))),
            )
            .map_err(&fail)?
            .label("a step that failed")
            .legend(move |(x, y)| Cross::new((x + 7, y), 5, red.stroke_width(3)));
        legend(&mut chart, SeriesLabelPosition::UpperLeft, &fail)
    })
}

#[cfg(test)]
#[path = "plots_tests.rs"]
mod tests;
