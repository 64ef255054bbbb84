//! How much a ring can take, and whether a run stayed within what was asked of it:
//! - [`check`]: a run judged window by window against latency, rate and error bounds
//!   (`bench check`).

pub mod check;
