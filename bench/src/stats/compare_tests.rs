//! The tests of `compare`: simulated runs, second by second, with their interval logs.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::rows::{Side, rows};
use super::*;
use crate::stats::means::welch;
use loadgen::record::hdr_log::{IntervalLog, LoggedInterval};
use loadgen::record::{ALL, Counts, IntervalSummary, Percentiles, RESPONSE, new_histogram};
use loadgen::report::{NodeSeries, PoolSecond};

/// One simulated second: operations that succeeded (their latencies), failed, and were missed.
#[derive(Default, Clone)]
struct Second {
    ok: Vec<u64>,
    failed: u64,
    missed: u64,
}

/// `seconds` seconds of `rate` operations each, 0.5 to 2 ms apiece.
fn steady(rng: &mut SmallRng, seconds: usize, rate: u64) -> Vec<Second> {
    (0..seconds)
        .map(|_| Second {
            ok: (0..rate)
                .map(|_| rng.random_range(500_000..2_000_000))
                .collect(),
            ..Second::default()
        })
        .collect()
}

/// A finished run at `target`/s made of `seconds`, with its report and interval log as the
/// recorder writes them: failed operations take 12 s (a timeout), missed ones 1 s.
fn run(seconds: &[Second], target: f64) -> (RunReport, IntervalLog) {
    let mut total = new_histogram();
    let mut response = new_histogram();
    let mut counts = Counts::default();
    let mut intervals = Vec::new();
    let mut logged = Vec::new();
    for (i, second) in seconds.iter().enumerate() {
        let (mut all, mut ok) = (new_histogram(), new_histogram());
        second.ok.iter().for_each(|&l| ok.record(l).unwrap());
        all.add(&ok).unwrap();
        all.record_n(12_000_000_000, second.failed).unwrap();
        all.record_n(1_000_000_000, second.missed).unwrap();
        let c = Counts {
            ops: second.ok.len() as u64,
            ops_failed: second.failed,
            requests: 3 * second.ok.len() as u64,
            requests_failed: second.failed,
            missed: second.missed,
            ..Counts::default()
        };
        counts.add(&c);
        intervals.push(IntervalSummary {
            at: (i + 1) as f64,
            seconds: 1.0,
            counts: c,
            response_us: Percentiles::of(&ok),
            all_us: Percentiles::of(&all),
            oldest_outstanding_us: 0.0,
            in_flight: 0,
            rss_bytes: 0,
            errors: BTreeMap::new(),
        });
        total.add(&all).unwrap();
        response.add(&ok).unwrap();
        logged.push(LoggedInterval {
            tag: None,
            start_s: i as f64,
            length: std::time::Duration::from_secs(1),
            histogram: all,
        });
    }
    let seconds_run = seconds.len() as f64;
    let per_second = |n: u64| {
        if seconds.is_empty() {
            0.0
        } else {
            n as f64 / seconds_run
        }
    };
    let report = RunReport {
        target_rate: Some(target),
        achieved_rate: per_second(counts.ops + counts.ops_failed),
        measured_seconds: seconds_run,
        wall_seconds: seconds_run,
        counts,
        latency_us: BTreeMap::from([
            (ALL.to_owned(), Percentiles::of(&total)),
            (RESPONSE.to_owned(), Percentiles::of(&response)),
        ]),
        histograms: BTreeMap::from([
            (ALL.to_owned(), RunReport::encode(&total)),
            (RESPONSE.to_owned(), RunReport::encode(&response)),
        ]),
        intervals,
        ..crate::stats::merge::tests::report_of(&[])
    };
    report.check().expect("a simulated report is sound");
    let log = IntervalLog {
        start_time_s: 1_764_000_000.0,
        intervals: logged,
    };
    (report, log)
}

/// Every scenario's rows for one pair of runs, judged as `bench compare` judges them.
fn compared(
    a: &(RunReport, IntervalLog),
    b: &(RunReport, IntervalLog),
    threshold: f64,
) -> Comparison {
    let (standing, notes) = standing::of(&a.0, &b.0);
    let rows = if standing == Standing::Comparable {
        rows(
            &Side {
                report: &a.0,
                log: Some(&a.1),
            },
            &Side {
                report: &b.0,
                log: Some(&b.1),
            },
        )
    } else {
        Vec::new()
    };
    judge(
        vec![ScenarioChanges {
            name: "factory".into(),
            calibration: None,
            standing,
            notes,
            rows,
            ring: Vec::new(),
            ring_missing: None,
        }],
        threshold,
    )
}

fn row<'a>(comparison: &'a Comparison, metric: &str) -> &'a Row {
    comparison.scenarios[0]
        .rows
        .iter()
        .find(|r| r.metric.starts_with(metric))
        .unwrap_or_else(|| panic!("no row {metric}"))
}

#[test]
fn a_run_compared_with_itself_is_the_same_on_every_gated_row_and_passes() {
    let mut rng = SmallRng::seed_from_u64(1);
    let a = run(&steady(&mut rng, 60, 500), 500.0);
    let comparison = compared(&a, &a, 5.0);
    assert!(
        comparison.failures().is_empty(),
        "{:?}",
        comparison.failures()
    );
    for row in comparison.scenarios[0].rows.iter().filter(|r| r.gated) {
        assert_eq!(row.judgement, Judgement::Same, "{row:?}");
        // In JSON, the judgement is a field of the row.
        assert_eq!(serde_json::to_value(row).unwrap()["judgement"], "same");
    }
    // Mean, p50, p99 and p99.9; errors, none on either side, and throughput, one schedule kept
    // by both, need no test.
    assert_eq!(comparison.tests, 4);
}

#[test]
fn a_two_second_pause_of_the_only_node_in_b_fails_the_gate_on_its_tail() {
    let mut rng = SmallRng::seed_from_u64(2);
    let a = run(&steady(&mut rng, 60, 500), 500.0);
    let mut seconds = steady(&mut rng, 60, 500);
    // Everything due during the pause waits for its end: up to 2 s.
    for (s, second) in seconds[30..32].iter_mut().enumerate() {
        second.ok = (0..500u64)
            .map(|i| (2 - s as u64) * 1_000_000_000 - i * 2_000_000)
            .collect();
    }
    let comparison = compared(&a, &run(&seconds, 500.0), 5.0);
    // One pause in one run is one event: the bootstrap alone cannot call it significant (a
    // replicate of B leaves it out a quarter of the time). The stall rule does: 1% of B's visits
    // took longer than A's slowest.
    assert_eq!(
        comparison.failures(),
        vec!["factory p99 latency ms".to_owned()]
    );
    let p99 = row(&comparison, "p99 latency ms");
    assert!(
        p99.rule
            .as_ref()
            .is_some_and(|s| s.contains("longer than A's slowest"))
    );
    assert!(text(&comparison).contains("B stalled where A never did"));
}

#[test]
fn a_one_second_outage_in_b_fails_the_gate_as_new_errors() {
    // A second in which every visit failed: 1.7% of the run. As a per-second share it was one
    // odd second in sixty, "p 0.32"; as counts, it is new and far beyond chance.
    let mut rng = SmallRng::seed_from_u64(3);
    let a = run(&steady(&mut rng, 60, 1000), 1000.0);
    let mut seconds = steady(&mut rng, 60, 1000);
    seconds[20] = Second {
        failed: 1000,
        ..Second::default()
    };
    let comparison = compared(&a, &run(&seconds, 1000.0), 5.0);
    let errors = row(&comparison, "errors %");
    assert!(
        errors.new && errors.judgement == Judgement::Worse,
        "{errors:?}"
    );
    assert!((errors.b.unwrap() - 1.6667).abs() < 1e-3, "{errors:?}");
    assert!(comparison.failures().iter().any(|f| f.contains("errors %")));
}

#[test]
fn b_achieving_60_percent_of_its_target_fails_on_throughput_and_missed_visits_are_not_throughput() {
    let mut rng = SmallRng::seed_from_u64(4);
    let a = run(&steady(&mut rng, 60, 2000), 2000.0);
    // B sent 1200 a second; the 800 a second it never sent are missed, counted when it ended.
    let mut seconds = steady(&mut rng, 60, 1200);
    seconds[59].missed = 800 * 60;
    let b = run(&seconds, 2000.0);
    let comparison = compared(&a, &b, 5.0);
    let throughput = row(&comparison, "visits/s achieved");
    assert!(
        (throughput.b.unwrap() - 1200.0).abs() < 1e-9,
        "{throughput:?}"
    );
    assert!(
        (throughput.change().unwrap() + 40.0).abs() < 1e-9,
        "{throughput:?}"
    );
    assert!(throughput.is_regression(5.0), "{throughput:?}");
    assert_eq!(row(&comparison, "achieved % of target").b, Some(60.0));
    // Had the missed visits been counted in the seconds they were due, throughput is the same.
    let mut spread = steady(&mut rng, 60, 1200);
    spread.iter_mut().for_each(|s| s.missed = 800);
    let spread = compared(&a, &run(&spread, 2000.0), 5.0);
    assert!((row(&spread, "visits/s achieved").b.unwrap() - 1200.0).abs() < 1e-9);
}

#[test]
fn b_that_ended_fatally_with_nothing_measured_fails_the_gate() {
    let mut rng = SmallRng::seed_from_u64(5);
    let a = run(&steady(&mut rng, 30, 500), 500.0);
    let mut b = run(&[], 500.0);
    b.0.ending = "fatal authentication error: bad credentials".into();
    let comparison = compared(&a, &b, 5.0);
    assert!(
        comparison.scenarios[0].rows.is_empty(),
        "nothing to read as -100%"
    );
    let failures = comparison.failures();
    assert!(
        failures.len() == 1 && failures[0].contains("B measured nothing"),
        "{failures:?}"
    );
    assert!(text(&comparison).contains("not compared"));
}

#[test]
fn a_short_run_cannot_tell_its_far_tail_and_says_how_long_would_do() {
    let mut rng = SmallRng::seed_from_u64(6);
    let (a, b) = (
        run(&steady(&mut rng, 40, 100), 100.0),
        run(&steady(&mut rng, 40, 100), 100.0),
    );
    let comparison = compared(&a, &b, 5.0);
    let far = row(&comparison, "p99.9");
    let Judgement::CannotTell(why) = &far.judgement else {
        panic!("{far:?}");
    };
    assert!(
        why.contains("4 operations beyond it") && why.contains("100 s"),
        "{why}"
    );
    assert!(comparison.failures().is_empty());
    assert!(comparison.untold().iter().any(|u| u.contains("p99.9")));
}

/// A gated row with a p-value and a change, as a test would leave it.
fn tested(metric: &str, change: f64, p: f64) -> Row {
    let mut row = Row::new(metric, Some(100.0), Some(100.0 + change), true).gated();
    row.p_value = Some(p);
    row.change_interval = Some((change - 4.0, change + 4.0));
    row.seconds = 60.0;
    row
}

#[test]
fn forty_marginal_tests_are_held_to_one_family_wise_error() {
    // Eight scenarios of five rows, each 10% slower at p = 0.02: alone, each a star; together,
    // Holm's method asks the smallest for 0.05 / 40.
    let scenario = |i: usize| ScenarioChanges {
        name: format!("s{i}"),
        calibration: None,
        standing: Standing::Comparable,
        notes: Vec::new(),
        rows: (0..5)
            .map(|r| tested(&format!("m{r}"), 10.0, 0.02))
            .collect(),
        ring: Vec::new(),
        ring_missing: None,
    };
    let comparison = judge((0..8).map(scenario).collect(), 5.0);
    assert_eq!(comparison.tests, 40);
    assert!(
        comparison.failures().is_empty(),
        "{:?}",
        comparison.failures()
    );
    let first = &comparison.scenarios[0].rows[0];
    assert_eq!(first.p_adjusted, Some(0.8));
    // One clear regression among them still fails the gate.
    let mut scenarios: Vec<ScenarioChanges> = (0..8).map(scenario).collect();
    scenarios[3].rows[2] = tested("m2", 30.0, 1e-6);
    let comparison = judge(scenarios, 5.0);
    assert_eq!(comparison.failures(), vec!["s3 m2".to_owned()]);
    assert!(text(&comparison).contains("Holm"));
}

#[test]
fn an_uncalibrated_comparison_says_that_separate_runs_vary_more_than_its_intervals() {
    let scenario = |calibration: Option<&str>| ScenarioChanges {
        name: "factory".to_owned(),
        calibration: calibration.map(str::to_owned),
        standing: Standing::Comparable,
        notes: Vec::new(),
        rows: vec![tested("p50", 1.0, 0.4)],
        ring: Vec::new(),
        ring_missing: None,
    };
    let printed = |calibration| text(&judge(vec![scenario(calibration)], 5.0)).replace('\n', " ");
    let bare = printed(None);
    assert!(bare.contains("Uncalibrated"), "{bare}");
    assert!(bare.contains("bench calibrate"), "{bare}");
    let widened = printed(Some("tails widened 4.10x (p99)"));
    assert!(!widened.contains("Uncalibrated"), "{widened}");
}

#[test]
fn a_row_is_the_same_only_when_its_interval_rules_the_threshold_out() {
    let mut same = tested("p99", 1.0, 0.4);
    same.change_interval = Some((-3.0, 4.0));
    same.judge(5.0);
    assert_eq!(same.judgement, Judgement::Same);
    let mut wide = tested("p99", 1.0, 0.4);
    wide.change_interval = Some((-20.0, 30.0));
    wide.judge(5.0);
    // Half-width 25% against 5%: 25 times the 60 s run.
    let Judgement::CannotTell(why) = &wide.judgement else {
        panic!("{wide:?}");
    };
    assert!(
        why.contains("-20.0% to +30.0%") && why.contains("25 min"),
        "{why}"
    );
    let mut slower = tested("p99", 10.0, 0.001);
    slower.judge(5.0);
    assert!(slower.is_regression(5.0) && !slower.is_regression(20.0));
    let mut faster = tested("ops/s", -10.0, 0.001);
    faster.higher_is_worse = false;
    faster.judge(5.0);
    assert!(faster.is_regression(5.0), "less throughput is worse");
    assert_eq!(parse_percent("5%").unwrap(), 5.0);
    assert!(parse_percent("fast").is_err());
}

#[test]
fn welch_on_unchanged_drifting_runs_seldom_calls_them_different() {
    // A minute of per-second means that drift (each second 0.9 like the one before), in pairs.
    let mut rng = SmallRng::seed_from_u64(7);
    let mut drifting = || {
        let mut x = 0.0;
        (0..60)
            .map(|_| {
                x = 0.9 * x + rng.random_range(-1.7..1.7);
                10.0 + x
            })
            .collect::<Vec<f64>>()
    };
    let trials = 1000;
    let (mut naive, mut corrected) = (0, 0);
    for _ in 0..trials {
        let (a, b) = (drifting(), drifting());
        naive += usize::from(welch(&a, &b).is_some_and(|w| w.p < ALPHA));
        corrected += usize::from(welch_autocorrelated(&a, &b).is_some_and(|w| w.p < ALPHA));
    }
    let (naive, corrected) = (
        naive as f64 / trials as f64,
        corrected as f64 / trials as f64,
    );
    assert!(naive > 0.3, "naive {naive}");
    assert!(corrected <= 1.5 * ALPHA, "corrected {corrected}");
}

/// A ring of two nodes whose client-request pool served `served` requests per second and queued
/// `queued` tasks, round by round; node 2 misses the round `silent`.
fn ring(served: &[f64], queued: &[i64], silent: Option<usize>) -> RingSide {
    let node = |address: &str, silent: Option<usize>| NodeSeries {
        address: address.to_owned(),
        datacenter: "dc1".to_owned(),
        baseline_ms: None,
        seconds: (served.iter().zip(queued))
            .enumerate()
            .map(|(i, (&served, &queued))| NodeSecond {
                at_s: i as f64,
                answered: silent != Some(i),
                pools: [(
                    CLIENT_REQUESTS.to_owned(),
                    PoolSecond {
                        pending: queued,
                        completed_per_s: served / 2.0,
                        ..PoolSecond::default()
                    },
                )]
                .into(),
                ..NodeSecond::default()
            })
            .collect(),
    };
    RingSide {
        how: "sampled".to_owned(),
        nodes: vec![node("127.0.0.1", None), node("127.0.0.2", silent)],
        ..RingSide::default()
    }
}

fn with_ring(ring: Option<RingSide>) -> RunReport {
    RunReport {
        ring,
        ..crate::stats::merge::tests::report_of(&[1000])
    }
}

#[test]
fn the_rings_own_numbers_are_compared_round_by_round_and_a_silent_round_is_left_out() {
    let steady: Vec<f64> = (0..30).map(|i| 1000.0 + f64::from(i % 3)).collect();
    let a = ring(&steady, &[0; 30], None);
    // B served a third less and queued work; in round 5 one node did not answer.
    let fewer: Vec<f64> = steady.iter().map(|s| s * 2.0 / 3.0).collect();
    let b = ring(&fewer, &[6; 30], Some(5));
    assert_eq!(
        b.per_round(NodeSecond::queued).len(),
        29,
        "the silent round is left out"
    );
    let rows = ring_rows(&with_ring(Some(a)), &with_ring(Some(b))).unwrap();
    let row = |metric: &str| rows.iter().find(|c| c.metric == metric).unwrap();
    let served = row("ring: requests served/s");
    assert!((served.a.unwrap() - 1001.0).abs() < 1e-9, "{served:?}");
    assert!((served.change().unwrap() + 33.3).abs() < 0.1, "{served:?}");
    assert!(served.p_value.unwrap() < 0.05 && !served.gated && !served.higher_is_worse);
    let queued = row("ring: tasks queued");
    assert_eq!((queued.a, queued.b), (Some(0.0), Some(12.0)));
    assert_eq!(row("ring: most tasks queued").b, Some(12.0));
}

#[test]
fn a_side_without_the_ring_says_why_and_adds_no_rows() {
    let sampled = with_ring(Some(ring(&[10.0; 5], &[0; 5], None)));
    let off = with_ring(Some(RingSide::unavailable("--no-ring-view")));
    let why = ring_rows(&sampled, &off).unwrap_err();
    assert!(
        why.contains("B's ring was not sampled: --no-ring-view"),
        "{why}"
    );
    let why = ring_rows(&with_ring(None), &sampled).unwrap_err();
    assert!(why.contains("A has no ring's side"), "{why}");
}

#[test]
fn a_short_run_that_fell_behind_in_fits_and_starts_fails_on_the_target_a_met() {
    // Ten seconds: A kept 2000/s; B sent in fits and starts (3000, 200, 2500, 100...), 58% of
    // the target in all, its missed visits booked in its last second. Its seconds are too few
    // and too spread for a test; the schedule it did not keep is the rule's.
    let mut rng = SmallRng::seed_from_u64(8);
    let a = run(&steady(&mut rng, 10, 2000), 2000.0);
    let sent = [3000, 200, 2500, 100, 2800, 300, 1900, 150, 2500, 200];
    let mut seconds: Vec<Second> = sent
        .iter()
        .map(|&n| Second {
            ok: (0..n)
                .map(|_| rng.random_range(500_000..2_000_000))
                .collect(),
            ..Second::default()
        })
        .collect();
    seconds[9].missed = 20_000 - sent.iter().sum::<u64>();
    let comparison = compared(&a, &run(&seconds, 2000.0), 5.0);
    let throughput = row(&comparison, "visits/s achieved");
    assert!(
        throughput.rule.is_some() && throughput.is_regression(5.0),
        "{throughput:?}"
    );
    // The visits it never sent are errors too, as counts: one lump at the end is not a burst
    // that would make them look like chance.
    let errors = row(&comparison, "errors %");
    assert_eq!(errors.judgement, Judgement::Worse, "{errors:?}");
}

/// Every operation twice as slow, in runs whose tails belong to stalls (one 800 ms stall a run,
/// at a different second): the mean and the tails are the stalls', too noisy to tell; the median
/// of the seconds moves with every operation, and the gate fails on it.
#[test]
fn every_operation_twice_as_slow_fails_the_gate_on_the_median_whatever_the_stalls() {
    let mut rng = SmallRng::seed_from_u64(11);
    let stalled = |rng: &mut SmallRng, at: usize, factor: u64| {
        let mut seconds = steady(rng, 60, 500);
        for second in &mut seconds {
            second.ok.iter_mut().for_each(|l| *l *= factor);
        }
        seconds[at].ok.iter_mut().for_each(|l| *l += 800_000_000);
        seconds
    };
    let a = run(&stalled(&mut rng, 10, 1), 500.0);
    let b = run(&stalled(&mut rng, 40, 2), 500.0);
    let comparison = compared(&a, &b, 5.0);
    let median = row(&comparison, "p50");
    assert!(median.gated && median.is_regression(5.0), "{median:?}");
    assert!(
        comparison
            .failures()
            .iter()
            .any(|f| f.contains("p50 latency")),
        "{:?}",
        comparison.failures()
    );
}

/// The gate fails on a change it is sure exceeds the threshold, not on one merely significant:
/// worse by 6% with an interval from +1% to +11% passes `--fail-if-slower 5%`; from +6% to +12%
/// fails; a rule broken (a stall) fails on the change itself.
#[test]
fn the_gate_fails_only_when_the_whole_interval_of_the_change_lies_beyond_the_threshold() {
    let worse = |interval: (f64, f64)| Row {
        judgement: Judgement::Worse,
        change_interval: Some(interval),
        ..Row::new("p50 latency ms", Some(1.0), Some(1.06), true).gated()
    };
    assert!(!worse((1.0, 11.0)).is_regression(5.0));
    assert!(worse((5.5, 12.0)).is_regression(5.0));
    let stalled = Row {
        rule: Some("B stalled".to_owned()),
        ..worse((-3.0, 40.0))
    };
    assert!(stalled.is_regression(5.0));
    // Lower is worse for throughput: the interval must lie below -5%.
    let slower = |interval: (f64, f64)| Row {
        judgement: Judgement::Worse,
        change_interval: Some(interval),
        ..Row::new("visits/s achieved", Some(100.0), Some(90.0), false).gated()
    };
    assert!(!slower((-15.0, -2.0)).is_regression(5.0));
    assert!(slower((-15.0, -6.0)).is_regression(5.0));
}

/// A calibrated interval was widened for runs as long as the calibration's windows: "cannot
/// tell" does not promise that longer runs would tell, as it does for an interval that narrows
/// with the square root of the run's length.
#[test]
fn a_calibrated_row_that_cannot_tell_promises_no_run_length() {
    let mut row = Row {
        change_interval: Some((-10.0, 20.0)),
        p_value: Some(0.5),
        p_adjusted: Some(0.5),
        seconds: 60.0,
        ..Row::new("p50 latency ms", Some(1.0), Some(1.05), true).gated()
    };
    row.judge(5.0);
    let Judgement::CannotTell(why) = &row.judgement else {
        panic!("cannot tell: {:?}", row.judgement);
    };
    assert!(why.contains("would take runs of about"), "{why}");
    row.calibrated = true;
    row.judge(5.0);
    let Judgement::CannotTell(why) = &row.judgement else {
        panic!("cannot tell: {:?}", row.judgement);
    };
    assert!(
        !why.contains("would take runs") && why.contains("calibration"),
        "{why}"
    );
}
