//! What went wrong with a request, as a small set of kinds a report can count.
//!
//! Transient kinds (timeouts, unavailable replicas, overload, broken connections) are counted and
//! the run goes on: they are what a benchmark is there to observe. A saturated node answers late
//! or sheds load, and that is a measurement, not an ending. Kinds that say no node could be
//! reached at all ([`ErrorKind::is_unreachable`]) are counted too, and end the run only when they
//! last longer than `--outage-limit`. Fatal kinds (bad credentials, missing permissions, a schema
//! that does not match the statements) end the run at once, since every later request would fail
//! the same way.

use std::fmt;

use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use serde::{Deserialize, Serialize};

/// The kinds of request failure a report counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The coordinator did not get enough write acknowledgements in time (server-side timeout).
    WriteTimeout,
    /// The coordinator did not get enough read responses in time.
    ReadTimeout,
    /// Not enough replicas alive for the consistency level.
    Unavailable,
    /// A node shed load (overloaded, rate limited).
    Overloaded,
    /// A replica failed the write or read (not a timeout).
    ReplicaFailure,
    /// The driver gave up after its own request timeout (`--request-timeout`).
    ClientTimeout,
    /// No connection could carry the request: broken or refused.
    Connection,
    /// No node may take the request: every node the load-balancing policy allows (the local
    /// datacenter's, without `--dc-failover`) is down.
    NoNode,
    /// The node is still joining the ring.
    Bootstrapping,
    /// A server error without a more precise kind.
    Server,
    /// Wrong user or password.
    Authentication,
    /// The user lacks a permission.
    Unauthorized,
    /// The request does not fit the schema (a missing table or keyspace, a bad statement).
    Invalid,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::WriteTimeout,
        ErrorKind::ReadTimeout,
        ErrorKind::Unavailable,
        ErrorKind::Overloaded,
        ErrorKind::ReplicaFailure,
        ErrorKind::ClientTimeout,
        ErrorKind::Connection,
        ErrorKind::NoNode,
        ErrorKind::Bootstrapping,
        ErrorKind::Server,
        ErrorKind::Authentication,
        ErrorKind::Unauthorized,
        ErrorKind::Invalid,
        ErrorKind::Other,
    ];

    /// Whether the run must stop: every later request would fail the same way.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorKind::Authentication | ErrorKind::Unauthorized | ErrorKind::Invalid
        )
    }

    /// Whether the request reached no node at all (no connection, or no node it may use): an
    /// outage while it lasts, which the run tolerates up to `--outage-limit`. A node that
    /// answers, however slowly or with whatever error, is not down.
    pub fn is_unreachable(self) -> bool {
        matches!(self, ErrorKind::Connection | ErrorKind::NoNode)
    }

    /// The name used in reports, live lines and logs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::WriteTimeout => "write_timeout",
            ErrorKind::ReadTimeout => "read_timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::ReplicaFailure => "replica_failure",
            ErrorKind::ClientTimeout => "client_timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::NoNode => "no_node",
            ErrorKind::Bootstrapping => "bootstrapping",
            ErrorKind::Server => "server",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed request: its kind, and for fatal kinds the server's message, which the user needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The driver's message; kept only for fatal failures, so the hot path of a run with many
    /// timeouts formats nothing.
    pub detail: Option<String>,
}

/// An error a measured request can end with: anything that can say what kind of failure it is.
pub trait RequestError {
    /// The failure, sorted into a kind.
    fn failure(&self) -> Failure;
}

impl RequestError for ExecutionError {
    fn failure(&self) -> Failure {
        classify(self)
    }
}

/// Sorts a driver error into a [`Failure`].
pub fn classify(error: &ExecutionError) -> Failure {
    let kind = kind_of(error);
    // The detail is kept for the kinds that can end a run, so that its last line can say why.
    let detail = match kind {
        ErrorKind::NoNode => Some(
            "no node may take requests: every node of the local datacenter is down, and requests may not \
             leave it (--dc-failover lets them)"
                .to_owned(),
        ),
        kind if kind.is_fatal() => Some(error.to_string()),
        _ => None,
    };
    Failure { kind, detail }
}

fn kind_of(error: &ExecutionError) -> ErrorKind {
    match error {
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::DbError(db, _) => db_kind(db),
            RequestAttemptError::BrokenConnectionError(_)
            | RequestAttemptError::UnableToAllocStreamId => ErrorKind::Connection,
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_) => ErrorKind::Invalid,
            _ => ErrorKind::Other,
        },
        ExecutionError::RequestTimeout(_) => ErrorKind::ClientTimeout,
        ExecutionError::ConnectionPoolError(_) => ErrorKind::Connection,
        ExecutionError::EmptyPlan => ErrorKind::NoNode,
        ExecutionError::BadQuery(_)
        | ExecutionError::PrepareError(_)
        | ExecutionError::UseKeyspaceError(_) => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

fn db_kind(error: &DbError) -> ErrorKind {
    match error {
        DbError::WriteTimeout { .. } => ErrorKind::WriteTimeout,
        DbError::ReadTimeout { .. } => ErrorKind::ReadTimeout,
        DbError::Unavailable { .. } => ErrorKind::Unavailable,
        DbError::Overloaded | DbError::RateLimitReached { .. } => ErrorKind::Overloaded,
        DbError::WriteFailure { .. } | DbError::ReadFailure { .. } => ErrorKind::ReplicaFailure,
        DbError::IsBootstrapping => ErrorKind::Bootstrapping,
        DbError::ServerError | DbError::TruncateError => ErrorKind::Server,
        DbError::AuthenticationError => ErrorKind::Authentication,
        DbError::Unauthorized => ErrorKind::Unauthorized,
        DbError::SyntaxError
        | DbError::Invalid
        | DbError::ConfigError
        | DbError::AlreadyExists { .. } => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scylla::statement::Consistency;

    use super::*;

    fn db(error: DbError) -> ExecutionError {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            error,
            "from the server".into(),
        ))
    }

    #[test]
    fn transient_errors_are_counted_not_fatal() {
        let unavailable = db(DbError::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 2,
            alive: 1,
        });
        assert_eq!(
            classify(&unavailable),
            Failure {
                kind: ErrorKind::Unavailable,
                detail: None
            }
        );
        assert_eq!(
            classify(&ExecutionError::RequestTimeout(Duration::from_secs(1))).kind,
            ErrorKind::ClientTimeout
        );
        assert_eq!(
            classify(&db(DbError::Overloaded)).kind,
            ErrorKind::Overloaded
        );
        let no_node = classify(&ExecutionError::EmptyPlan);
        assert_eq!(no_node.kind, ErrorKind::NoNode);
        assert!(
            !no_node.kind.is_fatal() && no_node.kind.is_unreachable(),
            "an empty plan is an outage, tolerated up to --outage-limit: nodes come back"
        );
        assert!(no_node.detail.is_some_and(|d| d.contains("--dc-failover")));
        assert!(!ErrorKind::WriteTimeout.is_fatal());
        for answered in [
            ErrorKind::Overloaded,
            ErrorKind::WriteTimeout,
            ErrorKind::ClientTimeout,
        ] {
            assert!(
                !answered.is_unreachable(),
                "{answered}: a saturated node is not down"
            );
        }
    }

    #[test]
    fn schema_and_auth_errors_are_fatal_and_keep_their_message() {
        let failure = classify(&db(DbError::Invalid));
        assert_eq!(failure.kind, ErrorKind::Invalid);
        assert!(
            failure
                .detail
                .is_some_and(|d| d.contains("from the server"))
        );
        assert!(classify(&db(DbError::Unauthorized)).kind.is_fatal());
        assert_eq!(ErrorKind::ClientTimeout.to_string(), "client_timeout");
    }
}
