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

use client::cli::UsageError;
use serde::{Deserialize, Serialize};

/// Shard `index` (0-based) of `count`. Read from a report, it is checked as [`Shard::new`] checks
/// it: a report cannot hold a shard that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "ShardFields")]
pub struct Shard {
    /// This process's place, 0 to count - 1.
    pub index: u32,
    /// How many processes share the run.
    pub count: u32,
}

/// The most shards one run may have: far more loaders than any ring needs, and few enough that
/// `bench merge` can track them all.
pub const MAX_SHARDS: u32 = 100_000;

/// A shard as a report holds it, before it is checked.
#[derive(Deserialize)]
struct ShardFields {
    index: u32,
    count: u32,
}

impl TryFrom<ShardFields> for Shard {
    type Error = String;

    fn try_from(fields: ShardFields) -> Result<Shard, String> {
        Shard::new(fields.index, fields.count)
    }
}

impl Shard {
    /// The whole run, unshared.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err("a run has at least one shard: N must be 1 or more".to_owned());
        }
        if count > MAX_SHARDS {
            return Err(format!("{count} shards: a run has at most {MAX_SHARDS}"));
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

/// How long after `--start-at` a process may still start: it is then behind schedule by that
/// much, and its first operations show it. Later than this, it would burst to catch up, so it
/// stops instead.
pub const START_GRACE: Duration = Duration::from_secs(1);

/// A `--start-at` must be ahead (or within [`START_GRACE`] behind) and at most `longest` ahead.
pub fn check_start_at(
    at: SystemTime,
    now: SystemTime,
    longest: Duration,
) -> Result<(), UsageError> {
    let stamp = humantime::format_rfc3339_millis(at);
    match at.duration_since(now) {
        Err(passed) if passed.duration() > START_GRACE => Err(UsageError(format!(
            "--start-at {stamp} was {:.1} s ago; give a time ahead, the same for every shard",
            passed.duration().as_secs_f64()
        ))),
        Ok(ahead) if ahead > longest => Err(UsageError(format!(
            "--start-at {stamp} is more than {} days ahead; give a nearer time",
            longest.as_secs() / 86_400
        ))),
        _ => Ok(()),
    }
}

/// When a run's schedule starts, on both clocks, and how late this process was ready for it.
#[derive(Debug, Clone, Copy)]
pub struct Scheduled {
    /// On the monotonic clock the schedule runs on.
    pub at: tokio::time::Instant,
    /// On the wall clock, as reports give it.
    pub wall: SystemTime,
    /// How long after it this process was ready (zero when it was ready first and waited).
    pub ready_late: Duration,
}

/// The run's start passed before this process was ready to send.
#[derive(Debug, thiserror::Error)]
#[error(
    "the run was to start at {at}, but this process was ready only {late:.1} s later \
     (connecting and registering took that long); give a later --start-at"
)]
pub struct StartPassed {
    /// The start (RFC 3339).
    pub at: String,
    /// How late, seconds.
    pub late: f64,
}

/// When the schedule starts: at `start_at` if that is ahead or passed by at most
/// [`START_GRACE`], else a few milliseconds from now when none is given.
pub fn start_of_schedule(start_at: Option<SystemTime>) -> Result<Scheduled, StartPassed> {
    let (now, wall_now) = (tokio::time::Instant::now(), SystemTime::now());
    let Some(wall) = start_at else {
        // A few milliseconds ahead, so that operation 0 is not already late.
        let ahead = Duration::from_millis(5);
        return Ok(Scheduled {
            at: now + ahead,
            wall: wall_now + ahead,
            ready_late: Duration::ZERO,
        });
    };
    match wall.duration_since(wall_now) {
        Ok(ahead) => Ok(Scheduled {
            at: now + ahead,
            wall,
            ready_late: Duration::ZERO,
        }),
        Err(passed) if passed.duration() <= START_GRACE => Ok(Scheduled {
            at: now.checked_sub(passed.duration()).unwrap_or(now),
            wall,
            ready_late: passed.duration(),
        }),
        Err(passed) => Err(StartPassed {
            at: humantime::format_rfc3339_millis(wall).to_string(),
            late: passed.duration().as_secs_f64(),
        }),
    }
}

/// What a shard's run description adds: which share of the operations it sends, from when.
/// Empty for a run that is not sharded.
pub fn describe_share(shard: Shard, op: &str, start_at: Option<SystemTime>) -> String {
    if shard.is_whole() {
        return String::new();
    }
    let from = start_at
        .map(|at| humantime::format_rfc3339_millis(at).to_string())
        .unwrap_or_default();
    format!(
        "; as shard {shard}: every {} of those {op}s, the schedule starting at {from}",
        ordinal(shard.count)
    )
}

/// "2nd", "3rd", "10th": which of the operations a shard takes.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
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
    fn a_shard_read_from_a_report_is_checked_like_one_given_on_the_command_line() {
        let read = |json: &str| serde_json::from_str::<Shard>(json);
        assert_eq!(
            read(r#"{"index": 1, "count": 3}"#).unwrap(),
            Shard { index: 1, count: 3 }
        );
        for (json, says) in [
            (r#"{"index": 5, "count": 2}"#, "shard 5 of 2 does not exist"),
            (r#"{"index": 0, "count": 0}"#, "at least one shard"),
            (r#"{"index": 0, "count": 4000000000}"#, "at most 100000"),
        ] {
            let error = read(json).unwrap_err().to_string();
            assert!(error.contains(says), "{json}: {error}");
        }
        assert!(read(r#"{"index": 0, "count": 4e9}"#).is_err());
    }

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
    fn a_start_long_past_or_far_ahead_is_refused() {
        let now = SystemTime::now();
        let s = Duration::from_secs;
        let week = s(7 * 24 * 3600);
        assert!(check_start_at(now + s(10), now, week).is_ok());
        assert!(check_start_at(now - Duration::from_millis(500), now, week).is_ok());
        let past = check_start_at(now - s(10), now, week).unwrap_err().0;
        assert!(past.contains("was 10.0 s ago"), "{past}");
        let far = check_start_at(now + s(8 * 24 * 3600), now, week)
            .unwrap_err()
            .0;
        assert!(far.contains("more than 7 days ahead"), "{far}");
        let passed = start_of_schedule(Some(now - s(5))).unwrap_err().to_string();
        assert!(passed.contains("ready only 5.0 s later"), "{passed}");
        assert_eq!(
            describe_share(Shard::new(1, 2).unwrap(), "visit", None),
            "; as shard 1/2: every 2nd of those visits, the schedule starting at "
        );
        assert_eq!(describe_share(Shard::WHOLE, "visit", None), "");
        assert_eq!(ordinal(13), "13th");
        assert_eq!(ordinal(21), "21st");
        assert_eq!(ordinal(3), "3rd");
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
