//! Where `bench` starts the apps as processes of their own: each scenario of the suite and the
//! shop's data before it, and `bench overhead`'s factories, under callgrind or beside the bare
//! driver loop (`bench floor`). An app run as its own process measures its own CPU and memory,
//! exactly as a user's run would.
//!
//! - [`sibling_binary`]: the app's binary, next to this one (`cargo build` puts them together);
//! - [`connection_flags`]: where every app connects: the caller's connection options, with the
//!   local datacenter `bench` found and the run's keyspace;
//! - [`app_command`]: an app for the suite, with the environment it gets: the caller's
//!   `CASSANDRA_*` variables pass, its `PICKLE_*`, `FACTORY_*` and `SHOP_*` ones do not;
//!   [`measured`]: the flags of a measured run (its length, warm-up, report and interval log),
//!   the same for the suite's scenarios and findmax's steps;
//! - [`quiet_factory`], [`quiet_factory_under_callgrind`] and [`bench_floor`]: what
//!   `bench overhead` runs, each writing its result where the measurement reads it. They keep the
//!   caller's whole environment, as they always have: their flags set everything they measure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use client::ConnectionArgs;

use crate::error::{BenchError, Result};

/// A binary of this workspace, next to the running one (`cargo build` puts them together).
pub(crate) fn sibling_binary(name: &str) -> Result<PathBuf> {
    let here = std::env::current_exe().map_err(BenchError::io("finding this program"))?;
    let path = here.with_file_name(name);
    if !path.is_file() {
        return Err(BenchError::Failed(format!(
            "the {name} binary is not next to {}: build the whole workspace (`cargo build --release`)",
            here.display()
        )));
    }
    Ok(path)
}

/// Where every app `bench` starts connects, as flags: the caller's connection options, with the
/// local datacenter `bench` found and the run's keyspace.
pub(crate) fn connection_flags(
    connection: &ConnectionArgs,
    local_dc: &str,
    keyspace: &str,
) -> Vec<String> {
    ConnectionArgs {
        dc: Some(local_dc.to_owned()),
        keyspace: keyspace.to_owned(),
        ..connection.clone()
    }
    .to_flags()
}

/// A process of `app` (next to this binary) for the suite. The scenario's flags define the
/// workload, so the caller's PICKLE_*, FACTORY_* and SHOP_* variables (a compose env file's, say)
/// do not leak into it; CASSANDRA_* ones (where the ring is, the password) do.
pub(crate) fn app_command(app: &str) -> Result<tokio::process::Command> {
    let mut command = tokio::process::Command::new(sibling_binary(app)?);
    for (name, _) in std::env::vars_os() {
        let leaks = ["PICKLE_", "FACTORY_", "SHOP_"]
            .iter()
            .any(|prefix| name.to_string_lossy().starts_with(prefix));
        if leaks {
            command.env_remove(&name);
        }
    }
    Ok(command)
}

/// Makes `command` (an app) a measured run: `duration` after `warmup`, its report written to
/// `report` and its interval log to `log`.
pub(crate) fn measured(
    command: &mut tokio::process::Command,
    (warmup, duration): (Duration, Duration),
    report: &Path,
    log: &Path,
) {
    let text = |d: Duration| humantime::format_duration(d).to_string();
    command
        .args(["--duration", &text(duration), "--warmup", &text(warmup)])
        .arg("--report")
        .arg(report)
        .arg("--hdr-log")
        .arg(log);
}

/// How long past its length a measured run may go (connecting, registering, the drain) before
/// it is taken for stuck and killed.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(120);

/// A factory with `flags`, silent, writing its report to `report` (overwritten).
pub(crate) fn quiet_factory(factory: &Path, flags: &[String], report: &Path) -> Command {
    quietly(Command::new(factory), flags, report)
}

/// [`quiet_factory`] under valgrind's callgrind (`valgrind`), which writes the instructions it
/// counted to `counts`.
pub(crate) fn quiet_factory_under_callgrind(
    valgrind: &Path,
    counts: &Path,
    factory: &Path,
    flags: &[String],
    report: &Path,
) -> Command {
    let mut command = Command::new(valgrind);
    command
        .args(["--tool=callgrind", "--quiet"])
        .arg(format!("--callgrind-out-file={}", counts.display()))
        .arg(factory);
    quietly(command, flags, report)
}

/// `command` (a factory, or a program that runs one) with the factory's `flags`, printing
/// nothing and writing its report to `report`.
fn quietly(mut command: Command, flags: &[String], report: &Path) -> Command {
    command
        .args(flags)
        .args(["--quiet", "--overwrite", "--report"])
        .arg(report)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// `bench floor` (this program: the bare driver loop) with `flags`, printing its result as JSON;
/// what it says on stderr is kept for its error.
pub(crate) fn bench_floor(flags: &[String]) -> Result<Command> {
    let bench = std::env::current_exe().map_err(BenchError::io("finding this program"))?;
    let mut command = Command::new(bench);
    command
        .arg("floor")
        .args(flags)
        .arg("--json")
        .stderr(Stdio::piped());
    Ok(command)
}
