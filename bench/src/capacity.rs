//! How much a ring can take, and whether a run stayed within what was asked of it:
//! - [`check`]: a run judged window by window against latency, rate and error bounds
//!   (`bench check`);
//! - [`search`]: the rate search of `bench findmax`: grow, then bisect, steps judged per window;
//! - [`findmax`]: the search run (`bench findmax`), each step a process of the app
//!   ([`steps`]: alone, or one shard of N loaders that search together), and its page
//!   ([`page`]).

pub mod check;
pub mod findmax;
pub mod page;
pub mod search;
pub mod steps;
