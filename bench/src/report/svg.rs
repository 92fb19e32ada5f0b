//! A small line-chart renderer producing inline SVG, so the HTML report needs no script, font or
//! network. Axes are linear or log10; ticks are given by the caller or computed here.

use std::fmt::Write as _;

use super::format::escape;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 400.0;
const MARGIN_LEFT: f64 = 76.0;
const MARGIN_RIGHT: f64 = 36.0;
const MARGIN_TOP: f64 = 60.0;
const MARGIN_BOTTOM: f64 = 50.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    Log10,
}

#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// Where `value` falls on the axis, from 0 (min) to 1 (max), clamped.
    pub fn fraction(&self, value: f64) -> f64 {
        let (value, min, max) = match self.scale {
            Scale::Linear => (value, self.min, self.max),
            Scale::Log10 => (
                value.max(f64::MIN_POSITIVE).log10(),
                self.min.max(f64::MIN_POSITIVE).log10(),
                self.max.max(f64::MIN_POSITIVE).log10(),
            ),
        };
        if max <= min {
            return 0.0;
        }
        ((value - min) / (max - min)).clamp(0.0, 1.0)
    }
}

#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub lines: Vec<Line>,
    /// Ranges of x shaded in grey (warm-ups), with a caption for the legend.
    pub bands: Vec<(f64, f64)>,
    pub band_caption: Option<String>,
}

pub fn render(chart: &Chart) -> String {
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let x_at = |value: f64| MARGIN_LEFT + chart.x.fraction(value) * plot_width;
    let y_at = |value: f64| MARGIN_TOP + (1.0 - chart.y.fraction(value)) * plot_height;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        svg,
        r#"<text x="{MARGIN_LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(&chart.title)
    );
    for (start, end) in &chart.bands {
        let (left, right) = (x_at(*start), x_at(*end));
        let _ = write!(
            svg,
            r##"<rect x="{left:.1}" y="{MARGIN_TOP}" width="{:.1}" height="{plot_height}" fill="#eeeeee"/>"##,
            (right - left).max(0.0)
        );
    }
    for (value, label) in &chart.x.ticks {
        let x = x_at(*value);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{MARGIN_TOP}" x2="{x:.1}" y2="{:.1}" stroke="#dddddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            MARGIN_TOP + plot_height,
            MARGIN_TOP + plot_height + 16.0,
            escape(label)
        );
    }
    for (value, label) in &chart.y.ticks {
        let y = y_at(*value);
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            MARGIN_LEFT + plot_width,
            MARGIN_LEFT - 6.0,
            y + 4.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_width}" height="{plot_height}" fill="none" stroke="#888888"/>"##
    );
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        MARGIN_LEFT + plot_width / 2.0,
        HEIGHT - 8.0,
        escape(&chart.x.label)
    );
    let _ = write!(
        svg,
        r#"<text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        MARGIN_TOP + plot_height / 2.0,
        escape(&chart.y.label)
    );
    for line in &chart.lines {
        let points: Vec<String> =
            line.points.iter().map(|(x, y)| format!("{:.1},{:.1}", x_at(*x), y_at(*y))).collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            line.color,
            points.join(" ")
        );
    }
    render_legend(&mut svg, chart);
    svg.push_str("</svg>");
    svg
}

/// One row of swatches under the title, outside the plot so it never hides a line.
fn render_legend(svg: &mut String, chart: &Chart) {
    let mut entries: Vec<(&str, &str)> =
        chart.lines.iter().map(|line| (line.name.as_str(), line.color)).collect();
    if let (Some(caption), false) = (&chart.band_caption, chart.bands.is_empty()) {
        entries.push((caption.as_str(), "#dddddd"));
    }
    let mut x = MARGIN_LEFT;
    let y = MARGIN_TOP - 14.0;
    for (name, color) in entries {
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{color}"/><text x="{:.1}" y="{y:.1}">{}</text>"#,
            y - 10.0,
            x + 16.0,
            escape(name)
        );
        // Wide enough for the text at 12 px, roughly 7 px a character.
        x += 16.0 + name.chars().count() as f64 * 7.0 + 18.0;
    }
}

/// About `count` round ticks (steps of 1, 2 or 5 × 10^k) from `min` to `max`.
pub fn linear_ticks(
    min: f64,
    max: f64,
    count: usize,
    label: impl Fn(f64) -> String,
) -> Vec<(f64, String)> {
    if max <= min || count == 0 {
        return vec![(min, label(min))];
    }
    let raw_step = (max - min) / count as f64;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * magnitude)
        .find(|step| *step >= raw_step)
        .unwrap_or(10.0 * magnitude);
    let first = (min / step).ceil() as i64;
    let last = (max / step).floor() as i64;
    (first..=last).map(|index| index as f64 * step).map(|value| (value, label(value))).collect()
}

/// One tick per power of ten from `min` to `max` (both powers of ten).
pub fn decade_ticks(min: f64, max: f64, label: impl Fn(f64) -> String) -> Vec<(f64, String)> {
    let first = min.max(f64::MIN_POSITIVE).log10().round() as i32;
    let last = max.max(f64::MIN_POSITIVE).log10().round() as i32;
    (first..=last).map(|power| 10f64.powi(power)).map(|value| (value, label(value))).collect()
}

/// The powers of ten just below and just above the positive values.
pub fn decade_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values
        .filter(|value| *value > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(low, high), value| (low.min(value), high.max(value)));
    if !low.is_finite() {
        return (1.0, 10.0);
    }
    let low = 10f64.powf(low.log10().floor());
    let high = 10f64.powf(high.log10().ceil()).max(low * 10.0);
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round() {
        let ticks: Vec<f64> = linear_ticks(0.0, 1_000.0, 5, |value| value.to_string())
            .into_iter()
            .map(|(value, _)| value)
            .collect();
        assert_eq!(ticks, [0.0, 200.0, 400.0, 600.0, 800.0, 1_000.0]);
    }

    #[test]
    fn decades_bound_the_values() {
        assert_eq!(decade_bounds([150.0, 2_300.0].into_iter()), (100.0, 10_000.0));
        assert_eq!(decade_bounds([100.0].into_iter()), (100.0, 1_000.0));
        assert_eq!(decade_bounds(std::iter::empty()), (1.0, 10.0));
        let ticks = decade_ticks(100.0, 10_000.0, |value| value.to_string());
        assert_eq!(ticks.len(), 3);
    }

    #[test]
    fn log_axes_place_decades_evenly() {
        let axis = Axis {
            label: String::new(),
            scale: Scale::Log10,
            min: 1.0,
            max: 10_000.0,
            ticks: Vec::new(),
        };
        assert_eq!(axis.fraction(1.0), 0.0);
        assert!((axis.fraction(100.0) - 0.5).abs() < 1e-12);
        assert_eq!(axis.fraction(1e9), 1.0, "clamped");
    }

    #[test]
    fn a_chart_renders_its_lines_and_escapes_text() {
        let axis = |scale| Axis {
            label: "x & y".into(),
            scale,
            min: 1.0,
            max: 100.0,
            ticks: vec![(10.0, "10".into())],
        };
        let chart = Chart {
            title: "<title>".into(),
            x: axis(Scale::Linear),
            y: axis(Scale::Log10),
            lines: vec![Line {
                name: "engine".into(),
                color: "#c0392b",
                points: vec![(1.0, 1.0), (100.0, 100.0)],
            }],
            bands: vec![(1.0, 5.0)],
            band_caption: Some("warm-up".into()),
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains("<polyline") && svg.contains("&lt;title&gt;") && svg.contains("x &amp; y")
        );
        assert!(svg.contains("warm-up"));
    }
}
