//! The benchmark product: the standard suite, its report folder, comparisons and the lessons.
//! The runtime the apps link (pacing, the in-flight window, recording, run reports) is the
//! `driver` crate in `bench/driver/`; this crate only reads what it records.
//!
//! - [`suite`], [`scenario`], [`suite_report`], [`html`], [`plots`]: the standard suite, each of
//!   its scenarios as a process of its own, and its report folder; [`setup`]: the ring, folder
//!   and keyspace every measuring command starts from;
//! - [`lessons`]: each pattern of the apps as a controlled experiment (`bench lessons`);
//! - [`compare`] and [`merge`]: reports side by side, and reports added up; [`stats`]: the tests
//!   and intervals `compare` rests on;
//! - [`floor`] and [`overhead`]: the raw driver loop the factory's own cost is measured against;
//!   [`pacing`]: what pacing at a fixed rate costs beside running unthrottled;
//! - [`ring`]: `bench ring up | status | down | list ...`, the command-line face of the local ring
//!   (`cluster::local`).

pub mod compare;
pub mod error;
pub mod floor;
pub mod html;
pub mod lessons;
pub mod merge;
pub mod overhead;
pub mod pacing;
pub mod plots;
pub mod ring;
pub mod scenario;
pub mod setup;
pub mod stats;
pub mod suite;
pub mod suite_report;
