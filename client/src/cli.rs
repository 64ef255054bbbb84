//! What every binary does at its edges: parse flags (a bad value is one line and exit code 2),
//! install logging, and turn the result of `run` into an exit code (1 for runtime failures).
//!
//! Binaries stay thin, as in ripgrep and mini-redis: `main` calls [`parse_args`], [`init_tracing`]
//! and then [`exit_code`] on the result of the real work ([`exit_code_on`] when `main` builds
//! its own runtime).

use std::fmt;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

/// Exit code for a usage error: a bad flag or environment value, caught before any work.
pub const USAGE_EXIT_CODE: u8 = 2;

/// A mistake in how the program was invoked, found after clap's own checks (a shape that does not
/// fit, a flag combination). [`exit_code`] maps it to exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Turns an error into a [`UsageError`] (exit 2) when `is_usage` says it is one, else keeps it
/// (exit 1): for a library error of which only some kinds are the user's flags.
pub fn usage_if<E: std::error::Error + Send + Sync + 'static>(
    is_usage: impl Fn(&E) -> bool,
) -> impl Fn(E) -> anyhow::Error {
    move |error| {
        if is_usage(&error) {
            UsageError(error.to_string()).into()
        } else {
            error.into()
        }
    }
}

/// A run stopped by Ctrl-C or SIGTERM, after writing its report. [`exit_code`] maps it to 130,
/// the shell's code for "ended by SIGINT".
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted; the report covers what ran until then")
    }
}

impl std::error::Error for Interrupted {}

/// Exit code of an interrupted run.
pub const INTERRUPTED_EXIT_CODE: u8 = 130;

/// Parses the command line and environment. `--help` and `--version` print and exit 0; any error
/// prints one line naming the flag (and the environment variable, when the value came from one)
/// and exits with code 2.
pub fn parse_args<T: Parser>() -> T {
    parse_args_from(std::env::args_os())
}

/// [`parse_args`] from the given words (the first is the program's name).
pub fn parse_args_from<T: Parser, I: Into<std::ffi::OsString> + Clone>(
    argv: impl IntoIterator<Item = I>,
) -> T {
    let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    if argv.get(1).is_some_and(|word| word == PRINT_ENV_VARS) {
        for variable in environment_variables(&T::command()) {
            println!("{variable}");
        }
        std::process::exit(0);
    }
    match T::try_parse_from(argv) {
        Ok(args) => args,
        Err(error) => match error.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => error.exit(),
            _ => {
                eprintln!("{}", one_line_error::<T>(&error));
                std::process::exit(i32::from(USAGE_EXIT_CODE))
            }
        },
    }
}

/// The hidden first argument that makes a binary print the environment variables it reads, one
/// per line, and exit: what the compose env files are checked against.
pub const PRINT_ENV_VARS: &str = "--print-env-vars";

/// Every environment variable `command` reads: its flags' (and its subcommands'), and the
/// password's.
pub fn environment_variables(command: &clap::Command) -> std::collections::BTreeSet<String> {
    let mut variables: std::collections::BTreeSet<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for sub in command.get_subcommands() {
        variables.extend(environment_variables(sub));
    }
    if variables.iter().any(|v| v.starts_with("CASSANDRA_")) {
        variables.insert(crate::connect::PASSWORD_VARIABLE.to_owned());
    }
    variables
}

/// Clap's message folded onto one line, without the usage and "try --help" trailer, plus the
/// environment variable that supplied the bad value, if one did.
fn one_line_error<T: CommandFactory>(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut line = String::new();
    for part in rendered.lines().map(str::trim) {
        if part.is_empty() || part.starts_with("Usage:") || part.starts_with("For more information")
        {
            if !line.is_empty() {
                break;
            }
            continue;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(part);
    }
    if let Some(variable) = environment_source::<T>(error) {
        line.push_str(&format!(
            " (the value came from the environment variable {variable})"
        ));
    }
    line
}

/// The environment variable behind an invalid value, when the flag itself was not typed.
fn environment_source<T: CommandFactory>(error: &clap::Error) -> Option<String> {
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg
        .split_whitespace()
        .next()?
        .trim_start_matches("--")
        .to_owned();
    let typed = std::env::args()
        .any(|word| word == format!("--{long}") || word.starts_with(&format!("--{long}=")));
    if typed {
        return None;
    }
    let command = T::command();
    find_env(&command, &long)
}

fn find_env(command: &clap::Command, long: &str) -> Option<String> {
    let here = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned());
    here.or_else(|| {
        command
            .get_subcommands()
            .find_map(|sub| find_env(sub, long))
    })
}

/// The default log filter: our own INFO events only. The driver logs its own view of failures
/// (a refused control connection, a broken pool) that our messages and error counts already
/// report; `RUST_LOG=info,scylla=warn` shows them too.
pub const DEFAULT_LOG_FILTER: &str = "info,scylla=off";

/// Logs to stderr, filtered by `RUST_LOG` (default [`DEFAULT_LOG_FILTER`]), in colour only on a
/// terminal.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Prints an error with its whole chain of causes on one line and picks the exit code: 2 for a
/// [`UsageError`], 130 for [`Interrupted`], 1 for anything else.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(exit_code_of(&error))
        }
    }
}

/// Runs the real work `app` to its end on `runtime` and picks the exit code as [`exit_code`] does;
/// a runtime that could not be built is such an error too.
pub fn exit_code_on(
    runtime: std::io::Result<tokio::runtime::Runtime>,
    app: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    exit_code(match runtime {
        Ok(runtime) => runtime.block_on(app),
        Err(e) => Err(anyhow::Error::new(e).context("cannot start the async runtime")),
    })
}

/// The error and its causes on one line, each said once: a library error that already ends with
/// its cause (`cannot read a: No such file or directory`) does not get the cause again.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The exit code of an error: that of the first [`UsageError`] or [`Interrupted`] anywhere in its
/// chain of causes (a library's error may carry one as its source), else 1.
fn exit_code_of(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<UsageError>() {
            return USAGE_EXIT_CODE;
        }
        if cause.is::<Interrupted>() {
            return INTERRUPTED_EXIT_CODE;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    struct Demo {
        /// A port.
        #[arg(long, env = "DEMO_PORT_FOR_TEST", default_value_t = 1)]
        port: u16,
        /// A name.
        #[arg(long)]
        name: String,
    }

    #[test]
    fn a_cause_already_said_is_not_said_twice() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read a: {0}")]
        struct Unreadable(#[source] std::io::Error);
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(Unreadable(io())).context("loading the report");
        assert_eq!(
            one_line(&error),
            "loading the report: cannot read a: no such file"
        );
        let plain = anyhow::Error::new(io()).context("reading");
        assert_eq!(one_line(&plain), "reading: no such file");
    }

    #[test]
    fn exit_codes_come_from_anywhere_in_the_chain_of_causes() {
        #[derive(Debug)]
        struct Wrapper(Interrupted);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the run stopped early")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let wrapped = anyhow::Error::new(Wrapper(Interrupted)).context("writing visits");
        assert_eq!(exit_code_of(&wrapped), INTERRUPTED_EXIT_CODE);
        assert_eq!(exit_code_of(&Interrupted.into()), INTERRUPTED_EXIT_CODE);
        let usage = anyhow::Error::new(UsageError("bad".into())).context("checking");
        assert_eq!(exit_code_of(&usage), USAGE_EXIT_CODE);
        assert_eq!(exit_code_of(&anyhow::anyhow!("other")), 1);
    }

    #[test]
    fn invalid_values_fold_to_one_line_naming_the_flag() {
        let error = Demo::try_parse_from(["demo", "--name", "x", "--port", "nope"]).unwrap_err();
        let line = one_line_error::<Demo>(&error);
        assert!(!line.contains('\n'));
        assert!(line.contains("--port") && line.contains("nope"), "{line}");
        assert!(!line.contains("For more information"));
    }

    #[test]
    fn missing_arguments_name_them_on_the_same_line() {
        let error = Demo::try_parse_from(["demo"]).unwrap_err();
        let line = one_line_error::<Demo>(&error);
        assert!(line.contains("--name"), "{line}");
        assert!(!line.contains('\n'));
    }
}
