//! Tail quantiles of a run (p99, p99.9) and how sure one can be of them: a block bootstrap over
//! whole seconds of the run's HDR interval log.
//!
//! Operations within a second are not independent: they share its pauses, its compactions, the
//! backlog a stall left behind. An interval that counts every operation as independent is far
//! too narrow (on pairs of unchanged runs, intervals that should miss each other one time in 170
//! missed each other one time in six). So the unit of resampling is the second, and seconds come
//! in blocks of consecutive ones (a pause spills into the next seconds): a replicate run is
//! made of blocks drawn at random, with replacement, from the run's own seconds (circularly, so the
//! first and last seconds are drawn as often as the others), as many seconds long as the run;
//! its quantile is read from the sum of their histograms. The spread of the replicates' quantiles
//! is how much the run's quantile could have moved had the run been another of its kind: a run
//! with one 100 ms pause in twenty seconds gets an interval reaching from the quantile without
//! the pause to beyond the one with it.
//!
//! Only the tail is resampled in detail: each second keeps the operations above a cut (the
//! run's p90, for quantiles of p99 and above) value by value, and a count of the rest, so a
//! replicate costs the tail's size, not the whole histogram's.

use hdrhistogram::Histogram;
use std::borrow::Borrow;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Replicate runs drawn per run: enough for a p-value of 1/1000 and a 95% interval whose ends
/// move by a few tenths of a percent from one seed to another.
pub const REPLICATES: usize = 2_000;

/// Fewer seconds than this, and a bootstrap over seconds has too few to draw from.
pub const MIN_SECONDS: usize = 10;

/// Fewer seconds than this, and a tail (p99 and beyond) cannot be judged: its operations come
/// from the few seconds that held a stall, and a bootstrap cannot draw the stalls a short run
/// did not happen to hold. Measured (docs/comparing.md): on A/A pairs of one unchanged process,
/// tails judged on 20 s windows failed the gate on 9 pairs in 103, on 30 s windows on 1 in 69.
pub const MIN_TAIL_SECONDS: usize = 30;

/// The seconds of log quantile `q` needs: [`MIN_TAIL_SECONDS`] for tails, [`MIN_SECONDS`] below.
pub fn min_seconds(q: f64) -> usize {
    if q >= 0.99 {
        MIN_TAIL_SECONDS
    } else {
        MIN_SECONDS
    }
}

/// Fewer operations than this beyond a quantile, and nothing can be said of it.
pub const MIN_BEYOND: f64 = 10.0;

/// The seed of every bootstrap: the same reports always give the same answer.
const SEED: u64 = 0x5EED_0F7A_11ED;

/// One run's seconds, ready to be resampled.
#[derive(Debug, Clone)]
pub struct Seconds {
    /// Values above the cut (nanoseconds, each the highest of its histogram bucket), ascending.
    values: Vec<u64>,
    /// Every second's operations above the cut, `(index into values, count)`, one second after
    /// another; `spans[i]` is second `i`'s part.
    tail: Vec<(u32, u64)>,
    spans: Vec<(usize, usize)>,
    /// Every second's operations at or below the cut.
    below: Vec<u64>,
    /// The cut, nanoseconds.
    cut: u64,
    /// Operations in the run.
    total: u64,
    /// The whole run's histogram.
    whole: Histogram<u64>,
}

impl Seconds {
    /// The seconds of a run (one histogram each, nanoseconds), kept in detail above the run's
    /// quantile `1 - 10 (1 - lowest)`: p90 for a lowest quantile of p99.
    ///
    /// The histograms are borrowed, never copied: a log of an hour holds 3600 of 270 KB each.
    pub fn new<H: Borrow<Histogram<u64>>>(seconds: &[H], lowest: f64) -> Seconds {
        let mut whole = loadgen::record::new_histogram();
        for second in seconds.iter().map(Borrow::borrow) {
            loadgen::record::add_into(&mut whole, second);
        }
        let cut_quantile = (1.0 - 10.0 * (1.0 - lowest)).clamp(0.0, 1.0);
        let cut = if whole.is_empty() || cut_quantile == 0.0 {
            0
        } else {
            whole.value_at_quantile(cut_quantile)
        };
        let mut values: Vec<u64> = Vec::new();
        for second in seconds.iter().map(Borrow::borrow) {
            values.extend(
                second
                    .iter_recorded()
                    .map(|v| v.value_iterated_to())
                    .filter(|&v| v > cut),
            );
        }
        values.sort_unstable();
        values.dedup();
        let mut tail = Vec::new();
        let mut spans = Vec::with_capacity(seconds.len());
        let mut below = Vec::with_capacity(seconds.len());
        for second in seconds.iter().map(Borrow::borrow) {
            let start = tail.len();
            let mut at_or_below = 0;
            for v in second.iter_recorded() {
                let (value, count) = (v.value_iterated_to(), v.count_at_value());
                match values.binary_search(&value) {
                    Ok(index) if value > cut => tail.push((index as u32, count)),
                    _ => at_or_below += count,
                }
            }
            spans.push((start, tail.len()));
            below.push(at_or_below);
        }
        Seconds {
            values,
            tail,
            spans,
            below,
            cut,
            total: whole.len(),
            whole,
        }
    }

    /// How many seconds the run has.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the run has no seconds.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Operations in the run.
    pub fn operations(&self) -> u64 {
        self.total
    }

    /// The whole run's quantile, nanoseconds (0 for an empty run).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.whole.is_empty() {
            0
        } else {
            self.whole.value_at_quantile(q)
        }
    }

    /// The block length for a run of `n` seconds: about its cube root, the classic rate for a
    /// block bootstrap of a variance, and at least 2 seconds, since a pause spills into the next.
    pub fn block_length(n: usize) -> usize {
        ((n as f64).cbrt().round() as usize).clamp(2, n.max(2))
    }

    /// `replicates` replicate runs' quantiles `qs` (nanoseconds): `result[k][r]` is replicate
    /// `r`'s quantile `qs[k]`.
    pub fn bootstrap(&self, qs: &[f64], replicates: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut out = vec![Vec::with_capacity(replicates); qs.len()];
        let n = self.len();
        if n == 0 {
            return out;
        }
        let block = Seconds::block_length(n).min(n);
        let mut rng = SmallRng::seed_from_u64(SEED ^ seed);
        let mut counts = vec![0u64; self.values.len()];
        for _ in 0..replicates {
            counts.iter_mut().for_each(|c| *c = 0);
            let mut below = 0u64;
            let mut drawn = 0;
            while drawn < n {
                let start = rng.random_range(0..n);
                for offset in 0..block.min(n - drawn) {
                    let second = (start + offset) % n;
                    below += self.below[second];
                    let (from, to) = self.spans[second];
                    for &(index, count) in &self.tail[from..to] {
                        counts[index as usize] += count;
                    }
                }
                drawn += block;
            }
            let total = below + counts.iter().sum::<u64>();
            for (k, &q) in qs.iter().enumerate() {
                out[k].push(self.quantile_of(&counts, below, total, q) as f64);
            }
        }
        out
    }

    /// The quantile `q` of a replicate: `below` operations at or below the cut, `counts` above.
    fn quantile_of(&self, counts: &[u64], below: u64, total: u64, q: f64) -> u64 {
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64 - 1e-9).ceil() as u64).clamp(1, total);
        if rank <= below {
            // The quantile fell below the cut: at most the cut, and the cut stands for it.
            return self.cut;
        }
        let mut seen = below;
        for (index, &count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return self.values[index];
            }
        }
        self.values.last().copied().unwrap_or(self.cut)
    }
}

/// Why a tail cannot be judged, or its test.
#[derive(Debug, Clone, PartialEq)]
pub enum TailJudgement {
    /// Too little to go on: why, and how long a run would need.
    TooShort(String),
    /// The test.
    Tested(TailTest),
}

/// A tail quantile of two runs, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct TailTest {
    /// The 95% interval of A's quantile, nanoseconds.
    pub interval_a: (f64, f64),
    /// The 95% interval of B's quantile, nanoseconds.
    pub interval_b: (f64, f64),
    /// The 95% interval of B's quantile over A's.
    pub ratio_interval: (f64, f64),
    /// The two-sided p-value of "B's quantile is A's".
    pub p: f64,
}

/// The 2.5% and 97.5% points of `values`.
pub fn percentile_interval(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |p: f64| {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let index = (p * (sorted.len() - 1) as f64).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    };
    (at(0.025), at(0.975))
}

/// Whether a run has enough to judge quantile `q`; if not, why, and the length that would do.
pub fn enough(run: &Seconds, q: f64, which: &str) -> Result<(), String> {
    let beyond = run.operations() as f64 * (1.0 - q);
    let per_second = run.operations() as f64 / run.len().max(1) as f64;
    let least = min_seconds(q);
    if run.len() < least {
        let what = if q >= 0.99 { "a tail" } else { "a quantile" };
        return Err(format!(
            "{which} has {} s of interval log, and {what} needs at least {least}",
            run.len()
        ));
    }
    if beyond < MIN_BEYOND {
        let needed = MIN_BEYOND / (1.0 - q) / per_second.max(f64::MIN_POSITIVE);
        return Err(format!(
            "{which} has {beyond:.0} operations beyond it; {MIN_BEYOND:.0} need a run of about {}",
            seconds_to_text(needed)
        ));
    }
    Ok(())
}

/// `95 s`, `12 min`, `3.4 h`.
pub fn seconds_to_text(seconds: f64) -> String {
    if !seconds.is_finite() {
        "forever".to_owned()
    } else if seconds < 120.0 {
        format!("{:.0} s", seconds.ceil())
    } else if seconds < 7200.0 {
        format!("{:.0} min", (seconds / 60.0).ceil())
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// Compares quantiles `qs` of two runs, each resampled [`REPLICATES`] times; a replicate of A is
/// set against a replicate of B to give one replicate of B over A.
pub fn compare_tails(a: &Seconds, b: &Seconds, qs: &[f64]) -> Vec<TailJudgement> {
    compare_tails_with(a, b, qs, REPLICATES)
}

/// [`compare_tails`] with `replicates` replicate runs a side (the fuzz targets take few: the
/// logic is the same, and a fuzzer wants many inputs a second).
pub fn compare_tails_with(
    a: &Seconds,
    b: &Seconds,
    qs: &[f64],
    replicates: usize,
) -> Vec<TailJudgement> {
    compare_tails_widened(a, b, qs, replicates, &vec![1.0; qs.len()])
}

/// `replicates` resampled around `estimate` spread `factor` times as far, on a log scale: a
/// replicate at twice the estimate, widened 1.5 times, lands at 2^1.5 times it.
pub fn widen(replicates: &[f64], estimate: f64, factor: f64) -> Vec<f64> {
    if factor == 1.0 || estimate <= 0.0 {
        return replicates.to_vec();
    }
    (replicates.iter())
        .map(|&x| estimate * (x.max(1.0) / estimate).powf(factor))
        .collect()
}

/// [`compare_tails_with`] with each quantile's replicates spread `widen[k]` times as far about
/// the run's own quantile, on a log scale (1: as resampled). A calibration (`bench calibrate`)
/// measures how far: a run's seconds cannot show the stalls it did not hold, so its interval is
/// narrower than the spread between runs.
pub fn compare_tails_widened(
    a: &Seconds,
    b: &Seconds,
    qs: &[f64],
    replicates: usize,
    factors: &[f64],
) -> Vec<TailJudgement> {
    let (mut ra, mut rb) = (
        a.bootstrap(qs, replicates, 1),
        b.bootstrap(qs, replicates, 2),
    );
    for (k, &q) in qs.iter().enumerate() {
        let factor = factors.get(k).copied().unwrap_or(1.0);
        ra[k] = widen(&ra[k], a.quantile(q) as f64, factor);
        rb[k] = widen(&rb[k], b.quantile(q) as f64, factor);
    }
    qs.iter()
        .enumerate()
        .map(|(k, &q)| {
            if let Err(why) = enough(a, q, "A").and_then(|()| enough(b, q, "B")) {
                return TailJudgement::TooShort(why);
            }
            let ratios: Vec<f64> = ra[k]
                .iter()
                .zip(&rb[k])
                .map(|(x, y)| y / x.max(1.0))
                .collect();
            let lower = ratios.iter().filter(|&&r| r <= 1.0).count();
            let upper = ratios.iter().filter(|&&r| r >= 1.0).count();
            let tail = (lower.min(upper) + 1) as f64 / (ratios.len() + 1) as f64;
            TailJudgement::Tested(TailTest {
                interval_a: percentile_interval(&ra[k]),
                interval_b: percentile_interval(&rb[k]),
                ratio_interval: percentile_interval(&ratios),
                p: (2.0 * tail).min(1.0),
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "tails_tests.rs"]
mod tests;
