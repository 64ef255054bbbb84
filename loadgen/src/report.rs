//! The report of one run: what was asked, what was achieved, the latency histograms, what the
//! client cost, and what limited the rate. Written as JSON (`--report`), printed as a summary.
//!
//! The JSON embeds the full configuration and every histogram (HDR V2, compressed, base64), so a
//! report can be compared, merged and plotted later without losing precision or the settings that
//! produced it.
//!
//! Its parts: `checks` (what a report read from a file must hold), `limiter` (what limited the
//! rate, in words), `ring_side` (what the ring said about its own load, sampled beside the run),
//! `summary` (what a run prints at the end and every second) and [`table`] (every text table, in
//! one style). How a run's recording becomes its report is the run's own (`run::reporting`).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::drive::Ending;
use crate::record::{ALL, ClientCost, Counts, IntervalSummary, Pacing, Percentiles, RESPONSE};
use crate::schedule::Shard;

mod checks;
mod limiter;
mod ring_side;
mod summary;
pub mod table;

pub(crate) use limiter::{Evidence, diagnose};
pub use limiter::{Limiter, Verdict};
pub(crate) use ring_side::RingWatcher;
pub use ring_side::{NETWORK_ROUND_MS, NodeSecond, NodeSeries, PoolSecond, RingSide};
pub(crate) use summary::live_line;

/// The report format's version; readers refuse other versions with a clear message.
pub const FORMAT: u32 = 1;

/// Everything about one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Report format version ([`FORMAT`]).
    pub format: u32,
    /// The program that ran (`factory`, `shop`).
    pub tool: String,
    /// Its version.
    pub version: String,
    /// When measurement began (RFC 3339, UTC).
    pub started_at: String,
    /// Which run this is, and which shard of it; empty in reports written before it was recorded.
    #[serde(default)]
    pub run: RunIdentity,
    /// What one operation is called (`visit`) and one request (`write`).
    pub names: Names,
    /// The complete configuration, flags and environment resolved (no password).
    pub config: serde_json::Value,
    /// Why the run ended: `finished`, `interrupted`, `too many errors`, or the fatal error.
    pub ending: String,
    /// Target operations per second; `None` when unthrottled.
    pub target_rate: Option<f64>,
    /// What the latencies count from: each operation's due time (open loop, with a target rate),
    /// or its send (closed loop, unthrottled: close to service time, not comparable with an
    /// open-loop response time). Empty in reports written before it was recorded.
    #[serde(default)]
    pub latency_from: String,
    /// Operations per second achieved over the measured time (successful and failed alike).
    pub achieved_rate: f64,
    /// Requests per second achieved.
    pub achieved_request_rate: f64,
    /// Length of the measured part of the run, seconds: from the end of the warm-up until sending
    /// stopped (the end of `--duration`, Ctrl-C, errors).
    pub measured_seconds: f64,
    /// Wall-clock seconds from the end of the warm-up until the report, the drain included: the
    /// measured time plus at most `--drain-timeout`.
    #[serde(default)]
    pub wall_seconds: f64,
    /// Operations and requests, successful and failed.
    pub counts: Counts,
    /// Operations still in flight when the drain gave up.
    pub abandoned: u64,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
    /// Latency percentiles per tag, microseconds.
    pub latency_us: BTreeMap<String, Percentiles>,
    /// The histograms per tag, nanoseconds, HDR V2 compressed and base64-encoded.
    pub histograms: BTreeMap<String, String>,
    /// One entry per second.
    pub intervals: Vec<IntervalSummary>,
    /// Where time behind schedule went.
    pub pacing: Pacing,
    /// What the client cost.
    pub client: ClientCost,
    /// What limited the rate, in words.
    pub limiter: Limiter,
    /// What the ring said about its own load while the run was measured, node by node and
    /// second by second; `None` when the app did not sample it (and in older reports).
    #[serde(default)]
    pub ring: Option<RingSide>,
    /// The delay a local ring of this machine models between the client and the ring, when the
    /// contact points were such a ring: every latency of the report carries it.
    #[serde(default)]
    pub modelled_network: Option<String>,
    /// The ring's settings for the run's tables (compaction, memtable, compression) and its
    /// nodes' SSTable format, read from the ring; `None` when the app did not read them (and in
    /// older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_settings: Option<client::ring_settings::RingSettings>,
    /// What the app adds of its own (the shop's verification, say); `null` when nothing.
    #[serde(default)]
    pub app: serde_json::Value,
}

/// Which run a report belongs to, and which part of it: what `bench merge` checks before it adds
/// shards up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// The run's id (`--run-id`): every shard of one run carries the same.
    pub id: String,
    /// This process's shard of the run; `None` when it ran alone.
    pub shard: Option<Shard>,
    /// The machine it ran on (host name).
    pub host: String,
    /// When the global schedule started (RFC 3339, UTC): the same instant for every shard.
    pub start_at: String,
    /// How long after that instant this process was ready to send, in ms; 0 when it was ready
    /// first and waited for it.
    pub ready_late_ms: f64,
    /// How far the ring's clock was ahead of this machine's, in ms, when the app connected
    /// (`None`: not read). Shards that start at one wall-clock instant are apart by the
    /// differences of theirs.
    #[serde(default)]
    pub clock_offset_ms: Option<f64>,
}

/// What the things a run counts are called, for summaries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Names {
    /// One operation (`visit`, `fan-out`).
    pub op: String,
    /// One request (`write`, `read`).
    pub request: String,
}

/// Why a report file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a report of ours, or is truncated.
    #[error("{path} is not a pickle run report ({reason})")]
    Foreign {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl RunReport {
    /// Encodes a histogram for [`RunReport::histograms`].
    pub fn encode(histogram: &Histogram<u64>) -> String {
        let mut bytes = Vec::new();
        // Serializing into a Vec cannot fail for a histogram the recorder built.
        if V2DeflateSerializer::new()
            .serialize(histogram, &mut bytes)
            .is_err()
        {
            return String::new();
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The percentiles (µs) and the encoded form of each tag's histogram: the report's
    /// `latency_us` and `histograms` for histograms added up elsewhere (a merge, a window).
    pub fn tagged(
        histograms: &BTreeMap<String, Histogram<u64>>,
    ) -> (BTreeMap<String, Percentiles>, BTreeMap<String, String>) {
        (
            histograms
                .iter()
                .map(|(tag, h)| (tag.clone(), Percentiles::of(h)))
                .collect(),
            histograms
                .iter()
                .map(|(tag, h)| (tag.clone(), RunReport::encode(h)))
                .collect(),
        )
    }

    /// The histogram of `tag`, decoded; `None` if absent or unreadable (a report read from a file
    /// has had every histogram checked, see [`RunReport::check`]).
    pub fn histogram(&self, tag: &str) -> Option<Histogram<u64>> {
        self.decoded(tag)?.ok()
    }

    /// The histogram of `tag`, decoded, or why it cannot be; `None` if absent.
    pub fn decoded(&self, tag: &str) -> Option<Result<Histogram<u64>, String>> {
        let text = self.histograms.get(tag)?;
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("not base64: {e}"))
                .and_then(|bytes| crate::record::decode_histogram(&bytes)),
        )
    }

    /// Writes the report as JSON, atomically: a temporary file, then a rename, so a reader never
    /// sees half a report and an interrupted write leaves the old file (if any) untouched.
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        write_json(path, self)
    }

    /// Reads a report written by [`RunReport::write`], and checks it ([`RunReport::check`]).
    pub fn read(path: &Path) -> Result<RunReport, ReportError> {
        let value = read_json(path)?;
        RunReport::from_json(value).map_err(|reason| ReportError::Foreign {
            path: path.display().to_string(),
            reason,
        })
    }

    /// A report from its JSON, checked ([`RunReport::check`]); what is wrong, if anything.
    pub fn from_json(value: serde_json::Value) -> Result<RunReport, String> {
        let report: RunReport = serde_json::from_value(value).map_err(|e| e.to_string())?;
        report.check()?;
        Ok(report)
    }

    /// Every operation due in the measured time: succeeded, failed, missed or abandoned.
    pub fn operations_due(&self) -> u64 {
        let c = &self.counts;
        c.ops + c.ops_failed + c.missed + c.abandoned
    }

    /// The share of the operations due that did not succeed (failed, missed, abandoned), 0 to 1.
    pub fn error_rate(&self) -> f64 {
        let due = self.operations_due();
        if due == 0 {
            return 0.0;
        }
        (due - self.counts.ops) as f64 / due as f64
    }

    /// The headline's tag: [`ALL`], every operation; reports written before it existed have only
    /// [`RESPONSE`].
    pub fn headline_tag(&self) -> &'static str {
        if self.histograms.contains_key(ALL) {
            ALL
        } else {
            RESPONSE
        }
    }

    /// The headline latency: every operation, from its intended start to its outcome.
    pub fn headline(&self) -> Percentiles {
        self.latency_us
            .get(self.headline_tag())
            .copied()
            .unwrap_or_default()
    }

    /// The headline's histogram, nanoseconds.
    pub fn headline_histogram(&self) -> Option<Histogram<u64>> {
        self.histogram(self.headline_tag())
    }

    /// Whether the run was open-loop (a target rate: latency counts from each operation's due
    /// time, waiting included) or closed-loop (unthrottled: an operation is due when a permit frees,
    /// so latency is the service time of a loop that waits for the ring, and cannot be set beside
    /// an open-loop response time).
    pub fn is_open_loop(&self) -> bool {
        self.target_rate.is_some()
    }

    /// What the latencies of a run with (or without) a target rate measure, in a few words: the
    /// report's `latency_from`.
    pub fn latency_from(target_rate: Option<f64>) -> &'static str {
        if target_rate.is_some() {
            "open loop: from each due time"
        } else {
            "closed loop: from each send, no schedule"
        }
    }

    /// What the latencies of this run measure, in a few words.
    pub fn measures(&self) -> &'static str {
        RunReport::latency_from(self.target_rate)
    }
}

/// Writes `contents` to `path` through a temporary file and a rename: a reader sees the old file
/// or the new one, never half of one.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let partial = crate::record::hdr_log::partial_path(path);
    std::fs::write(&partial, contents)?;
    std::fs::rename(&partial, path)
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ReportError> {
    let io = |action, source| ReportError::Io {
        action,
        path: path.display().to_string(),
        source,
    };
    let text =
        serde_json::to_string_pretty(value).map_err(|e| io("encode", std::io::Error::other(e)))?;
    write_atomically(path, text.as_bytes()).map_err(|e| io("write", e))
}

/// Reads a JSON report of this format version: missing, truncated, foreign and other-version
/// files are each refused with what is wrong.
pub fn read_json(path: &Path) -> Result<serde_json::Value, ReportError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        action: "read",
        path: shown.clone(),
        source,
    })?;
    let foreign = |reason: String| ReportError::Foreign {
        path: shown.clone(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| foreign(format!("not JSON: {e}")))?;
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(format) if format == u64::from(FORMAT) => Ok(value),
        Some(other) => Err(foreign(format!(
            "format {other}, this version reads format {FORMAT}"
        ))),
        None => Err(foreign("no format field".into())),
    }
}

/// How the ending reads in reports.
pub fn describe_ending(ending: &Ending) -> String {
    match ending {
        Ending::Finished => "finished".to_owned(),
        Ending::Interrupted => "interrupted".to_owned(),
        Ending::TooManyErrors { errors, limit } => {
            format!("too many errors ({errors} > --max-errors {limit})")
        }
        Ending::Fatal(failure) => {
            format!(
                "fatal {} error: {}",
                failure.kind,
                failure.detail.as_deref().unwrap_or("no detail")
            )
        }
        Ending::Outage {
            failure,
            lasted,
            limit,
        } => format!(
            "outage: {} errors for {:.1} s, over --outage-limit {}: {}",
            failure.kind,
            lasted.as_secs_f64(),
            humantime::format_duration(*limit),
            failure
                .detail
                .as_deref()
                .unwrap_or("no node could be reached")
        ),
    }
}
