//! The workload driver's machinery, shared unchanged by `factory` and `shop`.
//!
//! - [`pace`]: when each operation is due (one global, open-loop schedule);
//! - [`timer`]: the one timer that waits for due times, precise to tens of microseconds;
//! - [`drive`]: the loop that starts operations on schedule behind the in-flight semaphore;
//! - [`record`]: HDR histograms of response, wait and service times, per second and in total,
//!   made of the counts and histograms of [`tally`];
//! - [`hdr_log`]: the standard HDR interval log;
//! - [`errors`]: failures sorted into kinds, transient or fatal;
//! - [`usage`]: what the client itself costs in CPU and memory;
//! - [`prometheus`]: the same numbers, live, on a Prometheus endpoint (`--metrics-addr`);
//! - [`limiter`] and [`report`]: what limited the rate, and the report of a run;
//! - [`args`], [`run`], [`measure`], [`shutdown`]: what an app needs to run a measured workload;
//! - [`floor`] and [`overhead`]: the raw driver loop the factory's own cost is measured against;
//! - [`suite`], [`suite_report`], [`html`], [`plots`]: the standard suite and its report folder;
//! - [`lessons`]: each pattern of the apps as a controlled experiment (`bench lessons`);
//! - [`compare`] and [`merge`]: reports side by side (Welch's t-test), and reports added up.

pub mod args;
pub mod compare;
pub mod drive;
pub mod errors;
pub mod floor;
pub mod hdr_log;
pub mod html;
pub mod lessons;
pub mod limiter;
pub mod measure;
pub mod merge;
pub mod overhead;
pub mod pace;
pub mod plots;
pub mod prometheus;
pub mod record;
pub mod report;
pub mod run;
pub mod shutdown;
pub mod suite;
pub mod suite_report;
pub mod tally;
pub mod timer;
pub mod usage;

pub use args::RunArgs;
pub use drive::Intended;
pub use measure::{measure, measure_on, measure_value, measure_write};
pub use record::Completed;
pub use run::{Finished, Run, Workload};
