//! The tests of the tail bootstrap: seeded simulated runs whose seconds share their pauses.

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::*;
use loadgen::record::new_histogram;

/// A simulated run: `seconds` seconds of `rate` operations each, about 1 ms apiece (0.5 to 2 ms);
/// each second has a `pause_chance` of a pause of 20 to 100 ms, which delays the operations due
/// during it by up to its length. Operations of one second share its pause.
fn run(rng: &mut SmallRng, seconds: usize, rate: u64, pause_chance: f64) -> Vec<Histogram<u64>> {
    (0..seconds)
        .map(|_| {
            let mut second = new_histogram();
            let pause_ns = if rng.random_bool(pause_chance) {
                rng.random_range(20_000_000..100_000_000u64)
            } else {
                0
            };
            let paused = pause_ns * rate / 1_000_000_000;
            for i in 0..rate {
                let service = rng.random_range(500_000..2_000_000u64);
                let delay = if i < paused {
                    pause_ns * (paused - i) / paused.max(1)
                } else {
                    0
                };
                second.saturating_record(service + delay);
            }
            second
        })
        .collect()
}

fn tested(judgement: &TailJudgement) -> &TailTest {
    match judgement {
        TailJudgement::Tested(test) => test,
        TailJudgement::TooShort(why) => panic!("not tested: {why}"),
    }
}

#[test]
fn a_replicate_of_the_run_itself_reads_the_runs_own_quantiles() {
    let mut rng = SmallRng::seed_from_u64(1);
    let seconds = run(&mut rng, 30, 1000, 0.1);
    let series = Seconds::new(&seconds, 0.99);
    // With blocks the length of the run there is one way to draw it: itself, rotated.
    let mut whole = new_histogram();
    seconds.iter().for_each(|s| whole.add(s).unwrap());
    let all = Seconds::new(std::slice::from_ref(&whole), 0.99);
    let replicate = all.bootstrap(&[0.99, 0.999], 3, 9);
    assert_eq!(replicate[0], vec![whole.value_at_quantile(0.99) as f64; 3]);
    assert_eq!(replicate[1], vec![whole.value_at_quantile(0.999) as f64; 3]);
    assert_eq!(series.quantile(0.99), whole.value_at_quantile(0.99));
    assert_eq!(series.operations(), 30_000);
}

#[test]
fn pairs_of_unchanged_runs_whose_seconds_share_pauses_are_seldom_called_different() {
    // Forty pairs of minute-long runs of one process with a pause every 20 s or so. Counting
    // every operation as independent called such tails different in most pairs; whole seconds
    // resampled, about as often as the 5% level says.
    let mut rng = SmallRng::seed_from_u64(7);
    let pairs = 40;
    let mut different = [0, 0];
    for _ in 0..pairs {
        let (a, b) = (
            Seconds::new(&run(&mut rng, 60, 500, 0.05), 0.99),
            Seconds::new(&run(&mut rng, 60, 500, 0.05), 0.99),
        );
        for (k, judgement) in compare_tails(&a, &b, &[0.99, 0.999]).iter().enumerate() {
            different[k] += usize::from(tested(judgement).p < 0.05);
        }
    }
    eprintln!(
        "p99 {} and p99.9 {} of {pairs} pairs called different",
        different[0], different[1]
    );
    assert!(different[0] <= 5 && different[1] <= 5, "{different:?}");
}

#[test]
fn a_tail_that_is_slower_in_every_second_of_b_is_a_significant_rise() {
    let mut rng = SmallRng::seed_from_u64(3);
    let a = run(&mut rng, 60, 500, 0.05);
    // B: the same process, with its slowest tenth of every second 30% slower.
    let b: Vec<Histogram<u64>> = run(&mut rng, 60, 500, 0.05)
        .iter()
        .map(|second| {
            let cut = second.value_at_quantile(0.9);
            let mut slower = new_histogram();
            for v in second.iter_recorded() {
                let value = v.value_iterated_to();
                let value = if value > cut { value * 13 / 10 } else { value };
                slower.record_n(value, v.count_at_value()).unwrap();
            }
            slower
        })
        .collect();
    let judgements = compare_tails(&Seconds::new(&a, 0.99), &Seconds::new(&b, 0.99), &[0.99]);
    let test = tested(&judgements[0]);
    assert!(test.p < 0.01 && test.ratio_interval.0 > 1.1, "{test:?}");
}

#[test]
fn one_pause_in_b_is_one_event_which_resampling_alone_cannot_call_significant() {
    // A two-second pause lands in one run's seconds 30 and 31: a replicate of B drawn from its
    // seconds leaves both out about a quarter of the time, so the interval of B over A reaches
    // from no change to a thousandfold. The stall rule of `compare`, not this test, catches it.
    let mut rng = SmallRng::seed_from_u64(3);
    let a = run(&mut rng, 60, 500, 0.0);
    let mut b = run(&mut rng, 60, 500, 0.0);
    for (s, second) in b[30..32].iter_mut().enumerate() {
        second.reset();
        for i in 0..500u64 {
            second.saturating_record((2 - s as u64) * 1_000_000_000 - i * 2_000_000);
        }
    }
    let judgements = compare_tails(&Seconds::new(&a, 0.99), &Seconds::new(&b, 0.99), &[0.99]);
    let test = tested(&judgements[0]);
    assert!(
        test.p > 0.05 && test.ratio_interval.0 < 1.01 && test.ratio_interval.1 > 100.0,
        "{test:?}"
    );
}

#[test]
fn a_run_too_short_for_its_tail_says_how_long_it_would_need() {
    let mut rng = SmallRng::seed_from_u64(5);
    let (a, b) = (run(&mut rng, 40, 100, 0.0), run(&mut rng, 40, 100, 0.0));
    let judgements = compare_tails(
        &Seconds::new(&a, 0.99),
        &Seconds::new(&b, 0.99),
        &[0.99, 0.999],
    );
    assert!(matches!(judgements[0], TailJudgement::Tested(_)));
    let TailJudgement::TooShort(why) = &judgements[1] else {
        panic!("{judgements:?}");
    };
    // 4000 operations hold 4 beyond the p99.9; 10 need 10,000: 100 s at 100/s.
    assert!(
        why.contains("4 operations beyond it") && why.contains("100 s"),
        "{why}"
    );
    let short = run(&mut rng, 5, 1000, 0.0);
    let TailJudgement::TooShort(why) = &compare_tails(
        &Seconds::new(&short, 0.99),
        &Seconds::new(&a, 0.99),
        &[0.99],
    )[0] else {
        panic!("five seconds are too few");
    };
    assert!(why.contains("A has 5 s"), "{why}");
}

#[test]
fn the_interval_of_a_runs_tail_covers_the_process_tail_about_as_often_as_it_says() {
    // The process's p99: that of a very long run. Then 60 runs of a minute each: how often does
    // each run's 95% interval hold it?
    let mut rng = SmallRng::seed_from_u64(11);
    let long = run(&mut rng, 3000, 200, 0.05);
    let truth = Seconds::new(&long, 0.99).quantile(0.99) as f64;
    let runs = 60;
    let covered = (0..runs)
        .filter(|_| {
            let series = Seconds::new(&run(&mut rng, 60, 200, 0.05), 0.99);
            let (low, high) = percentile_interval(&series.bootstrap(&[0.99], 1000, 4)[0]);
            low <= truth && truth <= high
        })
        .count();
    eprintln!("covered {covered} of {runs}");
    assert!((50..=60).contains(&covered), "covered {covered} of {runs}");
}

#[test]
fn block_lengths_grow_with_the_cube_root_of_the_run() {
    assert_eq!(Seconds::block_length(10), 2);
    assert_eq!(Seconds::block_length(60), 4);
    assert_eq!(Seconds::block_length(1000), 10);
    assert_eq!(seconds_to_text(95.2), "96 s");
    assert_eq!(seconds_to_text(600.0), "10 min");
    assert_eq!(seconds_to_text(9000.0), "2.5 h");
}

/// A calibration's widening spreads both runs' replicates about their own quantiles: three
/// times as wide on a log scale, the change's point where it was.
#[test]
fn widened_intervals_are_wider_about_the_same_point() {
    let mut rng = SmallRng::seed_from_u64(9);
    let a = run(&mut rng, 60, 1000, 0.0);
    let mut b = run(&mut rng, 60, 1000, 0.0);
    for second in &mut b {
        let mut slower = new_histogram();
        for v in second.iter_recorded() {
            slower
                .record_n(v.value_iterated_to() * 5 / 4, v.count_at_value())
                .unwrap();
        }
        *second = slower;
    }
    let (sa, sb) = (Seconds::new(&a, 0.99), Seconds::new(&b, 0.99));
    let plain = tested(&compare_tails_widened(&sa, &sb, &[0.99], 400, &[1.0])[0]).clone();
    let wide = tested(&compare_tails_widened(&sa, &sb, &[0.99], 400, &[3.0])[0]).clone();
    assert!(plain.p < 0.05 && wide.p >= plain.p, "{plain:?} {wide:?}");
    let width = |(low, high): (f64, f64)| (high / low).ln();
    let middle = |(low, high): (f64, f64)| (low * high).sqrt();
    assert!(width(wide.ratio_interval) > 2.5 * width(plain.ratio_interval));
    assert!(width(wide.interval_a) > 2.5 * width(plain.interval_a));
    let (p, w) = (middle(plain.ratio_interval), middle(wide.ratio_interval));
    assert!(
        (w / p - 1.0).abs() < 0.01,
        "the change's point moved: {p} to {w}"
    );
}
