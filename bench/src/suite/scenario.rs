//! The suite's scenarios: what each one is (the standard list, [`SCENARIOS`]), and how one runs
//! the way a user runs it: its own `factory` or `shop` process (so it measures its own CPU and
//! memory), its live line shown on the progress bar, its report, HDR log and printed summary
//! collected into the suite's folder.

use crate::error::{BenchError, Result};
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use indicatif::ProgressBar;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::apps::{STUCK_AFTER, app_command, measured};
use crate::report::suite_report::Scenario;
use loadgen::report::RunReport;

/// Which app a scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// `factory`.
    Factory,
    /// `shop`.
    Shop,
}

/// One scenario of the standard suite.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its name.
    pub name: &'static str,
    /// The app.
    pub app: App,
    /// The app's own flags.
    pub flags: &'static [&'static str],
    /// What it shows.
    pub description: &'static str,
}

/// The standard suite: the factory at a ladder of rates, then shop fan-outs of 1, 10 and 50
/// reads, all at once and one after another, one fan-out at a time (so each fan-out's latency is
/// its own, not a queue's).
pub const SCENARIOS: &[Spec] = &[
    Spec {
        name: "factory-1000",
        app: App::Factory,
        flags: &["--rate", "1000"],
        description: "factory at 1000 visits/s",
    },
    Spec {
        name: "factory-5000",
        app: App::Factory,
        flags: &["--rate", "5000"],
        description: "factory at 5000 visits/s",
    },
    Spec {
        name: "factory-max",
        app: App::Factory,
        flags: &[],
        description: "factory as fast as 256 writes in flight allow",
    },
    Spec {
        name: "shop-1",
        app: App::Shop,
        flags: &["--employees", "1", "--max-in-flight", "1"],
        description: "one timesheet read at a time",
    },
    Spec {
        name: "shop-10",
        app: App::Shop,
        flags: &["--employees", "10", "--max-in-flight", "10"],
        description: "fan-outs of 10 reads all at once, one fan-out at a time",
    },
    Spec {
        name: "shop-10-sequential",
        app: App::Shop,
        flags: &["--employees", "10", "--max-in-flight", "10", "--sequential"],
        description: "10 reads one after another, one fan-out at a time",
    },
    Spec {
        name: "shop-50",
        app: App::Shop,
        flags: &["--employees", "50", "--max-in-flight", "50"],
        description: "fan-outs of 50 reads all at once, one fan-out at a time",
    },
    Spec {
        name: "shop-50-sequential",
        app: App::Shop,
        flags: &["--employees", "50", "--max-in-flight", "50", "--sequential"],
        description: "50 reads one after another, one fan-out at a time",
    },
];

/// Writes the shop's data, unmeasured: one run of the original factory's size.
pub(crate) async fn populate(common: &[String]) -> Result<()> {
    let status = app_command("factory")?
        .args(common)
        .args([
            "--visits",
            "100000",
            "--employees",
            "100",
            "--trees",
            "100",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map_err(BenchError::io("running factory to write the shop's visits"))?;
    if !status.success() {
        return Err(BenchError::Failed(format!(
            "writing visits for the shop failed ({status})"
        )));
    }
    Ok(())
}

/// How a scenario went.
pub(crate) enum Ran {
    /// It ended, and here is its report.
    Done(Box<Scenario>),
    /// Ctrl-C or SIGTERM stopped it; its report, if it wrote one.
    Interrupted(Option<Box<Scenario>>),
}

/// Runs one scenario's process, showing its live line, and reads back its report.
pub(crate) async fn run_scenario(
    spec: &Spec,
    common: &[String],
    (warmup, duration): (Duration, Duration),
    folder: &Path,
    bar: &ProgressBar,
) -> Result<Ran> {
    let log_name = format!("{}.hlog", spec.name);
    let report_path = folder.join(format!("{}.json", spec.name));
    let mut process = app_command(app_name(spec.app))?;
    process.args(common).args(spec.flags);
    measured(
        &mut process,
        (warmup, duration),
        &report_path,
        &folder.join(&log_name),
    );
    // The scenario has a known length; a process far past it is stuck, and is killed.
    let limit = warmup + duration + STUCK_AFTER;
    let (output, last_line) = follow(process, spec, bar, limit).await?;
    let printed = folder.join(format!("{}.txt", spec.name));
    std::fs::write(&printed, &output.stdout)
        .map_err(BenchError::io(format!("writing {}", printed.display())))?;
    let scenario = RunReport::read(&report_path).ok().map(|report| {
        Box::new(Scenario {
            name: spec.name.to_owned(),
            description: spec.description.to_owned(),
            hdr_log: Some(log_name),
            report,
        })
    });
    outcome(spec, output.status, scenario, &last_line, bar)
}

fn app_name(app: App) -> &'static str {
    match app {
        App::Factory => "factory",
        App::Shop => "shop",
    }
}

/// Starts `process` and waits for it, at most `limit`, showing each line it prints on stderr
/// (its live line) on the progress bar. Returns its output and the last such line.
async fn follow(
    mut process: tokio::process::Command,
    spec: &Spec,
    bar: &ProgressBar,
    limit: Duration,
) -> Result<(Output, String)> {
    let mut child = process
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(BenchError::io(format!("starting {}", spec.name)))?;
    let mut stderr = child.stderr.take().map(|e| BufReader::new(e).lines());
    let mut last_line = String::new();
    let finished = tokio::time::timeout(limit, async {
        if let Some(lines) = stderr.as_mut() {
            while let Ok(Some(line)) = lines.next_line().await {
                bar.set_message(format!("{}: {}", spec.name, line.trim()));
                last_line = line;
            }
        }
        child.wait_with_output().await
    })
    .await;
    match finished {
        Ok(output) => {
            let output = output.map_err(BenchError::io(format!("waiting for {}", spec.name)))?;
            Ok((output, last_line))
        }
        Err(_) => Err(BenchError::Failed(format!(
            "scenario {} did not end within {}",
            spec.name,
            humantime::format_duration(limit)
        ))),
    }
}

/// What the scenario's exit and report add up to: interrupted (exit 130), done (a report), or
/// failed, with the last line it printed.
fn outcome(
    spec: &Spec,
    status: ExitStatus,
    scenario: Option<Box<Scenario>>,
    last_line: &str,
    bar: &ProgressBar,
) -> Result<Ran> {
    match (status.code(), scenario) {
        (Some(130), scenario) => Ok(Ran::Interrupted(scenario)),
        (_, Some(scenario)) => {
            say(
                bar,
                &format!(
                    "bench: {} done: {}",
                    spec.name, scenario.report.limiter.explanation
                ),
            );
            Ok(Ran::Done(scenario))
        }
        (code, None) => Err(BenchError::Failed(format!(
            "scenario {} failed (exit code {code:?}): {last_line}",
            spec.name
        ))),
    }
}

/// Prints a line above the progress bar, or plainly when there is no terminal to draw it on.
pub(crate) fn say(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}
