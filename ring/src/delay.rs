//! Distance on loopback: a TCP proxy that holds every byte it forwards for a fixed time, so that a
//! local ring can model the network a real one has (issue: "a ring with distance").
//!
//! Loopback answers in microseconds, so on a local ring a fan-out of ten reads costs ten reads of
//! CPU and nothing of waiting, and a datacenter 40 ms away is as near as the local one. This
//! kernel has no `netem`, so the delay is added in user space: each route listens on an address of
//! its own, forwards to the node behind it, and holds what it reads in either direction for the
//! route's one-way delay before writing it on. A request and its answer each cross once, so a
//! round trip through one route pays twice the delay. Bandwidth and loss are not modelled.
//!
//! Every direction of every connection has a reader thread and a writer thread: the writer sleeps
//! with the thread's timer slack at 1 µs, since an async runtime's 1 ms timer wheel would round a
//! 1 ms delay up to as much as 2 ms. The proxy measures itself: every ten seconds it logs how late
//! past the delay each chunk was written (the delay it really added is the setting plus that) and
//! its own CPU time per chunk forwarded.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The one-way delays a local ring models; zero means none (the ring as loopback has it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Between a client and every node, each way (`bench ring up --client-latency`).
    #[serde(with = "micros")]
    pub client: Duration,
    /// Between nodes of different datacenters, each way (`bench ring up --dc-latency`).
    #[serde(with = "micros")]
    pub between_dcs: Duration,
}

impl Latency {
    /// Whether the ring has any modelled delay (and so runs proxies).
    pub fn is_modelled(&self) -> bool {
        !self.client.is_zero() || !self.between_dcs.is_zero()
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_modelled() {
            return f.write_str("none added (loopback)");
        }
        let parts: Vec<String> = [
            (self.client, "client-node"),
            (self.between_dcs, "between DCs"),
        ]
        .iter()
        .filter(|(delay, _)| !delay.is_zero())
        .map(|(delay, what)| format!("{} each way {what}", humantime::format_duration(*delay)))
        .collect();
        write!(f, "{} (modelled by delaying proxies)", parts.join(", "))
    }
}

mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_micros()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_micros)
    }
}

/// The most delay a route may add each way: past a second it models no network, only a fault.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// One proxied address: what it listens on, where it forwards, and the delay each way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The address clients (or other nodes) connect to.
    pub listen: SocketAddr,
    /// The node's own address it forwards to.
    pub target: SocketAddr,
    /// How long every byte is held, each way.
    pub delay: Duration,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} +{}us",
            self.listen,
            self.target,
            self.delay.as_micros()
        )
    }
}

impl FromStr for Route {
    type Err = String;

    /// Parses what `Display` writes: `127.1.0.1:9042 -> 127.0.0.1:9042 +1000us`.
    fn from_str(text: &str) -> Result<Route, String> {
        let bad = || format!("'{text}' is not a route: expected 'LISTEN -> TARGET +MICROSus'");
        let (listen, rest) = text.split_once("->").ok_or_else(bad)?;
        let (target, delay) = rest.split_once('+').ok_or_else(bad)?;
        let micros = delay.trim().strip_suffix("us").ok_or_else(bad)?;
        Ok(Route {
            listen: listen.trim().parse().map_err(|_| bad())?,
            target: target.trim().parse().map_err(|_| bad())?,
            delay: Duration::from_micros(micros.parse().map_err(|_| bad())?),
        })
    }
}

/// What the proxy counts while it forwards, for its log.
#[derive(Default)]
struct Counters {
    chunks: AtomicU64,
    bytes: AtomicU64,
    /// How late past its due time each chunk was written, in µs.
    lateness: Mutex<Option<hdrhistogram::Histogram<u64>>>,
}

impl Counters {
    fn record(&self, bytes: usize, late: Duration) {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let micros = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        if let Ok(mut lateness) = self.lateness.lock() {
            let histogram = lateness
                .get_or_insert_with(|| hdrhistogram::Histogram::new(3).expect("3 digits is valid"));
            histogram.saturating_record(micros);
        }
    }
}

/// Serves every route until the process is killed. Binds every listener first, so that an address
/// in use fails at once; then logs what it added every `report_every`.
pub fn serve(routes: &[Route], report_every: Duration) -> io::Result<()> {
    // Threads inherit the timer slack of the thread that creates them: 1 ns instead of the
    // default 50 µs, so that a writer wakes when its chunk is due, not up to 50 µs after.
    if let Err(errno) = nix::sys::prctl::set_timerslack(1) {
        tracing::warn!("cannot lower the timer slack ({errno}): delays may run 50 µs long");
    }
    let counters = Arc::new(Counters::default());
    let mut listeners = Vec::with_capacity(routes.len());
    for route in routes {
        let listener = TcpListener::bind(route.listen).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot listen on {}: {error}", route.listen),
            )
        })?;
        listeners.push((listener, route.clone()));
    }
    for (listener, route) in listeners {
        tracing::info!("{route}");
        let counters = Arc::clone(&counters);
        thread::spawn(move || accept_loop(&listener, &route, &counters));
    }
    report_forever(&counters, report_every)
}

fn accept_loop(listener: &TcpListener, route: &Route, counters: &Arc<Counters>) {
    for incoming in listener.incoming() {
        let client = match incoming {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!("{}: accept failed: {error}", route.listen);
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let route = route.clone();
        let counters = Arc::clone(counters);
        thread::spawn(move || {
            if let Err(error) = connect(client, &route, &counters) {
                tracing::warn!("{route}: {error}");
            }
        });
    }
}

/// Connects an accepted client to the route's target and forwards both ways, delayed.
fn connect(client: TcpStream, route: &Route, counters: &Arc<Counters>) -> io::Result<()> {
    let server = TcpStream::connect_timeout(&route.target, Duration::from_secs(5))?;
    // Every chunk goes out as soon as it is due: Nagle's algorithm would hold small ones longer.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    for (from, to) in [(client.try_clone()?, server.try_clone()?), (server, client)] {
        let delay = route.delay;
        let counters = Arc::clone(counters);
        thread::spawn(move || forward_delayed(from, to, delay, &counters));
    }
    Ok(())
}

/// Reads `from` and writes everything read to `to`, each chunk `delay` after it arrived, in order.
/// When `from` ends, `to` is told (after the chunks still held); when `to` fails, both are closed.
fn forward_delayed(mut from: TcpStream, to: TcpStream, delay: Duration, counters: &Arc<Counters>) {
    let (held, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let counters = Arc::clone(counters);
        let mut to = to;
        let reader = from.try_clone();
        thread::spawn(move || {
            for (due_at, chunk) in due {
                let now = Instant::now();
                if due_at > now {
                    thread::sleep(due_at - now);
                }
                let late = Instant::now().saturating_duration_since(due_at);
                if to.write_all(&chunk).is_err() {
                    let _ = to.shutdown(Shutdown::Both);
                    if let Ok(reader) = &reader {
                        let _ = reader.shutdown(Shutdown::Both);
                    }
                    return;
                }
                counters.record(chunk.len(), late);
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let arrived = Instant::now();
                if held.send((arrived + delay, buffer[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(held);
    let _ = writer.join();
}

/// Logs, every `every`, what was forwarded and what it cost.
fn report_forever(counters: &Counters, every: Duration) -> ! {
    let mut last = (0, cpu_time());
    loop {
        thread::sleep(every);
        let chunks = counters.chunks.load(Ordering::Relaxed);
        let cpu = cpu_time();
        let forwarded = chunks - last.0;
        if forwarded > 0 {
            let lateness = counters
                .lateness
                .lock()
                .ok()
                .and_then(|mut h| h.take())
                .map(|h| {
                    format!(
                        "late past the delay: p50 {} µs, p99 {} µs, max {} µs",
                        h.value_at_quantile(0.5),
                        h.value_at_quantile(0.99),
                        h.max()
                    )
                })
                .unwrap_or_default();
            let cpu_per_chunk = (cpu - last.1).as_secs_f64() * 1e6 / forwarded as f64;
            tracing::info!(
                "forwarded {forwarded} chunks ({} bytes in all so far); {lateness}; \
                 proxy CPU {cpu_per_chunk:.1} µs per chunk",
                counters.bytes.load(Ordering::Relaxed)
            );
        }
        last = (chunks, cpu);
    }
}

/// This process's CPU time, user and system.
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|usage| {
            let micros = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            micros(usage.user_time()) + micros(usage.system_time())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_names_only_the_delays_it_models() {
        let ms = Duration::from_millis;
        let client = Latency {
            client: ms(1),
            between_dcs: Duration::ZERO,
        };
        assert_eq!(
            client.to_string(),
            "1ms each way client-node (modelled by delaying proxies)"
        );
        let both = Latency {
            client: ms(1),
            between_dcs: ms(40),
        };
        assert!(
            both.to_string()
                .contains("1ms each way client-node, 40ms each way between DCs")
        );
        assert_eq!(Latency::default().to_string(), "none added (loopback)");
        assert!(!Latency::default().is_modelled());
    }

    #[test]
    fn routes_read_back_what_they_write() {
        let route = Route {
            listen: "127.1.0.1:9042".parse().expect("address"),
            target: "127.0.0.1:9042".parse().expect("address"),
            delay: Duration::from_micros(1500),
        };
        assert_eq!(
            route.to_string(),
            "127.1.0.1:9042 -> 127.0.0.1:9042 +1500us"
        );
        assert_eq!(route.to_string().parse::<Route>(), Ok(route));
        assert!("127.1.0.1:9042 127.0.0.1:9042".parse::<Route>().is_err());
        assert!(
            "127.1.0.1:9042 -> 127.0.0.1:9042 +1ms"
                .parse::<Route>()
                .is_err()
        );
    }

    /// A round trip through a route pays the delay twice, and what goes in comes out whole and in
    /// order. Only the lower bound is asserted: a busy machine may add to it, never take from it.
    #[test]
    fn a_round_trip_pays_the_delay_each_way_and_keeps_every_byte() {
        let echo = TcpListener::bind("127.0.0.1:0").expect("bind echo");
        let target = echo.local_addr().expect("echo address");
        thread::spawn(move || {
            for stream in echo.incoming().flatten() {
                thread::spawn(move || {
                    let mut reader = stream.try_clone().expect("clone");
                    let mut writer = stream;
                    let _ = io::copy(&mut reader, &mut writer);
                });
            }
        });
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        let listen = free.local_addr().expect("address");
        drop(free);
        let delay = Duration::from_millis(20);
        let routes = vec![Route {
            listen,
            target,
            delay,
        }];
        thread::spawn(move || serve(&routes, Duration::from_secs(3600)));
        let mut stream = (0..50)
            .find_map(|_| {
                TcpStream::connect(listen)
                    .inspect_err(|_| thread::sleep(Duration::from_millis(20)))
                    .ok()
            })
            .expect("the proxy listens");
        for round in 0..3u8 {
            let message: Vec<u8> = (0..100_000u32).map(|i| (i as u8) ^ round).collect();
            let started = Instant::now();
            stream.write_all(&message).expect("write");
            let mut back = vec![0u8; message.len()];
            stream.read_exact(&mut back).expect("read");
            let took = started.elapsed();
            assert!(back == message, "round {round}: bytes lost or reordered");
            assert!(
                took >= 2 * delay,
                "round {round}: a round trip took {took:?}, less than twice the {delay:?} delay"
            );
        }
        stream.shutdown(Shutdown::Write).expect("shutdown");
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .expect("the proxy passes the end on");
        assert!(rest.is_empty());
    }
}
