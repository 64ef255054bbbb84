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
//! N loaders can search together ([`super::steps`]): each runs its shard of every step, and the
//! merged windows decide.
//!
//! Everything lands in one report folder: every step's report, interval log and printed output
//! (`step-<n>-<rate>.json`, `.hlog`, `.txt`, which `bench check`, `compare` and `plot` read; with
//! shards, each shard's files and the merged step's folder), `findmax.json` (the search: every
//! step, every window, the answer) and its page, `index.html` ([`super::page`]).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::check::{Bounds, Checked, check};
use super::search::{Answer, Search, SearchSettings, StepOutcome};
use super::steps::{Plan, Sharded, StepRun, run_step};
use crate::apps::connection_flags;
use crate::error::{BenchError, Result};
use crate::report::suite_report::{self, Loaded, Scenario};
use loadgen::report::RunReport;
use loadgen::report::Verdict;

/// One step of the search, run and judged.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Its place in the search, from 1.
    pub number: usize,
    /// Its report, in the search's folder (a file, or the merged shards' folder).
    pub report: String,
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
    /// Why the search ended before it converged, if it did (the time limit, Ctrl-C, a shard
    /// missing).
    pub stopped: Option<String>,
    /// The loaders that ran every step together (1: this one alone).
    pub loaders: u32,
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

/// Judges step `number`'s report (read from `loaded`, one scenario, named `report` in the
/// search's folder) window by window.
pub fn judge_step(
    (number, report_name): (usize, &str),
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
        report: report_name.to_owned(),
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

/// Where a search ended: its steps, its answer, and why it stopped early if it did.
pub type Searched = (Vec<Step>, Answer, Option<String>);

/// Runs the search: `run_step(number, rate)` runs one step ([`StepRun`]); `fits(number)` says
/// whether step `number` would end within the time limit. A rate whose step failed on a window is
/// run again up to `retries` times, and fails only if every run of it failed: one step is one
/// draw of the ring's stalls, and a ring that stalls once a minute fails a 20 s step at any rate
/// now and then.
pub async fn search<F, Fut>(
    settings: SearchSettings,
    (window, bounds): (Duration, &Bounds),
    retries: usize,
    fits: impl Fn(usize) -> bool,
    mut run_step: F,
) -> Result<Searched>
where
    F: FnMut(usize, f64) -> Fut,
    Fut: std::future::Future<Output = Result<StepRun>>,
{
    let mut search = Search::new(settings);
    let mut steps = Vec::new();
    loop {
        let rate = match search.next() {
            Ok(rate) => rate,
            Err(answer) => return Ok((steps, answer, None)),
        };
        let mut outcome = None;
        for attempt in 0..=retries {
            let number = steps.len() + 1;
            if !fits(number) {
                let why = "the next step would have ended after --time-limit".to_owned();
                return Ok((steps, search.stopped(), Some(why)));
            }
            let (path, name) = match run_step(number, rate).await? {
                StepRun::Ran(path, name) => (path, name),
                StepRun::Stopped(why) => return Ok((steps, search.stopped(), Some(why))),
            };
            let loaded = suite_report::load(&path)?;
            let step = judge_step((number, &name), rate, &loaded, window, bounds)?;
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
        if let Some(why) = &self.stopped {
            out.push_str(&format!("findmax stopped: {why}\n"));
        }
        out.push_str(&format!(
            "findmax: {} (searched in {}{})\n",
            self.said,
            humantime::format_duration(Duration::from_secs(self.took_s.round() as u64)),
            if self.loaders > 1 {
                format!(
                    ", by {} loaders together, their windows merged",
                    self.loaders
                )
            } else {
                String::new()
            }
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

    /// The first step at the lowest rate that failed as a rate (every run of it failed; a rate
    /// that failed once and passed when run again did not).
    pub fn first_failing(&self) -> Option<&Step> {
        let passed = |rate: f64| {
            (self.steps.iter()).any(|s| s.rate == rate && s.outcome == StepOutcome::Passed)
        };
        self.steps
            .iter()
            .filter(|s| matches!(s.outcome, StepOutcome::Failed(_)) && !passed(s.rate))
            .min_by(|a, b| a.rate.total_cmp(&b.rate))
    }

    /// Writes `findmax.json` into `folder`.
    pub fn write(&self, folder: &Path) -> Result<()> {
        loadgen::report::write_json(&folder.join("findmax.json"), self)?;
        Ok(())
    }
}

/// Runs the search `plan` describes, step after step, each a process of the app; writes
/// `findmax.json` into the report folder (shard 0 does, when sharded) and returns the search,
/// whose page [`super::page::write_page`] draws. Ctrl-C stops the step running and ends the search with what it had found.
pub async fn findmax(plan: &Plan) -> Result<Findmax> {
    let started = Instant::now();
    let scratch = tempfile::tempdir().map_err(BenchError::io("making a scratch folder"))?;
    let lengths = (plan.warmup, plan.step);
    let (steps, answer, stopped) = search(
        plan.settings,
        (plan.window, &plan.bounds),
        plan.retries,
        |number| match plan.sharded {
            // Every loader decides alike: on the schedule, not on its own clock.
            Some(sharded) => {
                sharded.step_start(number, lengths) + plan.warmup + plan.step
                    <= sharded.start_at + plan.time_limit
            }
            None => Instant::now() + plan.warmup + plan.step <= started + plan.time_limit,
        },
        |number, rate| run_step(plan, number, rate, scratch.path()),
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
        stopped,
        loaders: plan.sharded.map_or(1, |s| s.shard.count),
        took_s: started.elapsed().as_secs_f64(),
    };
    if plan.sharded.is_none_or(|s| s.shard.index == 0) {
        found.write(&plan.out)?;
    }
    Ok(found)
}

/// Readies the ring for the search `plan` describes: a fresh keyspace of the project's schema
/// (and, for the shop, the visits it reads); returns the flags that reach it, for every step.
///
/// Sharded, the keyspace is named for --start-at; shard 0 makes it and then writes
/// `prepared.json` into the shared folder with the search's settings, and the other loaders wait
/// for that file and refuse to search with settings of their own.
pub async fn prepare(
    connection: &client::ConnectionArgs,
    plan: &Plan,
    app_flags: &[String],
) -> Result<Vec<String>> {
    let cassandra = connection.connect().await?;
    let stamp = plan.sharded.map_or_else(SystemTime::now, |s| s.start_at);
    let keyspace = crate::suite::setup::stamped_keyspace(
        "findmax",
        &humantime::format_rfc3339_millis(stamp).to_string(),
    );
    let flags = connection_flags(connection, &cassandra.local_dc, &keyspace);
    let agreed = Agreed::of(plan, &keyspace, app_flags);
    let prepared = plan.out.join("prepared.json");
    match plan.sharded {
        Some(sharded) if sharded.shard.index > 0 => {
            eprintln!(
                "bench findmax: shard {}: waiting for shard 0 to ready keyspace {keyspace}",
                sharded.shard
            );
            let theirs = wait_for_agreement(&prepared, &agreed, sharded).await?;
            if theirs != agreed {
                return Err(BenchError::Failed(format!(
                    "shard 0 searches with other settings than this loader: {}; give every \
                     loader the same flags",
                    agreed.difference(&theirs)
                )));
            }
        }
        _ => {
            let replication = schema::Replication::derived_from_ring(
                &schema::nodes_per_datacenter(&cassandra.session),
            );
            let schema = schema::project_schema()?;
            schema::apply(&cassandra.session, &schema, &keyspace, &replication).await?;
            if plan.app == "shop" {
                eprintln!(
                    "bench findmax: writing 100,000 visits for the shop to read (unmeasured)"
                );
                crate::suite::scenario::populate(&flags).await?;
            }
            if let Some(sharded) = plan.sharded {
                if SystemTime::now() + Duration::from_secs(2) > sharded.start_at {
                    return Err(BenchError::Failed(format!(
                        "readying keyspace {keyspace} ended at {}, too close to --start-at {}: \
                         give every loader a later one (the shop's visits take a minute or two)",
                        super::steps::rfc3339::text(SystemTime::now()),
                        super::steps::rfc3339::text(sharded.start_at)
                    )));
                }
                loadgen::report::write_json(&prepared, &agreed)?;
            }
        }
    }
    eprintln!("bench findmax: keyspace {keyspace}");
    Ok(flags)
}

/// What every loader of one search must agree on, written by shard 0 once the ring is ready.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
struct Agreed {
    keyspace: String,
    app: String,
    loaders: u32,
    start_at: String,
    between_s: f64,
    step_s: f64,
    warmup_s: f64,
    window_s: f64,
    time_limit_s: f64,
    retries: usize,
    bounds: serde_json::Value,
    settings: serde_json::Value,
    app_flags: Vec<String>,
}

impl Agreed {
    fn of(plan: &Plan, keyspace: &str, app_flags: &[String]) -> Agreed {
        let sharded = plan.sharded;
        Agreed {
            keyspace: keyspace.to_owned(),
            app: plan.app.clone(),
            loaders: sharded.map_or(1, |s| s.shard.count),
            start_at: sharded.map_or_else(String::new, |s| super::steps::rfc3339::text(s.start_at)),
            between_s: sharded.map_or(0.0, |s| s.between.as_secs_f64()),
            step_s: plan.step.as_secs_f64(),
            warmup_s: plan.warmup.as_secs_f64(),
            window_s: plan.window.as_secs_f64(),
            time_limit_s: plan.time_limit.as_secs_f64(),
            retries: plan.retries,
            bounds: serde_json::to_value(plan.bounds).unwrap_or_default(),
            settings: serde_json::to_value(plan.settings).unwrap_or_default(),
            app_flags: app_flags.to_vec(),
        }
    }

    /// The settings that differ, as `name: ours against theirs`.
    fn difference(&self, theirs: &Agreed) -> String {
        let (ours, theirs) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(theirs).unwrap_or_default(),
        );
        let (Some(ours), Some(theirs)) = (ours.as_object(), theirs.as_object()) else {
            return String::new();
        };
        ours.iter()
            .filter(|(name, value)| theirs.get(*name) != Some(value))
            .map(|(name, value)| {
                format!(
                    "{name}: {value} here, {} there",
                    theirs.get(name).unwrap_or(&serde_json::Value::Null)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Shard 0's `prepared.json` for this search (its --start-at), once it is there; an error if it
/// is not by the search's start.
async fn wait_for_agreement(file: &Path, ours: &Agreed, sharded: Sharded) -> Result<Agreed> {
    loop {
        let theirs = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| serde_json::from_str::<Agreed>(&text).ok())
            .filter(|theirs| theirs.start_at == ours.start_at);
        if let Some(theirs) = theirs {
            return Ok(theirs);
        }
        if SystemTime::now() > sharded.start_at {
            return Err(BenchError::Failed(format!(
                "shard 0 had not readied the ring by --start-at {} ({} was not there): is a \
                 loader running `bench findmax --shard 0/{}` with this --start-at and --out (a \
                 folder every loader shares)?",
                ours.start_at,
                file.display(),
                sharded.shard.count
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
