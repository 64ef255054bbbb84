//! The benchmark product: the standard suite, its report folder, comparisons and the lessons.
//! The runtime the apps link (pacing, the in-flight window, recording, run reports) is the
//! `loadgen` crate; this crate only reads what it records.
//!
//! - `apps`: where `bench` starts the apps as processes of their own (their binaries, flags and
//!   environment);
//! - [`suite`]: the standard suite, each of its scenarios as a process of its own, and the ring,
//!   folder and keyspace every measuring command starts from;
//! - [`report`]: the suite's report folder, its page and its plots;
//! - [`stats`]: the tests and intervals comparisons rest on, [`stats::compare`] (reports side by
//!   side) and [`stats::merge`] (reports added up);
//! - [`lessons`]: each pattern of the apps as a controlled experiment (`bench lessons`);
//! - [`capacity`]: a run judged window by window against bounds (`bench check`);
//! - [`cost`]: what the client itself costs: the raw driver loop, the factory beside it, pacing;
//! - [`ring_command`]: `bench ring up | status | down | list ...`, the command-line face of the
//!   local ring (the `ring` crate); [`error`]: why a command failed;
//! - [`fuzzing`]: the entry points of the fuzz targets: every file a user hands us, from bytes.

mod apps;
pub mod capacity;
pub mod cost;
pub mod error;
pub mod fuzzing;
pub mod lessons;
pub mod report;
pub mod ring_command;
pub mod stats;
pub mod suite;
