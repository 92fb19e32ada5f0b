//! Kassa's bundled tax rule: VAT at the standard rate of the customer's country, or none under
//! the EU B2B reverse charge.
//!
//! - `rates`: the embedded per-country rate table.
//! - `reverse_charge`: the EU member states and when a cross-border business buyer self-accounts.
//!
//! The output, case by case:
//! - reverse charge: no tax lines (rather than zero-amount ones: no tax of that jurisdiction is
//!   charged at all) and `reverse_charge = true`;
//! - a country in the table: one tax line for it (even when the amount is 0, so the invoice shows
//!   the rate that applied), `reverse_charge = false`;
//! - a country with no table entry (the US, or an EU state not yet listed): no tax lines and
//!   `reverse_charge = false`. This rule only knows the rates it lists; a platform selling where
//!   it is registered for tax elsewhere needs those rates added.
//!
//! Only the country decides: the customer's `region` is not read (no sub-national rates here),
//! and sellers outside the EU charge the customer's rate to businesses too, as the EU reverse
//! charge is the only one this rule models.

mod rates;
mod reverse_charge;

use kassa_rules_sdk::{Amount, RuleError, TaxInput, TaxLine, TaxOutput, TaxRule, TaxableLine};

use kassa_rules_sdk::money::divide_round_half_up;

/// Basis points in a whole: 10000 bps is 100 %.
const BPS_PER_WHOLE: i128 = 10_000;

pub struct Vat;

impl TaxRule for Vat {
    fn calculate(input: TaxInput) -> Result<TaxOutput, RuleError> {
        calculate(&input)
    }
}

kassa_rules_sdk::export_tax_rule!(Vat);

fn calculate(input: &TaxInput) -> Result<TaxOutput, RuleError> {
    let seller_country = &input.seller_country;
    if !is_country_code(seller_country) {
        return Err(RuleError::InvalidInput(format!(
            "the seller's country `{seller_country}` is not an upper-case ISO 3166-1 alpha-2 code"
        )));
    }
    let customer_country =
        input.customer.country.as_deref().ok_or_else(|| {
            RuleError::InvalidInput("the customer's country is missing".to_owned())
        })?;
    // A lower-case or mistyped code would silently match no rate and charge no tax.
    if !is_country_code(customer_country) {
        return Err(RuleError::InvalidInput(format!(
            "the customer's country `{customer_country}` is not an upper-case ISO 3166-1 alpha-2 code"
        )));
    }
    if let Some(line) = input.lines.iter().find(|line| line.amount < 0) {
        return Err(RuleError::InvalidInput(format!(
            "line `{}` has a negative amount {}",
            line.sku, line.amount
        )));
    }

    if reverse_charge::applies(seller_country, customer_country, &input.customer.tax_ids) {
        return Ok(TaxOutput {
            currency: input.currency.clone(),
            lines: Vec::new(),
            reverse_charge: true,
        });
    }
    let Some(rate) = rates::find(customer_country) else {
        return Ok(TaxOutput {
            currency: input.currency.clone(),
            lines: Vec::new(),
            reverse_charge: false,
        });
    };
    let line = TaxLine {
        name: rate.name.to_owned(),
        jurisdiction: rate.country.to_owned(),
        rate_bps: rate.rate_bps,
        amount: tax_minor(&input.lines, rate.rate_bps)?,
    };
    Ok(TaxOutput { currency: input.currency.clone(), lines: vec![line], reverse_charge: false })
}

/// The tax on `lines` at `rate_bps`: rounded half-up per line, as the issue asks, then summed
/// into the one line of the jurisdiction. Rounding per line (not on the sum) makes each line's
/// tax what an invoice showing it would print, at the cost of the sum differing from the
/// rounded tax on the subtotal by up to half a minor unit per line.
fn tax_minor(lines: &[TaxableLine], rate_bps: u32) -> Result<Amount, RuleError> {
    lines.iter().try_fold(0, |sum: Amount, line| {
        let line_tax =
            divide_round_half_up(i128::from(line.amount) * i128::from(rate_bps), BPS_PER_WHOLE);
        // Below the line's own amount, as every rate is under 100 %.
        let line_tax = Amount::try_from(line_tax).expect("a line's tax is less than the line");
        sum.checked_add(line_tax)
            .ok_or_else(|| RuleError::InvalidInput("the tax overflows".to_owned()))
    })
}

/// Two upper-case ASCII letters, the shape of an ISO 3166-1 alpha-2 code.
fn is_country_code(country: &str) -> bool {
    country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    //! The rule end to end through its trait: each country's rate, half-up rounding per line,
    //! the reverse charge on and off, countries without a rate, and every refusal.
    use kassa_rules_sdk::{CustomerContext, TaxId};

    use super::*;

    fn line(sku: &str, amount: Amount) -> TaxableLine {
        TaxableLine { sku: sku.to_owned(), amount }
    }

    fn input(
        seller: &str,
        customer: Option<&str>,
        tax_ids: &[(&str, &str)],
        amounts: &[Amount],
    ) -> TaxInput {
        TaxInput {
            lines: amounts
                .iter()
                .enumerate()
                .map(|(index, amount)| line(&format!("sku-{index}"), *amount))
                .collect(),
            currency: "eur".to_owned(),
            customer: CustomerContext {
                country: customer.map(str::to_owned),
                tax_ids: tax_ids
                    .iter()
                    .map(|(kind, value)| TaxId { kind: kind.to_string(), value: value.to_string() })
                    .collect(),
                ..CustomerContext::default()
            },
            seller_country: seller.to_owned(),
        }
    }

    /// `(name, jurisdiction, rate_bps, amount)` of each tax line, and `reverse_charge`.
    fn taxed(input: TaxInput) -> (Vec<(String, String, u32, Amount)>, bool) {
        let output = Vat::calculate(input).unwrap();
        let lines = output
            .lines
            .into_iter()
            .map(|line| (line.name, line.jurisdiction, line.rate_bps, line.amount))
            .collect();
        (lines, output.reverse_charge)
    }

    fn vat(
        country: &str,
        rate_bps: u32,
        amount: Amount,
    ) -> (Vec<(String, String, u32, Amount)>, bool) {
        (vec![("VAT".to_owned(), country.to_owned(), rate_bps, amount)], false)
    }

    fn refusal(input: TaxInput) -> String {
        match Vat::calculate(input) {
            Err(RuleError::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn each_country_is_taxed_at_its_rate() {
        for (country, rate_bps, tax) in [
            ("ZA", 1500, 1500),
            ("KE", 1600, 1600),
            ("NG", 750, 750),
            ("GB", 2000, 2000),
            ("DE", 1900, 1900),
            ("FR", 2000, 2000),
            ("NL", 2100, 2100),
            ("IE", 2300, 2300),
            ("ES", 2100, 2100),
            ("IT", 2200, 2200),
        ] {
            assert_eq!(
                taxed(input("DE", Some(country), &[], &[10_000])),
                vat(country, rate_bps, tax),
                "{country}"
            );
        }
    }

    #[test]
    fn each_line_rounds_half_up_to_the_minor_unit() {
        assert_eq!(taxed(input("ZA", Some("ZA"), &[], &[1])), vat("ZA", 1500, 0)); // 0.15 → 0
        assert_eq!(taxed(input("ZA", Some("ZA"), &[], &[3])), vat("ZA", 1500, 0)); // 0.45 → 0
        assert_eq!(taxed(input("ZA", Some("ZA"), &[], &[4])), vat("ZA", 1500, 1)); // 0.60 → 1
        assert_eq!(taxed(input("ZA", Some("ZA"), &[], &[10])), vat("ZA", 1500, 2)); // 1.50 → 2
        assert_eq!(taxed(input("ZA", Some("ZA"), &[], &[30])), vat("ZA", 1500, 5)); // 4.50 → 5
        assert_eq!(taxed(input("NG", Some("NG"), &[], &[20])), vat("NG", 750, 2)); // 1.50 → 2
        assert_eq!(taxed(input("NG", Some("NG"), &[], &[6])), vat("NG", 750, 0)); // 0.45 → 0
    }

    #[test]
    fn the_tax_line_sums_the_per_line_roundings() {
        // Three lines of 10 at 15 %: 1.5 → 2 each, so 6, where the subtotal of 30 would give 4.5 → 5.
        assert_eq!(taxed(input("ZA", Some("ZA"), &[], &[10, 10, 10])), vat("ZA", 1500, 6));
        assert_eq!(
            taxed(input("DE", Some("DE"), &[], &[1000, 2999, 0])),
            vat("DE", 1900, 190 + 570)
        );
    }

    #[test]
    fn no_lines_or_zero_lines_still_show_the_rate() {
        assert_eq!(taxed(input("DE", Some("FR"), &[], &[])), vat("FR", 2000, 0));
        assert_eq!(taxed(input("DE", Some("FR"), &[], &[0])), vat("FR", 2000, 0));
    }

    #[test]
    fn a_cross_border_eu_business_is_reverse_charged() {
        assert_eq!(
            taxed(input("DE", Some("FR"), &[("eu-vat", "FR12345678901")], &[10_000])),
            (vec![], true)
        );
        assert_eq!(
            taxed(input("DE", Some("GR"), &[("eu-vat", "EL123456789")], &[10_000])),
            (vec![], true)
        );
    }

    #[test]
    fn the_same_country_business_is_taxed() {
        assert_eq!(
            taxed(input("DE", Some("DE"), &[("eu-vat", "DE123456789")], &[10_000])),
            vat("DE", 1900, 1900)
        );
    }

    #[test]
    fn a_consumer_across_eu_borders_is_taxed_at_their_rate() {
        assert_eq!(taxed(input("DE", Some("FR"), &[], &[10_000])), vat("FR", 2000, 2000));
    }

    #[test]
    fn a_seller_outside_the_eu_is_not_reverse_charged() {
        assert_eq!(
            taxed(input("ZA", Some("FR"), &[("eu-vat", "FR12345678901")], &[10_000])),
            vat("FR", 2000, 2000)
        );
    }

    #[test]
    fn a_british_business_is_not_reverse_charged_after_brexit() {
        assert_eq!(
            taxed(input("DE", Some("GB"), &[("gb-vat", "GB123456789")], &[10_000])),
            vat("GB", 2000, 2000)
        );
        assert_eq!(
            taxed(input("DE", Some("GB"), &[("eu-vat", "GB123456789")], &[10_000])),
            vat("GB", 2000, 2000)
        );
    }

    #[test]
    fn a_country_without_a_rate_is_charged_nothing() {
        assert_eq!(taxed(input("DE", Some("US"), &[], &[10_000])), (vec![], false));
        // An EU state missing from the table: a consumer there is charged nothing either.
        assert_eq!(taxed(input("DE", Some("PL"), &[], &[10_000])), (vec![], false));
    }

    #[test]
    fn a_missing_or_malformed_country_is_refused() {
        assert_eq!(refusal(input("DE", None, &[], &[10_000])), "the customer's country is missing");
        let message = refusal(input("DE", Some("de"), &[], &[10_000]));
        assert!(message.contains("`de` is not an upper-case"), "{message}");
        let message = refusal(input("DEU", Some("DE"), &[], &[10_000]));
        assert!(message.contains("`DEU` is not an upper-case"), "{message}");
    }

    #[test]
    fn a_negative_line_is_refused() {
        assert_eq!(
            refusal(input("DE", Some("DE"), &[], &[100, -1])),
            "line `sku-1` has a negative amount -1"
        );
        // Even when no tax would be charged.
        assert!(Vat::calculate(input("DE", Some("FR"), &[("eu-vat", "FR1")], &[-1])).is_err());
    }

    #[test]
    fn the_largest_lines_overflow_the_sum_not_the_line() {
        assert_eq!(
            taxed(input("IE", Some("IE"), &[], &[Amount::MAX])).0[0].3,
            2_121_375_568_476_598_436
        );
        let message = refusal(input("IE", Some("IE"), &[], &[Amount::MAX; 5]));
        assert_eq!(message, "the tax overflows");
    }
}
