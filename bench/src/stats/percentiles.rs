//! Figures read off a latency histogram: the headline percentiles, and the latency-by-percentile
//! curve that HdrHistogram plots draw (x = 1 / (1 - percentile), so each "nine" gets equal room).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::limits::{LATENCY_SIGNIFICANT_DIGITS, LATENCY_US_MAX};

/// Decades of the curve: 0 % to 99.99 %.
const CURVE_DECADES: usize = 4;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("the bounds are valid constants")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Requests whose latency was recorded (every request that got an HTTP answer).
    pub count: u64,
    pub latency_us_mean: f64,
    pub latency_us_p50: u64,
    pub latency_us_p90: u64,
    pub latency_us_p99: u64,
    pub latency_us_p999: u64,
    pub latency_us_max: u64,
}

pub fn summarize(histogram: &Histogram<u64>) -> LatencySummary {
    if histogram.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: histogram.len(),
        latency_us_mean: histogram.mean(),
        latency_us_p50: histogram.value_at_quantile(0.50),
        latency_us_p90: histogram.value_at_quantile(0.90),
        latency_us_p99: histogram.value_at_quantile(0.99),
        latency_us_p999: histogram.value_at_quantile(0.999),
        latency_us_max: histogram.max(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentilePoint {
    pub percentile: f64,
    pub latency_us: u64,
}

/// Latency at percentiles spaced evenly on the log scale of 1 / (1 - p), from 0 % to 99.99 %,
/// `points_per_decade` points per "nine". Empty for an empty histogram.
pub fn percentile_curve(
    histogram: &Histogram<u64>,
    points_per_decade: usize,
) -> Vec<PercentilePoint> {
    if histogram.is_empty() || points_per_decade == 0 {
        return Vec::new();
    }
    let points = CURVE_DECADES * points_per_decade;
    (0..=points)
        .map(|index| {
            let decades = index as f64 / points_per_decade as f64;
            let quantile = 1.0 - 10f64.powf(-decades);
            PercentilePoint {
                percentile: quantile * 100.0,
                latency_us: histogram.value_at_quantile(quantile),
            }
        })
        .collect()
}

/// Position of a percentile on the curve's x axis: 1 / (1 - p), so 90 % is 10 and 99.99 % is 10^4.
pub fn percentile_axis_position(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(1e-9);
    1.0 / rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform_1_to_1000() -> Histogram<u64> {
        let mut histogram = new_histogram();
        for value in 1..=1000 {
            histogram.record(value).unwrap();
        }
        histogram
    }

    #[test]
    fn summary_of_a_uniform_distribution() {
        let summary = summarize(&uniform_1_to_1000());
        assert_eq!(summary.count, 1000);
        assert_eq!(summary.latency_us_p50, 500);
        assert_eq!(summary.latency_us_p90, 900);
        assert_eq!(summary.latency_us_p99, 990);
        assert_eq!(summary.latency_us_p999, 999);
        assert_eq!(summary.latency_us_max, 1000);
        assert!((summary.latency_us_mean - 500.5).abs() < 0.5);
    }

    #[test]
    fn empty_histogram_gives_zeros_and_no_curve() {
        let histogram = new_histogram();
        assert_eq!(summarize(&histogram), LatencySummary::default());
        assert!(percentile_curve(&histogram, 10).is_empty());
    }

    #[test]
    fn curve_spans_zero_to_four_nines_and_never_falls() {
        let curve = percentile_curve(&uniform_1_to_1000(), 5);
        assert_eq!(curve.len(), 21);
        assert_eq!(curve[0].percentile, 0.0);
        assert!((curve[20].percentile - 99.99).abs() < 1e-9);
        assert!(curve.windows(2).all(|pair| pair[0].latency_us <= pair[1].latency_us));
        assert!(curve.windows(2).all(|pair| pair[0].percentile < pair[1].percentile));
        assert_eq!(curve[5].latency_us, 900, "one decade in is the 90th percentile");
    }

    #[test]
    fn axis_positions_are_one_over_the_rest() {
        assert_eq!(percentile_axis_position(0.0), 1.0);
        assert!((percentile_axis_position(90.0) - 10.0).abs() < 1e-9);
        assert!((percentile_axis_position(99.9) - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn values_beyond_the_top_saturate() {
        let mut histogram = new_histogram();
        histogram.saturating_record(LATENCY_US_MAX * 10);
        assert!(summarize(&histogram).latency_us_max >= LATENCY_US_MAX);
    }
}
