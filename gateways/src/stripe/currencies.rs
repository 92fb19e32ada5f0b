//! How Stripe counts each currency's `amount`, and the conversion between that and Kassa's
//! ISO 4217 minor units. Pure functions: no I/O here.
//!
//! Kassa counts every amount in the ISO 4217 minor unit (`1000 isk` is 1000 krónur, exponent 0).
//! Stripe counts most currencies the same way, but not all: ISK and UGX are sent in hundredths
//! whose last two digits are always `00`, MGA in whole ariary (ISO: hundredths), and the
//! three-decimal dinars in thousandths whose last digit must be 0. Sending Kassa's number as it
//! is would charge 10 kr for 1000 kr, so every amount crosses this boundary both ways, and one
//! Stripe cannot take exactly is refused before anything is recorded or sent.
//!
//! Source of [`STRIPE_CURRENCIES`]: Stripe's "Supported currencies" page,
//! <https://docs.stripe.com/currencies> — its presentment currencies as carried by
//! async-stripe-types 1.0.0-rc.10's `Currency` enum (which follows that page), less the codes
//! ISO 4217 has withdrawn and Kassa therefore cannot name (ANG, EEK, LTL, LVL, MRO, STD, VEF);
//! plus the three-decimal currencies the same page documents ("BHD, JOD, KWD, OMR, TND … these
//! API calls require the least-significant (last) digit to be 0"); the zero-decimal list
//! ("BIF, CLP, DJF, GNF, JPY, KMF, KRW, MGA, PYG, RWF, UGX, VND, VUV, XAF, XOF, XPF") and the
//! "Special cases" table: ISK and UGX "transitioned to a zero-decimal currency, but backward
//! compatibility requires you to represent it as a two-decimal value, where the decimal amount is
//! always 00" (so UGX, though also in the zero-decimal list, is sent in hundredths); HUF and TWD
//! are zero-decimal "for payouts, even though you can charge two-decimal amounts" — this adapter
//! makes no payouts, so they are ordinary two-decimal currencies here.

use crate::Currency;
use crate::limits::STRIPE_AMOUNT_MAX;

/// How Stripe counts one currency's `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StripeUnit {
    /// Hundredths: Stripe's default ("two-decimal currencies unless otherwise specified").
    TwoDecimal,
    /// Whole units: Stripe's zero-decimal list.
    ZeroDecimal,
    /// Hundredths on the wire, whole units only (ISK, UGX: "the decimal amount is always 00").
    WholeUnitsInHundredths,
    /// Thousandths whose last digit is 0 (BHD, JOD, KWD, OMR, TND).
    ThousandthsInTens,
}

impl StripeUnit {
    /// Digits after the decimal point of Stripe's `amount`.
    fn exponent(self) -> u32 {
        match self {
            StripeUnit::ZeroDecimal => 0,
            StripeUnit::TwoDecimal | StripeUnit::WholeUnitsInHundredths => 2,
            StripeUnit::ThousandthsInTens => 3,
        }
    }

    /// Stripe's `amount` must be a multiple of this.
    fn step(self) -> i64 {
        match self {
            StripeUnit::TwoDecimal | StripeUnit::ZeroDecimal => 1,
            StripeUnit::WholeUnitsInHundredths => 100,
            StripeUnit::ThousandthsInTens => 10,
        }
    }
}

use StripeUnit::{
    ThousandthsInTens as Three, TwoDecimal as Two, WholeUnitsInHundredths as Whole,
    ZeroDecimal as Zero,
};

/// Every currency Stripe takes, by lower-case ISO code, with how Stripe counts it (sources in
/// the module comment). Sorted by code.
pub(crate) const STRIPE_CURRENCIES: &[(&str, StripeUnit)] = &[
    ("aed", Two),
    ("afn", Two),
    ("all", Two),
    ("amd", Two),
    ("aoa", Two),
    ("ars", Two),
    ("aud", Two),
    ("awg", Two),
    ("azn", Two),
    ("bam", Two),
    ("bbd", Two),
    ("bdt", Two),
    ("bgn", Two),
    ("bhd", Three),
    ("bif", Zero),
    ("bmd", Two),
    ("bnd", Two),
    ("bob", Two),
    ("brl", Two),
    ("bsd", Two),
    ("bwp", Two),
    ("byn", Two),
    ("bzd", Two),
    ("cad", Two),
    ("cdf", Two),
    ("chf", Two),
    ("clp", Zero),
    ("cny", Two),
    ("cop", Two),
    ("crc", Two),
    ("cve", Two),
    ("czk", Two),
    ("djf", Zero),
    ("dkk", Two),
    ("dop", Two),
    ("dzd", Two),
    ("egp", Two),
    ("etb", Two),
    ("eur", Two),
    ("fjd", Two),
    ("fkp", Two),
    ("gbp", Two),
    ("gel", Two),
    ("gip", Two),
    ("gmd", Two),
    ("gnf", Zero),
    ("gtq", Two),
    ("gyd", Two),
    ("hkd", Two),
    ("hnl", Two),
    ("hrk", Two),
    ("htg", Two),
    ("huf", Two),
    ("idr", Two),
    ("ils", Two),
    ("inr", Two),
    ("isk", Whole),
    ("jmd", Two),
    ("jod", Three),
    ("jpy", Zero),
    ("kes", Two),
    ("kgs", Two),
    ("khr", Two),
    ("kmf", Zero),
    ("krw", Zero),
    ("kwd", Three),
    ("kyd", Two),
    ("kzt", Two),
    ("lak", Two),
    ("lbp", Two),
    ("lkr", Two),
    ("lrd", Two),
    ("lsl", Two),
    ("mad", Two),
    ("mdl", Two),
    ("mga", Zero),
    ("mkd", Two),
    ("mmk", Two),
    ("mnt", Two),
    ("mop", Two),
    ("mur", Two),
    ("mvr", Two),
    ("mwk", Two),
    ("mxn", Two),
    ("myr", Two),
    ("mzn", Two),
    ("nad", Two),
    ("ngn", Two),
    ("nio", Two),
    ("nok", Two),
    ("npr", Two),
    ("nzd", Two),
    ("omr", Three),
    ("pab", Two),
    ("pen", Two),
    ("pgk", Two),
    ("php", Two),
    ("pkr", Two),
    ("pln", Two),
    ("pyg", Zero),
    ("qar", Two),
    ("ron", Two),
    ("rsd", Two),
    ("rub", Two),
    ("rwf", Zero),
    ("sar", Two),
    ("sbd", Two),
    ("scr", Two),
    ("sek", Two),
    ("sgd", Two),
    ("shp", Two),
    ("sll", Two),
    ("sos", Two),
    ("srd", Two),
    ("svc", Two),
    ("szl", Two),
    ("thb", Two),
    ("tjs", Two),
    ("tnd", Three),
    ("top", Two),
    ("try", Two),
    ("ttd", Two),
    ("twd", Two),
    ("tzs", Two),
    ("uah", Two),
    ("ugx", Whole),
    ("usd", Two),
    ("uyu", Two),
    ("uzs", Two),
    ("vnd", Zero),
    ("vuv", Zero),
    ("wst", Two),
    ("xaf", Zero),
    ("xcd", Two),
    ("xof", Zero),
    ("xpf", Zero),
    ("yer", Two),
    ("zar", Two),
    ("zmw", Two),
];

/// Why an amount cannot cross to or from Stripe exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeAmountError {
    #[error("Stripe does not take {0}")]
    CurrencyNotTaken(String),
    #[error(
        "Stripe takes {currency} only in multiples of {multiple_minor} minor units \
         ({reason}); {amount_minor} is not one"
    )]
    NotAMultiple { currency: String, multiple_minor: i64, amount_minor: i64, reason: &'static str },
    #[error(
        "Stripe takes at most {STRIPE_AMOUNT_MAX} in its unit; {currency} {amount_minor} is more"
    )]
    TooLarge { currency: String, amount_minor: i64 },
    #[error(
        "Stripe's amount {stripe_amount} {currency} is not a whole number of Kassa's minor units"
    )]
    NotRepresentable { currency: String, stripe_amount: i64 },
}

fn code(currency: Currency) -> String {
    currency.code().to_ascii_lowercase()
}

/// How Stripe counts `currency`, if Stripe takes it at all.
pub(crate) fn stripe_unit(currency: Currency) -> Option<StripeUnit> {
    let wanted = code(currency);
    STRIPE_CURRENCIES
        .binary_search_by(|(listed, _)| (*listed).cmp(wanted.as_str()))
        .ok()
        .map(|index| STRIPE_CURRENCIES[index].1)
}

/// The scale between the two units: Stripe's amount is Kassa's times `10^shift` (a negative
/// shift divides). Kassa admits only currencies with an ISO exponent, so `None` never reaches
/// here from the engine; it is refused like an unknown currency.
fn shift(currency: Currency, unit: StripeUnit) -> Option<i32> {
    let iso = i32::from(currency.exponent()?);
    Some(i32::try_from(unit.exponent()).unwrap_or(0) - iso)
}

fn ten_to(power: u32) -> i64 {
    10_i64.pow(power)
}

/// What Stripe's rule for the currency demands of Kassa's amount: a multiple of this many minor
/// units (1 for most; 10 for the dinars; 100 for MGA, whose ariary Stripe counts whole).
fn kassa_multiple(unit: StripeUnit, shift: i32) -> i64 {
    match shift >= 0 {
        true => (unit.step() / ten_to(shift.unsigned_abs())).max(1),
        false => unit.step() * ten_to(shift.unsigned_abs()),
    }
}

fn reason(unit: StripeUnit) -> &'static str {
    match unit {
        StripeUnit::ZeroDecimal => "Stripe counts it in whole units",
        StripeUnit::WholeUnitsInHundredths => "only whole units can be charged",
        StripeUnit::ThousandthsInTens => "the last of its three decimals must be 0",
        StripeUnit::TwoDecimal => "Stripe counts it in hundredths",
    }
}

/// Kassa's amount (ISO 4217 minor units) as Stripe's `amount`, or why Stripe cannot take it
/// exactly. Refusing is the only honest answer: rounding would charge another sum than the one
/// the charge records.
pub fn amount_to_stripe(amount_minor: i64, currency: Currency) -> Result<i64, StripeAmountError> {
    let not_taken = || StripeAmountError::CurrencyNotTaken(code(currency));
    let unit = stripe_unit(currency).ok_or_else(not_taken)?;
    let shift = shift(currency, unit).ok_or_else(not_taken)?;
    let multiple_minor = kassa_multiple(unit, shift);
    if amount_minor % multiple_minor != 0 {
        return Err(StripeAmountError::NotAMultiple {
            currency: code(currency),
            multiple_minor,
            amount_minor,
            reason: reason(unit),
        });
    }
    let too_large = || StripeAmountError::TooLarge { currency: code(currency), amount_minor };
    let stripe_amount = match shift >= 0 {
        true => amount_minor.checked_mul(ten_to(shift.unsigned_abs())).ok_or_else(too_large)?,
        false => amount_minor / ten_to(shift.unsigned_abs()),
    };
    debug_assert_eq!(stripe_amount % unit.step(), 0, "kassa_multiple covers Stripe's step");
    match stripe_amount <= STRIPE_AMOUNT_MAX {
        true => Ok(stripe_amount),
        false => Err(too_large()),
    }
}

/// Stripe's `amount` (of a PaymentIntent, Refund, Charge or Dispute in `currency`) in Kassa's
/// ISO 4217 minor units. Stripe's rules make every amount it reports exact in Kassa's unit; one
/// that is not (a fractional króna from before Stripe enforced whole ones) is an error for the
/// caller to surface, never rounded.
pub fn amount_from_stripe(
    stripe_amount: i64,
    currency: Currency,
) -> Result<i64, StripeAmountError> {
    let not_taken = || StripeAmountError::CurrencyNotTaken(code(currency));
    let unit = stripe_unit(currency).ok_or_else(not_taken)?;
    let shift = shift(currency, unit).ok_or_else(not_taken)?;
    let not_representable =
        || StripeAmountError::NotRepresentable { currency: code(currency), stripe_amount };
    match shift >= 0 {
        true => {
            let divisor = ten_to(shift.unsigned_abs());
            match stripe_amount % divisor {
                0 => Ok(stripe_amount / divisor),
                _ => Err(not_representable()),
            }
        }
        false => {
            stripe_amount.checked_mul(ten_to(shift.unsigned_abs())).ok_or_else(not_representable)
        }
    }
}

/// [`amount_from_stripe`] for an amount Stripe states beside its currency's code (`usd`, as its
/// objects carry it): Kassa's minor units, and the currency. A code Kassa does not know is one
/// whose amounts Stripe's cannot be taken in.
pub fn amount_from_stripe_code(
    stripe_amount: i64,
    code: &str,
) -> Result<(i64, Currency), StripeAmountError> {
    let currency = Currency::from_code(&code.to_ascii_uppercase())
        .ok_or_else(|| StripeAmountError::CurrencyNotTaken(code.to_ascii_lowercase()))?;
    Ok((amount_from_stripe(stripe_amount, currency)?, currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stripe's own lists, written out again from the docs page (see the module comment), so the
    /// table is checked against them rather than against itself.
    const ZERO_DECIMAL: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf",
        "xof", "xpf",
    ];
    const WHOLE_UNITS_IN_HUNDREDTHS: &[&str] = &["isk", "ugx"];
    const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

    fn currency(code: &str) -> Currency {
        Currency::from_code(&code.to_ascii_uppercase())
            .unwrap_or_else(|| panic!("{code} is an ISO 4217 code Kassa knows"))
    }

    #[test]
    fn the_table_is_sorted_and_each_code_is_an_iso_currency_with_a_minor_unit() {
        assert!(STRIPE_CURRENCIES.windows(2).all(|pair| pair[0].0 < pair[1].0), "sorted, no twins");
        for (code, _) in STRIPE_CURRENCIES {
            assert!(currency(code).exponent().is_some(), "{code} has an ISO exponent");
        }
        for code in ZERO_DECIMAL.iter().chain(WHOLE_UNITS_IN_HUNDREDTHS).chain(THREE_DECIMAL) {
            assert!(stripe_unit(currency(code)).is_some(), "{code} is in the table");
        }
    }

    /// Every currency Stripe lists: one whole unit in Kassa's count is one whole unit at Stripe,
    /// both ways; the smallest amount Stripe's rule admits crosses, the one below it is refused.
    #[test]
    fn every_stripe_currency_crosses_the_boundary_at_its_documented_scale() {
        for (code, unit) in STRIPE_CURRENCIES {
            let currency = currency(code);
            let stripe_exponent = match *code {
                code if ZERO_DECIMAL.contains(&code) => 0,
                code if THREE_DECIMAL.contains(&code) => 3,
                _ => 2,
            };
            let one_unit_kassa = ten_to(u32::from(currency.exponent().unwrap()));
            let one_unit_stripe = ten_to(stripe_exponent);
            assert_eq!(unit.exponent(), stripe_exponent, "{code}: the table's class");
            assert_eq!(amount_to_stripe(one_unit_kassa, currency), Ok(one_unit_stripe), "{code}");
            assert_eq!(amount_from_stripe(one_unit_stripe, currency), Ok(one_unit_kassa), "{code}");
            assert_eq!(
                amount_to_stripe(1234 * one_unit_kassa, currency),
                Ok(1234 * one_unit_stripe),
                "{code}"
            );

            let smallest_kassa: i64 = match *code {
                code if THREE_DECIMAL.contains(&code) => 10,
                // Whole ariary at Stripe, hundredths in ISO 4217.
                "mga" => 100,
                _ => 1,
            };
            let smallest_stripe = amount_to_stripe(smallest_kassa, currency)
                .unwrap_or_else(|error| panic!("{code} {smallest_kassa}: {error}"));
            assert_eq!(smallest_stripe % unit.step(), 0, "{code}: a multiple of Stripe's step");
            assert_eq!(amount_from_stripe(smallest_stripe, currency), Ok(smallest_kassa));
            if smallest_kassa > 1 {
                let refused = amount_to_stripe(smallest_kassa + 1, currency);
                assert!(
                    matches!(refused, Err(StripeAmountError::NotAMultiple { .. })),
                    "{code}: {refused:?}"
                );
            }
        }
    }

    #[test]
    fn isk_is_sent_in_hundredths_and_read_back_in_kronur() {
        assert_eq!(amount_to_stripe(1000, Currency::ISK), Ok(100_000));
        assert_eq!(amount_from_stripe(100_000, Currency::ISK), Ok(1000));
        assert_eq!(amount_to_stripe(1000, Currency::UGX), Ok(100_000));
        // A fractional króna is nothing Kassa can hold: surfaced, never rounded.
        assert!(matches!(
            amount_from_stripe(150, Currency::ISK),
            Err(StripeAmountError::NotRepresentable { .. })
        ));
    }

    #[test]
    fn three_decimal_amounts_must_end_in_zero() {
        assert_eq!(amount_to_stripe(5120, Currency::KWD), Ok(5120));
        let refused = amount_to_stripe(5124, Currency::KWD).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Stripe takes kwd only in multiples of 10 minor units (the last of its three \
             decimals must be 0); 5124 is not one"
        );
    }

    #[test]
    fn currencies_stripe_does_not_list_are_refused() {
        for code in ["iqd", "lyd", "clf", "ves", "xcg"] {
            let refused = amount_to_stripe(1000, currency(code));
            assert_eq!(refused, Err(StripeAmountError::CurrencyNotTaken(code.to_owned())));
        }
    }

    #[test]
    fn amounts_past_stripes_digits_are_refused() {
        assert_eq!(amount_to_stripe(STRIPE_AMOUNT_MAX, Currency::USD), Ok(STRIPE_AMOUNT_MAX));
        // Kassa's own ceiling in krónur is past Stripe's in hundredths.
        assert!(matches!(
            amount_to_stripe(99_999_999_999, Currency::ISK),
            Err(StripeAmountError::TooLarge { .. })
        ));
        assert!(matches!(
            amount_to_stripe(i64::MAX, Currency::ISK),
            Err(StripeAmountError::TooLarge { .. })
        ));
    }
}
