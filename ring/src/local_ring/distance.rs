//! The ring's modelled distance: the process that serves its delaying proxies
//! ([`crate::delay`]), started before the nodes (they are configured to be reached
//! through it) and stopped after them.
//!
//! With a client latency, every node's CQL port gets a proxy at its client address
//! (`127.1.X.i:9042`), which the node announces as its `broadcast_rpc_address`, so that a driver
//! discovering the ring from `system.peers` reaches every node through its proxy. Clients are
//! modelled in the first datacenter: a node of another DC is also the latency between DCs away. With a latency
//! between datacenters, every node's storage port gets one at its broadcast address
//! (`127.2.X.i:7000`); the snitch's `prefer_local` makes nodes of one DC talk over their listen
//! addresses (no delay) and nodes of different DCs over their broadcast addresses (delayed), as in
//! deployments across regions.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::delay::Route;
use crate::process::{self, ProcessState};
use crate::state::{ProxyState, RingState};
use crate::{LocalError, ports};

/// How long the proxies' process may take to listen on every route.
const LISTEN_WAIT: Duration = Duration::from_secs(10);

/// Every route the ring's latency asks for.
pub(super) fn routes(state: &RingState) -> Vec<Route> {
    let mut routes = Vec::new();
    for node in &state.nodes {
        let client_delay = state.client_delay(&node.plan);
        if !client_delay.is_zero() {
            routes.push(Route {
                listen: SocketAddr::from((state.client_address(&node.plan), 9042)),
                target: SocketAddr::from((node.plan.address, 9042)),
                delay: client_delay,
            });
        }
        if !state.latency.between_dcs.is_zero() {
            routes.push(Route {
                listen: SocketAddr::from((state.peer_address(&node.plan), 7000)),
                target: SocketAddr::from((node.plan.address, 7000)),
                delay: state.latency.between_dcs,
            });
        }
    }
    routes
}

/// The file the proxies read their routes from; its path, on their command line, is also how a
/// recorded pid is recognised as theirs.
fn routes_file(ring_dir: &Path) -> PathBuf {
    RingState::proxy_dir(ring_dir).join("conf").join("routes")
}

/// Whether the ring's proxies run.
pub(super) fn proxies_running(ring_dir: &Path, state: &RingState) -> bool {
    state
        .proxy
        .as_ref()
        .and_then(|proxy| proxy.pid)
        .is_some_and(|pid| {
            process::process_state(pid, &RingState::proxy_dir(ring_dir)) == ProcessState::Running
        })
}

/// Records `program` as what serves the ring's proxies, as `program ring proxy --routes FILE`
/// (the `bench` binary): a later start of a node (a fault test's, say) finds it in the state.
pub(super) fn serve_proxies_with(state: &mut RingState, program: &Path) {
    match &mut state.proxy {
        Some(proxy) => proxy.program = program.to_path_buf(),
        None => {
            state.proxy = Some(ProxyState {
                program: program.to_path_buf(),
                pid: None,
            })
        }
    }
}

/// Starts the proxies the ring's latency asks for, unless they run, with the program recorded by
/// [`serve_proxies_with`], and returns once every route listens.
pub(super) async fn start_proxies(
    ring_dir: &Path,
    state: &mut RingState,
) -> Result<(), LocalError> {
    let routes = routes(state);
    if routes.is_empty() || proxies_running(ring_dir, state) {
        return Ok(());
    }
    let program = state
        .proxy
        .as_ref()
        .map(|p| p.program.clone())
        .ok_or(LocalError::NoProxyProgram)?;
    let listens: Vec<SocketAddr> = routes.iter().map(|r| r.listen).collect();
    let busy: Vec<String> = ports::wait_until_free(&listens, Instant::now() + LISTEN_WAIT)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    if !busy.is_empty() {
        return Err(LocalError::PortsBusy(busy.join("; ")));
    }
    let file = routes_file(ring_dir);
    let conf = file.parent().unwrap_or(ring_dir);
    fs::create_dir_all(conf).map_err(|source| LocalError::io("create", conf, source))?;
    let text: String = routes.iter().map(|r| format!("{r}\n")).collect();
    fs::write(&file, text).map_err(|source| LocalError::io("write", &file, source))?;
    let log_path = RingState::proxy_dir(ring_dir).join("proxy.log");
    let log = fs::File::create(&log_path)
        .map_err(|source| LocalError::io("create", &log_path, source))?;
    let log_err = log
        .try_clone()
        .map_err(|source| LocalError::io("open", &log_path, source))?;
    let mut child = Command::new(&program)
        .arg("ring")
        .arg("proxy")
        .arg("--routes")
        .arg(&file)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|source| LocalError::io("start the proxies with", &program, source))?;
    let pid = child.id();
    std::thread::spawn(move || child.wait());
    state.proxy = Some(ProxyState {
        program,
        pid: Some(pid),
    });
    state.save(ring_dir)?;
    let deadline = Instant::now() + LISTEN_WAIT;
    for route in &routes {
        loop {
            if tokio::net::TcpStream::connect(route.listen).await.is_ok() {
                break;
            }
            if !proxies_running(ring_dir, state) || Instant::now() > deadline {
                return Err(LocalError::ProxyFailed {
                    what: format!("{route} does not listen"),
                    log: fs::read_to_string(&log_path).unwrap_or_default(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Stops the ring's proxies, if they run, and waits until their addresses are free.
pub(super) async fn stop_proxies(ring_dir: &Path, state: &mut RingState) -> Result<(), LocalError> {
    let Some(pid) = state.proxy.as_ref().and_then(|p| p.pid) else {
        return Ok(());
    };
    let listens: Vec<SocketAddr> = routes(state).iter().map(|r| r.listen).collect();
    process::stop(
        pid,
        &RingState::proxy_dir(ring_dir),
        &listens,
        Duration::from_secs(5),
    )
    .await?;
    if let Some(proxy) = &mut state.proxy {
        proxy.pid = None;
    }
    Ok(())
}
