//! `--rate` and `--duration`: the fan-out as a load. Fan-outs go out on the factory's open-loop
//! schedule, each over employees drawn from a pool sampled once, and every read (the timesheets,
//! and the verification's when asked) is measured and reported the way the factory's writes are.

use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use client::Connection;
use client::cli::UsageError;
use loadgen::{Completed, Run, Workload};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use schema::reads::{ShopStatements, Staff};

use crate::fanout::Tag;
use crate::verify::{self, Verification, VerifyVisits};
use crate::{ShopArgs, read_timesheets, staff};

/// What one fan-out of the loop is: its reads, the permits it takes, the tags it reports under.
/// `--verify-visits all` is refused: it is a one-off audit, too much for every fan-out. (Clap
/// declares conflicts between flags, not between a flag's value and another flag.)
pub fn workload(shop: &ShopArgs) -> Result<Workload, UsageError> {
    let VerifyVisits::Some(trees) = shop.check.verify_visits else {
        return Err(UsageError(
            "--verify-visits all is a one-off audit; in loop mode give a number".into(),
        ));
    };
    // Per tree verified: its latest visit, and that visit's two copies.
    let (tags, reads_per_employee) = if shop.check.verify {
        (&Tag::ALL[..], 1 + 3 * trees as usize)
    } else {
        (&Tag::ALL[..1], 1)
    };
    Ok(Workload {
        tool: "shop",
        op: "fan-out",
        request: "read",
        requests_per_op: (shop.employees as usize).saturating_mul(reads_per_employee),
        service_tags: tags.iter().map(|tag| tag.name()).collect(),
        operations: None,
    })
}

/// Drives the fan-outs until the run ends, then prints the report (with the verification's
/// outcome when asked) and writes it where asked. Mismatched copies fail the run after the report.
pub async fn drive(
    mut run: Run,
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: &[Staff],
    shop: &ShopArgs,
) -> anyhow::Result<()> {
    // Shards of one run meet at a wall-clock instant: the report notes how far ours is off.
    run.note_clock_offset(cassandra.clock_offset_ms().await);
    eprintln!("{}", run.describe());
    let verification = Mutex::new(Verification::of(reads));
    let per_fanout = (shop.employees as usize).min(staff.len());
    let mut finished = run
        .drive(|n, _| {
            let chosen = staff::choose(staff, per_fanout, shop.seed, n);
            fanout(cassandra, reads, chosen, shop, n, &verification)
        })
        .await?;
    let verification = verification
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    if shop.check.verify {
        finished.report.app = serde_json::json!({ "verification": verification });
    }
    print!("{}", finished.report.summary());
    if shop.check.verify {
        println!("  {}", verification.summary());
    }
    finished.save()?;
    finished
        .result()
        .with_context(|| format!("reading timesheets in datacenter {}", cassandra.local_dc))?;
    if shop.check.verify {
        verification.result()
    } else {
        Ok(())
    }
}

/// Fan-out `n` of the loop over `staff`, then the check of its copies when asked: every request
/// is measured, and what the check found is added to `verification`.
async fn fanout(
    cassandra: &Connection,
    reads: &ShopStatements,
    staff: Vec<Staff>,
    shop: &ShopArgs,
    n: u64,
    verification: &Mutex<Verification>,
) -> Completed {
    let sent = tokio::time::Instant::now();
    let results = read_timesheets(cassandra, reads, &staff, shop.sequential).await;
    let mut requests: Vec<_> = results.iter().map(|(request, _)| request.clone()).collect();
    if shop.check.verify {
        // A failed timesheet read is counted already; its employee has nothing to verify.
        let timesheets = staff
            .iter()
            .zip(&results)
            .filter_map(|(person, (_, timesheet))| Some((person.employee_id, timesheet.as_ref()?)));
        let mut rng = SmallRng::seed_from_u64(shop.seed ^ n.rotate_left(32));
        for checked in verify::copies(cassandra, reads, timesheets, &shop.check, &mut rng).await {
            requests.extend(checked.requests);
            if let Ok(mut tally) = verification.lock() {
                for mismatches in checked.visits {
                    tally.add(mismatches);
                }
            }
        }
    }
    Completed { sent, requests }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::Args;

    fn parse(flags: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("shop").chain(flags.iter().copied()))
    }

    #[test]
    fn the_flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn compare_is_refused_by_clap_with_rate_duration_or_sequential() {
        for other in [
            &["--rate", "10"][..],
            &["--duration", "5s"],
            &["--sequential"],
        ] {
            let flags = [&["--compare"][..], other].concat();
            let error = parse(&flags).expect_err("a conflict");
            assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
        }
    }

    #[test]
    fn a_loop_refuses_the_one_off_audit_of_every_visit() {
        let args = parse(&["--verify", "--verify-visits", "all"]).unwrap();
        let refused = workload(&args.shop).unwrap_err();
        assert!(refused.0.contains("--verify-visits all is a one-off audit"));
    }

    #[test]
    fn a_fan_out_takes_a_permit_per_read_and_reports_under_each_tag() {
        let plain = workload(&parse(&["--employees", "10"]).unwrap().shop).unwrap();
        assert_eq!(plain.requests_per_op, 10);
        assert_eq!(plain.service_tags, ["timesheets"]);
        let verified = workload(&parse(&["--verify"]).unwrap().shop).unwrap();
        assert_eq!(verified.requests_per_op, 10 * 4);
        assert_eq!(
            verified.service_tags,
            [
                "timesheets",
                "verify-timesheets",
                "verify-trees",
                "verify-production"
            ]
        );
        let three_trees = parse(&["--verify", "--verify-visits", "3"]).unwrap();
        assert_eq!(
            workload(&three_trees.shop).unwrap().requests_per_op,
            10 * 10
        );
    }

    #[test]
    fn the_verify_options_stay_where_the_report_had_them() {
        let args = parse(&["--verify", "--verify-visits", "2"]).unwrap();
        let shop = serde_json::to_value(&args.shop).unwrap();
        assert_eq!(shop["verify"], true);
        assert_eq!(shop["verify_visits"], serde_json::json!({ "some": 2 }));
        assert_eq!(shop["verify_grace"], "15s");
        assert!(shop.get("check").is_none(), "{shop}");
    }
}
