//! Rare events compared by their counts: the operations that failed, were missed or abandoned,
//! out of those due. A share per second would hide a burst (a one-second outage is one odd second
//! among sixty, and a t-test on sixty shares calls it noise); counts do not.
//!
//! Given the total `N = x_a + x_b` of events, B's count is binomial with the chance `n_b / (n_a +
//! n_b)` of an event landing in B if both runs had the same rate (the conditional test of two
//! Poisson rates). Events of a real run come in bursts (a pause fails a whole second's
//! operations), more spread than Poisson: the baseline's own *dispersion* (the variance of its
//! per-second counts over what Poisson would give, at least 1) scales the counts down before the
//! test, so a baseline that itself fails in bursts makes B's bursts less surprising. It is the
//! baseline's and not both runs' together, so that B's burst cannot hide itself.

use statrs::function::beta::checked_beta_reg;

/// The normal quantile of a two-sided 95% interval.
const Z_95: f64 = 1.959_964;

/// One second's events and operations due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondCount {
    /// Events (failed, missed, abandoned operations).
    pub events: u64,
    /// Operations due.
    pub due: u64,
}

/// Two runs' event rates, tested.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateTest {
    /// A's events and operations due.
    pub a: (u64, u64),
    /// B's events and operations due.
    pub b: (u64, u64),
    /// The dispersion the counts were scaled by (1: Poisson).
    pub dispersion: f64,
    /// The two-sided p-value of "the rates are equal".
    pub p: f64,
    /// A 95% interval of B's rate over A's, when both had events.
    pub ratio_interval: Option<(f64, f64)>,
}

impl RateTest {
    /// A's share of operations with an event, 0 to 1.
    pub fn share_a(&self) -> f64 {
        share(self.a)
    }

    /// B's share of operations with an event, 0 to 1.
    pub fn share_b(&self) -> f64 {
        share(self.b)
    }
}

fn share((events, due): (u64, u64)) -> f64 {
    if due == 0 {
        0.0
    } else {
        events as f64 / due as f64
    }
}

/// The dispersion of per-second counts: Pearson's chi-square over its degrees of freedom under
/// one constant rate, at least 1 (1 when there were no events, or fewer than two seconds).
pub fn dispersion(seconds: &[SecondCount]) -> f64 {
    let (events, due) = seconds
        .iter()
        .fold((0u64, 0u64), |(e, d), s| (e + s.events, d + s.due));
    let used: Vec<&SecondCount> = seconds.iter().filter(|s| s.due > 0).collect();
    if events == 0 || due == 0 || used.len() < 2 {
        return 1.0;
    }
    let rate = events as f64 / due as f64;
    let chi_square: f64 = used
        .iter()
        .map(|s| {
            let expected = s.due as f64 * rate;
            (s.events as f64 - expected).powi(2) / expected
        })
        .sum();
    (chi_square / (used.len() - 1) as f64).max(1.0)
}

/// Tests whether B's events per operation due differ from A's, A's per-second counts setting the
/// dispersion.
pub fn compare_rates(a: &[SecondCount], b: &[SecondCount]) -> RateTest {
    compare_totals(total(a), total(b), dispersion(a))
}

/// A run's events and operations due, added up over its seconds.
pub fn total(seconds: &[SecondCount]) -> (u64, u64) {
    seconds
        .iter()
        .fold((0u64, 0u64), |(e, d), s| (e + s.events, d + s.due))
}

/// Tests whether B's events per operation due (`tb`: events, due) differ from A's, the counts
/// scaled by dispersion `phi` (at least 1).
pub fn compare_totals(ta: (u64, u64), tb: (u64, u64), phi: f64) -> RateTest {
    let phi = phi.max(1.0);
    RateTest {
        a: ta,
        b: tb,
        dispersion: phi,
        p: conditional_p(ta, tb, phi),
        ratio_interval: (ta.0 > 0 && tb.0 > 0 && ta.1 > 0 && tb.1 > 0).then(|| {
            let ratio = share(tb) / share(ta);
            let half = Z_95 * (phi * (1.0 / ta.0 as f64 + 1.0 / tb.0 as f64)).sqrt();
            (ratio * (-half).exp(), ratio * half.exp())
        }),
    }
}

/// The two-sided p-value of B's count given the total, binomial with B's share of the operations,
/// every count divided by `phi`.
fn conditional_p((xa, na): (u64, u64), (xb, nb): (u64, u64), phi: f64) -> f64 {
    if na == 0 || nb == 0 || xa + xb == 0 {
        return 1.0;
    }
    let chance = nb as f64 / (na + nb) as f64;
    let (n, x) = ((xa + xb) as f64 / phi, xb as f64 / phi);
    // P(X >= x) = I_chance(x, n - x + 1) and P(X <= x) = 1 - I_chance(x + 1, n - x), both
    // continuous in x and n, so counts scaled by the dispersion need no rounding.
    let at_least = if x <= 0.0 {
        1.0
    } else {
        checked_beta_reg(x, n - x + 1.0, chance).unwrap_or(1.0)
    };
    let at_most = if x >= n {
        1.0
    } else {
        1.0 - checked_beta_reg(x + 1.0, n - x, chance).unwrap_or(0.0)
    };
    (2.0 * at_least.min(at_most)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(events: u64, due: u64, seconds: usize) -> Vec<SecondCount> {
        vec![SecondCount { events, due }; seconds]
    }

    #[test]
    fn the_exact_binomial_test_matches_a_textbook_case() {
        // Six events, all in B, with equal exposure: scipy.stats.binomtest(6, 6, 0.5) gives
        // p = 0.03125.
        let p = conditional_p((0, 1000), (6, 1000), 1.0);
        assert!((p - 0.03125).abs() < 1e-9, "p = {p}");
        // One event in B is no evidence at all.
        assert!((conditional_p((0, 1000), (1, 1000), 1.0) - 1.0).abs() < 1e-9);
        // Equal counts, equal exposure: p = 1.
        assert!((conditional_p((5, 1000), (5, 1000), 1.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_one_second_outage_in_b_is_significant_against_a_clean_baseline() {
        let a = steady(0, 1000, 60);
        let mut b = steady(0, 1000, 60);
        b[30].events = 1000;
        let test = compare_rates(&a, &b);
        assert_eq!(test.dispersion, 1.0);
        assert!(test.p < 1e-10, "{test:?}");
        assert!((test.share_b() - 1000.0 / 60_000.0).abs() < 1e-12);
    }

    #[test]
    fn a_baseline_that_fails_in_bursts_makes_a_burst_in_b_unsurprising() {
        // A lost half a second's operations twice in a minute; B once, a full second.
        let mut a = steady(0, 1000, 60);
        a[10].events = 500;
        a[40].events = 500;
        let mut b = steady(0, 1000, 60);
        b[20].events = 1000;
        let test = compare_rates(&a, &b);
        assert!(test.dispersion > 100.0, "{test:?}");
        assert!(test.p > 0.5, "{test:?}");
        let (low, high) = test.ratio_interval.unwrap();
        assert!(low < 1.0 && high > 1.0, "{test:?}");
    }

    #[test]
    fn steady_poisson_like_counts_have_a_dispersion_of_one() {
        let seconds: Vec<SecondCount> = (0..60)
            .map(|i| SecondCount {
                events: [2, 3, 4][i % 3],
                due: 1000,
            })
            .collect();
        assert_eq!(dispersion(&seconds), 1.0);
        assert_eq!(dispersion(&steady(0, 1000, 60)), 1.0);
    }
}
