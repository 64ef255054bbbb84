//! The load generator's runtime: what `factory` and `shop` link to run a measured workload (and
//! what `bench` reads back from their reports).
//!
//! An app says what one operation is; this crate decides when it is due, starts it behind the
//! in-flight window, records what it took, and reports what limited the rate. Nothing here draws,
//! compares or runs suites: that is `bench`'s, so the apps link no plotting or statistics crates.
//! Nor does it know the pickle model: an app's own errors say their kind through
//! [`errors::RequestError`].
//!
//! # Layout
//!
//! A run goes through four stages, each a module with its parts inside:
//!
//! - [`schedule`]: when each operation is due: the one global open-loop schedule (`pace`), the
//!   precise timer that waits for it (`timer`), the runtime it runs on (`runtime`), and one run
//!   spread over N processes (`shard`);
//! - `drive`: the loop that starts operations on schedule behind the in-flight semaphore, and
//!   drains on Ctrl-C: its state between turns (`run_loop`), which operations are still out
//!   (`outstanding`);
//! - [`record`]: HDR histograms of response, wait and service times, per second and in total:
//!   the counts and histograms (`tally`), the HDR interval log ([`record::hdr_log`]), the
//!   client's own CPU and memory (`usage`), the live numbers for Prometheus (`prometheus`);
//! - [`report`]: the JSON report of a run ([`report::RunReport`]) and the checks a report read
//!   from a file must pass (`checks`), what limited the rate (`limiter`), what the ring said about
//!   its own load (`ring_side`), what a run prints (`summary`), in the one style of
//!   [`report::table`].
//!
//! Around them, what an app's `main` needs: [`Run`] (`run`: a measured run from start to
//! report, and `run::reporting`, where a recording becomes its report), [`RunArgs`] (the load
//! options every app flattens, in [`args`]), [`measure_write`] and its kin (`measure`: timing one
//! request), [`shutdown`] (Ctrl-C and SIGTERM in every phase), [`errors`] (failures sorted into
//! kinds) and [`fair`] (fair orders for comparisons).

pub mod args;
mod drive;
pub mod errors;
pub mod fair;
mod measure;
pub mod record;
pub mod report;
mod run;
pub mod schedule;
pub mod shutdown;

pub use args::RunArgs;
pub use drive::{Ending, Intended, Outcome};
pub use measure::{measure, measure_on, measure_value, measure_write};
pub use record::Completed;
pub use run::{Finished, Run, RunError, Stopped, Workload};
