//! One node as an operating-system process: the `java` command line that starts it, how to tell
//! whether it still runs, how to signal it and how to stop it.
//!
//! A node is a plain JVM running `org.apache.cassandra.service.CassandraDaemon`, launched the way
//! Cassandra's own `bin/cassandra` would, minus the shell scripts. Pids are recorded in the ring's
//! state file; before any signal is sent, the pid's command line is checked to still name the
//! node's folder, so a recycled pid is never killed by mistake. A node counts as stopped only once
//! every thread of it has exited and its ports can be bound again.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::LocalError;
use crate::jars::Jars;
use crate::ports;
use crate::toolchain::Java;

/// The JVM options every node of the project runs with (garbage collection, runtime and Java 17
/// module flags from Cassandra 5.0's own options files), one a line. The containerized ring's
/// image reads the same file (compose/images/build.sh copies it in).
const SERVER_OPTIONS: &str = include_str!("../cassandra/jvm17-server.options");

/// Module flags that name `jdk.compiler` or `jdk.attach`, present only in a full JDK.
const FULL_JDK_FLAGS: &[&str] = &[
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
];

/// What only a local ring adds. A fresh local ring has nothing to wait for: skip the 5 s gossip
/// settle and shorten the shadow round. Safe because every node is a seed (see `config`).
///
/// The ring delay also sets, by default, the gossip quarantine (twice it) and the time after
/// which a node that gossips but owns no tokens yet is dropped as a "fat client" (half the
/// quarantine): 1 s with a 1 s ring delay. On two busy cores a starting node can be silent that
/// long; the others then dropped it ("FatClient ... has been silent for 1000ms"), and schema
/// changes later waited forever for its agreement. So the quarantine stays at its production
/// value, 60 s (a fat client is dropped after 30 s).
const LOCAL_RING_FLAGS: &[&str] = &[
    "-Dcassandra-foreground=yes",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.gossip_quarantine_delay_ms=60000",
];

/// The options of [`SERVER_OPTIONS`]: its lines, without blanks and `#` comments.
fn server_options() -> impl Iterator<Item = String> {
    SERVER_OPTIONS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
}

/// Everything needed to launch one node.
pub struct Launch<'a> {
    /// The Java 17 (or 11) to run.
    pub java: &'a Java,
    /// Cassandra's jars.
    pub jars: &'a Jars,
    /// The node's folder (`conf/`, `logs/`, data).
    pub node_dir: &'a Path,
    /// Heap size, as the JVM spells it (`2G`, `1536M`).
    pub heap: &'a str,
    /// Local JMX port (nodetool).
    pub jmx_port: u16,
    /// Whether the ring runs with PasswordAuthenticator: the default superuser is then created
    /// at once instead of after ten seconds.
    pub auth: bool,
    /// The option that loads the metrics agent, when the ring serves metrics.
    pub metrics_agent: Option<String>,
}

impl Launch<'_> {
    /// The full `java` argument list.
    pub fn arguments(&self) -> Result<Vec<String>, LocalError> {
        let conf = self.node_dir.join("conf");
        let logs = self.node_dir.join("logs");
        let mut args: Vec<String> =
            vec![format!("-Xms{}", self.heap), format!("-Xmx{}", self.heap)];
        args.extend(server_options());
        args.extend(LOCAL_RING_FLAGS.iter().map(|f| f.to_string()));
        if self.java.is_full_jdk {
            args.extend(FULL_JDK_FLAGS.iter().map(|f| f.to_string()));
        }
        if let Some(jamm) = self.jars.jamm_agent() {
            args.push(format!("-javaagent:{}", jamm.display()));
        }
        args.extend(self.metrics_agent.clone());
        args.extend([
            format!(
                "-Dcassandra.config=file://{}",
                conf.join("cassandra.yaml").display()
            ),
            format!(
                "-Dcassandra-rackdc.properties=file://{}",
                conf.join("cassandra-rackdc.properties").display()
            ),
            format!(
                "-Dlogback.configurationFile={}",
                conf.join("logback.xml").display()
            ),
            format!("-Dcassandra.logdir={}", logs.display()),
            format!("-Dcassandra.storagedir={}", self.node_dir.display()),
            format!("-Dcassandra.jmx.local.port={}", self.jmx_port),
            "-Dcom.sun.management.jmxremote.authenticate=false".to_owned(),
        ]);
        if self.auth {
            args.push("-Dcassandra.superuser_setup_delay_ms=0".to_owned());
        }
        let mut classpath = vec![conf];
        classpath.extend(self.jars.classpath()?);
        let classpath = std::env::join_paths(classpath)
            .map_err(|_| LocalError::BadPath(self.node_dir.to_path_buf()))?;
        args.push("-cp".to_owned());
        args.push(classpath.to_string_lossy().into_owned());
        args.push("org.apache.cassandra.service.CassandraDaemon".to_owned());
        Ok(args)
    }

    /// Starts the node in its own process group (so a Ctrl-C in the terminal that ran
    /// `bench ring up` does not reach it), with stdout and stderr in `logs/stdout.log`.
    /// Returns its pid.
    pub fn spawn(&self) -> Result<u32, LocalError> {
        use std::os::unix::process::CommandExt;
        let logs = self.node_dir.join("logs");
        fs::create_dir_all(&logs).map_err(|source| LocalError::io("create", &logs, source))?;
        let stdout_path = logs.join("stdout.log");
        let stdout = fs::File::create(&stdout_path)
            .map_err(|source| LocalError::io("create", &stdout_path, source))?;
        let stderr = stdout
            .try_clone()
            .map_err(|source| LocalError::io("open", &stdout_path, source))?;
        let mut child = Command::new(&self.java.executable)
            .args(self.arguments()?)
            .current_dir(self.node_dir)
            .env("MALLOC_ARENA_MAX", "4")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|source| LocalError::io("start java for", self.node_dir, source))?;
        let pid = child.id();
        // Reap the child if it exits while this process lives, so that it never lingers as a
        // zombie that still looks alive to `kill(pid, 0)`.
        std::thread::spawn(move || child.wait());
        Ok(pid)
    }
}

/// What the operating system says about a recorded pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// Running (or sleeping, as processes do).
    Running,
    /// Stopped by SIGSTOP.
    Paused,
    /// Its main thread has exited but other threads have not yet: it still holds its memory and
    /// its sockets, so its ports are not free yet.
    Exiting,
    /// Gone (every thread has exited), or a recycled pid that belongs to another program.
    Gone,
}

/// Whether `pid` is still the node whose folder is `node_dir`.
pub fn process_state(pid: u32, node_dir: &Path) -> ProcessState {
    let Some(leader) = state_letter(Path::new(&format!("/proc/{pid}/stat"))) else {
        return ProcessState::Gone;
    };
    // The command line reads empty for an instant while the JVM launcher re-executes itself, and
    // once the main thread has exited; only a command line that names something else means the
    // pid was recycled.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let marker = node_dir.join("conf").to_string_lossy().into_owned();
    if !cmdline.is_empty() && !String::from_utf8_lossy(&cmdline).contains(&marker) {
        return ProcessState::Gone;
    }
    match leader {
        'Z' | 'X' if any_thread_left(pid) => ProcessState::Exiting,
        'Z' | 'X' => ProcessState::Gone,
        'T' | 't' => ProcessState::Paused,
        _ => ProcessState::Running,
    }
}

/// The state letter of a `/proc/.../stat` file.
fn state_letter(stat_file: &Path) -> Option<char> {
    parse_state_letter(&fs::read_to_string(stat_file).ok()?)
}

/// The state letter follows the parenthesised command name, which may itself hold spaces and
/// parentheses (a JVM's threads are called `VM Thread`, `C2 CompilerThre`...).
fn parse_state_letter(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether a thread of `pid` has yet to exit. A multi-threaded process's main thread turns zombie
/// as soon as it exits, while the other threads may still be tearing down its memory; its sockets
/// close only when the last of them is done.
fn any_thread_left(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        state_letter(&task.path().join("stat")).is_some_and(|state| !matches!(state, 'Z' | 'X'))
    })
}

/// Sends `signal` to the node's pid, after checking the pid is still that node.
pub fn signal(pid: u32, node_dir: &Path, signal: Signal) -> Result<bool, LocalError> {
    if process_state(pid, node_dir) == ProcessState::Gone {
        return Ok(false);
    }
    let raw = i32::try_from(pid).map_err(|_| LocalError::BadPid(pid))?;
    match kill(Pid::from_raw(raw), signal) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ESRCH) => Ok(false),
        Err(errno) => Err(LocalError::Signal {
            pid,
            signal: signal.as_str(),
            errno: errno.desc(),
        }),
    }
}

/// How long a node may take to exit after SIGKILL, and its ports to be free once it has exited.
const RELEASE_WAIT: Duration = Duration::from_secs(30);

/// Stops the node: SIGTERM (Cassandra drains on it), then SIGKILL if it outlives `grace`. Returns
/// once every thread of it has exited and its `ports` can be bound again, so that it can start
/// again at once; says what still holds them if that takes more than 30 s. A paused node is
/// resumed first, or it could never act on the SIGTERM.
pub async fn stop(
    pid: u32,
    node_dir: &Path,
    ports: &[SocketAddr],
    grace: Duration,
) -> Result<(), LocalError> {
    if process_state(pid, node_dir) == ProcessState::Gone {
        return Ok(());
    }
    let not_released = |what: String| LocalError::NotReleased {
        node_dir: node_dir.to_path_buf(),
        what,
    };
    signal(pid, node_dir, Signal::SIGCONT)?;
    signal(pid, node_dir, Signal::SIGTERM)?;
    if !exits_within(pid, node_dir, grace).await {
        tracing::warn!(
            pid,
            "the node in {} did not stop within {grace:?} of SIGTERM; sending SIGKILL",
            node_dir.display()
        );
        signal(pid, node_dir, Signal::SIGKILL)?;
        if !exits_within(pid, node_dir, RELEASE_WAIT).await {
            let waited = RELEASE_WAIT.as_secs();
            return Err(not_released(format!(
                "pid {pid} is still exiting {waited} s after SIGKILL"
            )));
        }
    }
    match ports::wait_until_free(ports, Instant::now() + RELEASE_WAIT)
        .await
        .first()
    {
        None => Ok(()),
        Some(busy) => Err(not_released(format!("{busy} after pid {pid} exited"))),
    }
}

/// Whether every thread of `pid` has exited within `wait`.
async fn exits_within(pid: u32, node_dir: &Path, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if process_state(pid, node_dir) == ProcessState::Gone {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn the_options_file_gives_one_jvm_option_a_line() {
        let options: Vec<String> = server_options().collect();
        for needed in [
            "-XX:+UseG1GC",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
        ] {
            assert!(options.iter().any(|o| o == needed), "{needed} is missing");
        }
        for option in &options {
            assert!(
                option.starts_with('-') && !option.contains(' '),
                "not one JVM option: {option:?}"
            );
        }
    }

    #[test]
    fn a_pid_that_is_not_the_node_counts_as_gone() {
        let me = std::process::id();
        assert_eq!(
            process_state(me, Path::new("/no/such/node")),
            ProcessState::Gone
        );
    }

    #[test]
    fn the_state_letter_follows_the_last_parenthesis() {
        assert_eq!(parse_state_letter("42 (VM Thread) S 1 42"), Some('S'));
        assert_eq!(parse_state_letter("42 (a) b) Z 1 42"), Some('Z'));
        assert_eq!(parse_state_letter("42 (java"), None);
    }

    #[tokio::test]
    async fn a_port_still_held_once_the_node_has_exited_is_named() {
        let node_dir = Path::new("/stopping/node");
        let marker = node_dir.join("conf").to_string_lossy().into_owned();
        let mut child = Command::new("sh")
            .args(["-c", "while :; do sleep 1; done", &marker])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_state(child.id(), node_dir) != ProcessState::Running {
            assert!(Instant::now() < deadline, "sh did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let held = listener.local_addr().unwrap();
        let stopped = stop(child.id(), node_dir, &[held], Duration::from_secs(10)).await;
        child.wait().unwrap();
        let error = stopped.unwrap_err().to_string();
        let me = std::process::id();
        assert!(
            error.contains(&format!(
                "did not let go in time: {held} is in use by pid {me}"
            )),
            "{error}"
        );
    }
}
