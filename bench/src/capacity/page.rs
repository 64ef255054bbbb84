//! The search's page, `index.html` in its folder: the answer; p99, p99.9 and errors against the
//! rate tried, for every step and every window, with the SLA's bound and the knee marked; the
//! steps; and what the ring said of itself at the first step that failed (the requests each node
//! served and the tasks queued in its pools), which is where a search's answer is explained.

use std::path::Path;

use maud::{Markup, html};

use super::findmax::{Findmax, Step};
use super::search::{Answer, StepOutcome};
use crate::error::{BenchError, Result};
use crate::report::figure::{document, figure};
use crate::report::plots::{self, PlotError, RatePoint};
use crate::report::ring_figures::ring_figures;
use crate::report::suite_report;

/// Makes the page of `found` and writes it into its folder, atomically.
pub fn write_page(folder: &Path, found: &Findmax) -> Result<()> {
    let path = folder.join(crate::report::html::PAGE);
    let page =
        page(folder, found).map_err(|e| BenchError::Failed(format!("the search's page: {e}")))?;
    loadgen::report::write_atomically(&path, page.as_bytes())
        .map_err(BenchError::io(format!("writing {}", path.display())))
}

/// The page's HTML; the steps' reports are read from `folder` for the ring's side.
pub fn page(folder: &Path, found: &Findmax) -> std::result::Result<String, PlotError> {
    let bounds = &found.bounds;
    let (passed, failed) = knee(&found.answer);
    let windows = |measure: fn(&super::check::WindowVerdict) -> f64| -> Vec<RatePoint> {
        (found.steps.iter())
            .flat_map(|step| {
                step.windows.windows.iter().map(move |w| RatePoint {
                    rate: step.rate,
                    value: measure(w),
                    passed: w.broken.is_empty(),
                })
            })
            .collect()
    };
    let steps = |measure: fn(&Step) -> f64| -> Vec<RatePoint> {
        (found.steps.iter())
            .map(|step| RatePoint {
                rate: step.rate,
                value: measure(step),
                passed: step.outcome == StepOutcome::Passed,
            })
            .collect()
    };
    let p99 = plots::against_rate(
        "p99 against the rate tried",
        "p99, ms (log)",
        true,
        (&windows(|w| w.p99_ms), &steps(|s| s.p99_ms)),
        bounds.p99_ms,
        (passed, failed),
    )?;
    let p999 = plots::against_rate(
        "p99.9 against the rate tried",
        "p99.9, ms (log)",
        true,
        (&windows(|w| w.p999_ms), &steps(|s| s.p999_ms)),
        bounds.p999_ms,
        (passed, failed),
    )?;
    let errors = plots::against_rate(
        "Errors against the rate tried",
        "failed, missed or abandoned, % of due",
        false,
        (&windows(|w| w.errors_percent), &steps(worst_errors)),
        bounds.errors_percent,
        (passed, failed),
    )?;
    let ring = first_failing_ring(folder, found)?;
    let title = format!("bench findmax: {}", found.app);
    let window = found.window_s;
    let content = html! {
        h1 { "bench findmax: " (found.app) }
        p.answer { strong { (found.said) } }
        @if let Some(why) = &found.stopped { p.note { "Stopped: " (why) } }
        p.note {
            "SLA, in every " (window) " s window of every step: "
            (sla(found)) ". Latency counts from each operation's due time; failed, missed and \
             abandoned operations count. Searched in " (format!("{:.0}", found.took_s)) " s"
            @if found.loaders > 1 {
                " by " (found.loaders) " loaders together, each step's windows cut from their \
                 merged interval logs"
            }
            ". Each small dot is a window; each large one a whole step, green if every window \
             passed. The shaded band is the knee: between the highest rate that passed and the \
             lowest that failed."
        }
        (figure("findmax-p99", &p99, "p99 of every window and every whole step, against the rate tried."))
        (figure("findmax-p999", &p999, "p99.9 of every window and every whole step."))
        (figure("findmax-errors", &errors, "The share of each window's operations due that failed, were missed or abandoned; a step's large dot is its worst window."))
        h2 { "The steps" }
        (steps_table(found))
        @if let Some((step, figures)) = ring {
            h2 { "The ring's side at the first failing step (" (format!("{:.0}", step.rate)) "/s)" }
            p.note {
                @if let Some(ring) = &step.ring { (ring) ". " }
                "What each node said of its own load, once a second, from its system_views: a \
                 queue that stays is a node that could not keep up."
            }
            @for figure in figures { (figure) }
        }
    };
    let style = format!(
        "{}.answer {{ font-size: 18px; }}\n",
        crate::report::html::STYLE
    );
    Ok(document(&title, &style, content).into_string())
}

/// A step's worst window's share of errors, percent.
fn worst_errors(step: &Step) -> f64 {
    (step.windows.windows.iter())
        .map(|w| w.errors_percent)
        .fold(0.0, f64::max)
}

/// The knee: the highest rate that passed and the lowest that failed.
fn knee(answer: &Answer) -> (Option<f64>, Option<f64>) {
    match answer {
        Answer::Between { passed, failed } => (*passed, Some(*failed)),
        Answer::AtLeast { passed } => (Some(*passed), None),
        Answer::LoaderBound { passed, .. } => (*passed, None),
        Answer::Stopped { passed, failed } => (*passed, *failed),
    }
}

fn sla(found: &Findmax) -> String {
    let b = &found.bounds;
    let mut parts = Vec::new();
    if let Some(p99) = b.p99_ms {
        parts.push(format!("p99 under {p99} ms"));
    }
    if let Some(p999) = b.p999_ms {
        parts.push(format!("p99.9 under {p999} ms"));
    }
    if let Some(errors) = b.errors_percent {
        parts.push(format!("errors under {errors}%"));
    }
    parts.join(", ")
}

/// The first failing step and its ring's figures, if it sampled the ring.
fn first_failing_ring<'a>(
    folder: &Path,
    found: &'a Findmax,
) -> std::result::Result<Option<(&'a Step, Vec<Markup>)>, PlotError> {
    let Some(step) = found.first_failing() else {
        return Ok(None);
    };
    let Ok(loaded) = suite_report::load(&folder.join(&step.report)) else {
        return Ok(None);
    };
    let figures = ring_figures(&loaded.suite)?;
    Ok((!figures.is_empty() || step.ring.is_some()).then_some((step, figures)))
}

fn steps_table(found: &Findmax) -> Markup {
    html! {
        table {
            tr {
                th { "step" } th { "rate/s" } th { "achieved/s" } th { "p99 ms" }
                th { "p99.9 ms" } th { "windows failed" } th { "outcome" } th { "report" }
            }
            @for step in &found.steps {
                tr {
                    td { (step.number) }
                    td { (format!("{:.0}", step.rate)) }
                    td { (format!("{:.1}", step.achieved)) }
                    td { (format!("{:.3}", step.p99_ms)) }
                    td { (format!("{:.3}", step.p999_ms)) }
                    td { (step.windows.failing().len()) " of " (step.windows.windows.len()) }
                    td.text {
                        @match &step.outcome {
                            StepOutcome::Passed => "passed",
                            StepOutcome::Failed(why) => { "failed: " (why) },
                            StepOutcome::LoaderBound(why) => { "the loader's limit: " (why) },
                        }
                    }
                    td.text { a href=(step.report) { (step.report) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::check::{Bounds, Checked, WindowVerdict};
    use crate::capacity::search::SearchSettings;

    fn step(number: usize, rate: f64, p99s: &[f64]) -> Step {
        let windows: Vec<WindowVerdict> = (p99s.iter().enumerate())
            .map(|(i, &p99)| WindowVerdict {
                from_s: i as f64 * 10.0,
                to_s: (i + 1) as f64 * 10.0,
                operations: (rate * 10.0) as u64,
                rate,
                p99_ms: p99,
                p999_ms: p99 * 2.0,
                errors_percent: 0.0,
                broken: if p99 > 10.0 {
                    vec![format!("p99 {p99} ms")]
                } else {
                    Vec::new()
                },
            })
            .collect();
        let failed = windows.iter().any(|w| !w.broken.is_empty());
        Step {
            number,
            report: format!("step-{number}-{rate:.0}.json"),
            rate,
            achieved: rate,
            verdict: "the target".to_owned(),
            outcome: if failed {
                StepOutcome::Failed("a window".to_owned())
            } else {
                StepOutcome::Passed
            },
            windows: Checked {
                scenario: "factory".to_owned(),
                per_s: 10.0,
                reference_rate: rate,
                reference: "target",
                windows,
            },
            p99_ms: p99s.iter().copied().fold(0.0, f64::max),
            p999_ms: 0.0,
            ring: None,
        }
    }

    fn found(steps: Vec<Step>, answer: Answer) -> Findmax {
        Findmax {
            app: "factory".to_owned(),
            settings: SearchSettings {
                start: 1000.0,
                growth: 2.0,
                max_rate: 1e6,
                resolution: 0.05,
            },
            bounds: Bounds {
                p99_ms: Some(10.0),
                p999_ms: None,
                rate_drop_percent: None,
                errors_percent: Some(1.0),
            },
            window_s: 10.0,
            steps,
            said: answer.describe("visit"),
            answer,
            stopped: None,
            loaders: 1,
            took_s: 120.0,
        }
    }

    #[test]
    fn the_page_draws_every_measure_against_rate_with_the_knee_and_lists_every_step() {
        let search = found(
            vec![
                step(1, 1000.0, &[2.0, 3.0, 2.5]),
                step(2, 2000.0, &[4.0, 40.0, 5.0]),
                step(3, 1414.0, &[3.0, 3.5, 4.0]),
            ],
            Answer::Between {
                passed: Some(1414.0),
                failed: 2000.0,
            },
        );
        let folder = tempfile::tempdir().unwrap();
        let html = page(folder.path(), &search).unwrap();
        for plot in ["findmax-p99", "findmax-p999", "findmax-errors"] {
            assert!(html.contains(&format!("data-plot=\"{plot}\"")), "{plot}");
        }
        assert!(html.contains("knee: highest passing to lowest failing rate"));
        assert!(html.contains("between 1414 visits/s (passed) and 2000 visits/s (failed)"));
        assert!(html.contains("p99 under 10 ms"));
        for report in ["step-1-1000.json", "step-2-2000.json", "step-3-1414.json"] {
            assert!(html.contains(report), "{report}");
        }
        // On the p99 plot: a dot for each of the nine windows, one for each of the two steps
        // that passed (the failed one is a cross), and two in the legend.
        let p99 = html
            .split("data-plot=\"findmax-p99\"")
            .nth(1)
            .and_then(|rest| rest.split("</figure>").next())
            .unwrap();
        assert_eq!(p99.matches("<circle").count(), 9 + 2 + 2, "{p99}");
    }

    #[test]
    fn the_ring_side_is_that_of_the_lowest_rate_that_failed_every_run() {
        // 2000/s failed once and passed when run again; 2828/s failed both runs.
        let search = found(
            vec![
                step(1, 1000.0, &[2.0]),
                step(2, 2000.0, &[20.0]),
                step(3, 2000.0, &[3.0]),
                step(4, 2828.0, &[30.0]),
                step(5, 2828.0, &[40.0]),
            ],
            Answer::Between {
                passed: Some(2000.0),
                failed: 2828.0,
            },
        );
        assert_eq!(search.first_failing().map(|s| s.number), Some(4));
    }

    #[test]
    fn a_search_that_never_failed_marks_its_highest_rate_and_draws_no_ring_side() {
        let search = found(
            vec![step(1, 1000.0, &[2.0]), step(2, 2000.0, &[3.0])],
            Answer::AtLeast { passed: 2000.0 },
        );
        let html = page(tempfile::tempdir().unwrap().path(), &search).unwrap();
        assert!(html.contains("highest rate tried, passed"));
        assert!(!html.contains("The ring's side at the first failing step"));
    }
}
