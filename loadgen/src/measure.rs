//! Timing one request: the service time runs from the moment the request is sent (its future's
//! first poll) to its answer, and a failure is sorted into a kind on the spot.
//!
//! The driver's request futures are large (kilobytes of state), and every `join!`, wrapper and
//! `FuturesUnordered::push` around them would copy them whole. [`measure`] moves each request to
//! the heap once, when it is created; from then on only a pointer moves. Profiling the factory
//! showed a fifth of its CPU in `memmove` before this.

use std::future::Future;

use client::Connection;
use scylla::errors::ExecutionError;
use scylla::response::query_result::QueryResult;
use tokio::time::Instant;

use crate::errors::{ErrorKind, Failure, RequestError};
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
                    remote: false,
                },
                Some(value),
            ),
            Err(error) => (
                Request {
                    tag,
                    service,
                    error: Some(error.failure()),
                    remote: false,
                },
                None,
            ),
        }
    }
}

/// Like [`measure_value`], for a request sent through `cassandra`: a connection failure while
/// every node of the local datacenter is down (and failover is off) is [`ErrorKind::NoNode`],
/// with the datacenter named: if it lasts longer than `--outage-limit`, that is what ends the run.
pub fn measure_on<'a, T: Send + 'a, E: RequestError + Send + 'a>(
    cassandra: &'a Connection,
    tag: usize,
    request: impl Future<Output = Result<T, E>> + Send + 'a,
) -> impl Future<Output = (Request, Option<T>)> + Send + 'a {
    let timed = measure_value(tag, request);
    async move {
        let (mut request, value) = timed.await;
        let lost_connection = request
            .error
            .as_ref()
            .is_some_and(|f| matches!(f.kind, ErrorKind::Connection | ErrorKind::NoNode));
        if lost_connection && cassandra.local_datacenter_is_down() {
            request.error = Some(Failure {
                kind: ErrorKind::NoNode,
                detail: Some(format!(
                    "every node of datacenter {} is down, and requests may not leave it (--dc-failover lets them)",
                    cassandra.local_dc
                )),
            });
        }
        (request, value)
    }
}

/// Like [`measure_on`], for a write: also notes whether a node outside the local datacenter
/// coordinated it, which only `--dc-failover` allows.
pub fn measure_write<'a>(
    cassandra: &'a Connection,
    tag: usize,
    request: impl Future<Output = Result<QueryResult, ExecutionError>> + Send + 'a,
) -> impl Future<Output = Request> + Send + 'a {
    let timed = measure_on(cassandra, tag, request);
    async move {
        let (mut request, result) = timed.await;
        let local = cassandra.local_dc.as_str();
        request.remote = result
            .is_some_and(|r| r.request_coordinator().node().datacenter.as_deref() != Some(local));
        request
    }
}
