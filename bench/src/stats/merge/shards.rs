//! Whether the reports handed to `bench merge` are the shards of one run, all of them, once each:
//! a missing loader must never pass silently as a smaller run. And one row per shard beside the
//! total, so that one slow loader shows.

use loadgen::record::ALL;
use loadgen::report::{RunIdentity, RunReport};
use loadgen::schedule::Shard;

use super::MergeError;

/// What the inputs cover of their run.
#[derive(Debug, Clone, PartialEq)]
pub enum Coverage {
    /// No input is a shard: processes that merely ran at once.
    Unsharded,
    /// Every shard of run `id`, once each.
    Complete {
        /// The run.
        id: String,
        /// How many shards it had.
        count: u32,
    },
    /// Some shards of run `id` are missing, and `--partial` said to merge what is there.
    Partial {
        /// The run.
        id: String,
        /// How many shards it had.
        count: u32,
        /// The shards not given.
        missing: Vec<u32>,
    },
}

impl Coverage {
    /// The words the merged report's ending carries for a partial merge; empty otherwise.
    pub fn note(&self) -> Option<String> {
        match self {
            Coverage::Partial { count, missing, .. } => Some(format!(
                "partial: shard{} {} of {count} missing",
                if missing.len() == 1 { "" } else { "s" },
                listed(missing, u32::to_string)
            )),
            _ => None,
        }
    }

    /// The merged report's identity: the run's, with no shard.
    pub fn identity(&self, reports: &[&RunReport]) -> RunIdentity {
        let hosts: Vec<&str> = reports.iter().map(|r| r.run.host.as_str()).collect();
        RunIdentity {
            id: match self {
                Coverage::Complete { id, .. } | Coverage::Partial { id, .. } => id.clone(),
                Coverage::Unsharded => String::new(),
            },
            shard: None,
            host: hosts.join(", "),
            start_at: reports
                .iter()
                .map(|r| r.run.start_at.clone())
                .min()
                .unwrap_or_default(),
            ready_late_ms: reports
                .iter()
                .map(|r| r.run.ready_late_ms)
                .fold(0.0, f64::max),
            // One number per shard, in the per-shard rows: a merged run has no one clock.
            clock_offset_ms: None,
        }
    }
}

/// The first few shards named, and how many more: a run of thousands of shards with most missing
/// gets a line, not a page.
fn listed(shards: &[u32], name: impl Fn(&u32) -> String) -> String {
    const SHOWN: usize = 10;
    let mut text: Vec<String> = shards.iter().take(SHOWN).map(name).collect();
    if shards.len() > SHOWN {
        text.push(format!("and {} more", shards.len() - SHOWN));
    }
    text.join(", ")
}

/// Checks that sharded inputs are every shard of one run, once each (or, with `partial`, that
/// those there are of one run, once each).
pub fn check_shards(reports: &[&RunReport], partial: bool) -> Result<Coverage, MergeError> {
    let shards: Vec<(usize, Option<Shard>)> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| (i + 1, r.run.shard))
        .collect();
    let Some((first_input, first)) = shards.iter().find_map(|(i, s)| s.map(|s| (*i, s))) else {
        return Ok(Coverage::Unsharded);
    };
    let id = &reports[first_input - 1].run.id;
    let refuse = |what: String| Err(MergeError::Shards(what));
    // Which input gave each shard; a map, not a vector of `count` places: a report says how
    // many shards its run had, and the merge takes no allocation's size from a file.
    let mut seen: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    let global = |r: &RunReport, s: Shard| r.target_rate.map(|t| t * f64::from(s.count));
    let first_global = global(reports[first_input - 1], first);
    for (input, shard) in &shards {
        let report = reports[input - 1];
        let Some(shard) = shard else {
            return refuse(format!(
                "input {input} ran alone, not as a shard of run {id}"
            ));
        };
        if report.run.id != *id {
            return refuse(format!(
                "input {input} is shard {shard} of run {}, not of run {id} (input {first_input})",
                report.run.id
            ));
        }
        if shard.count != first.count {
            return refuse(format!(
                "input {input} is shard {shard}, but input {first_input} is shard {first}: one \
                 run has one number of shards"
            ));
        }
        match (first_global, global(report, *shard)) {
            (Some(theirs), Some(ours)) if (theirs - ours).abs() > 1e-6 * theirs.max(ours) => {
                return refuse(format!(
                    "input {input} is shard {shard} of run {id} at {ours:.1}/s in all, but input \
                     {first_input} is of that run at {theirs:.1}/s: the shards of one run share \
                     one schedule"
                ));
            }
            _ => {}
        }
        if let Some(earlier) = seen.insert(shard.index, *input) {
            return refuse(format!(
                "shard {shard} of run {id} is given twice: inputs {earlier} and {input}"
            ));
        }
    }
    let missing: Vec<u32> = (0..first.count).filter(|i| !seen.contains_key(i)).collect();
    match (missing.is_empty(), partial) {
        (true, _) => Ok(Coverage::Complete {
            id: id.clone(),
            count: first.count,
        }),
        (false, true) => Ok(Coverage::Partial {
            id: id.clone(),
            count: first.count,
            missing,
        }),
        (false, false) => {
            let (plural, verb, pronoun) = match missing.len() {
                1 => ("", "is", "it"),
                _ => ("s", "are", "them"),
            };
            refuse(format!(
                "shard{plural} {} of run {id} {verb} missing; add {pronoun}, or pass --partial to \
                 merge what is there, marked partial",
                listed(&missing, |i| format!("{i}/{}", first.count))
            ))
        }
    }
}

/// One row per input beside the total: its shard, host, rate against its target, what it missed,
/// its p99, how late it was ready and how far the ring's clock was from its own, so that one slow
/// or skewed loader shows.
pub fn shard_rows(reports: &[&RunReport]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "shard": r.run.shard.map(|s| s.to_string()),
                "host": r.run.host,
                "started_at": r.started_at,
                "target_rate": r.target_rate,
                "achieved_rate": r.achieved_rate,
                "missed": r.counts.missed,
                "p99_all_us": r.latency_us.get(ALL).map(|p| p.p99),
                "ready_late_ms": r.run.ready_late_ms,
                "clock_offset_ms": r.run.clock_offset_ms,
                "verdict": r.limiter.verdict,
            })
        })
        .collect();
    serde_json::json!({ "shards": rows })
}

/// The per-input rows as a text table.
pub fn shard_table(reports: &[&RunReport]) -> String {
    let mut table = loadgen::report::table::new(
        &[
            "input",
            "shard",
            "host",
            "target/s",
            "achieved/s",
            "missed",
            "p99 all ms",
            "late ms",
            "clock ms",
        ],
        &[1, 2],
    );
    for (i, r) in reports.iter().enumerate() {
        table.add_row([
            (i + 1).to_string(),
            r.run.shard.map_or("-".to_owned(), |s| s.to_string()),
            r.run.host.clone(),
            r.target_rate.map_or("-".to_owned(), |t| format!("{t:.1}")),
            format!("{:.1}", r.achieved_rate),
            r.counts.missed.to_string(),
            r.latency_us
                .get(ALL)
                .map_or("-".to_owned(), |p| format!("{:.2}", p.p99 / 1e3)),
            format!("{:.0}", r.run.ready_late_ms),
            r.run
                .clock_offset_ms
                .map_or("-".to_owned(), |ms| format!("{ms:+.0}")),
        ]);
    }
    loadgen::report::table::render(&table, 2)
}
