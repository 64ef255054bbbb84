//! How much a ring can take, and whether a run stayed within what was asked of it:
//! - [`check`]: a run judged window by window against latency, rate and error bounds
//!   (`bench check`);
//! - [`search`]: the rate search of `bench findmax`: grow, then bisect, steps judged per window.

pub mod check;
pub mod search;
