//! Whether two runs of one scenario can be set side by side at all. A run that measured nothing
//! reads as "-100% latency"; an open-loop run's response time against a closed loop's service
//! time, a run at 1000/s against one at 2000/s, a modelled 5 ms network against loopback, a shop
//! against a factory under one name: each compares numbers that mean different things. Such a pair
//! is named for what differs and never judged; a gate asked about it fails, since it could not
//! check what it was asked to.

use serde::Serialize;

use loadgen::report::RunReport;

/// Two runs' standing for a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "standing", content = "why", rename_all = "snake_case")]
pub enum Standing {
    /// Comparable.
    Comparable,
    /// A run did not finish, or measured nothing: what there is cannot stand for the run.
    Unfinished(String),
    /// The runs measured different things: what differs.
    Apart(String),
}

/// The relative difference of two target rates below which they are one rate.
const SAME_RATE: f64 = 1e-3;

/// What the ending of a run that finished says.
const FINISHED: &str = "finished";

/// The standing of runs `a` and `b` of one scenario, and the differences of set-up that do not
/// forbid the comparison but are worth saying (a consistency level, a window).
pub fn of(a: &RunReport, b: &RunReport) -> (Standing, Vec<String>) {
    (standing(a, b), notes(a, b))
}

fn standing(a: &RunReport, b: &RunReport) -> Standing {
    for (side, report) in [("B", b), ("A", a)] {
        if report.operations_due() == 0 {
            return Standing::Unfinished(format!(
                "{side} measured nothing (it ended: {})",
                report.ending
            ));
        }
        if report.ending != FINISHED {
            return Standing::Unfinished(format!(
                "{side} did not finish (it ended: {})",
                report.ending
            ));
        }
    }
    if a.tool != b.tool || a.names.op != b.names.op {
        return Standing::Apart(format!(
            "A is a {} run of {}s, B a {} run of {}s",
            a.tool, a.names.op, b.tool, b.names.op
        ));
    }
    match (a.target_rate, b.target_rate) {
        (Some(ra), Some(rb)) if (ra - rb).abs() > SAME_RATE * ra.max(rb) => {
            return Standing::Apart(format!(
                "A's target rate was {ra:.0}/s and B's {rb:.0}/s: compare runs at one rate"
            ));
        }
        (Some(_), None) | (None, Some(_)) => {
            let (open, closed) = if a.is_open_loop() {
                ("A", "B")
            } else {
                ("B", "A")
            };
            return Standing::Apart(format!(
                "{open} ran open loop (a target rate: latency from each due time) and {closed} \
                 closed loop (unthrottled: latency from each send)"
            ));
        }
        _ => {}
    }
    if a.modelled_network != b.modelled_network {
        let network = |r: &RunReport| {
            r.modelled_network
                .clone()
                .unwrap_or_else(|| "no modelled delay".to_owned())
        };
        return Standing::Apart(format!(
            "A ran with {} and B with {}: the delay is in every latency",
            network(a),
            network(b)
        ));
    }
    Standing::Comparable
}

/// Set-up that differs between the runs, from their configurations, as `name: A x, B y`.
fn notes(a: &RunReport, b: &RunReport) -> Vec<String> {
    const SETTINGS: [(&str, &str, &str); 8] = [
        ("connection", "consistency", "consistency"),
        ("connection", "compression", "compression"),
        ("run", "max_in_flight", "--max-in-flight"),
        ("run", "threads", "--threads"),
        ("run", "pace_window", "--pace-window"),
        ("run", "shards", "--shards"),
        ("factory", "model", "--model"),
        ("shop", "model", "--model"),
    ];
    let mut notes: Vec<String> = SETTINGS
        .iter()
        .filter_map(|(group, key, name)| {
            let (va, vb) = (&a.config[group][key], &b.config[group][key]);
            (!va.is_null() && !vb.is_null() && va != vb).then(|| format!("{name}: A {va}, B {vb}"))
        })
        .collect();
    if a.run.shard.is_some() != b.run.shard.is_some() {
        notes.push("one run is a single shard of a larger run".to_owned());
    }
    if let (Some(sa), Some(sb)) = (&a.ring_settings, &b.ring_settings) {
        notes.extend(
            sa.differences(sb)
                .into_iter()
                .map(|d| format!("the ring's settings differ: {d}")),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::merge::tests::report_of;

    #[test]
    fn runs_that_measured_different_things_are_named_and_not_compared() {
        let a = report_of(&[1_000_000; 100]);
        let apart = |change: &dyn Fn(&mut RunReport), says: &str| {
            let mut b = a.clone();
            change(&mut b);
            match of(&a, &b).0 {
                Standing::Apart(why) | Standing::Unfinished(why) => {
                    assert!(why.contains(says), "{says}: {why}")
                }
                Standing::Comparable => panic!("{says}: compared"),
            }
        };
        apart(&|b| b.target_rate = None, "A ran open loop");
        apart(
            &|b| b.target_rate = Some(1000.0),
            "A's target rate was 500/s and B's 1000/s",
        );
        apart(
            &|b| b.tool = "shop".into(),
            "A is a factory run of visits, B a shop run",
        );
        apart(
            &|b| b.modelled_network = Some("5 ms each way".into()),
            "A ran with no modelled delay and B with 5 ms each way",
        );
        apart(
            &|b| b.ending = "fatal syntax error: no such table".into(),
            "B did not finish (it ended: fatal syntax error",
        );
        apart(
            &|b| {
                b.counts = loadgen::record::Counts::default();
                b.ending = "interrupted".into();
            },
            "B measured nothing",
        );
        assert_eq!(of(&a, &a.clone()).0, Standing::Comparable);
    }

    #[test]
    fn set_up_that_differs_is_noted() {
        let mut a = report_of(&[1_000_000; 10]);
        a.config =
            serde_json::json!({"connection": {"consistency": "ONE"}, "run": {"max_in_flight": 64}});
        let mut b = a.clone();
        b.config["connection"]["consistency"] = "QUORUM".into();
        let (standing, notes) = of(&a, &b);
        assert_eq!(standing, Standing::Comparable);
        assert_eq!(
            notes,
            vec![r#"consistency: A "ONE", B "QUORUM""#.to_owned()]
        );
    }

    #[test]
    fn a_ring_set_up_differently_or_another_model_is_noted() {
        use client::ring_settings::{RingSettings, TableSettings};
        let settings = |memtable: &str| RingSettings {
            sstable_format: [("127.0.0.1".to_owned(), "big".to_owned())].into(),
            tables: [(
                "timesheets".to_owned(),
                TableSettings {
                    compaction: "SizeTieredCompactionStrategy".to_owned(),
                    memtable: memtable.to_owned(),
                    compression: "LZ4Compressor".to_owned(),
                },
            )]
            .into(),
        };
        let mut a = report_of(&[1_000_000; 10]);
        a.config = serde_json::json!({"factory": {"model": "denormalized"}});
        a.ring_settings = Some(settings("default"));
        let mut b = a.clone();
        assert!(of(&a, &b).1.is_empty());
        b.ring_settings = Some(settings("trie"));
        b.config["factory"]["model"] = "sai".into();
        let (standing, notes) = of(&a, &b);
        assert_eq!(standing, Standing::Comparable);
        assert_eq!(
            notes,
            [
                r#"--model: A "denormalized", B "sai""#,
                "the ring's settings differ: timesheets memtable: A default, B trie"
            ]
        );
    }
}
