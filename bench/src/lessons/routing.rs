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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use scylla::client::execution_profile::ExecutionProfile;
use scylla::policies::load_balancing::DefaultPolicy;

use driver::measure::measure_value;
use driver::record::Completed;

use driver::report::RunReport;

use driver::fair::mirrored;

use super::{Combined, Lab, Lesson, ms, one_write};

const TITLE: &str = "Route each request to a replica (token-aware)";

pub(super) async fn run(lab: &Lab, nodes: &BTreeMap<String, usize>) -> anyhow::Result<Lesson> {
    let local_nodes = nodes.get(&lab.cassandra.local_dc).copied().unwrap_or(0);
    if local_nodes < 2 {
        return Ok(Lesson::left_out(
            "routing",
            TITLE,
            format!(
                "the local datacenter {} has {local_nodes} node(s), so every request is coordinated \
                 by a replica whatever the policy. Run it on a ring with at least two nodes per \
                 datacenter: `bench ring up --name lessons --nodes 3 --ip-prefix 127.0.4`, then \
                 `bench lessons --hosts 127.0.4.1 --only routing`",
                lab.cassandra.local_dc
            ),
        ));
    }
    let session = &lab.cassandra.session;
    let token_aware = lab.writes.insert_timesheet.clone();
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
    // Half the lessons' rate: both policies must keep up, so that latency compares like with like.
    let rate = lab.args.rate / 2.0;
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
                    let (direct, forwarded) = (&direct, &forwarded);
                    async move {
                        let sent = tokio::time::Instant::now();
                        let (request, result) =
                            measure_value(0, session.execute_unpaged(statement, &row)).await;
                        if let Some(result) = result {
                            let replicas = statement
                                .calculate_token(&row)
                                .ok()
                                .flatten()
                                .map(|token| {
                                    session.get_cluster_state().get_token_endpoints(
                                        &lab.keyspace,
                                        "timesheets",
                                        token,
                                    )
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
                },
            )
            .await?;
        let (reports, straight, hops) = &mut runs[index];
        reports.push(report);
        *straight += direct.into_inner();
        *hops += forwarded.into_inner();
    }
    let variants: Vec<(&str, Combined, f64)> = policies
        .iter()
        .zip(&runs)
        .map(|((name, _), (reports, direct, forwarded))| {
            let share = *forwarded as f64 / (direct + forwarded).max(1) as f64;
            (*name, Combined::of(reports), share)
        })
        .collect();
    let rows = variants
        .iter()
        .map(|(name, report, forwarded)| {
            let p = report.percentiles();
            vec![
                (*name).to_owned(),
                format!("{:.0}", report.achieved_rate),
                ms(p.p50),
                ms(p.p99),
                format!("{:.1}%", forwarded * 100.0),
                format!("{:.2}", 1.0 + forwarded),
            ]
        })
        .collect();
    let curves: Vec<_> = variants
        .iter()
        .map(|(name, report, _)| ((*name).to_owned(), report.response.clone()))
        .collect();
    let plot = lab.save_plot(
        "routing",
        &crate::plots::percentile_curves(
            &format!("{rate:.0} writes/s: token-aware vs round-robin"),
            &curves,
        )?,
    )?;
    let p50 = |i: usize| variants[i].1.percentiles().p50;
    let finding = format!(
        "With {local_nodes} nodes in {} and one replica of each partition there, the token-aware \
         policy sent {:.1}% of the writes to a node that does not hold them, round-robin {:.1}%: \
         about (N-1)/N of them, each forwarded by its coordinator to the replica, one more \
         network hop and one more node's work. The median write took {} ms token-aware and {} ms \
         round-robin. Token-awareness needs a prepared statement: only then does the driver know \
         which values form the partition key.",
        lab.cassandra.local_dc,
        variants[0].2 * 100.0,
        variants[1].2 * 100.0,
        ms(p50(0)),
        ms(p50(1)),
    );
    Ok(Lesson::measured(
        "routing",
        TITLE,
        &[
            "policy",
            "writes/s",
            "p50 ms",
            "p99 ms",
            "forwarded",
            "nodes per write",
        ],
        rows,
        plot,
        finding,
    ))
}
