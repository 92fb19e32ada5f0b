//! How figures are written for people (the progress line, the summary table, the HTML report).
//! `result.json` keeps the raw numbers.

/// A latency in the unit that keeps it short: `850 µs`, `1.23 ms`, `2.50 s`.
pub fn latency_us(latency_us: u64) -> String {
    match latency_us {
        0..1_000 => format!("{latency_us} µs"),
        1_000..1_000_000 => format!("{:.2} ms", latency_us as f64 / 1_000.0),
        _ => format!("{:.2} s", latency_us as f64 / 1_000_000.0),
    }
}

/// A count or rate rounded to a whole number, with thousands separated: `65 432`.
pub fn count(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    grouped
}

/// A ratio with two decimals, or a dash when there is none.
pub fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{value:.2}"))
}

/// Text safe inside HTML and SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_pick_their_unit() {
        assert_eq!(latency_us(850), "850 µs");
        assert_eq!(latency_us(1_234), "1.23 ms");
        assert_eq!(latency_us(2_500_000), "2.50 s");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.4), "999");
        assert_eq!(count(65_432.0), "65 432");
        assert_eq!(count(1_234_567.0), "1 234 567");
    }

    #[test]
    fn ratios_and_escapes() {
        assert_eq!(ratio(Some(0.4249)), "0.42");
        assert_eq!(ratio(None), "—");
        assert_eq!(escape("<a & b>"), "&lt;a &amp; b&gt;");
    }
}
