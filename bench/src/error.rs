//! Why a `bench` command failed: one variant per cause, each saying what failed and where.
//!
//! The errors of the crates underneath (connecting, the local ring, the schema, a run, a report)
//! pass through as they are. A usage mistake and an interruption keep their own types as the
//! source, so that the binary's exit code (2 and 130) finds them in the chain of causes.

use client::cli::{Interrupted, UsageError};

/// What a `bench` command returns.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Why a `bench` command failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A flag or value that cannot work (exit code 2).
    #[error("{0}")]
    Usage(#[source] UsageError),
    /// Ctrl-C or SIGTERM (exit code 130).
    #[error("{0}")]
    Interrupted(#[source] Interrupted),
    /// The ring could not be reached.
    #[error(transparent)]
    Connect(#[from] client::ConnectError),
    /// The local ring could not be started, stopped or read.
    #[error(transparent)]
    Ring(#[from] ring::LocalError),
    /// The schema could not be read, applied or dropped.
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
    /// A measured run could not produce its report.
    #[error(transparent)]
    Run(#[from] loadgen::RunError),
    /// A run produced its report, and then failed (errors, an outage, Ctrl-C).
    #[error(transparent)]
    Stopped(#[from] loadgen::Stopped),
    /// A report could not be read or written.
    #[error(transparent)]
    Report(#[from] loadgen::report::ReportError),
    /// The HTML page could not be made.
    #[error(transparent)]
    Page(#[from] crate::report::html::PageError),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] crate::report::plots::PlotError),
    /// A request of an experiment failed (boxed: the driver's error is large).
    #[error("a request failed: {0}")]
    Request(#[source] Box<scylla::errors::ExecutionError>),
    /// A read of an experiment failed.
    #[error(transparent)]
    Read(#[from] schema::reads::ReadError),
    /// A file, folder or process could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Something the command checks did not hold; the message says what.
    #[error("{0}")]
    Failed(String),
}

impl From<UsageError> for BenchError {
    fn from(error: UsageError) -> BenchError {
        BenchError::Usage(error)
    }
}

impl From<Interrupted> for BenchError {
    fn from(error: Interrupted) -> BenchError {
        BenchError::Interrupted(error)
    }
}

impl From<scylla::errors::ExecutionError> for BenchError {
    fn from(error: scylla::errors::ExecutionError) -> BenchError {
        BenchError::Request(Box::new(error))
    }
}

impl BenchError {
    /// An I/O error, with what was being done when it happened.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}

#[cfg(test)]
mod tests {
    use std::process::ExitCode;

    use client::cli::exit_code;

    use super::*;

    #[test]
    fn usage_mistakes_and_interruptions_keep_their_exit_codes() {
        let usage = BenchError::from(UsageError("--nodes 0: no ring".into()));
        assert_eq!(exit_code(Err(usage.into())), ExitCode::from(2));
        let stopped = BenchError::from(loadgen::Stopped::Interrupted(Interrupted));
        assert_eq!(exit_code(Err(stopped.into())), ExitCode::from(130));
        let failed = BenchError::Failed("a scenario failed".into());
        assert_eq!(exit_code(Err(failed.into())), ExitCode::from(1));
    }
}
