//! One run spread over N processes (loader machines, containers, pods): shard I of N takes every
//! N-th operation of the one global schedule, all shards start it at the same wall-clock instant,
//! and each report says which run and which shard it is, so that `bench merge` can add them up
//! and refuse a set with a shard missing, twice, or from another run.
//!
//! Operation `n` of the global schedule at rate R is due at `start + n/R`. Shard I takes
//! `n = k*N + I` for k = 0, 1, 2...: its own schedule runs at R/N from `start + I/R`, so the N
//! shards add up to R with their due times evenly interleaved, and operation n is the same
//! operation (the same visit, the same fan-out) whichever process sends it: the union of the
//! shards is what one process would have done.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use cluster::cli::UsageError;
use serde::{Deserialize, Serialize};

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// This process's place, 0 to count - 1.
    pub index: u32,
    /// How many processes share the run.
    pub count: u32,
}

impl Shard {
    /// The whole run, unshared.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err("a run has at least one shard: N must be 1 or more".to_owned());
        }
        if index >= count {
            return Err(format!(
                "shard {index} of {count} does not exist: shards are numbered 0 to {} (a \
                 1-based task slot goes in PICKLE_SHARD_SLOT)",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// The global number of this shard's `k`-th operation.
    pub fn global(&self, k: u64) -> u64 {
        k * u64::from(self.count) + u64::from(self.index)
    }

    /// Whether item `i` (an operation, an employee) is this shard's.
    pub fn owns(&self, i: u64) -> bool {
        i % u64::from(self.count) == u64::from(self.index)
    }

    /// This shard's share of a global rate.
    pub fn rate(&self, global: f64) -> f64 {
        global / f64::from(self.count)
    }

    /// How long after the global start this shard's first operation (global number `index`) is
    /// due, at the global rate.
    pub fn offset(&self, global_rate: f64) -> Duration {
        Duration::from_secs_f64(f64::from(self.index) / global_rate)
    }

    /// How many of the first `total` global operations are this shard's.
    pub fn share_of(&self, total: u64) -> u64 {
        let (index, count) = (u64::from(self.index), u64::from(self.count));
        if total > index {
            (total - index - 1) / count + 1
        } else {
            0
        }
    }

    /// Whether this is the whole run (one shard).
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The shard from the environment of an orchestrator, when `--shard` is not given:
    /// `PICKLE_SHARDS=N` with Kubernetes' `JOB_COMPLETION_INDEX` (0-based; an Indexed Job sets
    /// it) or with `PICKLE_SHARD_SLOT` (1-based: Docker swarm's `{{.Task.Slot}}`).
    pub fn from_orchestrator(
        count: Option<u32>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Shard>, UsageError> {
        let slot = env("PICKLE_SHARD_SLOT");
        let index = env("JOB_COMPLETION_INDEX");
        let Some(count) = count else {
            return match (slot, index) {
                (Some(_), _) => Err(UsageError(
                    "PICKLE_SHARD_SLOT is set but not PICKLE_SHARDS (--shards): how many shards \
                     share the run?"
                        .to_owned(),
                )),
                _ => Ok(None),
            };
        };
        let parse = |name: &str, text: &str| {
            text.trim()
                .parse::<u32>()
                .map_err(|_| UsageError(format!("{name}={text}: not a shard number")))
        };
        let index = match (slot, index) {
            (Some(slot), _) => {
                let slot = parse("PICKLE_SHARD_SLOT", &slot)?;
                slot.checked_sub(1).ok_or_else(|| {
                    UsageError("PICKLE_SHARD_SLOT=0: task slots are 1-based".to_owned())
                })?
            }
            (None, Some(index)) => parse("JOB_COMPLETION_INDEX", &index)?,
            (None, None) => {
                return Err(UsageError(format!(
                    "--shards {count}: which shard is this? Give --shard I/{count}, or run it \
                     where JOB_COMPLETION_INDEX (Kubernetes) or PICKLE_SHARD_SLOT (swarm's \
                     {{{{.Task.Slot}}}}) says"
                )));
            }
        };
        Shard::new(index, count)
            .map(Some)
            .map_err(|e| UsageError(format!("--shards {count}: {e}")))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`: shard I (0-based) of N.
    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("'{text}' is not a shard; expected I/N, such as 0/3 (0-based)");
        let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
        let index = index.trim().parse().map_err(|_| bad())?;
        let count = count.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count)
    }
}

/// The instant a sharded run starts when `--start-at` is not given: the next whole ten seconds of
/// the wall clock that is at least five seconds away (time to connect and register), so that
/// shards launched within a few seconds of each other start together. Ones launched across such
/// a boundary do not, and their reports then carry different run ids: `bench merge` refuses
/// them, and --start-at is the way to be sure.
pub fn next_whole_ten_seconds(now: SystemTime) -> SystemTime {
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let ten = 10_000u128;
    let at = (since_epoch.as_millis() + 5_000).div_ceil(ten) * ten;
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(at).unwrap_or(u64::MAX))
}

/// A wall-clock instant: RFC 3339 (`2026-12-02T10:00:00Z`).
pub fn parse_start_at(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
        format!(
            "'{text}' is not a start time ({e}); expected RFC 3339 such as 2026-12-02T10:00:00Z"
        )
    })
}

/// The run id that shards of one run share when none is given: the tool and the start instant.
pub fn default_run_id(tool: &str, start: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_millis(start).to_string();
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{tool}-{compact}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn shards_take_every_nth_operation_and_add_up_to_the_whole() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        let mut all = BTreeSet::new();
        for shard in &shards {
            let share = shard.share_of(10);
            for k in 0..share {
                let n = shard.global(k);
                assert!(shard.owns(n));
                assert!(all.insert(n), "operation {n} taken twice");
            }
        }
        assert_eq!(all, (0..10).collect());
        assert_eq!(shards.iter().map(|s| s.share_of(10)).sum::<u64>(), 10);
        assert_eq!(Shard::new(2, 3).unwrap().share_of(2), 0);
    }

    #[test]
    fn a_shards_schedule_is_the_global_one_thinned() {
        // At 300/s in all, shard 2 of 3 runs at 100/s from 2/300 s: its k-th operation is due
        // exactly when global operation 3k + 2 is.
        let shard = Shard::new(2, 3).unwrap();
        let global_rate = 300.0;
        for k in [0u64, 1, 7, 1000] {
            let own = shard.offset(global_rate).as_secs_f64() + k as f64 / shard.rate(global_rate);
            let global = shard.global(k) as f64 / global_rate;
            assert!((own - global).abs() < 1e-9, "k={k}: {own} vs {global}");
        }
    }

    #[test]
    fn shards_are_parsed_and_checked() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert!("3/3".parse::<Shard>().unwrap_err().contains("0 to 2"));
        for bad in ["", "1", "a/3", "1/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn orchestrators_name_the_shard() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let k8s = Shard::from_orchestrator(Some(4), env(&[("JOB_COMPLETION_INDEX", "3")]));
        assert_eq!(k8s.unwrap(), Some(Shard { index: 3, count: 4 }));
        let swarm = Shard::from_orchestrator(Some(4), env(&[("PICKLE_SHARD_SLOT", "1")]));
        assert_eq!(swarm.unwrap(), Some(Shard { index: 0, count: 4 }));
        assert!(Shard::from_orchestrator(Some(4), env(&[("PICKLE_SHARD_SLOT", "0")])).is_err());
        assert!(Shard::from_orchestrator(Some(4), env(&[])).is_err());
        assert!(Shard::from_orchestrator(None, env(&[("PICKLE_SHARD_SLOT", "2")])).is_err());
        assert_eq!(
            Shard::from_orchestrator(None, env(&[("JOB_COMPLETION_INDEX", "2")])).unwrap(),
            None
        );
    }

    #[test]
    fn shards_started_apart_start_together() {
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(next_whole_ten_seconds(at(1_000)), at(10_000));
        assert_eq!(next_whole_ten_seconds(at(4_999)), at(10_000));
        // Under five seconds before a boundary: the next one, so that nobody starts late.
        assert_eq!(next_whole_ten_seconds(at(5_001)), at(20_000));
        assert_eq!(
            default_run_id("factory", at(20_000)),
            "factory-19700101T000020000Z"
        );
    }
}
