//! The statistics `bench compare` rests on, each small enough to check against a textbook:
//! Welch's t-test, the effective size of an autocorrelated sample, and a confidence interval of a
//! quantile read from an HDR histogram; and what reads reports together: [`compare`] (two side by
//! side) and [`merge`] (several added up).

pub mod compare;
pub mod merge;

use hdrhistogram::Histogram;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The normal quantile of a two-sided 95% interval.
const Z_95: f64 = 1.959_964;

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

/// Welch's t-test of two samples of independent values: the t statistic and the two-sided
/// p-value. `None` with fewer than two samples on a side.
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    welch_with(a, a.len() as f64, b, b.len() as f64)
}

/// Welch's t-test of two autocorrelated samples, each counted as its effective size.
pub fn welch_autocorrelated(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    welch_with(a, effective_size(a), b, effective_size(b))
}

/// Welch's test with the samples counted as `na` and `nb` independent values.
fn welch_with(a: &[f64], na: f64, b: &[f64], nb: f64) -> Option<(f64, f64)> {
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
    if va + vb == 0.0 {
        return Some(if ma == mb {
            (0.0, 1.0)
        } else {
            (f64::INFINITY.copysign(mb - ma), 0.0)
        });
    }
    let t = (mb - ma) / (va + vb).sqrt();
    let df =
        (va + vb).powi(2) / (va.powi(2) / (na - 1.0).max(1.0) + vb.powi(2) / (nb - 1.0).max(1.0));
    let p = StudentsT::new(0.0, 1.0, df)
        .map(|dist| 2.0 * (1.0 - dist.cdf(t.abs())))
        .unwrap_or(1.0);
    Some((t, p))
}

/// A 95% confidence interval of the `quantile` of `histogram` (nanoseconds), in milliseconds,
/// from the ranks of its order statistics, with the count taken as `share` of the values (the
/// effective share, for autocorrelated values). `None` for an empty histogram.
pub fn quantile_interval(
    histogram: &Histogram<u64>,
    quantile: f64,
    share: f64,
) -> Option<(f64, f64)> {
    if histogram.is_empty() {
        return None;
    }
    let n = (histogram.len() as f64 * share.clamp(0.0, 1.0)).max(1.0);
    let half = Z_95 * (quantile * (1.0 - quantile) / n).sqrt();
    let at = |q: f64| histogram.value_at_quantile(q.clamp(0.0, 1.0)) as f64 / 1e6;
    Some((at(quantile - half), at(quantile + half)))
}
