//! Numbers and instants as a receipt prints them: money from integer minor units with the
//! currency's ISO-4217 exponent (never through a float, so a printed amount is the stored one
//! to the last digit), tax rates from basis points, and dates in the account's time zone.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::Currency;
use crate::domain::money::minor_unit_digits;

/// `ZAR 1,234.50`, `JPY 1,000`, `KWD 1.000`, `-USD 16.60`: the code, the major units grouped
/// by thousands, and the minor units padded to the currency's exponent.
pub fn money(amount_minor: i64, currency: Currency) -> String {
    let digits = u32::from(minor_unit_digits(currency));
    let scale = 10u64.pow(digits);
    // `unsigned_abs` so that even `i64::MIN` has a magnitude.
    let magnitude = amount_minor.unsigned_abs();
    let (major, minor) = (magnitude / scale, magnitude % scale);
    let sign = if amount_minor < 0 { "-" } else { "" };
    let code = currency.code();
    match digits {
        0 => format!("{sign}{code} {}", grouped(major)),
        _ => format!("{sign}{code} {}.{minor:0width$}", grouped(major), width = digits as usize),
    }
}

/// `1234567` → `1,234,567`.
fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A rate in basis points as a percentage without trailing zeros: 1500 → `15%`, 750 → `7.5%`,
/// 1234 → `12.34%`.
pub fn rate(rate_bps: u32) -> String {
    let (whole, hundredths) = (rate_bps / 100, rate_bps % 100);
    match hundredths {
        0 => format!("{whole}%"),
        tenths if tenths.is_multiple_of(10) => format!("{whole}.{}%", tenths / 10),
        _ => format!("{whole}.{hundredths:02}%"),
    }
}

/// `2024-03-01`: the calendar date of a Unix instant in `zone`.
pub fn date(instant: i64, zone: &TimeZone) -> String {
    zoned(instant, zone).strftime("%Y-%m-%d").to_string()
}

/// `2024-03-01 14:05 UTC`, `2024-03-01 16:05 SAST`: the time in `zone`, named by its
/// abbreviation.
pub fn date_time(instant: i64, zone: &TimeZone) -> String {
    zoned(instant, zone).strftime("%Y-%m-%d %H:%M %Z").to_string()
}

/// Stored instants are Unix seconds well within jiff's range (years -9999 to 9999).
fn zoned(instant: i64, zone: &TimeZone) -> jiff::Zoned {
    Timestamp::from_second(instant).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned(zone.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::parse_currency;

    fn currency(code: &str) -> Currency {
        parse_currency(code).expect("a known currency")
    }

    #[test]
    fn money_uses_the_currency_exponent_and_groups_thousands() {
        assert_eq!(money(123_450, currency("zar")), "ZAR 1,234.50");
        assert_eq!(money(100_000, currency("kes")), "KES 1,000.00");
        assert_eq!(money(1_200, currency("usd")), "USD 12.00");
        assert_eq!(money(5, currency("usd")), "USD 0.05");
        assert_eq!(money(0, currency("usd")), "USD 0.00");
        assert_eq!(money(1_000, currency("jpy")), "JPY 1,000");
        assert_eq!(money(1_000, currency("kwd")), "KWD 1.000");
        assert_eq!(money(123_456_789_012, currency("eur")), "EUR 1,234,567,890.12");
        assert_eq!(money(999, currency("jpy")), "JPY 999");
    }

    #[test]
    fn negative_money_carries_its_sign_before_the_code() {
        assert_eq!(money(-1_660, currency("usd")), "-USD 16.60");
        assert_eq!(money(i64::MIN, currency("usd")), "-USD 92,233,720,368,547,758.08");
    }

    #[test]
    fn rates_drop_trailing_zeros() {
        assert_eq!(rate(1500), "15%");
        assert_eq!(rate(1600), "16%");
        assert_eq!(rate(750), "7.5%");
        assert_eq!(rate(1234), "12.34%");
        assert_eq!(rate(5), "0.05%");
        assert_eq!(rate(0), "0%");
        assert_eq!(rate(10_000), "100%");
    }

    #[test]
    fn dates_are_calendar_dates_in_the_zone() {
        let utc = TimeZone::UTC;
        assert_eq!(date(0, &utc), "1970-01-01");
        assert_eq!(date(1_709_164_800, &utc), "2024-02-29");
        let afternoon = 1_709_164_800 + 14 * 3_600 + 5 * 60 + 59;
        assert_eq!(date_time(afternoon, &utc), "2024-02-29 14:05 UTC");
        assert_eq!(date_time(-1, &utc), "1969-12-31 23:59 UTC");
        // 23:30 UTC on Feb 29 is already Mar 1 in Johannesburg (UTC+2) and Nairobi (UTC+3).
        let late = 1_709_164_800 + 23 * 3_600 + 30 * 60;
        let johannesburg = TimeZone::get("Africa/Johannesburg").unwrap();
        assert_eq!(date(late, &johannesburg), "2024-03-01");
        assert_eq!(date_time(late, &johannesburg), "2024-03-01 01:30 SAST");
        let nairobi = TimeZone::get("Africa/Nairobi").unwrap();
        assert_eq!(date_time(late, &nairobi), "2024-03-01 02:30 EAT");
    }
}
