//! A read timed the way the runtime times every request, with its failure sorted into the
//! runtime's kinds: the one place the shop says how the model's [`ReadError`] is counted.
//!
//! The runtime (`loadgen`) knows requests, not the pickle model: it sorts a driver error into a
//! kind, and any other error it is handed says its own kind through [`RequestError`]. A read
//! fails either as a request (a timeout, a node down: sorted as the driver's error is) or because
//! its rows did not fit the model (a schema that drifted under the shop), which is `invalid`:
//! every later read would fail the same way, so the run stops and says why.

use std::future::Future;

use client::Connection;
use loadgen::errors::{ErrorKind, Failure, RequestError, classify};
use loadgen::measure_on;
use loadgen::record::Request;
use schema::reads::ReadError;

/// A failed read of the model, as the runtime counts it.
#[derive(Debug)]
pub struct FailedRead(pub ReadError);

impl RequestError for FailedRead {
    fn failure(&self) -> Failure {
        match &self.0 {
            ReadError::Request(error) => classify(error),
            ReadError::Rows(reason) => Failure {
                kind: ErrorKind::Invalid,
                detail: Some(reason.clone()),
            },
        }
    }
}

/// Sends one read through `cassandra`, counted under service tag `tag`, and times it (see
/// [`measure_on`]): the request measured, and its value when it succeeded.
pub fn measure_read<'a, T: Send + 'a>(
    cassandra: &'a Connection,
    tag: usize,
    read: impl Future<Output = Result<T, ReadError>> + Send + 'a,
) -> impl Future<Output = (Request, Option<T>)> + Send + 'a {
    measure_on(
        cassandra,
        tag,
        async move { read.await.map_err(FailedRead) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_that_do_not_fit_the_model_are_invalid_and_say_why() {
        let failure = FailedRead(ReadError::Rows("no column trees".to_owned())).failure();
        assert_eq!(failure.kind, ErrorKind::Invalid);
        assert!(failure.kind.is_fatal());
        assert_eq!(failure.detail.as_deref(), Some("no column trees"));
    }

    #[test]
    fn a_failed_request_is_sorted_as_the_driver_error_it_is() {
        let timeout =
            scylla::errors::ExecutionError::RequestTimeout(std::time::Duration::from_secs(1));
        let failure = FailedRead(ReadError::from(timeout)).failure();
        assert_eq!(failure.kind, ErrorKind::ClientTimeout);
    }
}
