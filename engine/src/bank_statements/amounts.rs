//! Amounts and dates as South African banks write them in their exports: major units with a
//! decimal point or comma (`50.00`, `1 250,00`, `1,250.00`), a sign, parentheses, a trailing
//! `-`, or a `Cr`/`Dr` suffix; dates as `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYYMMDD` or `DD/MM/YYYY`.

use crate::billing::periods::days_from_civil;

const SECS_PER_DAY: i64 = 86_400;

/// An amount in major units, exactly: `units` × 10^−`scale` (negative for a debit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    pub units: i64,
    pub scale: u32,
}

impl Decimal {
    /// In minor units of a currency with `digits` decimals; `None` when it has more decimals
    /// than the currency (a cent of a yen), or overflows.
    pub fn to_minor(self, digits: u32) -> Option<i64> {
        if self.scale <= digits {
            return self.units.checked_mul(10_i64.checked_pow(digits - self.scale)?);
        }
        let divisor = 10_i64.checked_pow(self.scale - digits)?;
        (self.units % divisor == 0).then(|| self.units / divisor)
    }

    pub fn negated(self) -> Decimal {
        Decimal { units: -self.units, scale: self.scale }
    }
}

/// The largest number of decimals an amount may have (more is not money).
const SCALE_MAX: u32 = 4;

/// A bank's amount text, or `None` when it is not one (a header, a total's label).
pub fn parse_amount(text: &str) -> Option<Decimal> {
    let mut text: String = text
        .chars()
        .filter(|symbol| !symbol.is_whitespace() && *symbol != '\u{a0}' && *symbol != '\'')
        .collect();
    let mut negative = false;
    let upper = text.to_ascii_uppercase();
    if upper.ends_with("CR") {
        text.truncate(text.len() - 2);
    } else if upper.ends_with("DR") {
        text.truncate(text.len() - 2);
        negative = true;
    }
    if text.starts_with('(') && text.ends_with(')') && text.len() > 2 {
        text = text[1..text.len() - 1].to_owned();
        negative = !negative;
    }
    if let Some(rest) = text.strip_suffix('-') {
        text = rest.to_owned();
        negative = !negative;
    }
    if let Some(rest) = text.strip_prefix('-') {
        text = rest.to_owned();
        negative = !negative;
    } else if let Some(rest) = text.strip_prefix('+') {
        text = rest.to_owned();
    }
    let decimal_at = decimal_separator(&text);
    let (whole, fraction) = match decimal_at {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text.as_str(), ""),
    };
    // Thousands separators group three digits: `1 250`, `1,250,000`; `12.34.56` is no amount.
    let groups: Vec<&str> = whole.split([',', '.']).collect();
    if groups.len() > 1 && groups[1..].iter().any(|group| group.len() != 3) {
        return None;
    }
    let whole: String = groups.concat();
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|byte| byte.is_ascii_digit())
        || !fraction.bytes().all(|byte| byte.is_ascii_digit())
        || fraction.len() > SCALE_MAX as usize
    {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let units: i64 = digits.parse().ok()?;
    let decimal = Decimal { units, scale: fraction.len() as u32 };
    Some(if negative { decimal.negated() } else { decimal })
}

/// Where the decimal separator is: the last `.` or `,` when both appear; a lone `,` only when
/// at most two digits follow it (`1 250,00`, not `1,250`); a lone `.` always.
fn decimal_separator(text: &str) -> Option<usize> {
    let (dot, comma) = (text.rfind('.'), text.rfind(','));
    match (dot, comma) {
        (Some(dot), Some(comma)) => Some(dot.max(comma)),
        (Some(dot), None) => (text.matches('.').count() == 1).then_some(dot),
        (None, Some(comma)) => {
            let after = text.len() - comma - 1;
            (text.matches(',').count() == 1 && (1..=2).contains(&after)).then_some(comma)
        }
        (None, None) => None,
    }
}

/// A booking date as midnight UTC that day, or `None` when `text` is not a date.
pub fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    // camt's `DtTm` and exports with a time: the date part.
    let text = text.split(['T', ' ']).next().unwrap_or(text);
    let number = |part: &str| -> Option<i64> {
        (!part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = if text.len() == 8 && text.bytes().all(|byte| byte.is_ascii_digit()) {
        (number(&text[..4])?, number(&text[4..6])?, number(&text[6..])?)
    } else {
        let parts: Vec<&str> = text.split(['-', '/']).collect();
        let [first, second, third] = parts[..] else { return None };
        match (first.len(), third.len()) {
            (4, 1..=2) => (number(first)?, number(second)?, number(third)?),
            (1..=2, 4) if text.contains('/') => (number(third)?, number(second)?, number(first)?),
            _ => return None,
        }
    };
    let month = u32::try_from(month).ok().filter(|month| (1..=12).contains(month))?;
    let days_in_month = crate::billing::periods::days_in_month(year, month);
    let day = u32::try_from(day).ok().filter(|day| (1..=days_in_month).contains(day))?;
    if !(1970..=9999).contains(&year) {
        return None;
    }
    Some(days_from_civil(year, month, day) * SECS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(text: &str) -> Option<i64> {
        parse_amount(text).and_then(|amount| amount.to_minor(2))
    }

    #[test]
    fn amounts_in_every_shape_south_african_banks_export() {
        assert_eq!(minor("50.00"), Some(5_000));
        assert_eq!(minor("-438.00"), Some(-43_800));
        assert_eq!(minor("1 250,00"), Some(125_000));
        assert_eq!(minor("1\u{a0}250,00"), Some(125_000));
        assert_eq!(minor("1,250.00"), Some(125_000));
        assert_eq!(minor("1.250,00"), Some(125_000));
        assert_eq!(minor("50.00 Cr"), Some(5_000));
        assert_eq!(minor("50.00Dr"), Some(-5_000));
        assert_eq!(minor("(438.00)"), Some(-43_800));
        assert_eq!(minor("438.00-"), Some(-43_800));
        assert_eq!(minor("+12.5"), Some(1_250));
        assert_eq!(minor("1,250"), Some(125_000), "a comma with three digits after is thousands");
        assert_eq!(minor("7"), Some(700));
    }

    #[test]
    fn what_is_not_an_amount_is_none() {
        for text in ["", "Amount", "R", "12.34.56", "1,2,3", "-", "Cr", "1.23456", "12a"] {
            assert_eq!(parse_amount(text), None, "{text}");
        }
        assert_eq!(parse_amount("0.005").unwrap().to_minor(2), None, "less than a cent");
        assert_eq!(parse_amount("5").unwrap().to_minor(0), Some(5));
    }

    #[test]
    fn dates_in_each_format_are_midnight_utc() {
        let expected = Some(1_764_892_800); // 2025-12-05T00:00:00Z
        for text in ["2025-12-05", "2025/12/05", "20251205", "05/12/2025", "2025-12-05T10:11:12"] {
            assert_eq!(parse_date(text), expected, "{text}");
        }
        for text in ["", "Date", "2025-13-01", "31/02/2025", "12/2025", "05-12-2025", "1/1/25"] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }
}
