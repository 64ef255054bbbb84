//! The tests of `plots`.

use super::*;
use loadgen::record::{Counts, Percentiles, new_histogram};

#[test]
fn percentile_labels_count_the_nines() {
    assert_eq!(percentile_label(1.0), "p90");
    assert_eq!(percentile_label(3.0), "p99.9");
    assert_eq!(percentile_label(nines(0.5)), "p50");
}

#[test]
fn every_plot_is_an_svg_with_its_lines() {
    let mut histogram = new_histogram();
    for micros in 1..=10_000u64 {
        histogram.record(micros * 1_000).unwrap();
    }
    let curves = percentile_curves("latency", &[("factory-1000".into(), histogram)]).unwrap();
    assert!(
        curves.starts_with("<svg")
            && curves.contains("<polyline")
            && curves.contains("factory-1000")
    );

    let interval = |at: f64| IntervalSummary {
        at,
        seconds: 1.0,
        counts: Counts {
            ops: 1000,
            ..Counts::default()
        },
        response_us: Percentiles {
            p99: 2_000.0,
            ..Percentiles::default()
        },
        all_us: Percentiles {
            count: 1000,
            p99: 2_000.0,
            ..Percentiles::default()
        },
        oldest_outstanding_us: 1_500.0,
        in_flight: 3,
        rss_bytes: 0,
        errors: Default::default(),
    };
    let time = over_time(
        "factory-1000 over time",
        "visit",
        &[interval(1.0), interval(2.0), interval(3.0)],
    )
    .unwrap();
    assert!(
        time.contains("visits/s")
            && time.contains("p99 latency (ms)")
            && time.contains("oldest out (ms)"),
        "every series is labelled"
    );
    assert!(
        time.matches("<polyline").count() >= 6,
        "three lines and three legend marks, besides the grid"
    );

    let bars = rates(
        "rates",
        "visit",
        &[
            ("factory-1000".into(), Some(1000.0), 999.0),
            ("factory-max".into(), None, 9000.0),
        ],
    )
    .unwrap();
    assert!(bars.contains("<rect") && bars.contains("factory-max"));
}

/// Every scenario gets its bar, the last one and a lone one too: each filled (achieved) bar
/// and each outlined (target) bar has a width (a lone scenario's bar once had none).
#[test]
fn every_scenario_of_the_rate_ladder_gets_its_bar_alone_or_last() {
    for n in 1..=3usize {
        let points: Vec<(String, Option<f64>, f64)> = (0..n)
            .map(|i| (format!("s{i}"), Some(1000.0), 900.0 + i as f64))
            .collect();
        let svg = rates("rates", "visit", &points).unwrap();
        let widths: Vec<u32> = svg
            .split("<rect")
            .skip(1)
            .filter(|r| r.contains("fill=\"#0000FF\""))
            .filter_map(|r| r.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        // The bars, then the legend's swatch (14 wide).
        assert_eq!(widths.len(), n + 1, "{n} scenario(s): {widths:?}");
        assert!(
            widths[..n].iter().all(|&w| w > 10),
            "{n} scenario(s): bar widths {widths:?}"
        );
    }
}
