//! Timing one request: the service time runs from the moment the request is sent (its future's
//! first poll) to its answer, and a failure is sorted into a kind on the spot.
//!
//! The driver's request futures are large (kilobytes of state), and every `join!`, wrapper and
//! `FuturesUnordered::push` around them would copy them whole. [`measure`] moves each request to
//! the heap once, when it is created; from then on only a pointer moves. Profiling the factory
//! showed a fifth of its CPU in `memmove` before this.

use std::future::Future;

use tokio::time::Instant;

use crate::errors::RequestError;
use crate::record::Request;

/// Sends one request, counted under service tag `tag`, and times it.
pub fn measure<'a, T: Send + 'a, E: RequestError + Send + 'a>(
    tag: usize,
    request: impl Future<Output = Result<T, E>> + Send + 'a,
) -> impl Future<Output = Request> + Send + 'a {
    let timed = measure_value(tag, request);
    async move { timed.await.0 }
}

/// Like [`measure`], and also returns the request's result when it succeeded (for reads).
pub fn measure_value<'a, T: Send + 'a, E: RequestError + Send + 'a>(
    tag: usize,
    request: impl Future<Output = Result<T, E>> + Send + 'a,
) -> impl Future<Output = (Request, Option<T>)> + Send + 'a {
    let request = Box::pin(request);
    async move {
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
                    error: Some(error.failure()),
                },
                None,
            ),
        }
    }
}
