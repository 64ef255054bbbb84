//! Lesson 4: let the driver route by token.
//!
//! The same prepared write at the same rate, with two load-balancing policies of the local
//! datacenter: token-aware (the default: the driver computes the partition's token and sends the
//! write to a node that holds it) and round-robin (any node of the datacenter, in turn). With one
//! replica per datacenter, a write that reaches a node that does not hold its partition must be
//! forwarded by that node to the one that does: an extra hop inside the ring. The driver names
//! each request's coordinator; the ring's token map says whether it was a replica. Each policy
//! runs twice for half the time, in mirrored order (A B B A), so that a ring still warming up
//! favours neither.

use crate::error::Result;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use schema::model::Visit;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::prepared::PreparedStatement;

use loadgen::measure_value;
use loadgen::record::Completed;

use loadgen::report::RunReport;

use loadgen::fair::mirrored;

use crate::report::plots::PlotError;

use super::lab::{Combined, Lab, one_write};
use super::report::{Lesson, ms};

const TITLE: &str = "Route each request to a replica (token-aware)";

/// The table's header: one row per policy.
const COLUMNS: [&str; 6] = [
    "policy",
    "writes/s",
    "p50 ms",
    "p99 ms",
    "forwarded",
    "nodes per write",
];

pub(super) async fn run(lab: &Lab, nodes: &BTreeMap<String, usize>) -> Result<Lesson> {
    let local_nodes = nodes.get(&lab.cassandra.local_dc).copied().unwrap_or(0);
    if local_nodes < 2 {
        return Ok(too_few_nodes(lab, local_nodes));
    }
    // Half the lessons' rate: both policies must keep up, so that latency compares like with like.
    let rate = lab.args.rate / 2.0;
    let variants = measure_both_policies(lab, rate).await?;
    let plot = lab.save_plot("routing", &plot(&variants, rate)?)?;
    Ok(Lesson::measured(
        "routing",
        TITLE,
        &COLUMNS,
        rows(&variants),
        plot,
        finding(lab, local_nodes, &variants),
    ))
}

/// The lesson left out: with one node in the local datacenter, every coordinator is a replica.
fn too_few_nodes(lab: &Lab, local_nodes: usize) -> Lesson {
    Lesson::left_out(
        "routing",
        TITLE,
        format!(
            "the local datacenter {} has {local_nodes} node(s), so every request is coordinated \
             by a replica whatever the policy. Run it on a ring with at least two nodes per \
             datacenter: `bench ring up --name lessons --nodes 3 --ip-prefix 127.0.4`, then \
             `bench lessons --hosts 127.0.4.1 --only routing`",
            lab.cassandra.local_dc
        ),
    )
}

/// The factory's prepared write with a round-robin policy of the local datacenter instead of
/// the session's token-aware one.
fn round_robin(lab: &Lab) -> PreparedStatement {
    let mut round_robin = lab.writes.insert_timesheet.clone();
    round_robin.set_execution_profile_handle(Some(
        ExecutionProfile::builder()
            .consistency(lab.args.connection.consistency.0)
            .request_timeout(Some(lab.args.connection.request_timeout))
            .load_balancing_policy(
                DefaultPolicy::builder()
                    .prefer_datacenter(lab.cassandra.local_dc.clone())
                    .token_aware(false)
                    .build(),
            )
            .build()
            .into_handle(),
    ));
    round_robin
}

/// One policy's result: its runs taken together, and the share of writes its coordinators had
/// to forward.
struct Variant {
    name: &'static str,
    combined: Combined,
    forwarded: f64,
}

/// Writes at `rate` with each policy, twice for half the time in mirrored order, counting the
/// writes that went straight to a replica and those that were forwarded.
async fn measure_both_policies(lab: &Lab, rate: f64) -> Result<Vec<Variant>> {
    let token_aware = lab.writes.insert_timesheet.clone();
    let round_robin = round_robin(lab);
    let policies = [("token-aware", &token_aware), ("round-robin", &round_robin)];
    // Per policy: its runs, and the writes that went straight to a replica or were forwarded.
    let mut runs: Vec<(Vec<RunReport>, u64, u64)> = vec![(Vec::new(), 0, 0); policies.len()];
    for index in mirrored(policies.len()) {
        let statement = policies[index].1;
        let (direct, forwarded) = (AtomicU64::new(0), AtomicU64::new(0));
        let report = lab
            .drive(
                lab.half_load(Some(rate), 256),
                one_write("lesson-routing"),
                |n, intended| {
                    let row = lab.workforce.visit(n, intended.wall);
                    write_and_count_route(lab, statement, row, (&direct, &forwarded))
                },
            )
            .await?;
        let (reports, straight, hops) = &mut runs[index];
        reports.push(report);
        *straight += direct.into_inner();
        *hops += forwarded.into_inner();
    }
    let variants = policies
        .iter()
        .zip(&runs)
        .map(|((name, _), (reports, direct, forwarded))| Variant {
            name,
            combined: Combined::of(reports),
            forwarded: *forwarded as f64 / (direct + forwarded).max(1) as f64,
        })
        .collect();
    Ok(variants)
}

/// Writes `row` with `statement`, and counts it as `direct` when the driver's coordinator holds
/// the row's partition (by the ring's token map), as `forwarded` when it does not.
async fn write_and_count_route(
    lab: &Lab,
    statement: &PreparedStatement,
    row: Visit,
    (direct, forwarded): (&AtomicU64, &AtomicU64),
) -> Completed {
    let session = &lab.cassandra.session;
    let sent = tokio::time::Instant::now();
    let (request, result) = measure_value(0, session.execute_unpaged(statement, &row)).await;
    if let Some(result) = result {
        let replicas = statement
            .calculate_token(&row)
            .ok()
            .flatten()
            .map(|token| {
                session
                    .get_cluster_state()
                    .get_token_endpoints(&lab.keyspace, "timesheets", token)
            })
            .unwrap_or_default();
        let coordinator = result.request_coordinator().node().host_id;
        if replicas.iter().any(|(node, _)| node.host_id == coordinator) {
            direct.fetch_add(1, Ordering::Relaxed);
        } else {
            forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }
    Completed {
        sent,
        requests: vec![request],
    }
}

/// One row per policy: its rate, its latency, and how many writes took an extra hop.
fn rows(variants: &[Variant]) -> Vec<Vec<String>> {
    variants
        .iter()
        .map(|variant| {
            let p = variant.combined.percentiles();
            vec![
                variant.name.to_owned(),
                format!("{:.0}", variant.combined.achieved_rate),
                ms(p.p50),
                ms(p.p99),
                format!("{:.1}%", variant.forwarded * 100.0),
                format!("{:.2}", 1.0 + variant.forwarded),
            ]
        })
        .collect()
}

/// Each policy's response-time percentiles at `rate`, as SVG.
fn plot(variants: &[Variant], rate: f64) -> Result<String, PlotError> {
    let curves: Vec<_> = variants
        .iter()
        .map(|variant| (variant.name.to_owned(), variant.combined.response.clone()))
        .collect();
    crate::report::plots::percentile_curves(
        &format!("{rate:.0} writes/s: token-aware vs round-robin"),
        &curves,
    )
}

fn finding(lab: &Lab, local_nodes: usize, variants: &[Variant]) -> String {
    let p50 = |i: usize| variants[i].combined.percentiles().p50;
    format!(
        "With {local_nodes} nodes in {} and one replica of each partition there, the token-aware \
         policy sent {:.1}% of the writes to a node that does not hold them, round-robin {:.1}%: \
         about (N-1)/N of them, each forwarded by its coordinator to the replica, one more \
         network hop and one more node's work. The median write took {} ms token-aware and {} ms \
         round-robin. Token-awareness needs a prepared statement: only then does the driver know \
         which values form the partition key.",
        lab.cassandra.local_dc,
        variants[0].forwarded * 100.0,
        variants[1].forwarded * 100.0,
        ms(p50(0)),
        ms(p50(1)),
    )
}
