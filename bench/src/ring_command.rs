//! `bench ring up | status | down | list`: the command-line face of the `ring` crate.
//!
//! The `bench` binary flattens [`RingCommand`] as its `ring` subcommand; the logic lives here so
//! that the ring's options sit next to the code they drive.

use crate::error::{BenchError, Result};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use client::cli::UsageError;
use client::options::parse_duration;
use ring::{
    DEFAULT_CASSANDRA_VERSION, Home, IpPrefix, Latency, LocalRing, METRICS_PORT, NodeSignal,
    ProcessState, RingSpec, SUPERUSER, Security, Shape, UpOutcome, metrics_endpoint,
};

/// Start, inspect and stop a real Cassandra 5.0 ring on this machine (no Docker needed).
#[derive(Debug, Subcommand)]
pub enum RingCommand {
    /// Start the ring (or the nodes of it that are not running) and wait until it is up.
    Up(UpArgs),
    /// Show each node: address, datacenter, rack, pid and state.
    Status(SelectArgs),
    /// Stop the ring's nodes (SIGTERM, then SIGKILL after --grace).
    Down(DownArgs),
    /// Stop one node (SIGTERM, then SIGKILL after --grace); the others keep running.
    Stop(StopArgs),
    /// Kill one node at once (SIGKILL), as in a crash.
    Kill(NodeArg),
    /// Freeze one node (SIGSTOP): connections stay open but nothing answers, as in a long GC.
    Pause(NodeArg),
    /// Let a paused node carry on (SIGCONT).
    Resume(NodeArg),
    /// Start one node of the ring again and wait until it is up.
    Start(StartArgs),
    /// Serve a ring's delaying proxies (started by `up` when the ring models latency).
    #[command(hide = true)]
    Proxy {
        /// The routes, one a line: `LISTEN -> TARGET +MICROSus`.
        #[arg(long, value_name = "FILE")]
        routes: std::path::PathBuf,
    },
    /// List the rings under $PICKLE_HOME, one per line, with how many nodes run.
    List {
        /// Print only the names of rings with at least one running node.
        #[arg(long)]
        running: bool,
    },
}

/// Which ring a command acts on.
#[derive(Debug, Args)]
pub struct NameArg {
    /// The ring's name; each ring has its own folder under $PICKLE_HOME/rings.
    #[arg(long, env = "PICKLE_RING", value_name = "NAME", default_value = "local", value_parser = parse_ring_name)]
    pub name: String,
}

/// One node of a ring.
#[derive(Debug, Args)]
pub struct NodeArg {
    #[command(flatten)]
    name: NameArg,

    /// The node's number (1 is the first; `bench ring status` lists them).
    #[arg(long, value_name = "N")]
    node: u8,
}

/// Options of `bench ring stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    node: NodeArg,

    /// How long the node may take to drain after SIGTERM before it gets SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, allow_hyphen_values = true)]
    grace: Duration,
}

/// Options of `bench ring start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    node: NodeArg,

    /// How long to wait for the node to accept CQL and see the others UP.
    #[arg(long, value_name = "DURATION", default_value = "180s", value_parser = parse_duration, allow_hyphen_values = true)]
    timeout: Duration,
}

/// Options of `bench ring up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    name: NameArg,

    /// Number of nodes.
    #[arg(long, value_name = "N", default_value_t = 1)]
    nodes: u8,

    /// Number of datacenters (dc1..dcD); nodes are spread over them, the first DCs taking one more
    /// when the split is uneven.
    #[arg(long, value_name = "D", default_value_t = 1)]
    dcs: u8,

    /// Loopback prefix the nodes listen on: node i is PREFIX.i. Give each ring its own prefix to
    /// run several side by side.
    #[arg(long, value_name = "127.0.X", default_value = "127.0.0")]
    ip_prefix: IpPrefix,

    /// JVM heap per node [default: 2G for a new ring, which keeps three nodes plus the load
    /// generator well inside 24 GiB]. A running ring keeps its own: asking it for another is
    /// refused, with how to restart it.
    #[arg(long, env = "PICKLE_RING_HEAP", value_name = "SIZE", value_parser = parse_heap)]
    heap: Option<String>,

    /// Cassandra release (5.0.x) fetched from Maven Central.
    #[arg(long, value_name = "VERSION", default_value = DEFAULT_CASSANDRA_VERSION)]
    cassandra_version: String,

    /// How long to wait for every node to accept CQL and see the others UP.
    #[arg(long, value_name = "DURATION", default_value = "180s", value_parser = parse_duration, allow_hyphen_values = true)]
    timeout: Duration,

    /// Require logins (PasswordAuthenticator): user cassandra, password in a file only you can
    /// read, passed to the apps as CASSANDRA_PASSWORD_FILE.
    #[arg(long)]
    auth: bool,

    /// Require TLS from clients, with certificates from a throwaway CA that `up` makes; clients
    /// trust it with --tls-ca.
    #[arg(long)]
    tls: bool,

    /// Serve every node's metrics for Prometheus, at http://<node's address>:7070/metrics: the
    /// Prometheus JMX exporter agent (fetched from Maven Central once) with the containerized
    /// ring's rules, so both rings give the same series (client request latency and counts,
    /// thread pool queues, dropped messages, compactions, hints, heap and GC). The agent reads
    /// the node only when scraped. A running ring keeps what it has: asking it for the other is
    /// refused, with how to restart it.
    #[arg(long, env = "PICKLE_RING_METRICS", overrides_with = "no_metrics")]
    metrics: bool,

    /// Start the ring without the metrics agent (what a new ring does unless --metrics).
    #[arg(long, overrides_with = "metrics")]
    no_metrics: bool,

    /// Model a network between clients and nodes: a proxy in front of every node's CQL port holds
    /// each byte this long, each way, so a request's round trip pays it twice (1ms: about a
    /// LAN between racks or zones). Clients are handed the proxies' addresses (127.1.X.i), which
    /// the nodes announce, so the driver reaches every node through one. Loopback has no
    /// distance of its own: without it, reads that wait on the network in production cost only
    /// CPU here. A running ring keeps what it has: asking it for other latencies is refused.
    #[arg(long, env = "PICKLE_CLIENT_LATENCY", value_name = "DURATION", value_parser = parse_latency)]
    client_latency: Option<Duration>,

    /// Model a network between datacenters: each node's broadcast address (127.2.X.i) is a proxy
    /// that holds each byte this long, each way, in front of its storage port; with the snitch's
    /// prefer_local, nodes of one DC talk directly and nodes of different DCs through the proxies
    /// (40ms: about one coast to the other). Clients are modelled in dc1: another DC's nodes are
    /// this much further from them, so failing over (--dc-failover) costs what crossing costs.
    /// Needs --dcs 2 or more.
    #[arg(long, env = "PICKLE_DC_LATENCY", value_name = "DURATION", value_parser = parse_latency)]
    dc_latency: Option<Duration>,
}

/// Options of `bench ring status`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    #[command(flatten)]
    name: NameArg,

    /// Every ring under $PICKLE_HOME instead of one.
    #[arg(long, conflicts_with = "name")]
    all: bool,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Options of `bench ring down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    name: NameArg,

    /// Every ring under $PICKLE_HOME instead of one.
    #[arg(long, conflicts_with = "name")]
    all: bool,

    /// Also delete the ring's data, logs and configuration.
    #[arg(long)]
    wipe: bool,

    /// How long a node may take to drain after SIGTERM before it gets SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, allow_hyphen_values = true)]
    grace: Duration,
}

impl RingCommand {
    /// Runs the command, printing what it did.
    pub async fn run(self) -> Result<()> {
        let home = Home::from_env();
        match self {
            RingCommand::Up(args) => up(home, args).await,
            RingCommand::Status(args) => {
                for name in selected(&home, &args.name.name, args.all) {
                    let ring = LocalRing::new(home.clone(), &name)?;
                    if args.json {
                        println!("{}", status_json(&ring)?);
                    } else {
                        print!("{}", status_table(&ring)?);
                    }
                }
                Ok(())
            }
            RingCommand::Down(args) => {
                for name in selected(&home, &args.name.name, args.all) {
                    let ring = LocalRing::new(home.clone(), &name)?;
                    let stopped = ring.down(args.grace, args.wipe).await?;
                    let wiped = if args.wipe {
                        " and deleted its data"
                    } else {
                        ""
                    };
                    println!("ring '{name}': stopped {stopped} running node(s){wiped}");
                }
                Ok(())
            }
            RingCommand::Stop(args) => {
                let ring = LocalRing::new(home, &args.node.name.name)?;
                let was_running = ring.stop_node(args.node.node, args.grace).await?;
                let how = if was_running {
                    "stopped"
                } else {
                    "was not running"
                };
                println!("ring '{}': node {} {how}", ring.name(), args.node.node);
                Ok(())
            }
            RingCommand::Kill(node) => signal(home, &node, NodeSignal::Kill, "killed"),
            RingCommand::Pause(node) => signal(home, &node, NodeSignal::Pause, "paused"),
            RingCommand::Resume(node) => signal(home, &node, NodeSignal::Resume, "resumed"),
            RingCommand::Start(args) => {
                let ring = LocalRing::new(home, &args.node.name.name)?;
                ring.start_node(args.node.node, args.timeout).await?;
                println!("ring '{}': node {} is up", ring.name(), args.node.node);
                print!("{}", status_table(&ring)?);
                Ok(())
            }
            RingCommand::Proxy { routes } => serve_proxies(&routes),
            RingCommand::List { running } => {
                for name in home.ring_names() {
                    let ring = LocalRing::new(home.clone(), &name)?;
                    let states = ring.node_states()?;
                    let alive = states
                        .iter()
                        .filter(|(_, p)| *p != ProcessState::Gone)
                        .count();
                    match (running, alive) {
                        (true, 0) => {}
                        (true, _) => println!("{name}"),
                        (false, _) => println!("{name}\t{alive}/{} nodes running", states.len()),
                    }
                }
                Ok(())
            }
        }
    }
}

/// A ring name that is safe as a folder name.
fn parse_ring_name(name: &str) -> Result<String, String> {
    ring::check_ring_name(name)
        .map(|()| name.to_owned())
        .map_err(|e| e.to_string())
}

/// A heap size the JVM accepts.
fn parse_heap(heap: &str) -> Result<String, String> {
    ring::check_heap(heap)
        .map(|()| heap.to_owned())
        .map_err(|e| e.to_string())
}

/// A one-way delay a proxy can model: 0 (none) up to a second.
fn parse_latency(text: &str) -> Result<Duration, String> {
    let delay = parse_duration(text)?;
    if delay > ring::delay::MAX_DELAY {
        return Err(format!(
            "{text} is more than a network adds each way: give at most 1s"
        ));
    }
    Ok(delay)
}

/// Serves the routes in `file` until killed (`bench ring proxy`, started by `up`).
fn serve_proxies(file: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| BenchError::Failed(format!("cannot read {}: {e}", file.display())))?;
    let routes = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::parse)
        .collect::<std::result::Result<Vec<ring::delay::Route>, String>>()
        .map_err(BenchError::Failed)?;
    ring::delay::serve(&routes, Duration::from_secs(10))
        .map_err(|e| BenchError::Failed(e.to_string()))
}

/// Sends one node a signal and says so.
fn signal(home: Home, node: &NodeArg, signal: NodeSignal, done: &str) -> Result<()> {
    let ring = LocalRing::new(home, &node.name.name)?;
    ring.signal_node(node.node, signal)?;
    println!("ring '{}': node {} {done}", ring.name(), node.node);
    Ok(())
}

/// The ring names a command applies to: one, or all of them with `--all`.
fn selected(home: &Home, name: &str, all: bool) -> Vec<String> {
    if all {
        home.ring_names()
    } else {
        vec![name.to_owned()]
    }
}

async fn up(home: Home, args: UpArgs) -> Result<()> {
    let shape = Shape::new(args.nodes, args.dcs, args.ip_prefix).map_err(UsageError)?;
    if args.dc_latency.is_some_and(|d| !d.is_zero()) && args.dcs < 2 {
        return Err(UsageError(
            "--dc-latency models the network between datacenters: give --dcs 2 or more".into(),
        )
        .into());
    }
    let latency = match (args.client_latency, args.dc_latency) {
        (None, None) => None,
        (client, between_dcs) => Some(Latency {
            client: client.unwrap_or_default(),
            between_dcs: between_dcs.unwrap_or_default(),
        }),
    };
    let ring = LocalRing::new(home, &args.name.name)?;
    let spec = RingSpec {
        name: args.name.name.clone(),
        shape,
        heap: args.heap,
        cassandra_version: args.cassandra_version,
        timeout: args.timeout,
        security: Security {
            auth: args.auth,
            tls: args.tls,
        },
        metrics: match (args.metrics, args.no_metrics) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        latency,
        proxy_program: std::env::current_exe().ok(),
    };
    let began = Instant::now();
    let (state, outcome) = ring.up(&spec).await?;
    let took = began.elapsed().as_secs_f64();
    match outcome {
        UpOutcome::Reused => println!(
            "ring '{}' was already up ({}): reusing it",
            ring.name(),
            state.shape
        ),
        UpOutcome::Started { nodes } => {
            println!(
                "ring '{}' is up ({}): started {nodes} node(s) in {took:.1} s",
                ring.name(),
                state.shape
            )
        }
    }
    print!("{}", status_table(&ring)?);
    let hosts: Vec<String> = state
        .nodes
        .iter()
        .map(|n| state.client_address(&n.plan).to_string())
        .collect();
    let mut connect = format!("CASSANDRA_HOSTS={} CASSANDRA_DC=dc1", hosts.join(","));
    let files = ring.security_files();
    if state.security.auth {
        let password = files.password_file();
        connect.push_str(&format!(
            " CASSANDRA_USER={SUPERUSER} CASSANDRA_PASSWORD_FILE={}",
            password.display()
        ));
    }
    if state.security.tls {
        connect.push_str(&format!(
            " CASSANDRA_TLS_CA={}",
            files.ca_certificate().display()
        ));
    }
    println!("connect with: {connect}");
    if state.metrics {
        let targets: Vec<String> = state
            .nodes
            .iter()
            .map(|n| format!("'{}:{METRICS_PORT}'", n.plan.address))
            .collect();
        println!(
            "metrics for Prometheus: scrape_configs: [{{job_name: cassandra, static_configs: [{{targets: [{}]}}]}}]",
            targets.join(", ")
        );
    }
    Ok(())
}

/// What a node is doing, as `status` shows it.
fn node_state_label(process: ProcessState, address: std::net::Ipv4Addr) -> &'static str {
    match process {
        ProcessState::Gone => "DOWN",
        ProcessState::Paused => "PAUSED",
        ProcessState::Exiting => "STOPPING",
        ProcessState::Running => {
            let native = std::net::SocketAddr::from((address, 9042));
            if std::net::TcpStream::connect_timeout(&native, Duration::from_millis(300)).is_ok() {
                "UP"
            } else {
                "STARTING"
            }
        }
    }
}

fn status_table(ring: &LocalRing) -> Result<String> {
    let state = ring
        .state()?
        .ok_or_else(|| ring::LocalError::NoSuchRing(ring.name().to_owned()))?;
    let mut out = String::new();
    let metrics = if state.metrics {
        ", metrics for Prometheus on each node's :7070"
    } else {
        ""
    };
    writeln!(
        out,
        "ring '{}': Cassandra {}, {}, heap {} per node{metrics}, in {}",
        state.name,
        state.cassandra_version,
        state.shape,
        state.heap,
        ring.dir().display()
    )
    .map_err(|e| BenchError::Failed(e.to_string()))?;
    let modelled = state.latency.is_modelled();
    if modelled {
        writeln!(
            out,
            "network latency: {}; clients, modelled in {}, connect to ADDRESS, DELAY away each \
             way; the node listens on LISTENS ON",
            state.latency,
            state
                .nodes
                .first()
                .map_or("dc1", |n| n.plan.datacenter.as_str())
        )
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    }
    let mut header = vec!["NODE", "ADDRESS", "DC", "RACK", "PID", "STATE", "TOKEN"];
    if state.metrics {
        header.push("METRICS");
    }
    if modelled {
        header.extend(["DELAY", "LISTENS ON"]);
    }
    let mut table = loadgen::report::table::new(&header, &[0, 1, 2, 3, 4, 5, 7]);
    for (node, process) in ring.node_states()? {
        let pid = match (process, node.pid) {
            (ProcessState::Gone, _) | (_, None) => "-".to_owned(),
            (_, Some(pid)) => pid.to_string(),
        };
        let mut row = vec![
            node.plan.index.to_string(),
            state.client_address(&node.plan).to_string(),
            node.plan.datacenter.to_string(),
            node.plan.rack.to_string(),
            pid,
            node_state_label(process, node.plan.address).to_string(),
            node.plan.token.to_string(),
        ];
        if state.metrics {
            row.push(metrics_endpoint(node.plan.address));
        }
        if modelled {
            let delay = state.client_delay(&node.plan);
            row.push(humantime::format_duration(delay).to_string());
            row.push(node.plan.address.to_string());
        }
        table.add_row(row);
    }
    out.push_str(&loadgen::report::table::render(&table, 0));
    Ok(out)
}

fn status_json(ring: &LocalRing) -> Result<String> {
    let state = ring.state()?;
    let metrics = state.as_ref().is_some_and(|state| state.metrics);
    let latency = state
        .as_ref()
        .map(|state| state.latency)
        .unwrap_or_default();
    let nodes: Vec<serde_json::Value> = ring
        .node_states()?
        .into_iter()
        .map(|(node, process)| {
            serde_json::json!({
                "node": node.plan.index,
                "address": state.as_ref().map_or(node.plan.address, |s| s.client_address(&node.plan)).to_string(),
                "listen_address": node.plan.address.to_string(),
                "client_delay_one_way_us": state.as_ref().map_or(0, |s| s.client_delay(&node.plan).as_micros()),
                "datacenter": node.plan.datacenter,
                "rack": node.plan.rack,
                "pid": if process == ProcessState::Gone { None } else { node.pid },
                "state": node_state_label(process, node.plan.address),
                "token": node.plan.token,
                "metrics": metrics.then(|| metrics_endpoint(node.plan.address)),
            })
        })
        .collect();
    let proxy_pid = match &state {
        Some(state) if state.latency.is_modelled() => ring.proxy_pid(state),
        _ => None,
    };
    let latency = serde_json::json!({
        "client_one_way_us": latency.client.as_micros(),
        "between_dcs_one_way_us": latency.between_dcs.as_micros(),
        "proxy_pid": proxy_pid,
        "proxy_log": proxy_pid.map(|_| ring::RingState::proxy_dir(&ring.dir()).join("proxy.log")),
    });
    serde_json::to_string_pretty(
        &serde_json::json!({ "ring": ring.name(), "modelled_latency": latency, "nodes": nodes }),
    )
    .map_err(|e| BenchError::Failed(format!("the ring's status as JSON: {e}")))
}
