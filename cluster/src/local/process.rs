//! One node as an operating-system process: the `java` command line that starts it, how to tell
//! whether it still runs, how to signal it, and who holds a port it needs.
//!
//! A node is a plain JVM running `org.apache.cassandra.service.CassandraDaemon`, launched the way
//! Cassandra's own `bin/cassandra` would, minus the shell scripts. Pids are recorded in the ring's
//! state file; before any signal is sent, the pid's command line is checked to still name the
//! node's folder, so a recycled pid is never killed by mistake.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::LocalError;
use super::jars::Jars;
use super::toolchain::Java;

/// The JVM's module flags for Java 17, from Cassandra 5.0's `jvm17-server.options`. Without them
/// the daemon dies at startup on `InaccessibleObjectException`.
const MODULE_FLAGS: &[&str] = &[
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=java.management/com.sun.jmx.remote.security=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.nio.charset=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
];

/// Module flags that name `jdk.compiler` or `jdk.attach`, present only in a full JDK.
const FULL_JDK_FLAGS: &[&str] = &[
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
];

/// Garbage collection and runtime flags from the stock `jvm-server.options` and
/// `jvm17-server.options`. Assertions stay on (`-ea`), as in a stock server.
const RUNTIME_FLAGS: &[&str] = &[
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1HeapRegionSize=16m",
    "-XX:MaxGCPauseMillis=300",
    "-Xss256k",
    "-XX:+UseThreadPriorities",
    "-XX:+PerfDisableSharedMem",
    "-XX:+ExitOnOutOfMemoryError",
    "-ea",
    "-da:net.openhft...",
    "-Djdk.attach.allowAttachSelf=true",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    "-Djava.net.preferIPv4Stack=true",
    "-Dchronicle.analytics.disable=true",
    "-Dcassandra-foreground=yes",
    // A fresh local ring has nothing to wait for: skip the 5 s gossip settle and shorten the
    // shadow round. Safe because every node is a seed (see `config`).
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
];

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
}

impl Launch<'_> {
    /// The full `java` argument list.
    pub fn arguments(&self) -> Result<Vec<String>, LocalError> {
        let conf = self.node_dir.join("conf");
        let logs = self.node_dir.join("logs");
        let mut args: Vec<String> =
            vec![format!("-Xms{}", self.heap), format!("-Xmx{}", self.heap)];
        args.extend(RUNTIME_FLAGS.iter().map(|f| f.to_string()));
        args.extend(MODULE_FLAGS.iter().map(|f| f.to_string()));
        if self.java.is_full_jdk {
            args.extend(FULL_JDK_FLAGS.iter().map(|f| f.to_string()));
        }
        if let Some(jamm) = self.jars.jamm_agent() {
            args.push(format!("-javaagent:{}", jamm.display()));
        }
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
    /// Gone, a zombie, or a recycled pid that belongs to another program.
    Gone,
}

/// Whether `pid` is still the node whose folder is `node_dir`.
pub fn process_state(pid: u32, node_dir: &Path) -> ProcessState {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return ProcessState::Gone;
    };
    // The command line reads empty for an instant while the JVM launcher re-executes itself; only
    // a command line that names something else means the pid was recycled.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let marker = node_dir.join("conf").to_string_lossy().into_owned();
    if !cmdline.is_empty() && !String::from_utf8_lossy(&cmdline).contains(&marker) {
        return ProcessState::Gone;
    }
    // The state letter follows the parenthesised command name, which may itself contain spaces.
    match stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
    {
        Some('Z' | 'X') | None => ProcessState::Gone,
        Some('T' | 't') => ProcessState::Paused,
        Some(_) => ProcessState::Running,
    }
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

/// A port that a node needs but something else holds.
#[derive(Debug, Clone)]
pub struct BusyPort {
    /// The address and port.
    pub address: SocketAddr,
    /// What holds it: pid and command, when `/proc` tells.
    pub holder: String,
}

/// Checks that each address can be bound. Returns the ones that cannot, with who holds them, so
/// that nothing starts when any port is taken. A node that just stopped leaves connections closing
/// for a moment, so a busy port is retried for a few seconds before it counts.
pub fn busy_ports(addresses: &[SocketAddr]) -> Vec<BusyPort> {
    let unbindable = |address: &&SocketAddr| TcpListener::bind(address).is_err();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut busy: Vec<SocketAddr> = addresses.iter().filter(unbindable).copied().collect();
    let listened = |address: &SocketAddr| {
        sockets_on(*address)
            .iter()
            .any(|(_, state)| *state == "LISTEN")
    };
    while !busy.is_empty() && !busy.iter().all(listened) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
        busy.retain(|address| unbindable(&address));
    }
    busy.into_iter()
        .map(|address| BusyPort {
            address,
            holder: port_holder(address),
        })
        .collect()
}

/// Best effort: which process holds `address`, from `/proc/net/tcp` and the sockets in
/// `/proc/*/fd`.
fn port_holder(address: SocketAddr) -> String {
    let sockets = sockets_on(address);
    let inodes: Vec<&str> = sockets
        .iter()
        .map(|(inode, _)| inode.as_str())
        .filter(|inode| *inode != "0")
        .collect();
    if let Ok(processes) = fs::read_dir("/proc") {
        for process in processes.flatten() {
            let Some(pid) = process
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(fds) = fs::read_dir(process.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(target) = fs::read_link(fd.path()) else {
                    continue;
                };
                let target = target.to_string_lossy();
                if inodes
                    .iter()
                    .any(|inode| target == format!("socket:[{inode}]"))
                {
                    return format!("pid {pid} ({})", command_line(pid));
                }
            }
        }
    }
    match sockets.first() {
        Some((_, state)) => {
            format!("a connection in state {state} that no visible process owns; try again shortly")
        }
        None => "a process this user cannot see".to_owned(),
    }
}

/// The sockets bound to `address` or to the wildcard address on its port: (inode, TCP state).
fn sockets_on(address: SocketAddr) -> Vec<(String, &'static str)> {
    let mut sockets = Vec::new();
    let Ok(text) = fs::read_to_string("/proc/net/tcp") else {
        return sockets;
    };
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
        else {
            continue;
        };
        let Some((ip, port)) = parse_proc_address(local) else {
            continue;
        };
        if port == address.port() && (ip == address.ip() || ip.is_unspecified()) {
            sockets.push(((*inode).to_owned(), tcp_state_name(state)));
        }
    }
    // Listeners first: they are the usual culprits.
    sockets.sort_by_key(|(_, state)| *state != "LISTEN");
    sockets
}

/// `0100007F:2352` (little-endian IPv4, hex port) as `/proc/net/tcp` writes it.
fn parse_proc_address(text: &str) -> Option<(std::net::IpAddr, u16)> {
    let (ip, port) = text.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some((std::net::IpAddr::V4(Ipv4Addr::from(ip.swap_bytes())), port))
}

fn tcp_state_name(hex: &str) -> &'static str {
    match hex {
        "01" => "ESTABLISHED",
        "02" => "SYN_SENT",
        "03" => "SYN_RECV",
        "04" => "FIN_WAIT1",
        "05" => "FIN_WAIT2",
        "06" => "TIME_WAIT",
        "07" => "CLOSE",
        "08" => "CLOSE_WAIT",
        "09" => "LAST_ACK",
        "0A" => "LISTEN",
        "0B" => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// A process's command line, shortened for one line of output. A Cassandra node is named by its
/// folder, which says which ring it belongs to.
pub fn command_line(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.iter().any(|w| w.ends_with("CassandraDaemon")) {
        let config = words
            .iter()
            .find_map(|w| w.strip_prefix("-Dcassandra.config=file://"));
        return match config.and_then(|c| Path::new(c).parent()?.parent()) {
            Some(node_dir) => format!("a Cassandra node in {}", node_dir.display()),
            None => "a Cassandra node".to_owned(),
        };
    }
    let mut text = words
        .iter()
        .map(|w| short_word(w))
        .collect::<Vec<_>>()
        .join(" ");
    if text.len() > 120 {
        let cut = (0..=120)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    if text.trim().is_empty() {
        "unknown command".to_owned()
    } else {
        text.trim().to_owned()
    }
}

/// Long paths and classpaths reduced to their last component.
fn short_word(word: &str) -> String {
    if word.contains(':') && word.contains(".jar") {
        return "-cp …".to_owned();
    }
    PathBuf::from(word)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| word.to_owned())
}

/// The socket addresses a node listens on: storage and native on its own address, JMX on
/// 127.0.0.1.
pub fn node_ports(address: Ipv4Addr, jmx_port: u16) -> [SocketAddr; 3] {
    [
        SocketAddr::from((address, 7000)),
        SocketAddr::from((address, 9042)),
        SocketAddr::from((Ipv4Addr::LOCALHOST, jmx_port)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_is_reported_with_its_holder() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let busy = busy_ports(&[address]);
        assert_eq!(busy.len(), 1);
        assert!(
            busy[0].holder.contains(&std::process::id().to_string()),
            "holder: {}",
            busy[0].holder
        );
        drop(listener);
        assert!(busy_ports(&[address]).is_empty());
    }

    #[test]
    fn proc_addresses_decode() {
        let (ip, port) = parse_proc_address("0100007F:2352").unwrap();
        assert_eq!((ip.to_string().as_str(), port), ("127.0.0.1", 9042));
    }

    #[test]
    fn a_pid_that_is_not_the_node_counts_as_gone() {
        let me = std::process::id();
        assert_eq!(
            process_state(me, Path::new("/no/such/node")),
            ProcessState::Gone
        );
    }
}
