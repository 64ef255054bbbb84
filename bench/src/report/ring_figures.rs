//! The ring's side of each scenario on the report page, on the same time axis as its over-time
//! plot (seconds after measurement began): the client requests each node served per second, as
//! the node counted them, and the tasks each node queued in its request pools. Both come from the
//! run report's [`RingSide`], sampled once a second from the nodes' own `system_views`.

use client::ring_view::CLIENT_REQUESTS as REQUESTS;
use loadgen::report::{RingSide, RunReport};
use maud::Markup;

use crate::report::figure::figure;
use crate::report::plots::{self, PlotError};
use crate::report::suite_report::SuiteReport;

/// The ring's figures of every scenario that sampled it.
pub fn ring_figures(suite: &SuiteReport) -> Result<Vec<Markup>, PlotError> {
    let mut figures = Vec::new();
    for scenario in &suite.scenarios {
        let Some(ring) = sampled(&scenario.report) else {
            continue;
        };
        let served = plots::lines(
            &format!("{}: requests each node served per second", scenario.name),
            ("seconds", "requests per second"),
            &served(ring),
        )?;
        let caption = format!(
            "As each node counted them ({REQUESTS}, tasks completed per second), beside the {:.0} \
             requests per second the client sent. {}",
            scenario.report.achieved_request_rate,
            capitalized(&ring.describe())
        );
        figures.push(figure(
            &format!("{}-ring-served", scenario.name),
            &served,
            &caption,
        ));
        let queued = queued(ring);
        if !queued.is_empty() {
            let svg = plots::lines(
                &format!(
                    "{}: tasks queued in each node's request pools",
                    scenario.name
                ),
                ("seconds", "tasks pending or blocked"),
                &queued,
            )?;
            let caption = "Work a node took and could not start yet, by node and thread pool, \
                           sampled once a second: a queue that stays is a node that cannot keep up.";
            figures.push(figure(
                &format!("{}-ring-queued", scenario.name),
                &svg,
                caption,
            ));
        }
    }
    Ok(figures)
}

/// The report's ring side, if any node was sampled.
fn sampled(report: &RunReport) -> Option<&RingSide> {
    report.ring.as_ref().filter(|ring| !ring.nodes.is_empty())
}

/// One line per node: client requests served per second.
fn served(ring: &RingSide) -> Vec<(String, Vec<(f64, f64)>)> {
    (ring.nodes.iter())
        .map(|node| {
            let points = (node.seconds.iter())
                .filter_map(|s| Some((s.at_s, s.pools.get(REQUESTS)?.completed_per_s)))
                .collect();
            (node.address.clone(), points)
        })
        .collect()
}

/// One line per node and pool that ever queued work: tasks pending plus blocked.
fn queued(ring: &RingSide) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut lines = Vec::new();
    for node in &ring.nodes {
        let pools: std::collections::BTreeSet<&String> =
            node.seconds.iter().flat_map(|s| s.pools.keys()).collect();
        for pool in pools {
            let points: Vec<(f64, f64)> = (node.seconds.iter())
                .filter_map(|s| {
                    let p = s.pools.get(pool)?;
                    Some((s.at_s, (p.pending + p.blocked) as f64))
                })
                .collect();
            if points.iter().any(|&(_, queued)| queued > 0.0) {
                lines.push((format!("{} {pool}", node.address), points));
            }
        }
    }
    lines
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect::<String>()
    }) + "."
}
