//! The report's charts, built from the results: latency by percentile (HdrHistogram style),
//! throughput over time, the spawned engine's memory and data directory over time, and for
//! `--find-max` the p99 of each step against its rate.

use super::format::count;
use super::svg::{Axis, Chart, Line, Scale, decade_bounds, decade_ticks, linear_ticks, render};
use super::{BenchResult, SideResult};
use crate::stats::SecondSample;
use crate::stats::percentiles::percentile_axis_position;

const ENGINE_COLOR: &str = "#c0392b";
const CEILING_COLOR: &str = "#2471a3";
const PLAIN_AMOUNT_COLOR: &str = "#d68910";
const BOUND_COLOR: &str = "#7f8c8d";
const DATA_COLOR: &str = "#7d3c98";
const TICKS_LINEAR: usize = 6;

/// Each side with its name and color: the engine, its baseline (plain-amount charges for
/// `charge-priced`, charges before the burst for `renewals`) and the ceiling, each if measured.
fn sides(result: &BenchResult) -> Vec<(&'static str, &'static str, &SideResult)> {
    let mut sides = Vec::new();
    match (result.plain_amount.as_ref().zip(result.comparison()), &result.renewals) {
        (Some((plain_amount, comparison)), _) => {
            sides.push((comparison.engine_plot, ENGINE_COLOR, &result.engine));
            sides.push((comparison.baseline_plot, PLAIN_AMOUNT_COLOR, plain_amount));
        }
        (None, Some(renewals)) => {
            sides.push(("charges during the renewal burst", ENGINE_COLOR, &result.engine));
            sides.push(("charges before it (baseline)", PLAIN_AMOUNT_COLOR, &renewals.baseline));
        }
        (None, None) => sides.push(("engine", ENGINE_COLOR, &result.engine)),
    }
    if let Some(ceiling) = &result.ceiling {
        sides.push(("ceiling (plain warp route)", CEILING_COLOR, ceiling));
    }
    sides
}

pub fn latency_by_percentile(result: &BenchResult) -> String {
    let lines: Vec<Line> = sides(result)
        .into_iter()
        .map(|(name, color, side)| Line {
            name: name.to_owned(),
            color,
            points: side
                .stats
                .percentiles
                .iter()
                .map(|point| {
                    (percentile_axis_position(point.percentile), point.latency_us.max(1) as f64)
                })
                .collect(),
        })
        .collect();
    let (low, high) =
        decade_bounds(lines.iter().flat_map(|line| line.points.iter().map(|(_, y)| *y)));
    let percentile_labels = ["0%", "90%", "99%", "99.9%", "99.99%"];
    render(&Chart {
        title: "Latency by percentile".into(),
        x: Axis {
            label: "percentile".into(),
            scale: Scale::Log10,
            min: 1.0,
            max: 10_000.0,
            ticks: percentile_labels
                .iter()
                .enumerate()
                .map(|(power, label)| (10f64.powi(power as i32), (*label).to_owned()))
                .collect(),
        },
        y: Axis {
            label: "latency (log scale)".into(),
            scale: Scale::Log10,
            min: low,
            max: high,
            ticks: decade_ticks(low, high, latency_tick),
        },
        lines,
        bands: Vec::new(),
        band_caption: None,
    })
}

pub fn throughput_over_time(result: &BenchResult) -> String {
    let lines: Vec<Line> = sides(result)
        .into_iter()
        .map(|(name, color, side)| Line {
            name: name.to_owned(),
            color,
            // Each full second at its middle; the partial last one would look like a collapse.
            points: side
                .stats
                .series
                .iter()
                .filter(|sample| !sample.partial)
                .map(|sample| (sample.second as f64 - 0.5, sample.ok as f64))
                .collect(),
        })
        .collect();
    let seconds_max =
        lines.iter().flat_map(|line| line.points.iter().map(|(x, _)| *x + 0.5)).fold(1.0, f64::max);
    // `renewals`' burst window starts at the advance, its baseline (with the warm-up) before it.
    let (x_label, warmup_series) = match &result.renewals {
        Some(renewals) => (
            "second of each window (the burst's from the advance)",
            &renewals.baseline.stats.series,
        ),
        None => ("second of the run", &result.engine.stats.series),
    };
    let ok_max =
        lines.iter().flat_map(|line| line.points.iter().map(|(_, y)| *y)).fold(1.0, f64::max) * 1.1;
    render(&Chart {
        title: "Throughput over time (successful answers per second)".into(),
        x: Axis {
            label: x_label.into(),
            scale: Scale::Linear,
            min: 0.0,
            max: seconds_max,
            ticks: linear_ticks(0.0, seconds_max, TICKS_LINEAR, |value| format!("{value}")),
        },
        y: Axis {
            label: "ok/s".into(),
            scale: Scale::Linear,
            min: 0.0,
            max: ok_max,
            ticks: linear_ticks(0.0, ok_max, TICKS_LINEAR, count),
        },
        lines,
        bands: warmup_bands(warmup_series),
        band_caption: Some("engine warm-up (not measured)".into()),
    })
}

/// The engine's resident memory and the disk its data directory takes, each second of its run:
/// whether memory levels off, and how fast the store grows. `None` when neither was read (an
/// engine this tool did not spawn).
pub fn engine_footprint_over_time(result: &BenchResult) -> Option<String> {
    let series = &result.engine.stats.series;
    let lines = footprint_lines(series);
    if lines.is_empty() {
        return None;
    }
    let seconds_max = series.len().max(1) as f64;
    let gigabytes_max =
        lines.iter().flat_map(|line| line.points.iter().map(|(_, y)| *y)).fold(0.01, f64::max)
            * 1.1;
    Some(render(&Chart {
        title: "The engine's memory and data directory over time".into(),
        x: Axis {
            label: "second of the run".into(),
            scale: Scale::Linear,
            min: 0.0,
            max: seconds_max,
            ticks: linear_ticks(0.0, seconds_max, TICKS_LINEAR, |value| format!("{value}")),
        },
        y: Axis {
            label: "GB".into(),
            scale: Scale::Linear,
            min: 0.0,
            max: gigabytes_max,
            ticks: linear_ticks(0.0, gigabytes_max, TICKS_LINEAR, |value| format!("{value:.2}")),
        },
        lines,
        bands: warmup_bands(series),
        band_caption: Some("engine warm-up (not measured)".into()),
    }))
}

/// The memory and data directory curves, in GB at the middle of each full second, each only
/// where it was read.
fn footprint_lines(series: &[SecondSample]) -> Vec<Line> {
    let curve = |read: fn(&SecondSample) -> Option<u64>| -> Vec<(f64, f64)> {
        let full = series.iter().filter(|sample| !sample.partial);
        full.filter_map(|sample| Some((sample.second as f64 - 0.5, read(sample)? as f64 / 1e9)))
            .collect()
    };
    [
        ("resident memory", ENGINE_COLOR, curve(|sample| sample.engine_rss_bytes)),
        ("data directory", DATA_COLOR, curve(|sample| sample.engine_data_bytes)),
    ]
    .into_iter()
    .filter(|(_, _, points)| !points.is_empty())
    .map(|(name, color, points)| Line { name: name.to_owned(), color, points })
    .collect()
}

/// For find-max runs: each step's p99 against its target rate, with the bound.
pub fn find_max_steps(result: &BenchResult, latency_us_bound: u64) -> Option<String> {
    result.engine.find_max.as_ref()?;
    let mut lines: Vec<Line> = sides(result)
        .into_iter()
        .filter_map(|(name, color, side)| {
            let mut points: Vec<(f64, f64)> = side
                .find_max
                .as_ref()?
                .steps
                .iter()
                .map(|step| (step.rate_per_sec_target, step.latency_us_p99.max(1) as f64))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Some(Line { name: format!("{name}: p99 per step"), color, points })
        })
        .collect();
    let rate_max =
        lines.iter().flat_map(|line| line.points.iter().map(|(x, _)| *x)).fold(1.0, f64::max)
            * 1.05;
    lines.push(Line {
        name: "p99 bound".into(),
        color: BOUND_COLOR,
        points: vec![(0.0, latency_us_bound as f64), (rate_max, latency_us_bound as f64)],
    });
    let (low, high) =
        decade_bounds(lines.iter().flat_map(|line| line.points.iter().map(|(_, y)| *y)));
    Some(render(&Chart {
        title: "Find-max: p99 of each step by its arrival rate".into(),
        x: Axis {
            label: "arrival rate (req/s)".into(),
            scale: Scale::Linear,
            min: 0.0,
            max: rate_max,
            ticks: linear_ticks(0.0, rate_max, TICKS_LINEAR, count),
        },
        y: Axis {
            label: "p99 latency (log scale)".into(),
            scale: Scale::Log10,
            min: low,
            max: high,
            ticks: decade_ticks(low, high, latency_tick),
        },
        lines,
        bands: Vec::new(),
        band_caption: None,
    }))
}

/// A decade tick's label: `100 µs`, `10 ms`, `1 s`.
fn latency_tick(value_us: f64) -> String {
    match value_us {
        value if value >= 1_000_000.0 => format!("{} s", value / 1_000_000.0),
        value if value >= 1_000.0 => format!("{} ms", value / 1_000.0),
        value => format!("{value} µs"),
    }
}

/// Contiguous warm-up seconds as x ranges: second s covers (s - 1, s].
fn warmup_bands(series: &[SecondSample]) -> Vec<(f64, f64)> {
    let mut bands: Vec<(f64, f64)> = Vec::new();
    for sample in series.iter().filter(|sample| sample.warmup) {
        let (start, end) = ((sample.second - 1) as f64, sample.second as f64);
        match bands.last_mut() {
            Some(band) if band.1 == start => band.1 = end,
            _ => bands.push((start, end)),
        }
    }
    bands
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(second: u64, warmup: bool) -> SecondSample {
        SecondSample {
            second,
            warmup,
            partial: false,
            ok: 1,
            errors: 0,
            latency_us_p50: 1,
            latency_us_p99: 1,
            latency_us_max: 1,
            engine_rss_bytes: None,
            engine_data_bytes: None,
        }
    }

    #[test]
    fn decade_ticks_read_as_round_latencies() {
        assert_eq!(latency_tick(100.0), "100 µs");
        assert_eq!(latency_tick(10_000.0), "10 ms");
        assert_eq!(latency_tick(1_000_000.0), "1 s");
    }

    #[test]
    fn the_footprint_curves_are_in_gigabytes_and_only_where_read() {
        let read = |second, rss, partial| SecondSample {
            engine_rss_bytes: Some(rss),
            partial,
            ..sample(second, false)
        };
        let series =
            [read(1, 1_500_000_000, false), read(2, 1_900_000_000, false), read(3, 1, true)];
        let lines = footprint_lines(&series);
        assert_eq!(lines.len(), 1, "no data directory was read: no line for it");
        assert_eq!(lines[0].name, "resident memory");
        assert_eq!(lines[0].points, [(0.5, 1.5), (1.5, 1.9)], "the partial last second left out");
        assert!(footprint_lines(&[sample(1, false)]).is_empty(), "nothing read, no chart");
    }

    #[test]
    fn warmup_seconds_merge_into_bands() {
        let series =
            [sample(1, true), sample(2, true), sample(3, false), sample(4, true), sample(5, false)];
        assert_eq!(warmup_bands(&series), [(0.0, 2.0), (3.0, 4.0)]);
    }
}
