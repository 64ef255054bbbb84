//! The tokio runtime an app runs on: one thread unless `--threads` asks for more.
//!
//! On one thread the schedule, the driver's connections and the timer share a thread: the
//! deadline wakes the thread that sends the operation, and an answer wakes the thread that
//! records it. On several, each of those is a hand-off that wakes another thread as well, and at
//! a fixed rate waking up is most of what a client spends (see `--threads`).

use tokio::runtime::{Builder, Runtime};

/// A runtime of `threads` threads: one is tokio's current-thread runtime, more a multi-threaded
/// runtime with that many workers (besides the thread that blocks on the app).
pub fn on_threads(threads: u16) -> std::io::Result<Runtime> {
    match threads {
        0 | 1 => Builder::new_current_thread().enable_all().build(),
        workers => Builder::new_multi_thread()
            .worker_threads(workers.into())
            .enable_all()
            .build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_is_the_current_thread_runtime_and_more_are_workers() {
        use tokio::runtime::RuntimeFlavor;
        let flavor = |threads| on_threads(threads).unwrap().handle().runtime_flavor();
        assert_eq!(flavor(1), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(4), RuntimeFlavor::MultiThread);
        let workers = on_threads(3).unwrap().metrics().num_workers();
        assert_eq!(workers, 3);
    }
}
