//! How every binary reaches a ring: one clap option group, [`ConnectionArgs`], that `factory`,
//! `shop`, `schema` and `bench` all flatten, with an environment variable for every flag.
//!
//! The session it builds is the one this project recommends for Cassandra:
//! - **token-aware**, so each request goes straight to a replica (no extra coordinator hop);
//! - **DC-aware**: requests stay in the local datacenter, where LOCAL_* consistency is evaluated,
//!   and go to another DC only when `--dc-failover` allows it;
//! - **LZ4 compression** on, which costs little CPU and saves bandwidth on real networks;
//! - explicit connect and request timeouts, so a dead ring is one clear line, not a hang.
//!
//! When no `--dc` is given, the datacenter of the first contact point is used, and said so.
//!
//! The module is split by concern:
//! - `args`: the flags themselves, and turning them back into flags for a child process;
//! - `session`: the session built from them, and the [`Connection`] it is handed out as;
//! - `tls`: the TLS context, when a TLS flag is given;
//! - `errors`: [`ConnectError`], and how the driver's error text is turned into it.

mod args;
mod errors;
mod session;
mod tls;

pub use args::{CompressionChoice, ConnectionArgs, PASSWORD_VARIABLE};
pub use errors::ConnectError;
pub use session::Connection;
