//! Timing one request: the service time runs from the moment the request is sent (its future's
//! first poll) to its answer, and a failure is sorted into a kind on the spot.

use std::future::Future;

use scylla::errors::ExecutionError;
use tokio::time::Instant;

use crate::errors::classify;
use crate::record::Request;

/// Sends one request, counted under service tag `tag`, and times it.
pub async fn measure<T>(
    tag: usize,
    request: impl Future<Output = Result<T, ExecutionError>>,
) -> Request {
    measure_value(tag, request).await.0
}

/// Like [`measure`], and also returns the request's result when it succeeded (for reads).
pub async fn measure_value<T>(
    tag: usize,
    request: impl Future<Output = Result<T, ExecutionError>>,
) -> (Request, Option<T>) {
    let sent = Instant::now();
    let result = request.await;
    let service = sent.elapsed();
    match result {
        Ok(value) => (
            Request {
                tag,
                service,
                error: None,
            },
            Some(value),
        ),
        Err(error) => (
            Request {
                tag,
                service,
                error: Some(classify(&error)),
            },
            None,
        ),
    }
}
