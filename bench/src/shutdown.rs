//! Stopping a run on request: the first Ctrl-C (or SIGTERM, what `docker stop` sends) stops
//! scheduling and lets in-flight operations drain so the report is complete; a second one quits
//! at once.

/// Resolves at the first Ctrl-C or SIGTERM; from then on, a second one ends the process at once
/// with exit code 130 and no report.
pub async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
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
