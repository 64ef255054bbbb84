//! How a factory run ends, on a real node: when its duration ends, however far behind it is, with
//! every visit it missed counted; at once on SIGTERM in every phase, report included; never
//! because a node is slow, only when no node can be reached for longer than `--outage-limit`.
//! A driver that overruns its duration, sits out a signal, or takes a node it cannot reach for
//! a moment as gone for good fails these tests.

use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use loadgen::report::RunReport;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ring::testing;
use ring::{NodeSignal, Shape};

use crate::fresh_keyspace;

/// A factory running in the background, its stderr read line by line as it comes.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stderr: Vec<String>,
    stdout: Option<ChildStdout>,
}

impl Running {
    fn start(hosts: &str, keyspace: &str, report: &Path, flags: &[&str]) -> anyhow::Result<Self> {
        Running::spawn(hosts, keyspace, report, &[&["--quiet"][..], flags].concat())
    }

    /// Like [`Running::start`], with the live line printed every second.
    fn start_with_live_lines(
        hosts: &str,
        keyspace: &str,
        report: &Path,
        flags: &[&str],
    ) -> anyhow::Result<Self> {
        Running::spawn(hosts, keyspace, report, flags)
    }

    fn spawn(hosts: &str, keyspace: &str, report: &Path, flags: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("factory"))
            .args(["--hosts", hosts, "--keyspace", keyspace])
            .arg("--report")
            .arg(report)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let (send, lines) = channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = child.stdout.take();
        Ok(Running {
            child,
            lines,
            stderr: Vec::new(),
            stdout,
        })
    }

    /// Waits for a line of stderr that contains `needle`.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stderr.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("no line with {needle:?} in {:?}", self.stderr)
                }
            }
        }
    }

    /// Waits for a line of stderr that contains `needle`, printed after this call: the lines
    /// printed before it are read first, and do not count.
    fn wait_for_new(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        while let Ok(line) = self.lines.try_recv() {
            self.stderr.push(line);
        }
        self.wait_for(needle, timeout)
    }

    fn terminate(&self) -> anyhow::Result<()> {
        kill(
            Pid::from_raw(i32::try_from(self.child.id())?),
            Signal::SIGTERM,
        )?;
        Ok(())
    }

    /// Waits for the process to end: its status, stdout and whole stderr.
    fn finish(mut self) -> anyhow::Result<(ExitStatus, String, String)> {
        let status = self.child.wait()?;
        let mut stdout = String::new();
        if let Some(mut out) = self.stdout.take() {
            std::io::Read::read_to_string(&mut out, &mut stdout)?;
        }
        self.stderr.extend(self.lines.iter());
        Ok((status, stdout, self.stderr.join("\n")))
    }
}

/// The line the factory prints when its visits begin.
const DRIVING: &str = "visits at";
const STARTUP: Duration = Duration::from_secs(90);
/// In the live line, a second without a failed request.
const CLEAN_SECOND: &str = "errors 0 ";

#[tokio::test]
async fn a_run_ends_when_its_duration_ends_and_counts_the_visits_it_missed() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("ending_duration").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("run.json");
    // One visit in flight at a time cannot make 20,000 a second: most of the schedule is missed.
    // (It made 4429 a second on an idle machine of this project's kind, so 5000 a second, as
    // this test asked before, missed too few to tell.)
    let flags = [
        "--rate",
        "20000",
        "--duration",
        "5s",
        "--max-in-flight",
        "3",
    ];
    let mut running = Running::start(&hosts, &keyspace, &report, &flags)?;
    running.wait_for(DRIVING, STARTUP)?;
    let began = Instant::now();
    let (status, stdout, stderr) = running.finish()?;
    let took = began.elapsed();
    assert!(status.success(), "{stderr}");
    assert!(
        took < Duration::from_secs(7),
        "--duration 5s took {took:?} of wall time"
    );
    let run = RunReport::read(&report)?;
    assert!(
        (run.measured_seconds - 5.0).abs() < 0.05,
        "{}",
        run.measured_seconds
    );
    assert!(
        run.wall_seconds >= run.measured_seconds && run.wall_seconds < run.measured_seconds + 1.0,
        "the wall time ({} s) is the measured time and a drain",
        run.wall_seconds
    );
    let c = run.counts;
    assert!(c.missed > 25_000, "{c:?}");
    assert_eq!(
        c.ops + c.ops_failed + c.missed + run.abandoned,
        100_000,
        "every visit due in 5 s at 20,000/s was sent or missed: {c:?}"
    );
    let (all, response) = (run.latency_us["all"], run.latency_us["response"]);
    assert_eq!(all.count, c.ops + c.ops_failed + c.missed);
    assert!(
        all.count > response.count,
        "the missed visits are in `all`: {all:?} {response:?}"
    );
    assert!(
        stdout.contains(&format!("{} visits missed", c.missed)),
        "the headline says how many were missed: {stdout}"
    );
    Ok(())
}

/// Sends SIGTERM once `phase` has begun (after `after` more), and checks that the factory
/// reported and ended within a second or so: the report it wrote.
async fn terminated_in(
    phase: &str,
    flags: &[&str],
    wait_for: Option<&str>,
    after: Duration,
) -> anyhow::Result<RunReport> {
    let (keyspace, hosts) = fresh_keyspace("ending_signal").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("run.json");
    let mut running = Running::start(&hosts, &keyspace, &report, flags)?;
    if let Some(line) = wait_for {
        running.wait_for(line, STARTUP)?;
    }
    std::thread::sleep(after);
    running.terminate()?;
    let signalled = Instant::now();
    let (status, stdout, stderr) = running.finish()?;
    let took = signalled.elapsed();
    eprintln!("{phase}: ended {took:?} after SIGTERM");
    assert_eq!(status.code(), Some(130), "{phase}: {stderr}");
    assert!(
        took < Duration::from_millis(1500),
        "{phase}: SIGTERM took {took:?}"
    );
    assert!(
        stdout.contains("factory: "),
        "{phase}: the summary came out: {stdout}"
    );
    Ok(RunReport::read(&report)?)
}

#[tokio::test]
async fn sigterm_ends_every_phase_within_a_second_and_the_report_comes_out() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    // While registering a million employees: nothing measured, and the report says so.
    let flags = [
        "--employees",
        "1000000",
        "--rate",
        "10",
        "--duration",
        "60s",
    ];
    let run = terminated_in("registration", &flags, None, Duration::from_secs(3)).await?;
    assert_eq!(run.measured_seconds, 0.0);
    assert_eq!(
        run.limiter.verdict,
        loadgen::report::Verdict::NothingMeasured
    );
    assert!(run.limiter.explanation.contains("nothing was measured"));

    // During the warm-up: no waiting for it to end, and no verdict about a run never measured.
    let flags = [
        "--employees",
        "20",
        "--rate",
        "10",
        "--duration",
        "60s",
        "--warmup",
        "30s",
    ];
    let run = terminated_in("warm-up", &flags, Some(DRIVING), Duration::from_secs(2)).await?;
    assert_eq!(run.measured_seconds, 0.0);
    assert_eq!(
        run.limiter.verdict,
        loadgen::report::Verdict::NothingMeasured
    );
    assert_eq!(run.ending, "interrupted");

    // While measuring: the seconds measured so far, reported.
    let flags = ["--employees", "20", "--rate", "10", "--duration", "60s"];
    let run = terminated_in("measurement", &flags, Some(DRIVING), Duration::from_secs(3)).await?;
    assert!(
        (2.5..4.0).contains(&run.measured_seconds),
        "{}",
        run.measured_seconds
    );
    assert!(run.counts.ops >= 25, "{:?}", run.counts);
    assert_ne!(
        run.limiter.verdict,
        loadgen::report::Verdict::NothingMeasured
    );
    Ok(())
}

#[tokio::test]
async fn the_verdict_tells_a_machine_short_of_cpu_from_a_client_short_of_it() -> anyhow::Result<()>
{
    let _turn = testing::exclusive().await;
    let (keyspace, hosts) = fresh_keyspace("ending_machine").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("run.json");
    // Other processes take the machine's cores (here, busy threads of this test; in the issue,
    // the node): the factory's loop falls behind with permits free, on CPU it was never given.
    // Four busy threads a core: with one a core, the factory (a debug build) still kept up with
    // 10,000/s in 3 of 6 runs on two cores; with four it reached 35 to 49% of it in ten of ten.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let hogs: Vec<_> = (0..4 * cores)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
            })
        })
        .collect();
    let flags = [
        "--employees",
        "20",
        "--rate",
        "10000",
        "--duration",
        "5s",
        "--max-in-flight",
        "100000",
        "--request-timeout",
        "2s",
        "--drain-timeout",
        "3s",
    ];
    let result = Running::start(&hosts, &keyspace, &report, &flags).and_then(Running::finish);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for hog in hogs {
        let _ = hog.join();
    }
    let (status, stdout, stderr) = result?;
    assert!(status.success(), "{stderr}");
    let run = RunReport::read(&report)?;
    let limiter = &run.limiter;
    assert_eq!(
        limiter.verdict,
        loadgen::report::Verdict::MachineCpu,
        "{}; client {:?}",
        limiter.explanation,
        run.client
    );
    assert!(
        limiter
            .explanation
            .contains(&format!("the machine's {cores} cores were"))
            && limiter.explanation.contains("of them in this process"),
        "{}",
        limiter.explanation
    );
    assert!(!limiter.explanation.contains("Give the client more CPU"));
    assert!(stdout.contains("the machine"), "{stdout}");
    Ok(())
}

#[tokio::test]
async fn a_node_out_of_reach_is_ridden_out_up_to_the_outage_limit() -> anyhow::Result<()> {
    let _turn = testing::exclusive().await;
    let prefix = "127.0.9".parse().map_err(anyhow::Error::msg)?;
    let own = testing::start_ring(
        "test-outage",
        Shape::new(1, 1, prefix).map_err(anyhow::Error::msg)?,
    )
    .await?;
    let result = out_of_reach(&own).await;
    // Whatever happened, the node runs again (SIGCONT is harmless to a running node)...
    let _ = own.ring.signal_node(1, NodeSignal::Resume);
    // ...and the ring is stopped.
    own.stop().await?;
    result
}

/// The node goes out of reach three ways in turn, on the ring of
/// [`a_node_out_of_reach_is_ridden_out_up_to_the_outage_limit`]; each way is a claim, and a
/// failed assert or an error names it.
async fn out_of_reach(own: &testing::OwnRing) -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    claim_a_second_sigterm_ends_a_drain_that_cannot_finish(own, folder.path())
        .await
        .context("claim: a second SIGTERM ends a drain that cannot finish")?;
    let keyspace = claim_a_node_back_within_the_outage_limit_is_ridden_out(own, folder.path())
        .await
        .context("claim: a node back within the outage limit is ridden out")?;
    claim_a_node_down_for_good_stops_the_run_after_the_outage_limit(own, folder.path(), &keyspace)
        .await
        .context("claim: a node down for good stops the run after the outage limit")?;
    Ok(())
}

/// The flags of every run out of reach.
const EMPLOYEES: [&str; 4] = ["--employees", "20", "--request-timeout", "12s"];

/// The node hangs (SIGSTOP) and the run is stopped: the first SIGTERM starts the drain, whose
/// writes cannot finish; the second ends it at once, and the report comes out.
async fn claim_a_second_sigterm_ends_a_drain_that_cannot_finish(
    own: &testing::OwnRing,
    folder: &Path,
) -> anyhow::Result<()> {
    const CLAIM: &str = "a second SIGTERM ends a drain that cannot finish";
    let hosts = own.hosts();
    let keyspace = schema::testing::fresh_keyspace_on(&hosts, "ending_drain").await?;
    let report = folder.join("drain.json");
    let flags = [&EMPLOYEES[..], &["--rate", "50", "--duration", "60s"][..]].concat();
    let mut running = Running::start(&hosts, &keyspace, &report, &flags)?;
    running.wait_for(DRIVING, STARTUP)?;
    std::thread::sleep(Duration::from_secs(2));
    own.ring.signal_node(1, NodeSignal::Pause)?;
    std::thread::sleep(Duration::from_secs(1));
    running.terminate()?;
    std::thread::sleep(Duration::from_secs(1));
    running.terminate()?;
    let signalled = Instant::now();
    let (status, _, stderr) = running.finish()?;
    let took = signalled.elapsed();
    eprintln!("drain: ended {took:?} after the second SIGTERM");
    own.ring.signal_node(1, NodeSignal::Resume)?;
    assert_eq!(status.code(), Some(130), "claim: {CLAIM}: {stderr}");
    assert!(
        took < Duration::from_millis(1500),
        "claim: {CLAIM}: the drain went on for {took:?}"
    );
    let run = RunReport::read(&report)?;
    assert!(
        run.abandoned > 0,
        "claim: {CLAIM}: the hung writes were abandoned: {}",
        run.abandoned
    );
    Ok(())
}

/// The node dies (SIGKILL) and comes back within the outage limit: the run goes on, counts what
/// failed meanwhile, and writes again once it is back. Its restart takes 10 to 40 s here, and the
/// driver retries a lost node with a backoff of up to 10 s, so the run is stopped (SIGTERM) 4 s
/// after its first second without an error once the node is up, not at a fixed duration. The
/// keyspace it wrote to.
async fn claim_a_node_back_within_the_outage_limit_is_ridden_out(
    own: &testing::OwnRing,
    folder: &Path,
) -> anyhow::Result<String> {
    const CLAIM: &str = "a node back within the outage limit is ridden out";
    let hosts = own.hosts();
    let keyspace = schema::testing::fresh_keyspace_on(&hosts, "ending_outage").await?;
    let report = folder.join("outage.json");
    let flags = [
        &EMPLOYEES[..],
        &["--rate", "50", "--duration", "10m"][..],
        &["--outage-limit", "120s"][..],
    ]
    .concat();
    let mut running = Running::start_with_live_lines(&hosts, &keyspace, &report, &flags)?;
    running.wait_for(DRIVING, STARTUP)?;
    std::thread::sleep(Duration::from_secs(3));
    own.ring.signal_node(1, NodeSignal::Kill)?;
    own.ring.start_node(1, testing::START_TIMEOUT).await?;
    running.wait_for_new(CLEAN_SECOND, Duration::from_secs(60))?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    running.terminate()?;
    let (status, _, stderr) = running.finish()?;
    assert_eq!(status.code(), Some(130), "claim: {CLAIM}: {stderr}");
    let run = RunReport::read(&report)?;
    assert_eq!(
        run.ending, "interrupted",
        "claim: {CLAIM}: the outage did not end the run"
    );
    let unreachable: u64 = ["no_node", "connection"]
        .iter()
        .filter_map(|k| run.errors.get(*k))
        .sum();
    assert!(
        unreachable > 0,
        "claim: {CLAIM}: the outage's failures are counted: {:?}",
        run.errors
    );
    // The last three whole seconds (the stop leaves a partial one, which may hold no write).
    let whole: Vec<_> = run.intervals.iter().filter(|i| i.seconds >= 0.9).collect();
    let last = &whole[whole.len().saturating_sub(3)..];
    assert!(
        last.len() == 3
            && last
                .iter()
                .all(|i| i.counts.requests > 0 && i.counts.requests_failed == 0),
        "claim: {CLAIM}: writes went on once the node was back: {last:?}"
    );
    Ok(keyspace)
}

/// The node dies for good: the run stops once the outage outlasts --outage-limit, not before,
/// with one line that says why. (The node is started again afterwards.)
async fn claim_a_node_down_for_good_stops_the_run_after_the_outage_limit(
    own: &testing::OwnRing,
    folder: &Path,
    keyspace: &str,
) -> anyhow::Result<()> {
    const CLAIM: &str = "a node down for good stops the run after the outage limit";
    let hosts = own.hosts();
    let report = folder.join("down.json");
    let flags = [
        &EMPLOYEES[..],
        &["--rate", "50", "--duration", "60s", "--outage-limit", "3s"][..],
    ]
    .concat();
    let mut running = Running::start(&hosts, keyspace, &report, &flags)?;
    running.wait_for(DRIVING, STARTUP)?;
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    own.ring.signal_node(1, NodeSignal::Kill)?;
    let (status, _, stderr) = running.finish()?;
    let took = killed.elapsed();
    eprintln!("outage: the run stopped {took:?} after the node died");
    assert_eq!(status.code(), Some(1), "claim: {CLAIM}: {stderr}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "claim: {CLAIM}: stopped {took:?} after the node died, with --outage-limit 3s"
    );
    let last_line = stderr.lines().last().unwrap_or_default();
    assert!(
        last_line.contains("--outage-limit 3s") && last_line.contains("datacenter dc1"),
        "claim: {CLAIM}: one line says why: {stderr}"
    );
    assert!(
        RunReport::read(&report)?.ending.contains("outage: no_node"),
        "claim: {CLAIM}: the report says why"
    );
    own.ring.start_node(1, testing::START_TIMEOUT).await?;
    Ok(())
}
