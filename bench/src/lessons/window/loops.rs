//! The two hand-written loops the window lesson measures the factory's against: the original's
//! stop-and-wait batches, and synchronous writes, one at a time.
//!
//! The factory's sliding window runs on the apps' own loop (`Lab::drive`); these two cannot, since
//! their loop is what differs. So they follow the same schedule ([`Clock`]) and record with the
//! same `Recorder`, each visit measured from its due time, so that only the discipline differs.
//! They live apart from the lesson so that its file reads as the experiment, and this one as the
//! machinery it compares against.

use crate::error::{BenchError, Result};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use schema::model::Visit;
use tokio::time::Instant;

use loadgen::measure;
use loadgen::record::{Completed, Recorder};
use loadgen::schedule::{End, Pace, PreciseTimer, Schedule, Timer};

use crate::lessons::lab::{Lab, VISIT_TABLES};

use super::{BATCH_VISITS, Measured};

/// A visit's three writes, one after another, each awaited (the synchronous way).
async fn write_visit_in_turn(lab: &Lab, visit: Visit) -> Completed {
    let (session, writes) = (&lab.cassandra.session, &lab.writes);
    let sent = Instant::now();
    let a = measure(0, session.execute_unpaged(&writes.insert_timesheet, &visit)).await;
    let b = measure(1, session.execute_unpaged(&writes.insert_tree, &visit)).await;
    let c = measure(
        2,
        session.execute_unpaged(&writes.insert_production, visit.production()),
    )
    .await;
    Completed {
        sent,
        requests: vec![a, b, c],
    }
}

/// The schedule both hand-written loops follow: visit n is due at `start + n / rate`.
struct Clock {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    rate: Option<f64>,
}

impl Clock {
    fn new(lab: &Lab, rate: Option<f64>) -> Clock {
        let start = Instant::now() + Duration::from_millis(5);
        let measure_from = start + lab.args.warmup;
        Clock {
            start,
            measure_from,
            // Each way runs twice (mirrored), for half the time each.
            end: measure_from + lab.args.duration / 2,
            rate,
        }
    }

    /// When visit `n` is due: on the schedule, or, unthrottled, whenever the loop gets to it
    /// (measured from then).
    fn due(&self, n: u64) -> Instant {
        match self.rate {
            Some(rate) => self.start + Duration::from_secs_f64(n as f64 / rate),
            None => Instant::now().max(self.start),
        }
    }

    /// Ends a run that started visits `0..started`: on a schedule, the visits due before its
    /// end that the loop never got to are recorded as missed.
    fn measured(
        &self,
        name: &'static str,
        mut recorder: Recorder,
        started: u64,
        (peak, stalled): (usize, Duration),
    ) -> Result<Measured> {
        if let Some(per_second) = self.rate {
            let schedule = Schedule::new(
                self.start,
                Pace::Fixed { per_second },
                End {
                    after: Some(self.end - self.start),
                    operations: None,
                },
            );
            let due = schedule.due_before(self.end);
            recorder.record_missed(&schedule, started..due.max(started), self.end);
        }
        // The run ends at its schedule's end, or later when the loop fell behind.
        let end = Instant::now().max(self.end);
        let recording = recorder
            .finish(end, end)
            .map_err(BenchError::io("finishing the HDR log"))?;
        let seconds = recording.measured.as_secs_f64().max(1e-9);
        let c = recording.counts;
        Ok(Measured {
            name,
            achieved: (c.ops + c.ops_failed) as f64 / seconds,
            response: recording.histograms.all(),
            wait: recording.histograms.wait,
            peak_in_flight: peak,
            stalled: stalled.as_secs_f64() / seconds,
            missed: c.missed,
        })
    }
}

/// The original's loop: start visits on schedule until more than 3000 writes have been started
/// since the last drain, then wait for every one of them.
pub(super) async fn stop_and_wait(lab: &Lab, rate: Option<f64>) -> Result<Measured> {
    let clock = Clock::new(lab, rate);
    let mut timer = PreciseTimer::start().map_err(BenchError::io("starting the pacing timer"))?;
    let mut recorder = Recorder::new(&VISIT_TABLES, clock.measure_from, None);
    let mut pending = FuturesUnordered::new();
    let (mut peak, mut since_drain, mut stalled) = (0, 0, Duration::ZERO);
    let mut n = 0u64;
    let interrupted = loadgen::shutdown::interrupted();
    tokio::pin!(interrupted);
    loop {
        let due = clock.due(n);
        if due >= clock.end {
            break;
        }
        if since_drain == BATCH_VISITS {
            // The batch's tail: from when fewer than a tenth of its visits are still pending to
            // when the last answers, the ring has little to do and nothing new starts.
            let batch = pending.len();
            let mut tail_from = None;
            while let Some((intended, completed)) = pending.next().await {
                let now = Instant::now();
                recorder.record(intended, &completed, now);
                if tail_from.is_none() && pending.len() * 10 < batch {
                    tail_from = Some(now);
                }
            }
            if let Some(from) = tail_from.filter(|from| *from >= clock.measure_from) {
                stalled += from.elapsed();
            }
            since_drain = 0;
            continue;
        }
        if due > Instant::now() {
            // Not due yet: take in answers meanwhile.
            tokio::select! {
                biased;
                () = &mut interrupted => return Err(client::cli::Interrupted.into()),
                () = timer.sleep_until(due) => {}
                Some((intended, completed)) = pending.next(), if !pending.is_empty() => {
                    recorder.record(intended, &completed, Instant::now());
                    continue;
                }
            }
        } else if (&mut interrupted).now_or_never().is_some() {
            return Err(client::cli::Interrupted.into());
        }
        let visit = lab.workforce.visit(n, std::time::SystemTime::now());
        pending.push(async move { (due, lab.write_visit(visit).await) });
        peak = peak.max(pending.len() * 3);
        n += 1;
        since_drain += 1;
    }
    while let Some((intended, completed)) = pending.next().await {
        recorder.record(intended, &completed, Instant::now());
    }
    clock.measured("stop-and-wait (3000)", recorder, n, (peak, stalled))
}

/// One write at a time: each visit waits for its due time (if still ahead) and then writes its
/// three rows in turn.
pub(super) async fn synchronous(lab: &Lab, rate: Option<f64>) -> Result<Measured> {
    let clock = Clock::new(lab, rate);
    let mut timer = PreciseTimer::start().map_err(BenchError::io("starting the pacing timer"))?;
    let mut recorder = Recorder::new(&VISIT_TABLES, clock.measure_from, None);
    let mut n = 0u64;
    let interrupted = loadgen::shutdown::interrupted();
    tokio::pin!(interrupted);
    loop {
        let due = clock.due(n);
        if due >= clock.end || Instant::now() >= clock.end {
            break;
        }
        if due > Instant::now() {
            tokio::select! {
                () = timer.sleep_until(due) => {}
                () = &mut interrupted => return Err(client::cli::Interrupted.into()),
            }
        } else if (&mut interrupted).now_or_never().is_some() {
            return Err(client::cli::Interrupted.into());
        }
        let visit = lab.workforce.visit(n, std::time::SystemTime::now());
        let completed = write_visit_in_turn(lab, visit).await;
        recorder.record(due, &completed, Instant::now());
        n += 1;
    }
    clock.measured("synchronous", recorder, n, (1, Duration::ZERO))
}
