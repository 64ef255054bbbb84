//! The ports a node needs, and who holds one that cannot be bound.
//!
//! A port held by a live process is refused at once, with that process named: it will not let go
//! by itself. A port held by a socket that no visible process owns is waited for instead: it is
//! almost always a process that is still exiting, since a JVM's main thread shows as a zombie (and
//! its file descriptors vanish from `/proc`) while its last threads are still closing its sockets.

use std::fmt;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::LocalError;
use crate::shape::NodePlan;

/// How often a busy port is looked at again.
const POLL: Duration = Duration::from_millis(200);

/// The socket addresses a node listens on: storage and native on its own address, JMX on
/// 127.0.0.1, and its metrics on its own address when the ring serves them.
pub fn node_ports(node: &NodePlan, metrics: bool) -> Vec<SocketAddr> {
    let mut ports = vec![
        SocketAddr::from((node.address, 7000)),
        SocketAddr::from((node.address, 9042)),
        SocketAddr::from((Ipv4Addr::LOCALHOST, node.jmx_port)),
    ];
    if metrics {
        ports.push(SocketAddr::from((node.address, crate::METRICS_PORT)));
    }
    ports
}

/// What holds a port that cannot be bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A live process: its pid and its command, shortened.
    Process { pid: u32, command: String },
    /// A socket, in this TCP state, that no visible process owns.
    Unowned { state: &'static str },
    /// Nothing in `/proc/net/tcp` or `/proc/net/tcp6` explains it.
    Unknown,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Process { pid, command } => write!(f, "pid {pid} ({command})"),
            Holder::Unowned { state } => write!(
                f,
                "a socket in state {state} that no visible process owns (a process still exiting?)"
            ),
            Holder::Unknown => write!(f, "a process this user cannot see"),
        }
    }
}

/// A port that a node needs but something else holds.
#[derive(Debug, Clone)]
pub struct BusyPort {
    /// The address and port.
    pub address: SocketAddr,
    /// What holds it.
    pub holder: Holder,
}

impl fmt::Display for BusyPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is in use by {}", self.address, self.holder)
    }
}

/// The addresses that cannot be bound now, with what holds each.
pub fn busy_ports(addresses: &[SocketAddr]) -> Vec<BusyPort> {
    addresses
        .iter()
        .filter(|address| TcpListener::bind(address).is_err())
        .map(|&address| BusyPort {
            address,
            holder: port_holder(address),
        })
        .collect()
}

/// Waits until every address can be bound; returns what still holds them otherwise. A port held
/// by a live process ends the wait at once; sockets that no visible process owns are waited for
/// until `deadline`.
pub async fn wait_until_free(addresses: &[SocketAddr], deadline: Instant) -> Vec<BusyPort> {
    let mut told = false;
    loop {
        let busy = busy_ports(addresses);
        let held_by_a_process = busy
            .iter()
            .any(|port| matches!(port.holder, Holder::Process { .. }));
        if busy.is_empty() || held_by_a_process || Instant::now() >= deadline {
            return busy;
        }
        if !told {
            tracing::info!("waiting for {}", busy[0]);
            told = true;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every port the `nodes` need is free (see [`wait_until_free`]), or says what holds
/// them; nothing may start while any is taken.
pub async fn wait_for_nodes(
    nodes: &[&NodePlan],
    metrics: bool,
    deadline: Instant,
) -> Result<(), LocalError> {
    let needed: Vec<SocketAddr> = nodes
        .iter()
        .flat_map(|node| node_ports(node, metrics))
        .collect();
    let busy: Vec<String> = wait_until_free(&needed, deadline)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    if busy.is_empty() {
        Ok(())
    } else {
        Err(LocalError::PortsBusy(busy.join("; ")))
    }
}

/// Best effort: what holds `address`, from `/proc/net/tcp{,6}` and the sockets in `/proc/*/fd`.
fn port_holder(address: SocketAddr) -> Holder {
    let sockets = sockets_on(address);
    let targets: Vec<String> = sockets
        .iter()
        .filter(|(inode, _)| inode != "0")
        .map(|(inode, _)| format!("socket:[{inode}]"))
        .collect();
    if let Some(pid) = owner_of(&targets) {
        return Holder::Process {
            pid,
            command: command_line(pid),
        };
    }
    match sockets.first() {
        Some((_, state)) => Holder::Unowned { state },
        None => Holder::Unknown,
    }
}

/// The first process with a file descriptor open on one of `targets` (`socket:[inode]`).
fn owner_of(targets: &[String]) -> Option<u32> {
    if targets.is_empty() {
        return None;
    }
    for process in fs::read_dir("/proc").ok()?.flatten() {
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
        let owns = fds
            .flatten()
            .filter_map(|fd| fs::read_link(fd.path()).ok())
            .any(|target| targets.iter().any(|t| target.as_os_str() == t.as_str()));
        if owns {
            return Some(pid);
        }
    }
    None
}

/// The sockets that keep `address` from being bound: on its port, bound to its IP address, to a
/// wildcard, or to its IPv4-mapped IPv6 form. Each as (inode, TCP state), listeners first.
fn sockets_on(address: SocketAddr) -> Vec<(String, &'static str)> {
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let Some((ip, port)) = parse_proc_address(local) else {
                continue;
            };
            if port == address.port() && (ip.is_unspecified() || ip.to_canonical() == address.ip())
            {
                sockets.push(((*inode).to_owned(), tcp_state_name(state)));
            }
        }
    }
    sockets.sort_by_key(|(_, state)| *state != "LISTEN");
    sockets
}

/// `0100007F:2352` as `/proc/net/tcp` writes it, or its 32-digit IPv6 form from `tcp6`: the
/// address is printed as 32-bit words in host byte order, the port in plain hex.
fn parse_proc_address(text: &str) -> Option<(IpAddr, u16)> {
    let (hex, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for start in (0..hex.len()).step_by(8) {
        let word = u32::from_str_radix(hex.get(start..start + 8)?, 16).ok()?;
        bytes.extend(word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some((ip, port))
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

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;
    use crate::process::{ProcessState, process_state};
    use crate::toolchain::find_on_path;

    #[tokio::test]
    async fn a_port_held_by_a_live_process_is_refused_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let began = Instant::now();
        let busy = wait_until_free(&[address], began + Duration::from_secs(60)).await;
        assert!(began.elapsed() < Duration::from_secs(5), "it waited");
        assert_eq!(busy.len(), 1);
        assert!(
            matches!(busy[0].holder, Holder::Process { pid, .. } if pid == std::process::id()),
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
        let (ip, _) = parse_proc_address("00000000000000000000000000000000:1B58").unwrap();
        assert!(ip.is_unspecified());
        let (ip, port) = parse_proc_address("0000000000000000FFFF00000100007F:4651").unwrap();
        assert_eq!(
            (ip.to_canonical().to_string().as_str(), port),
            ("127.0.0.1", 18001)
        );
        assert!(parse_proc_address("0100007:2352").is_none());
    }

    #[test]
    fn holders_say_what_they_are() {
        let unowned = BusyPort {
            address: SocketAddr::from(([127, 0, 0, 1], 17001)),
            holder: Holder::Unowned { state: "LISTEN" },
        };
        assert_eq!(
            unowned.to_string(),
            "127.0.0.1:17001 is in use by a socket in state LISTEN that no visible process owns \
             (a process still exiting?)"
        );
    }

    /// Python's main thread exits (`pthread_exit`) while another thread holds a listening socket
    /// for two more seconds: what a JVM looks like while it exits.
    const EXITING_PROCESS: &str = "import ctypes, socket, threading, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen()
print(s.getsockname()[1], flush=True)
threading.Thread(target=time.sleep, args=(2,)).start()
ctypes.CDLL(None).pthread_exit(None)";

    #[tokio::test]
    async fn a_port_held_by_an_exiting_process_is_waited_for() {
        use std::io::BufRead;
        // A check that cannot run must not pass: python3 plays the exiting process.
        let python = find_on_path("python3")
            .expect("this test needs python3 (apt-get install python3) to play an exiting process");
        let node_dir = Path::new("/exiting/node");
        let mut child = Command::new(python)
            .args([
                "-c",
                EXITING_PROCESS,
                &node_dir.join("conf").to_string_lossy(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_state(pid, node_dir) == ProcessState::Running && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(process_state(pid, node_dir), ProcessState::Exiting);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        assert!(matches!(
            busy_ports(&[address])[0].holder,
            Holder::Unowned { state: "LISTEN" }
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        let busy = wait_until_free(&[address], deadline).await;
        assert!(busy.is_empty(), "the port was not waited for: {busy:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_state(pid, node_dir) != ProcessState::Gone {
            assert!(Instant::now() < deadline, "its last thread did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait().unwrap();
    }
}
