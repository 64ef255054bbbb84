//! Stopping a run on request, in every phase: Ctrl-C (SIGINT) or SIGTERM (what `docker stop`
//! sends) is caught from the moment a run is set up, so that it takes effect at once while the
//! app registers its data, warms up, measures or drains, and the report still comes out.
//!
//! The first signal stops scheduling and lets in-flight operations drain; a second one ends the
//! drain at once (what is still in flight is counted as abandoned) and the report follows; a third
//! quits at once with exit code 130 and no report, should writing the report itself hang.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Ctrl-C and SIGTERM, as they arrive.
pub struct Signals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
    seen: u32,
}

impl Signals {
    /// Starts catching Ctrl-C and SIGTERM (their default action, ending the process at once,
    /// stops applying). Must be called inside the tokio runtime.
    pub fn catch() -> Signals {
        Signals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
            seen: 0,
        }
    }

    /// Resolves at the next Ctrl-C or SIGTERM, with how many have come so far. At the third, the
    /// process ends at once (exit code 130).
    pub async fn next(&mut self) -> u32 {
        async fn one(signal: &mut Option<Signal>) {
            match signal.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = one(&mut self.interrupt) => {}
            () = one(&mut self.terminate) => {}
        }
        self.seen += 1;
        match self.seen {
            1 => eprintln!(
                "stopping: no new operations; waiting for those in flight, then reporting (Ctrl-C again stops waiting)"
            ),
            2 => eprintln!("stopping now: what is still in flight is abandoned; reporting"),
            _ => {
                eprintln!("quitting at once: no report");
                std::process::exit(130);
            }
        }
        self.seen
    }

    /// Whether a signal has come.
    pub fn seen(&self) -> bool {
        self.seen > 0
    }

    /// The signals as a stream, one item each, for [`crate::drive::drive`].
    pub fn stream(&mut self) -> impl futures::Stream<Item = ()> + '_ {
        futures::stream::unfold(self, |signals| async move {
            signals.next().await;
            Some(((), signals))
        })
    }
}

/// Resolves at the first Ctrl-C or SIGTERM (for loops that stop at once, such as the lessons');
/// from then on, a second Ctrl-C ends the process at once with exit code 130 and no report.
pub async fn interrupted() {
    let mut terminate = signal(SignalKind::terminate()).ok();
    let sigterm = async {
        match terminate.as_mut() {
            Some(stream) => {
                stream.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = sigterm => {}
    }
    eprintln!(
        "stopping: no new operations; waiting for those in flight, then reporting (Ctrl-C again quits at once)"
    );
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("quitting at once: no report");
            std::process::exit(130);
        }
    });
}
