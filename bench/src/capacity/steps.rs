//! One step of `bench findmax`: the app's process at one rate, alone, or as one shard of N
//! loaders that search together.
//!
//! Alone, a step starts as soon as the one before it was judged. Sharded (`--shard I/N
//! --start-at T`), every loader runs every step at the same wall-clock instants: step n starts at
//! `T + (n - 1) x (warm-up + step + pause between steps)`, each loader running its share of the
//! step's rate (`--shard I/N --start-at` of the app). The loaders share one report folder: each
//! writes its shard's report there, waits for every other shard's, and merges them
//! ([`crate::stats::merge`]); the merged windows decide. Every loader reads the same reports and
//! judges them the same way, so every loader takes the same next step without talking to the
//! others: shard 0 keeps the merged reports in the folder, the others merge into a scratch folder.
//! A shard whose report does not come in time ends the search, named.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use super::check::Bounds;
use super::search::SearchSettings;
use crate::apps::{STUCK_AFTER, measured};
use crate::error::{BenchError, Result};
use crate::report::suite_report;
use loadgen::schedule::Shard;

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
    /// The report folder (it exists; shared by every loader when sharded).
    pub out: PathBuf,
    /// This loader's place when N loaders search together.
    pub sharded: Option<Sharded>,
}

/// This loader's place in a search N loaders run together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sharded {
    /// This loader's shard of every step.
    pub shard: Shard,
    /// When the first step starts, the same for every loader.
    pub start_at: SystemTime,
    /// The pause between one step's end and the next one's start, for the loaders to exchange
    /// their reports and start the next step's processes.
    pub between: Duration,
}

impl Sharded {
    /// When step `number` (from 1) starts, given each step's warm-up and measured length.
    pub fn step_start(&self, number: usize, (warmup, step): (Duration, Duration)) -> SystemTime {
        let slot = warmup + step + self.between;
        self.start_at + slot * u32::try_from(number.saturating_sub(1)).unwrap_or(u32::MAX)
    }
}

/// How a step's run ended.
#[derive(Debug)]
pub enum StepRun {
    /// It ran: the report to judge, and its name in the search's folder.
    Ran(PathBuf, String),
    /// It did not, and the search ends with what it had: why.
    Stopped(String),
}

/// Runs step `number` at `rate` (of all shards together); `scratch` is where a loader other than
/// shard 0 merges the shards' reports.
pub async fn run_step(plan: &Plan, number: usize, rate: f64, scratch: &Path) -> Result<StepRun> {
    let rate = rate.round().max(1.0);
    let name = format!("step-{number}-{rate:.0}");
    let Some(sharded) = plan.sharded else {
        return Ok(match run_app(plan, number, rate, &name, &[]).await? {
            Some(report) => StepRun::Ran(report, format!("{name}.json")),
            None => StepRun::Stopped("stopped by Ctrl-C".to_owned()),
        });
    };
    let shard = sharded.shard;
    let start = sharded.step_start(number, (plan.warmup, plan.step));
    let extra = [
        "--shard".to_owned(),
        shard.to_string(),
        "--start-at".to_owned(),
        rfc3339::text(start),
    ];
    let own = format!("{name}-shard-{}", shard.index);
    if run_app(plan, number, rate, &own, &extra).await?.is_none() {
        return Ok(StepRun::Stopped("stopped by Ctrl-C".to_owned()));
    }
    // Every shard's report of this step, by the time the next step must start.
    let next = sharded.step_start(number + 1, (plan.warmup, plan.step));
    let mut loaded = Vec::new();
    for index in 0..shard.count {
        let file = plan.out.join(format!("{name}-shard-{index}.json"));
        match wait_for_report(&file, next).await {
            Some(report) => loaded.push(report),
            None => {
                return Ok(StepRun::Stopped(format!(
                    "shard {index}'s report of step {number} ({}) was not there when the next \
                     step was due: is a loader running `bench findmax --shard {index}/{}` with \
                     this --start-at and --out (a folder every loader shares)?",
                    file.display(),
                    shard.count
                )));
            }
        }
    }
    let merged = if shard.index == 0 {
        plan.out.join(&name)
    } else {
        scratch.join(&name)
    };
    std::fs::create_dir(&merged)
        .map_err(BenchError::io(format!("creating {}", merged.display())))?;
    crate::stats::merge::merge_into(&merged, &loaded, false)
        .map_err(|e| BenchError::Failed(format!("step {number}: merging the shards: {e}")))?;
    Ok(StepRun::Ran(merged, name))
}

/// The report `file` once it is there and reads whole, or `None` if it is not by `deadline`.
async fn wait_for_report(file: &Path, deadline: SystemTime) -> Option<suite_report::Loaded> {
    loop {
        if let Ok(loaded) = suite_report::load(file) {
            return Some(loaded);
        }
        if SystemTime::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the app at `rate` for one step, its report, interval log and output named `name` in the
/// search's folder, with `extra` flags. `None` when Ctrl-C stopped it.
async fn run_app(
    plan: &Plan,
    number: usize,
    rate: f64,
    name: &str,
    extra: &[String],
) -> Result<Option<PathBuf>> {
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
        .args(["--rate", &format!("{rate:.0}")])
        .args(extra);
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
        "bench findmax: step {number} at {rate:.0}/s ({} + {} warm-up){}",
        duration(plan.step),
        duration(plan.warmup),
        plan.sharded.map_or_else(String::new, |s| format!(
            ", shard {} from {}",
            s.shard,
            rfc3339::text(s.step_start(number, (plan.warmup, plan.step)))
        ))
    );
    let mut child = command
        .spawn()
        .map_err(BenchError::io(format!("starting {}", plan.app)))?;
    // A step has a known length (a shard's waits for its start too); a process far past it is
    // stuck, and is killed.
    let waits = plan.sharded.map_or(Duration::ZERO, |s| {
        s.step_start(number, (plan.warmup, plan.step))
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    });
    let limit = waits + plan.warmup + plan.step + STUCK_AFTER;
    let started = Instant::now();
    let status = tokio::select! {
        status = tokio::time::timeout(limit, child.wait()) => match status {
            Ok(status) => status.map_err(BenchError::io(format!("waiting for {}", plan.app)))?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(BenchError::Failed(format!(
                    "step {number} at {rate:.0}/s: {} was still running {} after it started \
                     and was killed; its output is in {}",
                    plan.app,
                    duration(Duration::from_secs(started.elapsed().as_secs())),
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

/// Wall-clock instants as RFC 3339 text, to the millisecond, as `--start-at` takes them.
pub mod rfc3339 {
    use std::time::SystemTime;

    /// `at` as RFC 3339, to the millisecond.
    pub fn text(at: SystemTime) -> String {
        humantime::format_rfc3339_millis(at).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loader_starts_step_n_at_the_same_instant_one_slot_after_the_last() {
        let start_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let sharded = Sharded {
            shard: Shard::new(1, 3).unwrap(),
            start_at,
            between: Duration::from_secs(15),
        };
        let lengths = (Duration::from_secs(10), Duration::from_secs(30));
        assert_eq!(sharded.step_start(1, lengths), start_at);
        assert_eq!(
            sharded.step_start(3, lengths),
            start_at + Duration::from_secs(2 * 55)
        );
        let other = Sharded {
            shard: Shard::new(0, 3).unwrap(),
            ..sharded
        };
        assert_eq!(other.step_start(7, lengths), sharded.step_start(7, lengths));
    }
}
