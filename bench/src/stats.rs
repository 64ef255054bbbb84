//! The statistics `bench compare` and `bench merge` rest on, each small enough to check against a
//! textbook, and what reads reports together.
//!
//! - [`means`]: Welch's t-test on per-second samples at their effective size;
//! - [`tails`]: intervals of p99 and p99.9 from a block bootstrap over whole seconds;
//! - [`counts`]: rare events (errors) compared by their counts, bursts allowed for;
//! - [`family`]: many tests held to one family-wise error (Holm);
//! - [`compare`]: two reports side by side, judged; [`merge`]: several added up;
//! - [`windows`]: a run cut into windows of time; [`calibrate`]: the gate's false alarms and the
//!   tails' coverage, measured on windows of one long unchanged run.

pub mod calibrate;
pub mod compare;
pub mod counts;
pub mod family;
pub mod means;
pub mod merge;
pub mod tails;
pub mod windows;
