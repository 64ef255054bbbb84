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
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

use crate::tally::ALL;

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
        tag: &str,
        histogram: &Histogram<u64>,
        start: Duration,
        length: Duration,
    ) -> io::Result<()> {
        use base64::Engine as _;
        let mut bytes = Vec::new();
        self.serializer
            .serialize(histogram, &mut bytes)
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        let tag = if tag == ALL {
            String::new()
        } else {
            format!("Tag={tag},")
        };
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
    /// Its tag (`all` for the untagged line, `response`, `service-timesheets`...).
    pub tag: String,
    /// Start, relative to the log's base time.
    pub start: Duration,
    /// Length of the interval.
    pub length: Duration,
    /// The histogram, in nanoseconds.
    pub histogram: Histogram<u64>,
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
}

/// Reads every histogram of an interval log.
pub fn read(path: &Path) -> Result<Vec<LoggedInterval>, ReadLogError> {
    let bytes = std::fs::read(path).map_err(|source| ReadLogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format = |reason: String| ReadLogError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut deserializer = Deserializer::new();
    let mut intervals = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| format(format!("{e:?}")))?;
        if let LogEntry::Interval(interval) = entry {
            let compressed = base64_decode(interval.encoded_histogram()).map_err(format)?;
            let histogram: Histogram<u64> = deserializer
                .deserialize(&mut compressed.as_slice())
                .map_err(|e| format(format!("{e:?}")))?;
            intervals.push(LoggedInterval {
                tag: interval
                    .tag()
                    .map_or_else(|| ALL.to_owned(), |t| t.as_str().to_owned()),
                start: interval.start_timestamp(),
                length: interval.duration(),
                histogram,
            });
        }
    }
    Ok(intervals)
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

        let intervals = read(&path).unwrap();
        assert_eq!(intervals.len(), 2);
        assert_eq!(intervals[0].tag, ALL);
        assert_eq!(intervals[1].tag, "service-trees");
        assert_eq!(intervals[1].start, Duration::from_secs(1));
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
}
