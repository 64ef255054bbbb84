//! `bench findmax --p99 10ms`: the highest rate the ring serves within an SLA, found by running
//! the app at fixed rates, open loop, step after step ([`super::search`]): each step a run of its
//! own process after a warm-up, judged on every window of its interval log (latency from each due
//! time, missed and failed operations counted), so that a rate whose p99 was fine on average but
//! broke the SLA for ten seconds fails.
//!
//! A step that fell short because the loader ran out of CPU (its verdict: the client's or the
//! machine's CPU) ends the search: what failed there was the loader, and its rate says nothing of
//! the ring's capacity.
//!
//! Everything lands in one report folder: every step's report, interval log and printed output
//! (`step-<n>-<rate>.json`, `.hlog`, `.txt`, which `bench check`, `compare` and `plot` read), and
//! `findmax.json` (the search: every step, every window, the answer).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::check::{Bounds, Checked, check};
use super::search::{Answer, Search, SearchSettings, StepOutcome};
use crate::apps::{STUCK_AFTER, connection_flags, measured};
use crate::error::{BenchError, Result};
use crate::report::suite_report::{self, Loaded, Scenario};
use loadgen::report::RunReport;
use loadgen::report::Verdict;

/// One step of the search, run and judged.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Its place in the search, from 1.
    pub number: usize,
    /// The rate tried, operations per second (of all shards together).
    pub rate: f64,
    /// What it achieved.
    pub achieved: f64,
    /// Its report's verdict, in a few words.
    pub verdict: String,
    /// How it went.
    pub outcome: StepOutcome,
    /// Every window, judged.
    pub windows: Checked,
    /// The whole step's p99 and p99.9, ms.
    pub p99_ms: f64,
    /// The whole step's p99.9, ms.
    pub p999_ms: f64,
    /// What the ring said about itself, in a sentence.
    pub ring: Option<String>,
}

/// A finished search.
#[derive(Debug, Clone, Serialize)]
pub struct Findmax {
    /// The app searched with.
    pub app: String,
    /// The settings.
    pub settings: SearchSettings,
    /// The SLA every window had to meet.
    pub bounds: Bounds,
    /// The windows' length, seconds.
    pub window_s: f64,
    /// Every step.
    pub steps: Vec<Step>,
    /// Where it ended.
    pub answer: Answer,
    /// The answer in words.
    pub said: String,
    /// How long the search took, seconds.
    pub took_s: f64,
}

/// A step's outcome from its report and its windows: the loader's limit, a broken window, a rate
/// fallen short, or passed.
pub fn outcome(report: &RunReport, windows: &Checked) -> StepOutcome {
    let kept_up = report
        .target_rate
        .is_none_or(|target| report.achieved_rate >= 0.99 * target);
    if !kept_up
        && matches!(
            report.limiter.verdict,
            Verdict::ClientCpu | Verdict::MachineCpu
        )
    {
        return StepOutcome::LoaderBound(format!(
            "the step fell short ({:.0} of {:.0}/s) and its verdict is {}: {}",
            report.achieved_rate,
            report.target_rate.unwrap_or_default(),
            report.limiter.verdict.describe(),
            first_sentence(&report.limiter.explanation)
        ));
    }
    if let Some(window) = windows.failing().first() {
        return StepOutcome::Failed(format!(
            "window {:.0}-{:.0} s: {}",
            window.from_s,
            window.to_s,
            window.broken.join(", ")
        ));
    }
    if !kept_up {
        return StepOutcome::Failed(format!(
            "achieved {:.0} of {:.0}/s ({})",
            report.achieved_rate,
            report.target_rate.unwrap_or_default(),
            report.limiter.verdict.describe()
        ));
    }
    StepOutcome::Passed
}

fn first_sentence(text: &str) -> &str {
    text.split_once("; ").map_or(text, |(first, _)| first)
}

/// Judges a step's report (read from `loaded`, one scenario) window by window.
pub fn judge_step(
    number: usize,
    rate: f64,
    loaded: &Loaded,
    window: Duration,
    bounds: &Bounds,
) -> Result<Step> {
    let scenario: &Scenario = loaded
        .suite
        .scenarios
        .first()
        .ok_or_else(|| BenchError::Failed(format!("step {number} wrote an empty report")))?;
    let report = &scenario.report;
    let windows = check(loaded, scenario, window, bounds)
        .map_err(|e| BenchError::Failed(format!("step {number}: {e}")))?;
    let headline = report.headline();
    Ok(Step {
        number,
        rate,
        achieved: report.achieved_rate,
        verdict: report.limiter.verdict.describe().to_owned(),
        outcome: outcome(report, &windows),
        p99_ms: headline.p99 / 1e3,
        p999_ms: headline.p999 / 1e3,
        ring: report
            .ring
            .as_ref()
            .filter(|r| !r.nodes.is_empty())
            .map(|r| r.describe()),
        windows,
    })
}

/// Runs the search: `run_step(number, rate)` runs one step and returns its report's path (`None`
/// after Ctrl-C); `deadline` bounds the whole. A rate whose step failed on a window is run again
/// up to `retries` times, and fails only if every run of it failed: one step is one draw of the
/// ring's stalls, and a ring that stalls once a minute fails a 20 s step at any rate now and then.
pub async fn search<F, Fut>(
    settings: SearchSettings,
    (window, step_length): (Duration, Duration),
    bounds: &Bounds,
    (deadline, retries): (Instant, usize),
    mut run_step: F,
) -> Result<(Vec<Step>, Answer)>
where
    F: FnMut(usize, f64) -> Fut,
    Fut: std::future::Future<Output = Result<Option<PathBuf>>>,
{
    let mut search = Search::new(settings);
    let mut steps = Vec::new();
    loop {
        let rate = match search.next() {
            Ok(rate) => rate,
            Err(answer) => return Ok((steps, answer)),
        };
        let mut outcome = None;
        for attempt in 0..=retries {
            if Instant::now() + step_length > deadline {
                return Ok((steps, search.stopped()));
            }
            let number = steps.len() + 1;
            let Some(path) = run_step(number, rate).await? else {
                // Interrupted: what was found so far.
                return Ok((steps, search.stopped()));
            };
            let loaded = suite_report::load(&path)?;
            let step = judge_step(number, rate, &loaded, window, bounds)?;
            let again = matches!(step.outcome, StepOutcome::Failed(_)) && attempt < retries;
            eprintln!(
                "bench findmax: step {number} at {rate:.0}/s: {}{}",
                match &step.outcome {
                    StepOutcome::Passed => "passed".to_owned(),
                    StepOutcome::Failed(why) => format!("failed: {why}"),
                    StepOutcome::LoaderBound(why) => format!("the loader's limit: {why}"),
                },
                if again { "; running it again" } else { "" }
            );
            outcome = Some(step.outcome.clone());
            steps.push(step);
            if !again {
                break;
            }
        }
        if let Some(outcome) = outcome {
            search.record(rate, outcome);
        }
    }
}

impl Findmax {
    /// The steps as a table, and the answer.
    pub fn text(&self) -> String {
        let mut table = loadgen::report::table::new(
            &[
                "step",
                "rate/s",
                "achieved/s",
                "p99 ms",
                "p99.9 ms",
                "windows failed",
                "outcome",
            ],
            &[6],
        );
        for step in &self.steps {
            table.add_row([
                step.number.to_string(),
                format!("{:.0}", step.rate),
                format!("{:.1}", step.achieved),
                format!("{:.3}", step.p99_ms),
                format!("{:.3}", step.p999_ms),
                format!(
                    "{} of {}",
                    step.windows.failing().len(),
                    step.windows.windows.len()
                ),
                match &step.outcome {
                    StepOutcome::Passed => "passed".to_owned(),
                    StepOutcome::Failed(why) => format!("failed: {why}"),
                    StepOutcome::LoaderBound(_) => "the loader's limit".to_owned(),
                },
            ]);
        }
        let mut out = loadgen::report::table::render(&table, 0);
        out.push_str(&format!(
            "findmax: {} (searched in {})\n",
            self.said,
            humantime::format_duration(Duration::from_secs(self.took_s.round() as u64))
        ));
        if let Some(step) = self.first_failing()
            && let Some(ring) = &step.ring
        {
            out.push_str(&format!(
                "at the first failing step ({:.0}/s), the ring's side: {ring}\n",
                step.rate
            ));
        }
        out
    }

    /// The lowest-rated step that failed.
    pub fn first_failing(&self) -> Option<&Step> {
        self.steps
            .iter()
            .filter(|s| matches!(s.outcome, StepOutcome::Failed(_)))
            .min_by(|a, b| a.rate.total_cmp(&b.rate))
    }

    /// Writes `findmax.json` into `folder`.
    pub fn write(&self, folder: &Path) -> Result<()> {
        loadgen::report::write_json(&folder.join("findmax.json"), self)?;
        Ok(())
    }
}

/// What a search runs: the app, where, and how long each step is.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `factory` or `shop`.
    pub app: String,
    /// The app's flags every step gets: how to reach the ring, the keyspace, the user's own.
    pub flags: Vec<String>,
    /// Each step's measured length.
    pub step: Duration,
    /// Each step's warm-up.
    pub warmup: Duration,
    /// The windows every step is judged on.
    pub window: Duration,
    /// The SLA.
    pub bounds: Bounds,
    /// Where the search goes.
    pub settings: SearchSettings,
    /// The whole search's time limit.
    pub time_limit: Duration,
    /// How many times a step that failed on a window is run again before its rate fails.
    pub retries: usize,
    /// The report folder (it exists).
    pub out: PathBuf,
}

/// Runs the search `plan` describes, step after step, each a process of the app; writes
/// `findmax.json` into the report folder and returns the search. Ctrl-C stops the step running
/// and ends the search with what it had found.
pub async fn findmax(plan: &Plan) -> Result<Findmax> {
    let started = Instant::now();
    let (steps, answer) = search(
        plan.settings,
        (plan.window, plan.step + plan.warmup),
        &plan.bounds,
        (started + plan.time_limit, plan.retries),
        |number, rate| run_step(plan, number, rate),
    )
    .await?;
    let op = if plan.app == "shop" {
        "fan-out"
    } else {
        "visit"
    };
    let found = Findmax {
        app: plan.app.clone(),
        settings: plan.settings,
        bounds: plan.bounds,
        window_s: plan.window.as_secs_f64(),
        said: answer.describe(op),
        steps,
        answer,
        took_s: started.elapsed().as_secs_f64(),
    };
    found.write(&plan.out)?;
    Ok(found)
}

/// Runs step `number` at `rate`: the app's process, its report and log in the folder. `None`
/// when Ctrl-C stopped it.
async fn run_step(plan: &Plan, number: usize, rate: f64) -> Result<Option<PathBuf>> {
    let rate = rate.round().max(1.0);
    let name = format!("step-{number}-{rate:.0}");
    let report = plan.out.join(format!("{name}.json"));
    let printed = plan.out.join(format!("{name}.txt"));
    let output = std::fs::File::create(&printed)
        .map_err(BenchError::io(format!("creating {}", printed.display())))?;
    let errors = output
        .try_clone()
        .map_err(BenchError::io(format!("opening {}", printed.display())))?;
    let duration = |d: Duration| humantime::format_duration(d).to_string();
    let mut command = crate::apps::app_command(&plan.app)?;
    command
        .args(&plan.flags)
        .args(["--rate", &format!("{rate:.0}")]);
    measured(
        &mut command,
        (plan.warmup, plan.step),
        &report,
        &plan.out.join(format!("{name}.hlog")),
    );
    command
        .stdout(Stdio::from(output))
        .stderr(Stdio::from(errors))
        .kill_on_drop(true);
    eprintln!(
        "bench findmax: step {number} at {rate:.0}/s ({} + {} warm-up)",
        duration(plan.step),
        duration(plan.warmup)
    );
    let mut child = command
        .spawn()
        .map_err(BenchError::io(format!("starting {}", plan.app)))?;
    // A step has a known length; a process far past it is stuck, and is killed.
    let limit = plan.warmup + plan.step + STUCK_AFTER;
    let status = tokio::select! {
        status = tokio::time::timeout(limit, child.wait()) => match status {
            Ok(status) => status.map_err(BenchError::io(format!("waiting for {}", plan.app)))?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(BenchError::Failed(format!(
                    "step {number} at {rate:.0}/s: {} was still running {} after its length \
                     and was killed; its output is in {}",
                    plan.app,
                    duration(STUCK_AFTER),
                    printed.display()
                )));
            }
        },
        _ = tokio::signal::ctrl_c() => {
            // The app stops on the signal too, and writes what it measured; the search ends.
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
            return Ok(None);
        }
    };
    if !report.is_file() {
        return Err(BenchError::Failed(format!(
            "step {number} at {rate:.0}/s: {} exited with {status} and wrote no report; its \
             output is in {}",
            plan.app,
            printed.display()
        )));
    }
    Ok(Some(report))
}

/// Readies the ring for a search with `app`: a fresh keyspace of the project's schema (and, for
/// the shop, the visits it reads); returns the flags that reach it, for every step.
pub async fn prepare(connection: &client::ConnectionArgs, app: &str) -> Result<Vec<String>> {
    let cassandra = connection.connect().await?;
    let started_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let keyspace = crate::suite::setup::stamped_keyspace("findmax", &started_at);
    let replication =
        schema::Replication::derived_from_ring(&schema::nodes_per_datacenter(&cassandra.session));
    schema::apply(
        &cassandra.session,
        &schema::project_schema()?,
        &keyspace,
        &replication,
    )
    .await?;
    let flags = connection_flags(connection, &cassandra.local_dc, &keyspace);
    if app == "shop" {
        eprintln!("bench findmax: writing 100,000 visits for the shop to read (unmeasured)");
        crate::suite::scenario::populate(&flags).await?;
    }
    eprintln!("bench findmax: keyspace {keyspace}");
    Ok(flags)
}
