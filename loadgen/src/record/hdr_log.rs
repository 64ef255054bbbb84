//! The HDR histogram interval log (`--hdr-log`): one compressed histogram per second and per tag,
//! in the standard text format that HdrHistogram's own tools read (HistogramLogProcessor,
//! HdrHistogramVisualizer) as well as `bench merge` and `bench plot`.
//!
//! Values are nanoseconds; the `MaxValueDivisor` header says the max column of every line is in
//! milliseconds, and every line is written so. The headline histogram (`all`: every operation,
//! failed and missed included) is the one line of each interval without a tag, so that the Java
//! tools, which read untagged lines unless given `-tag`, show the same percentiles as our report;
//! every other histogram carries its tag. The log streams to `<path>.partial` during the run and
//! is renamed to `<path>` at the end, so a file at `<path>` is always complete.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

use crate::record::ALL;

/// Values are nanoseconds; the max column is written in milliseconds.
const MAX_VALUE_DIVISOR: f64 = 1_000_000.0;

/// An interval log being written.
pub struct HdrLog {
    path: PathBuf,
    partial: PathBuf,
    file: BufWriter<File>,
    serializer: V2DeflateSerializer,
    error: Option<io::Error>,
}

impl HdrLog {
    /// Starts a log at `path` whose intervals are timed from `base` (when measurement began).
    pub fn create(path: &Path, base: SystemTime, written_by: &str) -> io::Result<HdrLog> {
        let partial = partial_path(path);
        let mut file = BufWriter::new(File::create(&partial)?);
        let mut serializer = V2DeflateSerializer::new();
        let base_secs = base
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!("[Histogram log written by {written_by}]"))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment("[Values are nanoseconds]")
            .with_start_time(base)
            .with_base_time(base)
            .with_max_value_divisor(MAX_VALUE_DIVISOR)
            .begin_log_with(&mut file, &mut serializer)?;
        writeln!(
            file,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        )?;
        tracing::debug!(path = %path.display(), base_secs, "HDR interval log started");
        Ok(HdrLog {
            path: path.to_path_buf(),
            partial,
            file,
            serializer,
            error: None,
        })
    }

    /// Writes one interval histogram, untagged if `tag` is [`ALL`]. A write error is kept and
    /// reported by [`HdrLog::finish`], so that a full disk does not interrupt the measurement.
    pub fn write(
        &mut self,
        tag: &str,
        histogram: &Histogram<u64>,
        start: Duration,
        length: Duration,
    ) {
        let tag = (tag != ALL).then_some(tag);
        self.write_line(tag, histogram, start, length);
    }

    /// Writes one untagged interval histogram (the headline, in our logs).
    pub fn write_untagged(
        &mut self,
        histogram: &Histogram<u64>,
        start: Duration,
        length: Duration,
    ) {
        self.write_line(None, histogram, start, length);
    }

    /// Writes one interval histogram tagged `tag`, whatever it is (`all` too); a comma or a line
    /// break, which the format cannot hold in a tag, is written as `_`.
    pub fn write_tagged(
        &mut self,
        tag: &str,
        histogram: &Histogram<u64>,
        start: Duration,
        length: Duration,
    ) {
        let tag = tag.replace([',', '\n', '\r'], "_");
        self.write_line(Some(&tag), histogram, start, length);
    }

    fn write_line(
        &mut self,
        tag: Option<&str>,
        histogram: &Histogram<u64>,
        start: Duration,
        length: Duration,
    ) {
        if self.error.is_some() {
            return;
        }
        // The header is written once, by `create`; each line is written here as the format has
        // it (`[Tag=t,]start,length,max,histogram`), its max in the header's unit.
        let result = self.line(tag, histogram, start, length);
        if let Err(error) = result {
            self.error = Some(error);
        }
    }

    fn line(
        &mut self,
        tag: Option<&str>,
        histogram: &Histogram<u64>,
        start: Duration,
        length: Duration,
    ) -> io::Result<()> {
        use base64::Engine as _;
        let mut bytes = Vec::new();
        self.serializer
            .serialize(histogram, &mut bytes)
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        let tag = tag.map_or_else(String::new, |tag| format!("Tag={tag},"));
        writeln!(
            self.file,
            "{tag}{:.3},{:.3},{:.3},{}",
            start.as_secs_f64(),
            length.as_secs_f64(),
            histogram.max() as f64 / MAX_VALUE_DIVISOR,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    /// Flushes the log and moves it to its final name.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        std::fs::rename(&self.partial, &self.path)
    }
}

/// `out.hlog` is written as `out.hlog.partial` until it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// One histogram read back from an interval log.
#[derive(Debug, Clone)]
pub struct LoggedInterval {
    /// Its tag; `None` for the untagged line, which in our logs is the headline ([`ALL`]). A line
    /// tagged `Tag=all` is another histogram, never added into the untagged one.
    pub tag: Option<String>,
    /// Start, seconds after the log's start time (negative for an interval logged before it).
    pub start_s: f64,
    /// Length of the interval.
    pub length: Duration,
    /// The histogram, in nanoseconds.
    pub histogram: Histogram<u64>,
}

impl LoggedInterval {
    /// Whether this is the untagged histogram (the headline, in our logs).
    pub fn is_untagged(&self) -> bool {
        self.tag.is_none()
    }

    /// Whether this line carries `tag` (`Tag=tag`); [`ALL`] means the untagged line.
    pub fn has_tag(&self, tag: &str) -> bool {
        match &self.tag {
            None => tag == ALL,
            Some(own) => own == tag,
        }
    }
}

/// An interval log read back: when it started, and its histograms in the order written.
#[derive(Debug, Clone)]
pub struct IntervalLog {
    /// The log's start time, seconds since the epoch: its `StartTime`, or else its first
    /// interval's absolute time, as HdrHistogram's own `HistogramLogReader` takes it.
    pub start_time_s: f64,
    /// Every histogram.
    pub intervals: Vec<LoggedInterval>,
}

impl IntervalLog {
    /// The untagged histograms (the headline of our logs), in order.
    pub fn untagged(&self) -> impl Iterator<Item = &LoggedInterval> {
        self.intervals.iter().filter(|i| i.is_untagged())
    }
}

/// Why an interval log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadLogError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The log.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not an HDR interval log, or is damaged.
    #[error("{path} is not a readable HDR interval log: {reason}")]
    Format {
        /// The log.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The log is readable, but does not hold what its report says the run measured.
    #[error("{path} is not the interval log of its report: {reason}")]
    NotOfItsReport {
        /// The log.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
}

/// A year of seconds: HdrHistogram's reader takes timestamps more than this before the start
/// time as offsets from it, and others as seconds since the epoch.
const A_YEAR_S: f64 = 365.0 * 24.0 * 3600.0;

/// Reads every histogram of an interval log, placing each in time as HdrHistogram's own reader
/// does: a `BaseTime` makes timestamps offsets from it; without one, timestamps more than a year
/// before the `StartTime` are offsets from the start time and others are seconds since the epoch;
/// without a `StartTime`, the first interval's absolute time is the start. A later `StartTime` or
/// `BaseTime` applies from where it appears.
pub fn read(path: &Path) -> Result<IntervalLog, ReadLogError> {
    read_tags(path, |_| true)
}

/// [`read`], keeping only the histograms whose tag (`None`: untagged) `keep` takes: a histogram
/// held in memory is a quarter of a megabyte, and an hour's log of eight tags holds 28,800.
pub fn read_tags(
    path: &Path,
    keep: impl Fn(Option<&str>) -> bool,
) -> Result<IntervalLog, ReadLogError> {
    let bytes = std::fs::read(path).map_err(|source| ReadLogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_tags(&bytes, keep).map_err(|reason| ReadLogError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// [`read`] on a log's bytes: what is wrong with them, if anything.
pub fn parse(bytes: &[u8]) -> Result<IntervalLog, String> {
    parse_tags(bytes, |_| true)
}

/// [`read_tags`] on a log's bytes. Every line is parsed and placed in time; only the histograms
/// kept are decoded, each with [`crate::record::decode_histogram`], which trusts no size a file
/// declares.
pub fn parse_tags(
    bytes: &[u8],
    keep: impl Fn(Option<&str>) -> bool,
) -> Result<IntervalLog, String> {
    let mut intervals = Vec::new();
    let (mut start_time, mut base_time): (Option<f64>, Option<f64>) = (None, None);
    // Absolute start of every interval, seconds since the epoch; the log's start is the start time
    // in effect at its first interval.
    let mut absolute = Vec::new();
    let mut log_start = None;
    for (line, entry) in IntervalLogIterator::new(bytes).enumerate() {
        let entry = entry.map_err(|e| match e {
            hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
                format!("unreadable at byte {offset} (entry {})", line + 1)
            }
        })?;
        match entry {
            LogEntry::StartTime(at) => start_time = Some(at.as_secs_f64()),
            LogEntry::BaseTime(at) => base_time = Some(at.as_secs_f64()),
            LogEntry::Interval(interval) => {
                let stamp = interval.start_timestamp().as_secs_f64();
                let start = *start_time.get_or_insert(stamp);
                log_start.get_or_insert(start);
                let base = base_time.unwrap_or(if stamp < start - A_YEAR_S { start } else { 0.0 });
                let tag = interval.tag().map(|t| t.as_str());
                if !keep(tag) {
                    continue;
                }
                let compressed = base64_decode(interval.encoded_histogram())
                    .map_err(|e| format!("entry {}: {e}", line + 1))?;
                let histogram = crate::record::decode_histogram(&compressed)
                    .map_err(|e| format!("entry {}: not a histogram: {e}", line + 1))?;
                absolute.push(stamp + base);
                intervals.push(LoggedInterval {
                    tag: tag.map(str::to_owned),
                    start_s: 0.0,
                    length: interval.duration(),
                    histogram,
                });
            }
        }
    }
    let start_time_s = log_start.or(start_time).unwrap_or(0.0);
    for (interval, at) in intervals.iter_mut().zip(absolute) {
        interval.start_s = at - start_time_s;
    }
    Ok(IntervalLog {
        start_time_s,
        intervals,
    })
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::new_histogram;

    #[test]
    fn a_log_reads_back_as_written_and_is_complete_only_when_finished() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("run.hlog");
        let mut log = HdrLog::create(&path, SystemTime::now(), "a test").unwrap();
        let mut histogram = new_histogram();
        for micros in 1..=1000u64 {
            histogram.record(micros * 1_000).unwrap();
        }
        log.write(ALL, &histogram, Duration::ZERO, Duration::from_secs(1));
        log.write(
            "service-trees",
            &histogram,
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert!(
            !path.exists(),
            "the final name appears only when the log is complete"
        );
        log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("#[MaxValueDivisor: 1000000.000]") && text.contains("\"StartTimestamp\"")
        );
        // The header says milliseconds, and so does every line's max (1 ms, not 1,000,000 ns);
        // the headline is untagged, the rest tagged; the header is written once.
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with(['#', '"']))
            .collect();
        assert!(lines[0].starts_with("0.000,1.000,1.000,"), "{}", lines[0]);
        assert!(
            lines[1].starts_with("Tag=service-trees,1.000,1.000,1.000,"),
            "{}",
            lines[1]
        );
        assert_eq!(text.matches("MaxValueDivisor").count(), 1);

        let intervals = read(&path).unwrap().intervals;
        assert_eq!(intervals.len(), 2);
        assert!(intervals[0].is_untagged() && intervals[0].has_tag(ALL));
        assert_eq!(intervals[1].tag.as_deref(), Some("service-trees"));
        assert_eq!(intervals[1].start_s, 1.0);
        assert_eq!(intervals[0].histogram.len(), 1000);
        assert_eq!(
            intervals[0].histogram.value_at_quantile(0.5),
            histogram.value_at_quantile(0.5)
        );
    }

    #[test]
    fn a_foreign_file_is_refused_with_its_name() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("notes.txt");
        std::fs::write(&path, "Tag=response,0.0,1.0,2.0,not-base64!!\n").unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("notes.txt"), "{error}");
    }

    /// A histogram of `count` values of 1 ms, as one interval line's base64 payload.
    fn payload(count: u64) -> String {
        use base64::Engine as _;
        let mut histogram = new_histogram();
        histogram.record_n(1_000_000, count).unwrap();
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&histogram, &mut bytes)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn a_java_log_with_absolute_timestamps_is_placed_from_its_start_time() {
        // As HdrHistogram's Java HistogramLogWriter writes by default: a StartTime, no BaseTime,
        // and timestamps in seconds since the epoch.
        let text = format!(
            "#[Histogram log format version 1.3]\n\
             #[StartTime: 1764000000.000 (seconds since epoch), Mon Nov 24 16:00:00 UTC 2025]\n\
             \"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n\
             1764000000.500,1.000,1.000,{a}\n\
             1764000001.500,1.000,1.000,{b}\n\
             Tag=all,1764000001.500,1.000,1.000,{c}\n",
            a = payload(10),
            b = payload(20),
            c = payload(30),
        );
        let log = parse(text.as_bytes()).unwrap();
        assert_eq!(log.start_time_s, 1_764_000_000.0);
        let starts: Vec<f64> = log.intervals.iter().map(|i| i.start_s).collect();
        assert_eq!(starts, [0.5, 1.5, 1.5]);
        // The line tagged "all" is a histogram of its own, not part of the untagged headline.
        let untagged: Vec<u64> = log.untagged().map(|i| i.histogram.len()).collect();
        assert_eq!(untagged, [10, 20]);
        assert_eq!(log.intervals[2].tag.as_deref(), Some("all"));
        assert!(!log.intervals[2].is_untagged());
    }

    #[test]
    fn a_base_time_makes_timestamps_offsets_and_without_headers_the_first_interval_starts() {
        let with_base = format!(
            "#[StartTime: 1764000005.000 (seconds since epoch)]\n\
             #[BaseTime: 1764000000.000 (seconds since epoch)]\n\
             5.000,1.000,1.000,{a}\n\
             6.000,1.000,1.000,{a}\n",
            a = payload(1)
        );
        let log = parse(with_base.as_bytes()).unwrap();
        assert_eq!(log.start_time_s, 1_764_000_005.0);
        assert_eq!(log.intervals[0].start_s, 0.0);
        assert_eq!(log.intervals[1].start_s, 1.0);
        // Offsets from a start time, without a base time: more than a year before it.
        let offsets = format!(
            "#[StartTime: 1764000000.000 (seconds since epoch)]\n0.000,1.000,1.000,{a}\n2.000,1.000,1.000,{a}\n",
            a = payload(1)
        );
        let log = parse(offsets.as_bytes()).unwrap();
        assert_eq!(log.start_time_s, 1_764_000_000.0);
        assert_eq!(log.intervals[1].start_s, 2.0);
        let bare = format!(
            "3.000,1.000,1.000,{a}\n4.000,1.000,1.000,{a}\n",
            a = payload(1)
        );
        let log = parse(bare.as_bytes()).unwrap();
        assert_eq!((log.start_time_s, log.intervals[1].start_s), (3.0, 1.0));
    }

    #[test]
    fn a_truncated_or_damaged_log_is_refused_with_where() {
        let whole = format!(
            "0.000,1.000,1.000,{a}\n1.000,1.000,1.000,{a}\n",
            a = payload(5)
        );
        let cut = &whole[..whole.len() - 10];
        let why = parse(cut.as_bytes()).unwrap_err();
        assert!(
            why.contains("entry 2") || why.contains("unreadable at byte"),
            "{why}"
        );
        let damaged = whole.replacen(",HIST", ",HIsT", 1).replacen(
            "1.000,1.000,1.000,",
            "1.000,1.000,1.000,AAAA",
            1,
        );
        assert!(parse(damaged.as_bytes()).is_err());
    }
}
