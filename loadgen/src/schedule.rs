//! When each operation is due, and what waits for it: the first stage of a run.
//!
//! - `pace`: the one global, open-loop schedule (operation `n` due at `start + n / rate`), with
//!   its pace windows and its end;
//! - `timer`: the one timer that waits for due times, a `timerfd` precise to tens of
//!   microseconds (tokio's own sleeps wake up to a millisecond late);
//! - `runtime`: the runtime the timer and the requests share, one thread unless `--threads` says
//!   more;
//! - `shard`: one schedule spread over N processes (`--shard I/N`, `--start-at`), shard I taking
//!   operations I, I+N, I+2N... of it.

mod pace;
mod runtime;
mod shard;
mod timer;

pub(crate) use pace::{Due, wall_clock_of};
pub use pace::{End, Pace, Schedule};
pub use runtime::on_threads;
pub(crate) use shard::{
    Scheduled, check_start_at, default_run_id, describe_share, next_whole_ten_seconds,
    start_of_schedule,
};
pub use shard::{Shard, StartPassed, parse_start_at};
pub use timer::{PreciseTimer, Timer, TokioTimer};
