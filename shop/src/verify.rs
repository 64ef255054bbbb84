//! `--verify`: are a visit's three copies in step? The factory writes each visit to `timesheets`,
//! `trees` and `production` independently, so a write that failed, or one still in flight, leaves
//! a copy missing. (With `--model sai` a visit is one row, and its "copies" are its indexes: a
//! visit found through the employee's index must be found through the tree's and the count's.) The check reads visits from `timesheets` (the latest to a few random trees, or
//! every one), then both other copies of each at once, and names every copy missing or different
//! by its keys.
//!
//! A one-off fan-out and the loop check the same way, here, with every read measured: the loop
//! reports the reads and counts a failed one as an error of its kind, a one-off fails on it.

use std::time::{Duration, SystemTime};

use client::Connection;
use client::options::parse_duration;
use futures::StreamExt;
use loadgen::record::Request;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use schema::model::timeuuid_time;
use schema::reads::{Mismatch, RecordedVisit, ShopStatements, Timesheet};
use serde::Serialize;
use uuid::Uuid;

use crate::fanout::{Fanout, Tag};
use loadgen::measure_on;

/// What `--verify` checks, flattened into the shop's options.
#[derive(Debug, clap::Args, Serialize)]
pub struct VerifyArgs {
    /// Check the denormalized copies: each verified visit of timesheets must be in trees (same
    /// values) and in production. Mismatches are reported with their keys.
    #[arg(long, env = "SHOP_VERIFY")]
    pub verify: bool,

    /// Visits verified per employee: a number (the latest visit to that many random trees) or
    /// `all` (every visit, for a one-off audit).
    #[arg(long, env = "SHOP_VERIFY_VISITS", value_name = "COUNT|all", default_value = "1", value_parser = parse_verify_visits)]
    pub verify_visits: VerifyVisits,

    /// Visits younger than this are not verified: their three writes may still be in flight.
    #[arg(long, env = "SHOP_VERIFY_GRACE", value_name = "DURATION", default_value = "15s", value_parser = parse_duration, allow_hyphen_values = true)]
    #[serde(serialize_with = "client::options::serialize_duration")]
    pub verify_grace: Duration,
}

/// How many visits `--verify` checks per employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyVisits {
    /// The latest visit to this many random trees.
    Some(u32),
    /// Every visit.
    All,
}

/// Parses `--verify-visits`: a positive number, or `all`.
fn parse_verify_visits(text: &str) -> Result<VerifyVisits, String> {
    match text.trim() {
        "all" => Ok(VerifyVisits::All),
        number => match number.parse::<u32>() {
            Ok(n) if n > 0 => Ok(VerifyVisits::Some(n)),
            _ => Err(format!(
                "'{text}' is neither a positive number of visits nor 'all'"
            )),
        },
    }
}

/// Employees whose visits are checked at once, at most; with [`COPIES_AT_ONCE`], an `all` audit
/// of a thousand employees keeps about 64 × 65 reads in flight, not 65,000.
const EMPLOYEES_AT_ONCE: usize = 64;

/// Visits of one employee whose copies are checked at once, at most: two reads each. It bounds an
/// `all` audit of a large partition; a loop's few visits all go out at once.
const COPIES_AT_ONCE: usize = 32;

/// What checking one employee's visits gave.
pub struct Checked {
    /// The employee.
    pub employee_id: Uuid,
    /// Every read made, measured: the visits from `timesheets`, then their copies.
    pub requests: Vec<Request>,
    /// For each visit whose two copies were both read, what disagreed (nothing, when they agree).
    pub visits: Vec<Vec<Mismatch>>,
}

/// `--verify` after a one-off fan-out. A failed read fails the check: an audit with a hole in it
/// would say less than it seems to.
pub async fn one_fanout(
    cassandra: &Connection,
    reads: &ShopStatements,
    fanout: &Fanout,
    check: &VerifyArgs,
    seed: u64,
) -> anyhow::Result<Verification> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5EED);
    let timesheets = fanout
        .timesheets
        .iter()
        .map(|(person, timesheet, _)| (person.employee_id, timesheet));
    let mut verification = Verification::of(reads);
    verification.visits_read = Some(
        fanout
            .timesheets
            .iter()
            .map(|(_, timesheet, _)| u64::try_from(timesheet.visits).unwrap_or(0))
            .sum(),
    );
    for checked in copies(cassandra, reads, timesheets, check, &mut rng).await {
        if let Some(failure) = checked.requests.iter().find_map(|r| r.error.as_ref()) {
            let why = match &failure.detail {
                Some(detail) => format!("{}: {detail}", failure.kind),
                None => failure.kind.to_string(),
            };
            anyhow::bail!(
                "verifying the visits of employee {} failed ({why})",
                checked.employee_id
            );
        }
        for mismatches in checked.visits {
            verification.add(mismatches);
        }
    }
    Ok(verification)
}

/// Checks the copies of each employee's visits: `--verify-visits` of them (trees picked with
/// `rng`, employee after employee), older than `--verify-grace`. Employees go
/// [`EMPLOYEES_AT_ONCE`] at a time; the answer keeps their order.
pub async fn copies<'a>(
    cassandra: &Connection,
    reads: &ShopStatements,
    timesheets: impl Iterator<Item = (Uuid, &'a Timesheet)>,
    check: &VerifyArgs,
    rng: &mut SmallRng,
) -> Vec<Checked> {
    let before = SystemTime::now() - check.verify_grace;
    let chosen: Vec<(Uuid, Option<Vec<Uuid>>)> = timesheets
        .map(|(employee_id, timesheet)| match check.verify_visits {
            VerifyVisits::All => (employee_id, None),
            VerifyVisits::Some(count) => (
                employee_id,
                Some(pick_trees(timesheet, count as usize, rng)),
            ),
        })
        .collect();
    futures::stream::iter(chosen)
        .map(|(employee_id, trees)| employee(cassandra, reads, employee_id, trees, before))
        .buffered(EMPLOYEES_AT_ONCE)
        .collect()
        .await
}

/// Up to `count` distinct trees of a timesheet, at random.
fn pick_trees(timesheet: &Timesheet, count: usize, rng: &mut SmallRng) -> Vec<Uuid> {
    let picks =
        rand::seq::index::sample(rng, timesheet.trees.len(), count.min(timesheet.trees.len()));
    picks.into_iter().map(|i| timesheet.trees[i].0).collect()
}

/// One employee: the visits to check read from `timesheets` (the latest before `before` to each
/// of `trees`, or every one when `None`), then the copies of those older than `before`.
async fn employee(
    cassandra: &Connection,
    reads: &ShopStatements,
    employee_id: Uuid,
    trees: Option<Vec<Uuid>>,
    before: SystemTime,
) -> Checked {
    let session = &cassandra.session;
    let read_visits = Tag::VerifyTimesheets.index();
    let mut requests = Vec::new();
    let mut visits = Vec::new();
    match trees {
        None => {
            let every = reads.all_visits(session, employee_id);
            let (request, all) = measure_on(cassandra, read_visits, every).await;
            requests.push(request);
            visits.extend(all.into_iter().flatten());
        }
        Some(trees) => {
            let latest = trees.into_iter().map(|tree| {
                let latest = reads.visit_before(session, employee_id, tree, before);
                measure_on(cassandra, read_visits, latest)
            });
            for (request, visit) in futures::future::join_all(latest).await {
                requests.push(request);
                visits.extend(visit.flatten());
            }
        }
    }
    // Younger visits may still have a copy in flight (the query's bound is coarser by a
    // millisecond, and `all` has none).
    let old_enough = visits
        .into_iter()
        .filter(|visit| timeuuid_time(visit.timestamp) < before);
    let checks: Vec<_> = futures::stream::iter(old_enough)
        .map(|visit| both_copies(cassandra, reads, employee_id, visit))
        .buffer_unordered(COPIES_AT_ONCE)
        .collect()
        .await;
    let mut checked = Checked {
        employee_id,
        requests,
        visits: Vec::new(),
    };
    for (measured, mismatches) in checks {
        checked.requests.extend(measured);
        checked.visits.extend(mismatches);
    }
    checked
}

/// Reads both other copies of `visit` at once, each read measured. `None` when a read failed: a
/// failed read is an error of its kind, not a mismatch.
async fn both_copies(
    cassandra: &Connection,
    reads: &ShopStatements,
    employee_id: Uuid,
    visit: RecordedVisit,
) -> ([Request; 2], Option<Vec<Mismatch>>) {
    let session = &cassandra.session;
    let (tree, production) = futures::join!(
        measure_on(
            cassandra,
            Tag::VerifyTrees.index(),
            reads.check_tree_copy(session, employee_id, &visit)
        ),
        measure_on(
            cassandra,
            Tag::VerifyProduction.index(),
            reads.check_production_copy(session, employee_id, &visit)
        ),
    );
    let mismatches = match (tree.1, production.1) {
        (Some(tree), Some(production)) => Some(tree.into_iter().chain(production).collect()),
        _ => None,
    };
    ([tree.0, production.0], mismatches)
}

/// How many visits were checked and what disagreed.
#[derive(Debug, Default, Serialize)]
pub struct Verification {
    /// What the copies are: `trees and production`, or the SAI model's indexes.
    pub copies: &'static str,
    /// Visits whose copies were checked.
    pub checked: u64,
    /// Copies missing or different.
    pub mismatches: u64,
    /// The first mismatches, with their keys (at most [`Verification::KEPT`]).
    pub examples: Vec<String>,
    /// Visits the timesheets read held, when the check followed one fan-out: none means there
    /// was nothing to check, not that every one was too young.
    pub visits_read: Option<u64>,
}

impl Verification {
    /// Mismatches kept with their keys; the rest are only counted.
    pub const KEPT: usize = 20;

    /// Nothing checked yet, of the copies `reads` checks.
    pub fn of(reads: &ShopStatements) -> Verification {
        Verification {
            copies: reads.copies(),
            ..Verification::default()
        }
    }

    /// Adds one checked visit and whatever disagreed about it.
    pub fn add(&mut self, mismatches: Vec<Mismatch>) {
        self.checked += 1;
        for mismatch in mismatches {
            self.mismatches += 1;
            if self.examples.len() < Self::KEPT {
                self.examples.push(format!(
                    "{} of employee {} to tree {} at {}: {}",
                    mismatch.table,
                    mismatch.employee_id,
                    mismatch.pickle_tree_id,
                    mismatch.timestamp,
                    mismatch.problem
                ));
            }
        }
    }

    /// One line, then one line per kept mismatch.
    pub fn summary(&self) -> String {
        if self.checked == 0 {
            return format!("verify: 0 visits checked: {}", self.why_none());
        }
        if self.mismatches == 0 {
            return format!(
                "verify: {} visits checked in {}: every copy agrees",
                self.checked, self.copies
            );
        }
        let mut text = format!(
            "verify: {} visits checked, {} copies missing or different:",
            self.checked, self.mismatches
        );
        for example in &self.examples {
            text.push_str(&format!("\n  {example}"));
        }
        text
    }

    /// Why nothing was checked.
    fn why_none(&self) -> &'static str {
        match self.visits_read {
            Some(0) => {
                "the timesheets read hold no visit (these employees have none: write visits \
                 for them first, or read employees the factory wrote visits for)"
            }
            _ => {
                "every visit found was younger than --verify-grace; run it once the visits are \
                 older, or lower --verify-grace"
            }
        }
    }

    /// An error (exit code 1) when any copy disagreed, or when nothing was checked: a check that
    /// checked nothing must not pass as a gate.
    pub fn result(&self) -> anyhow::Result<()> {
        if self.checked == 0 {
            anyhow::bail!("--verify checked no visit: {}", self.why_none())
        } else if self.mismatches == 0 {
            Ok(())
        } else {
            anyhow::bail!(
                "{} denormalized copies are missing or different (see above)",
                self.mismatches
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_visits_is_a_positive_number_or_all() {
        assert_eq!(parse_verify_visits("all"), Ok(VerifyVisits::All));
        assert_eq!(parse_verify_visits(" 3 "), Ok(VerifyVisits::Some(3)));
        for bad in ["0", "-1", "some", ""] {
            let refused = parse_verify_visits(bad).unwrap_err();
            assert!(refused.contains("neither a positive number"), "{refused}");
        }
    }

    #[test]
    fn mismatches_are_counted_and_the_first_few_kept_with_their_keys() {
        let mut verification = Verification {
            copies: "trees and production",
            ..Verification::default()
        };
        let mismatch = Mismatch {
            employee_id: Uuid::nil(),
            pickle_tree_id: Uuid::nil(),
            timestamp: Uuid::nil(),
            table: "trees",
            problem: "missing".into(),
        };
        assert!(
            verification.result().is_err(),
            "a check that checked nothing is no pass"
        );
        assert!(
            verification
                .summary()
                .contains("younger than --verify-grace")
        );
        // Timesheets with no visit at all: there was nothing to check, and it says so.
        verification.visits_read = Some(0);
        let none = verification.result().unwrap_err().to_string();
        assert!(none.contains("the timesheets read hold no visit"), "{none}");
        verification.visits_read = Some(3);
        assert!(
            verification
                .summary()
                .contains("younger than --verify-grace")
        );
        verification.add(Vec::new());
        assert!(verification.result().is_ok());
        for _ in 0..Verification::KEPT + 5 {
            verification.add(vec![mismatch.clone()]);
        }
        assert_eq!(verification.checked, Verification::KEPT as u64 + 6);
        assert_eq!(verification.mismatches, Verification::KEPT as u64 + 5);
        assert_eq!(verification.examples.len(), Verification::KEPT);
        assert!(verification.summary().contains("trees of employee"));
        assert!(verification.result().is_err());
    }
}
