//! The tests of `compare`.

use hdrhistogram::Histogram;

use super::*;
use crate::stats::welch;
use driver::ring_side::{NodeSeries, PoolSecond};

#[test]
fn welch_matches_a_textbook_case() {
    // Two samples with unequal variances; scipy.stats.ttest_ind(b, a, equal_var=False) gives
    // t = 2.455356, p = 0.021378 for these numbers.
    let a = [
        27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4,
    ];
    let b = [
        27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4,
    ];
    let (t, p) = welch(&a, &b).unwrap();
    assert!((t - 2.455356).abs() < 1e-5, "t = {t}");
    assert!((p - 0.021378).abs() < 1e-5, "p = {p}");
}

/// A seeded stream of standard normal values (xorshift and Box-Muller): the tests need no
/// randomness of the machine's.
fn normals(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    move || {
        let (u, v) = (uniform().max(1e-300), uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A minute of per-second means that drift: each second is 0.9 like the one before it, as
/// when a ring compacts or a cache warms over tens of seconds.
fn drifting_minute(normal: &mut impl FnMut() -> f64) -> Vec<f64> {
    let mut x = 0.0;
    (0..60)
        .map(|_| {
            x = 0.9 * x + normal();
            10.0 + x
        })
        .collect()
}

#[test]
fn two_runs_of_one_drifting_process_are_not_called_different() {
    let mut normal = normals(7);
    let trials = 1000;
    let (mut naive, mut corrected) = (0, 0);
    for _ in 0..trials {
        let (a, b) = (drifting_minute(&mut normal), drifting_minute(&mut normal));
        naive += usize::from(welch(&a, &b).is_some_and(|(_, p)| p < ALPHA));
        corrected += usize::from(welch_autocorrelated(&a, &b).is_some_and(|(_, p)| p < ALPHA));
    }
    let (naive, corrected) = (
        naive as f64 / trials as f64,
        corrected as f64 / trials as f64,
    );
    eprintln!("false alarms: naive {naive}, corrected {corrected}");
    // Treating the seconds as independent calls most such pairs different; counted at their
    // effective size, about as often as the level says.
    assert!(naive > 0.3, "naive {naive}");
    assert!(corrected <= 1.5 * ALPHA, "corrected {corrected}");
}

#[test]
fn a_worse_tail_with_the_same_mean_is_a_significant_regression() {
    let (mut a, mut b) = (
        driver::record::new_histogram(),
        driver::record::new_histogram(),
    );
    // A: every visit 2 ms. B: 98% at 1 ms and 2% at 51 ms, the same 2 ms mean.
    a.record_n(2_000_000, 10_000).unwrap();
    b.record_n(1_000_000, 9_800).unwrap();
    b.record_n(51_000_000, 200).unwrap();
    assert!((a.mean() - b.mean()).abs() / a.mean() < 0.01);
    let interval = |h: &Histogram<u64>| quantile_interval(h, 0.99, 0.1).expect("not empty");
    let p99 = |h: &Histogram<u64>| h.value_at_quantile(0.99) as f64 / 1e6;
    let change = Change::tail("p99", p99(&a), p99(&b), Some([interval(&a), interval(&b)]));
    assert!(
        change.is_significant() && change.is_regression(5.0),
        "{change:?}"
    );
    // The same tail in both is no change.
    let same = Change::tail("p99", p99(&b), p99(&b), Some([interval(&b), interval(&b)]));
    assert!(!same.is_significant());
}

#[test]
fn identical_samples_are_not_different() {
    let (t, p) = welch(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
    assert_eq!((t, p), (0.0, 1.0));
    assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
}

#[test]
fn only_significant_slowdowns_beyond_the_threshold_are_regressions() {
    let slower = Change::new("p", 10.0, 11.0, Some(0.001), true);
    assert!(slower.is_regression(5.0));
    assert!(!slower.is_regression(20.0));
    assert!(
        !Change::new("p", 10.0, 11.0, Some(0.3), true).is_regression(5.0),
        "noise is not a regression"
    );
    assert!(
        Change::new("ops", 100.0, 90.0, Some(0.01), false).is_regression(5.0),
        "less throughput is worse"
    );
    assert!(!Change::new("ops", 100.0, 110.0, Some(0.01), false).is_regression(5.0));
    assert_eq!(parse_percent("5%").unwrap(), 5.0);
    assert!(parse_percent("fast").is_err());
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

    let rows = ring_changes(&with_ring(Some(a)), &with_ring(Some(b))).unwrap();
    let row = |metric: &str| rows.iter().find(|c| c.metric == metric).unwrap();
    let served = row("ring: requests served/s");
    assert!((served.a - 1001.0).abs() < 1e-9, "{served:?}");
    assert!((served.percent + 33.3).abs() < 0.1, "{served:?}");
    assert!(served.is_significant() && !served.higher_is_worse);
    assert_eq!(
        (row("ring: tasks queued").a, row("ring: tasks queued").b),
        (0.0, 12.0)
    );
    assert_eq!(row("ring: most tasks queued").b, 12.0);
}

#[test]
fn a_side_without_the_ring_says_why_and_adds_no_rows() {
    let sampled = with_ring(Some(ring(&[10.0; 5], &[0; 5], None)));
    let off = with_ring(Some(RingSide::unavailable("--no-ring-view")));
    let why = ring_changes(&sampled, &off).unwrap_err();
    assert!(
        why.contains("B's ring was not sampled: --no-ring-view"),
        "{why}"
    );
    let why = ring_changes(&with_ring(None), &sampled).unwrap_err();
    assert!(why.contains("A has no ring's side"), "{why}");
}
