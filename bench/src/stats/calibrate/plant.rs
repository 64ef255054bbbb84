//! Regressions planted into a window of a real run, so that a calibration can count the gate's
//! hits as well as its false alarms: every operation slower by a share (`slower=10%`), or a
//! pause of the only node in the middle of the window (`pause=2s`: the operations due during it
//! wait for its end).
//!
//! The window's interval log is changed second by second, and its report rebuilt from it (the
//! headline histogram, the per-second latency), so that `compare` reads the planted run exactly
//! as it would read a real one.

use std::str::FromStr;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::stats::windows::Window;
use loadgen::record::{ALL, Percentiles, new_histogram};
use loadgen::report::RunReport;

/// A regression to plant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plant {
    /// Every operation slower by this share (0.1: 10%).
    Slower(f64),
    /// A pause this long in the middle of the window.
    Pause(Duration),
}

impl FromStr for Plant {
    type Err = String;

    /// `slower=10%` or `pause=2s`.
    fn from_str(text: &str) -> Result<Plant, String> {
        let bad = || format!("'{text}' is not a regression to plant: slower=10% or pause=2s");
        let (kind, amount) = text.split_once('=').ok_or_else(bad)?;
        match kind.trim() {
            "slower" => {
                let percent = crate::stats::compare::parse_percent(amount).map_err(|_| bad())?;
                if percent <= 0.0 {
                    return Err(bad());
                }
                Ok(Plant::Slower(percent / 100.0))
            }
            "pause" => {
                let pause = humantime::parse_duration(amount.trim()).map_err(|_| bad())?;
                if pause.is_zero() {
                    return Err(bad());
                }
                Ok(Plant::Pause(pause))
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Plant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plant::Slower(share) => write!(f, "every operation {:.0}% slower", share * 100.0),
            Plant::Pause(pause) => write!(
                f,
                "a {} pause in the middle",
                humantime::format_duration(*pause)
            ),
        }
    }
}

/// `histogram` with every value changed by `change`, which is given each value and its place
/// among the histogram's values (0 to 1, in order of value: a stand-in for its place in time).
fn remapped(histogram: &Histogram<u64>, change: impl Fn(u64, f64) -> u64) -> Histogram<u64> {
    let mut out = new_histogram();
    let total = histogram.len().max(1) as f64;
    let mut seen = 0u64;
    for value in histogram.iter_recorded() {
        for _ in 0..value.count_at_value() {
            out.saturating_record(change(value.value_iterated_to(), seen as f64 / total));
            seen += 1;
        }
    }
    out
}

/// The window with `plant` planted into it.
pub fn planted(window: &Window, plant: Plant) -> Window {
    let mut window = window.clone();
    let seconds: Vec<usize> = (window.log.intervals.iter().enumerate())
        .filter(|(_, i)| i.is_untagged())
        .map(|(index, _)| index)
        .collect();
    let middle = seconds.len() / 2;
    for (k, &index) in seconds.iter().enumerate() {
        let second = &mut window.log.intervals[index];
        let changed = match plant {
            Plant::Slower(share) => {
                remapped(&second.histogram, |v, _| (v as f64 * (1.0 + share)) as u64)
            }
            Plant::Pause(pause) => {
                // Seconds `middle` onwards, while the pause lasts: an operation due a fraction
                // `at` into its second waits until the pause ends.
                let from = (k as f64) - (middle as f64);
                let pause_s = pause.as_secs_f64();
                if from < 0.0 || from >= pause_s {
                    continue;
                }
                remapped(&second.histogram, |v, at| {
                    let wait = (pause_s - from - at).max(0.0);
                    v + (wait * 1e9) as u64
                })
            }
        };
        second.histogram = changed;
    }
    rebuild(&mut window);
    window
}

/// The window's report made again from its log: the headline histogram and each second's
/// headline latency.
fn rebuild(window: &mut Window) {
    let mut total = new_histogram();
    let untagged: Vec<&Histogram<u64>> = window.log.untagged().map(|i| &i.histogram).collect();
    for second in &untagged {
        loadgen::record::add_into(&mut total, second);
    }
    let report: &mut RunReport = &mut window.report;
    for (interval, second) in report.intervals.iter_mut().zip(&untagged) {
        interval.all_us = Percentiles::of(second);
    }
    report
        .latency_us
        .insert(ALL.to_owned(), Percentiles::of(&total));
    report
        .histograms
        .insert(ALL.to_owned(), RunReport::encode(&total));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plants_are_read_from_their_words() {
        assert_eq!("slower=10%".parse::<Plant>(), Ok(Plant::Slower(0.1)));
        assert_eq!(
            "pause=2s".parse::<Plant>(),
            Ok(Plant::Pause(Duration::from_secs(2)))
        );
        for bad in [
            "slower",
            "slower=0%",
            "pause=0s",
            "faster=10%",
            "pause=soon",
        ] {
            assert!(bad.parse::<Plant>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_slower_histogram_is_slower_by_its_share_and_holds_as_many() {
        let mut h = new_histogram();
        h.record_n(1_000_000, 100).unwrap();
        let slower = remapped(&h, |v, _| (v as f64 * 1.1) as u64);
        assert_eq!(slower.len(), 100);
        assert!(slower.equivalent(slower.value_at_quantile(0.5), 1_100_000));
    }
}
