//! Lesson 6: LOCAL_QUORUM against QUORUM across datacenters.
//!
//! The claim: with LOCAL_QUORUM a request waits only for replicas in its own datacenter, with
//! QUORUM for a majority of all replicas, some of them a WAN away. With one replica in each of two
//! datacenters (the lab's keyspace), LOCAL_QUORUM needs the local replica and QUORUM both, so
//! every QUORUM request pays a round trip to the other datacenter.
//!
//! Measuring it needs distance between the datacenters. On loopback there is none, and a table
//! saying "no difference" would teach the wrong thing; a local ring gets distance from
//! `bench ring up --dcs 2 --dc-latency 40ms` (delaying proxies between the datacenters). The
//! lesson measures both levels, writes and reads, alternating round by round, and its title says
//! what the numbers say: a difference only when one shows; the finding states the delay the ring
//! models when it is a local ring this machine runs, and never calls a modelled network a real one.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use scylla::statement::Consistency;
use tokio::time::Instant;

use crate::error::{BenchError, Result};
use loadgen::record::{Percentiles, new_histogram};

use super::lab::Lab;
use super::report::{Lesson, ms};
use crate::report::plots::PlotError;

/// The two levels compared, as the table names them.
const LEVELS: [(Consistency, &str); 2] = [
    (Consistency::LocalQuorum, "LOCAL_QUORUM"),
    (Consistency::Quorum, "QUORUM"),
];

const COLUMNS: [&str; 5] = [
    "level",
    "write p50 ms",
    "write p99 ms",
    "read p50 ms",
    "read p99 ms",
];

/// Below this, a difference between the levels' medians is not a round trip between datacenters.
const DISTANCE_SHOWS_MS: f64 = 1.0;

pub(super) async fn run(lab: &Lab, nodes: &BTreeMap<String, usize>) -> Result<Lesson> {
    if nodes.len() < 2 {
        let dcs = nodes.keys().cloned().collect::<Vec<_>>().join(", ");
        return Ok(Lesson::left_out(
            "distance",
            "Prefer LOCAL_QUORUM: stay in the local datacenter",
            format!(
                "the ring has one datacenter ({dcs}), so LOCAL_QUORUM and QUORUM wait for the same \
                 replicas; on a local ring, `bench ring up --nodes 2 --dcs 2 --dc-latency 40ms` \
                 gives two datacenters with a modelled distance between them"
            ),
        ));
    }
    let timed = time_both_levels(lab).await?;
    let (local, quorum) = (&timed[0], &timed[1]);
    let extra_ms = (quorum.write.p50 - local.write.p50) / 1e3;
    let plot = lab.save_plot("distance", &plot(&timed)?)?;
    let title = if extra_ms >= DISTANCE_SHOWS_MS {
        format!(
            "Prefer LOCAL_QUORUM: QUORUM paid {extra_ms:.1} ms more per write, the round trip to \
             the other datacenter"
        )
    } else {
        "No distance between these datacenters: LOCAL_QUORUM and QUORUM cost the same here"
            .to_owned()
    };
    Ok(Lesson::measured(
        "distance",
        &title,
        &COLUMNS,
        timed.iter().map(Timed::row).collect(),
        plot,
        finding(local, quorum, extra_ms, &modelled_distance(lab)),
    ))
}

/// One level's writes and reads.
struct Timed {
    level: &'static str,
    write: Percentiles,
    read: Percentiles,
}

impl Timed {
    fn row(&self) -> Vec<String> {
        vec![
            self.level.to_owned(),
            ms(self.write.p50),
            ms(self.write.p99),
            ms(self.read.p50),
            ms(self.read.p99),
        ]
    }
}

/// Writes a visit's timesheet row and reads it back, `rounds` times at each level, the levels
/// alternating round by round (and which goes first too), one request at a time so that each
/// latency is the level's alone.
async fn time_both_levels(lab: &Lab) -> Result<Vec<Timed>> {
    let session = &lab.cassandra.session;
    let read_cql = format!(
        "SELECT pickle_count FROM {}.timesheets WHERE employee_id = ? LIMIT 1",
        lab.keyspace
    );
    let mut statements = Vec::new();
    for (level, _) in LEVELS {
        // The same prepared statements, each copy at its own level.
        let mut write = lab.writes.insert_timesheet.clone();
        write.set_consistency(level);
        let mut read = session
            .prepare(read_cql.as_str())
            .await
            .map_err(|e| BenchError::Failed(format!("preparing {read_cql}: {e}")))?;
        read.set_consistency(level);
        read.set_is_idempotent(true);
        statements.push((write, read));
    }
    let mut histograms: Vec<(Histogram<u64>, Histogram<u64>)> = LEVELS
        .iter()
        .map(|_| (new_histogram(), new_histogram()))
        .collect();
    let warm_up = (lab.args.rounds as usize).div_ceil(5);
    let at = std::time::SystemTime::now();
    for round in 0..warm_up + lab.args.rounds as usize {
        let visit = lab.workforce.visit(round as u64, at);
        for quorum_now in loadgen::fair::alternating(round) {
            let level = usize::from(quorum_now);
            let (write, read) = &statements[level];
            let started = Instant::now();
            session.execute_unpaged(write, &visit).await?;
            let written = Instant::now();
            session.execute_unpaged(read, (visit.employee_id,)).await?;
            if round >= warm_up {
                let (writes, reads) = &mut histograms[level];
                record(writes, written - started);
                record(reads, written.elapsed());
            }
        }
    }
    Ok(LEVELS
        .iter()
        .zip(histograms)
        .map(|((_, level), (writes, reads))| Timed {
            level,
            write: Percentiles::of(&writes),
            read: Percentiles::of(&reads),
        })
        .collect())
}

fn record(histogram: &mut Histogram<u64>, took: std::time::Duration) {
    // The lessons' histograms count nanoseconds (`new_histogram`).
    histogram.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
}

/// Each level's median and p99, writes and reads: one line per level and operation.
fn plot(timed: &[Timed]) -> std::result::Result<String, PlotError> {
    let series: Vec<(String, Vec<(f64, f64)>)> = timed
        .iter()
        .flat_map(|t| {
            [
                (
                    format!("{} writes", t.level),
                    vec![(50.0, t.write.p50 / 1e3), (99.0, t.write.p99 / 1e3)],
                ),
                (
                    format!("{} reads", t.level),
                    vec![(50.0, t.read.p50 / 1e3), (99.0, t.read.p99 / 1e3)],
                ),
            ]
        })
        .collect();
    crate::report::plots::lines(
        "One replica per datacenter: latency by consistency level",
        ("percentile", "ms"),
        &series,
    )
}

/// What the numbers say, with where the distance came from when it is known.
fn finding(local: &Timed, quorum: &Timed, extra_ms: f64, modelled: &Option<String>) -> String {
    let numbers = format!(
        "With one replica in each datacenter, a LOCAL_QUORUM write took a median {} ms and a read \
         {} ms; at QUORUM {} ms and {} ms. LOCAL_QUORUM waits for the replica in the client's own \
         datacenter; QUORUM for a majority of all replicas (here both), so each of its requests \
         crosses to the other datacenter and back.",
        ms(local.write.p50),
        ms(local.read.p50),
        ms(quorum.write.p50),
        ms(quorum.read.p50),
    );
    let distance = match modelled {
        Some(model) => format!(" {model}"),
        None => " How far apart these datacenters are is not known to this run: the difference \
                  is whatever the network between them costs."
            .to_owned(),
    };
    let lesson = if extra_ms >= DISTANCE_SHOWS_MS {
        " Keep reads and writes in the local datacenter (LOCAL_QUORUM, a DC-aware load balancing \
         policy) and let replication reach the others in the background; use QUORUM or EACH_QUORUM \
         only where a request must be acknowledged beyond its own datacenter, and pay the round \
         trip knowingly."
    } else {
        " The medians differ by less than a millisecond: nothing separates these datacenters, so \
         this run cannot show what crossing costs (on a local ring, start it with --dc-latency)."
    };
    numbers + &distance + lesson
}

/// The delay the ring models, when the contact points are a local ring of this machine's that
/// models one.
fn modelled_distance(lab: &Lab) -> Option<String> {
    // Contact points that reach more than one running ring say nothing here: the page's
    // network line says which rings, and that the delay is not known.
    let ring =
        client::local_network::modelled_network(&lab.args.connection.contact_points()).ok()??;
    let name = &ring.ring;
    Some(if ring.dc_latency.is_zero() {
        format!(
            "The ring (local ring '{name}') adds no delay between its datacenters: they share \
             this machine's loopback."
        )
    } else {
        format!(
            "The ring (local ring '{name}') models {} each way between its datacenters with \
             delaying proxies, so a round trip between them costs at least twice that: a \
             modelled network, not a real one.",
            humantime::format_duration(ring.dc_latency)
        )
    })
}
