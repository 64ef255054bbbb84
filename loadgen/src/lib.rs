//! The workload driver's runtime, linked unchanged by `factory` and `shop` (and by `bench`, which
//! measures and reports on them).
//!
//! - [`pace`]: when each operation is due (one global, open-loop schedule);
//! - [`timer`]: the one timer that waits for due times, precise to tens of microseconds, on the
//!   [`runtime`] of one thread (unless `--threads` says more);
//! - [`drive`]: the loop that starts operations on schedule behind the in-flight semaphore, and
//!   [`outstanding`]: which of them are still out, and since when;
//! - [`record`]: HDR histograms of response, wait and service times, per second and in total,
//!   made of the counts and histograms of [`tally`];
//! - [`hdr_log`]: the standard HDR interval log;
//! - [`errors`]: failures sorted into kinds, transient or fatal; [`fair`]: fair orders for
//!   comparisons;
//! - [`usage`]: what the client itself costs in CPU and memory;
//! - [`prometheus`]: the same numbers, live, on a Prometheus endpoint (`--metrics-addr`);
//! - [`limiter`], [`report`] and [`summary`]: what limited the rate, the report of a run, and
//!   what it prints, in the one style of [`table`];
//! - [`ring_side`]: what the ring said about its own load, sampled beside the run;
//! - [`args`], [`run`], [`measure`], [`shutdown`]: what an app needs to run a measured workload;
//!   [`shard`]: one run spread over N processes.
//!
//! Nothing here draws, compares or runs suites: that is `bench`'s, so the apps link no plotting
//! or statistics crates.

pub mod args;
pub mod drive;
pub mod errors;
pub mod fair;
pub mod hdr_log;
pub mod limiter;
pub mod measure;
pub mod outstanding;
pub mod pace;
pub mod prometheus;
pub mod record;
pub mod report;
pub mod ring_side;
pub mod run;
pub mod runtime;
pub mod shard;
pub mod shutdown;
pub mod summary;
pub mod table;
pub mod tally;
pub mod timer;
pub mod usage;

pub use args::RunArgs;
pub use drive::Intended;
pub use measure::{measure, measure_on, measure_value, measure_write};
pub use record::Completed;
pub use run::{Finished, Run, Workload};
