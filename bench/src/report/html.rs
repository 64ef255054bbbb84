//! The report page, `index.html`: a summary table and SVG plots, all in one file that works
//! offline (no script or font is fetched from anywhere).
//!
//! A few lines of script run when the page loads: for every plot they check that the browser
//! laid out its drawing (a non-empty bounding box, lines and shapes present) and mark the plot
//! `data-drawn="yes"`; the body then carries `data-plots="drawn/total"`. The live test reads
//! that back from headless Chromium, so "the plots render" is checked in a real browser. The
//! figures and that script are [`figure`](crate::report::figure)'s, shared with every page.

use std::path::Path;

use maud::{Markup, html};

use crate::report::figure::{document, figure};
use crate::report::plots::{self, PlotError};
use crate::report::ring_figures::ring_figures;
use crate::report::suite_report::SuiteReport;
use loadgen::record::Percentiles;
use loadgen::report::RunReport;
use loadgen::schedule::Pace;

/// The page's file name in a report folder.
pub const PAGE: &str = "index.html";

/// Why the page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// A plot failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Makes the page and writes it into `folder`, atomically.
pub fn write_page(folder: &Path, suite: &SuiteReport) -> Result<(), PageError> {
    let path = folder.join(PAGE);
    let io = |source| PageError::Io {
        path: path.display().to_string(),
        source,
    };
    loadgen::report::write_atomically(&path, page(suite)?.as_bytes()).map_err(io)
}

/// The page's HTML.
pub fn page(suite: &SuiteReport) -> Result<String, PageError> {
    let ring = &suite.ring;
    let title = format!("pickle bench report {}", suite.started_at);
    let content = html! {
        h1 { "pickle bench report" }
        p.note {
            "Started " (suite.started_at) ". Ring: " (ring.nodes) " node(s) in "
            (ring.datacenters.join(", ")) " (" (ring.hosts.join(", ")) ")"
            @if let Some(version) = &ring.cassandra_version { ", Cassandra " (version) }
            @if ring.started_locally { ", started locally by bench" }
            @if let Some(network) = &ring.modelled_network {
                ". Network delay added: " strong { (network) }
            }
            ". Keyspace " code { (suite.keyspace) } ". "
            "Response time counts from each operation's " em { "intended" } " start, so a \
             late schedule or a full in-flight window shows in it."
        }
        (summary_table(suite))
        h2 { "Latency by percentile" }
        @for figure in percentile_figures(suite)? { (figure) }
        @if let Some(figure) = rates_figure(suite)? {
            h2 { "Achieved against target" }
            (figure)
        }
        h2 { "Over time" }
        @for figure in over_time_figures(suite)? { (figure) }
        @let ramps = ramp_figures(suite)?;
        @if !ramps.is_empty() {
            h2 { "Latency against the rate of a ramp" }
            @for figure in ramps { (figure) }
        }
        @let ring_side = ring_figures(suite)?;
        @if !ring_side.is_empty() {
            h2 { "The ring's side" }
            p.note {
                "What each node said about its own load, once a second, read over CQL from its "
                code { "system_views" } ", on the same time axis as the plots above."
            }
            @for figure in ring_side { (figure) }
        }
    };
    let markup = document(&title, STYLE, content);
    Ok(markup.into_string())
}

/// The style of every report page (the search's page adds a rule of its own).
pub(crate) const STYLE: &str = "
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
figure { display: inline-block; margin: 1em 1em 1em 0; }
figcaption { font-size: 13px; color: #555; max-width: 760px; }
.note { color: #555; font-size: 14px; max-width: 60em; }
";

/// One percentile plot per tool and loop, its scenarios side by side. Closed-loop scenarios (no
/// target rate) get a plot of their own: their latency counts from each send, and drawn on the
/// same axes as the open-loop runs' latency from each due time it would look like the faster run
/// when it only waited less.
fn percentile_figures(suite: &SuiteReport) -> Result<Vec<Markup>, PlotError> {
    let mut groups: Vec<(&str, bool)> = suite
        .scenarios
        .iter()
        .map(|s| (s.report.tool.as_str(), s.report.is_open_loop()))
        .collect();
    groups.dedup();
    let mut seen = Vec::new();
    groups.retain(|g| {
        let new = !seen.contains(g);
        seen.push(*g);
        new
    });
    groups
        .into_iter()
        .map(|(tool, open)| {
            let series: Vec<(String, hdrhistogram::Histogram<u64>)> = suite
                .scenarios
                .iter()
                .filter(|s| s.report.tool == tool && s.report.is_open_loop() == open)
                .filter_map(|s| Some((s.name.clone(), s.report.headline_histogram()?)))
                .collect();
            let (title, name, caption) = if open {
                (
                    format!("{tool}: latency of every operation by percentile, from each due time"),
                    format!("{tool}-percentiles"),
                    "Both axes are logarithmic: each step right adds a nine.",
                )
            } else {
                (
                    format!("{tool}, closed loop: latency from each send, by percentile"),
                    format!("{tool}-closed-loop-percentiles"),
                    "Closed loop (unthrottled): each operation is sent when a permit frees, so its \
                     latency counts from the send and leaves out the queueing a user on a \
                     schedule waits through. Drawn apart from the open-loop runs, whose latency \
                     counts from each due time: the two are not comparable.",
                )
            };
            let svg = plots::percentile_curves(&title, &series)?;
            Ok(figure(&name, &svg, caption))
        })
        .collect()
}

/// The factory's achieved rates against their targets, if the suite ran the factory.
fn rates_figure(suite: &SuiteReport) -> Result<Option<Markup>, PlotError> {
    let ladder: Vec<(String, Option<f64>, f64)> = suite
        .scenarios
        .iter()
        .filter(|s| s.report.tool == "factory")
        .map(|s| (s.name.clone(), s.report.target_rate, s.report.achieved_rate))
        .collect();
    if ladder.is_empty() {
        return Ok(None);
    }
    let svg = plots::rates("factory: achieved and target rate", "visit", &ladder)?;
    Ok(Some(figure(
        "factory-rates",
        &svg,
        "Outline: the target; filled: what was achieved. Unthrottled runs have no target.",
    )))
}

/// Each scenario's throughput and p99, second by second.
fn over_time_figures(suite: &SuiteReport) -> Result<Vec<Markup>, PlotError> {
    suite
        .scenarios
        .iter()
        .map(|scenario| {
            let report = &scenario.report;
            let svg = plots::over_time(
                &format!(
                    "{}: throughput and p99 ({})",
                    scenario.name,
                    report.measures()
                ),
                &report.names.op,
                &report.intervals,
            )?;
            let caption = format!(
                "{}. {} Latency counts every operation that ended in each second, failed ones \
                 too; a gap in the p99 line is a second in which none ended, and the grey line is \
                 the age of the oldest one still out.",
                scenario.description, report.limiter.explanation
            );
            Ok(figure(&format!("{}-time", scenario.name), &svg, &caption))
        })
        .collect()
}

/// The pace of a ramp run (`--rate FROM..TO --ramp D`), from its configuration; `None` for
/// any other run.
pub fn ramp_of(report: &RunReport) -> Option<Pace> {
    let run = &report.config["run"];
    let rate = loadgen::args::parse_rate_or_ramp(run["rate"].as_str()?).ok()?;
    let duration = |v: &serde_json::Value| humantime::parse_duration(v.as_str()?).ok();
    Some(Pace::Ramp {
        from: rate.from?,
        to: rate.to,
        hold: duration(&run["warmup"]).unwrap_or_default(),
        over: duration(&run["ramp"])?,
    })
}

/// Each ramp's p50 and p99, second by second, against the rate due in that second: where the
/// knee is. Latency still counts from each due time.
fn ramp_figures(suite: &SuiteReport) -> Result<Vec<Markup>, PlotError> {
    let mut figures = Vec::new();
    for scenario in &suite.scenarios {
        let report = &scenario.report;
        let Some(pace) = ramp_of(report) else {
            continue;
        };
        let hold = match pace {
            Pace::Ramp { hold, .. } => hold.as_secs_f64(),
            _ => 0.0,
        };
        let points = |pick: fn(&Percentiles) -> f64| -> Vec<(f64, f64)> {
            (report.intervals.iter())
                .filter(|i| i.seconds >= 0.9)
                .filter_map(|i| {
                    let due = pace.mean_rate(hold + i.at - i.seconds, hold + i.at)?;
                    Some((due, pick(&i.headline()?) / 1e3))
                })
                .collect()
        };
        let op = &report.names.op;
        let svg = plots::lines(
            &format!("{}: latency as the rate grows", scenario.name),
            (
                &format!("{op}s/s due that second"),
                "latency ms (from each due time)",
            ),
            &[
                ("p50".to_owned(), points(|p| p.p50)),
                ("p99".to_owned(), points(|p| p.p99)),
            ],
        )?;
        let caption = format!(
            "{}. One point per second of the ramp and after: the rate due in that second and the \
             latency of the operations that ended in it, failed ones too. Where p99 leaves p50 \
             behind is the knee; `bench findmax` confirms it at fixed rates.",
            scenario.description
        );
        figures.push(figure(&format!("{}-ramp", scenario.name), &svg, &caption));
    }
    Ok(figures)
}

fn summary_table(suite: &SuiteReport) -> Markup {
    html! {
        table {
            tr {
                @for heading in ["scenario", "target/s", "achieved/s", "p50 ms", "p99 ms",
                    "p99.9 ms", "max ms", "errors %", "CPU µs/request", "limited by"] {
                    th { (heading) }
                }
            }
            @for row in suite.summary_rows() {
                @let [p50, p99, p999, max] = row.response_ms;
                tr {
                    td { (row.name) }
                    td { (row.target) }
                    td { (format!("{:.1}", row.achieved)) }
                    @for ms in [p50, p99, p999, max] { td { (format!("{ms:.3}")) } }
                    td { (format!("{:.2}", row.errors_percent)) }
                    td { (format!("{:.1}", row.cpu_us_per_request)) }
                    td.text { (row.limited_by) }
                }
            }
        }
        p.note { (suite.table_note()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_report_says_is_escaped_and_the_page_is_whole() {
        let report = crate::stats::merge::tests::report_of(&[1_000_000, 2_000_000, 3_000_000]);
        let mut suite = SuiteReport::of_run(report, None);
        suite.keyspace = "ks<script>alert(1)</script>".into();
        let page = page(&suite).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.contains("ks&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("data-plot=\"factory-percentiles\""));
        assert!(page.contains("<th>limited by</th>"));
        assert!(page.trim_end().ends_with("</html>"));
    }

    #[test]
    fn a_closed_loop_run_is_drawn_apart_from_the_open_loop_ones() {
        let open = crate::stats::merge::tests::report_of(&[1_000_000, 2_000_000]);
        let closed = loadgen::report::RunReport {
            target_rate: None,
            ..open.clone()
        };
        let mut suite = SuiteReport::of_run(open, None);
        let mut max = suite.scenarios[0].clone();
        max.name = "factory-max".into();
        max.report = closed;
        suite.scenarios.push(max);
        let page = page(&suite).unwrap();
        let closed_figure = page
            .split("data-plot=\"factory-closed-loop-percentiles\"")
            .nth(1)
            .expect("a figure of its own for the closed loop");
        assert!(closed_figure.contains("factory-max") && closed_figure.contains("not comparable"));
        let open_figure = page
            .split("data-plot=\"factory-percentiles\"")
            .nth(1)
            .and_then(|f| f.split("</figure>").next())
            .expect("a figure for the open loop");
        assert!(
            !open_figure.contains("factory-max"),
            "the open-loop plot leaves factory-max out"
        );
    }
}
