//! The host's checks of every rule output before the engine uses it. A rule is code the engine
//! did not write: its answer is data to validate, like a request body. Each refusal names what is
//! wrong, for the `plugin_error` the client (and the rule's author) will read.

use super::bindings::{pricing, proration, tax};
use super::types::{Priced, PricingRequest, Prorated, ProrationRequest, TaxRequest, Taxed};
use crate::domain::money::currency_code;
use crate::domain::{Currency, Discount, PricedLine, TaxLine};
use crate::limits::{
    AMOUNT_MINOR_MAX, RULE_OUTPUT_LINES_MAX, RULE_OUTPUT_TEXT_LEN_MAX, TAX_RATE_BPS_MAX,
    TAX_RATES_SUM_BPS_MAX,
};

type WitPricingOutput = pricing::exports::kassa::rules::pricing::PricingOutput;
type WitTaxOutput = tax::exports::kassa::rules::tax::TaxOutput;
type WitProrationOutput = proration::exports::kassa::rules::proration::ProrationOutput;

pub fn priced(request: &PricingRequest, output: WitPricingOutput) -> Result<Priced, String> {
    same_currency(request.currency, &output.currency)?;
    lines_within("lines", output.lines.len())?;
    lines_within("discounts", output.discounts.len())?;
    let mut lines = Vec::with_capacity(output.lines.len());
    for line in output.lines {
        text("a line's sku", &line.sku)?;
        amount(&format!("line `{}`", line.sku), line.amount)?;
        lines.push(PricedLine {
            sku: line.sku,
            quantity: line.quantity,
            amount_minor: line.amount,
        });
    }
    let sum = sum_of(lines.iter().map(|line| line.amount_minor))?;
    if sum != output.subtotal {
        return Err(format!(
            "its subtotal {} is not the sum of its lines ({sum})",
            output.subtotal
        ));
    }
    let mut discounts = Vec::with_capacity(output.discounts.len());
    for discount in output.discounts {
        text("a discount's code", &discount.code)?;
        if discount.amount < 1 {
            return Err(format!(
                "discount `{}` is {}; a discount takes a positive amount off",
                discount.code, discount.amount
            ));
        }
        discounts.push(Discount {
            code: discount.code,
            amount_minor: discount.amount,
            promotion_code: None,
        });
    }
    let discounted = sum_of(discounts.iter().map(|discount| discount.amount_minor))?;
    if discounted > output.subtotal {
        return Err(format!(
            "its discounts ({discounted}) exceed its subtotal ({})",
            output.subtotal
        ));
    }
    if output.total != output.subtotal - discounted {
        return Err(format!(
            "its total {} is not subtotal {} minus discounts {discounted}",
            output.total, output.subtotal
        ));
    }
    Ok(Priced { lines, subtotal_minor: output.subtotal, discounts, total_minor: output.total })
}

pub fn taxed(request: &TaxRequest, output: WitTaxOutput) -> Result<Taxed, String> {
    same_currency(request.currency, &output.currency)?;
    lines_within("tax lines", output.lines.len())?;
    let base = sum_of(request.lines.iter().map(|line| line.amount_minor))?;
    // Rounding per input line may add up to one minor unit per line over the exact rate.
    let rounding = request.lines.len() as i128;
    let mut lines = Vec::with_capacity(output.lines.len());
    for line in output.lines {
        text("a tax line's name", &line.name)?;
        text("a tax line's jurisdiction", &line.jurisdiction)?;
        if line.amount < 0 {
            return Err(format!("tax line `{}` is negative ({})", line.name, line.amount));
        }
        amount(&format!("tax line `{}`", line.name), line.amount)?;
        if line.rate_bps > TAX_RATE_BPS_MAX {
            return Err(format!(
                "tax line `{}` has rate {} bps, above 100 %",
                line.name, line.rate_bps
            ));
        }
        let allowed = tax_at_rate_ceiling(base, u64::from(line.rate_bps)) + rounding;
        if i128::from(line.amount) > allowed {
            return Err(format!(
                "tax line `{}` is {} on a base of {base}, more than its rate of {} bps allows",
                line.name, line.amount, line.rate_bps
            ));
        }
        if output.reverse_charge && line.amount != 0 {
            return Err(format!(
                "it applies the reverse charge yet charges {} of `{}`",
                line.amount, line.name
            ));
        }
        lines.push(TaxLine {
            name: line.name,
            jurisdiction: line.jurisdiction,
            rate_bps: line.rate_bps,
            amount_minor: line.amount,
        });
    }
    within_rates_sum(&lines, base, rounding)?;
    Ok(Taxed { lines, reverse_charge: output.reverse_charge })
}

/// The lines together: their rates add up to at most [`TAX_RATES_SUM_BPS_MAX`], and their
/// amounts to at most what those rates give on the base (each line rounded on its own).
fn within_rates_sum(lines: &[TaxLine], base: i64, rounding: i128) -> Result<(), String> {
    let rates_bps: u64 = lines.iter().map(|line| u64::from(line.rate_bps)).sum();
    if rates_bps > u64::from(TAX_RATES_SUM_BPS_MAX) {
        return Err(format!(
            "its tax rates add up to {rates_bps} bps, above the {TAX_RATES_SUM_BPS_MAX} bps \
             (100 %) one amount may be taxed"
        ));
    }
    let total = sum_of(lines.iter().map(|line| line.amount_minor))?;
    let allowed = tax_at_rate_ceiling(base, rates_bps) + rounding * lines.len() as i128;
    if i128::from(total) > allowed {
        return Err(format!(
            "its tax lines add up to {total} on a base of {base}, more than their rates \
             ({rates_bps} bps together) allow"
        ));
    }
    Ok(())
}

pub fn prorated(
    request: &ProrationRequest,
    output: WitProrationOutput,
) -> Result<Prorated, String> {
    same_currency(request.currency, &output.currency)?;
    for (name, value) in [("credit", output.credit), ("charge", output.charge)] {
        if value < 0 {
            return Err(format!("its {name} is negative ({value})"));
        }
        amount(&format!("its {name}"), value)?;
    }
    if output.net != output.charge - output.credit {
        return Err(format!(
            "its net {} is not charge {} minus credit {}",
            output.net, output.charge, output.credit
        ));
    }
    Ok(Prorated { credit_minor: output.credit, charge_minor: output.charge, net_minor: output.net })
}

fn same_currency(expected: Currency, returned: &str) -> Result<(), String> {
    let expected = currency_code(expected);
    if returned != expected {
        let returned: String = returned.chars().take(RULE_OUTPUT_TEXT_LEN_MAX).collect();
        return Err(format!("it answered in `{returned}` for a request in `{expected}`"));
    }
    Ok(())
}

fn lines_within(what: &str, count: usize) -> Result<(), String> {
    if count > RULE_OUTPUT_LINES_MAX {
        return Err(format!(
            "it returned {count} {what}; at most {RULE_OUTPUT_LINES_MAX} are taken"
        ));
    }
    Ok(())
}

fn text(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > RULE_OUTPUT_TEXT_LEN_MAX {
        return Err(format!(
            "{what} is {} bytes long; 1 to {RULE_OUTPUT_TEXT_LEN_MAX} are taken",
            value.len()
        ));
    }
    Ok(())
}

fn amount(what: &str, value: i64) -> Result<(), String> {
    if !(0..=AMOUNT_MINOR_MAX).contains(&value) {
        return Err(format!("{what} is {value}, outside 0..={AMOUNT_MINOR_MAX}"));
    }
    Ok(())
}

/// Sums amounts already checked to be in range; refuses a sum past the largest amount.
fn sum_of(amounts: impl Iterator<Item = i64>) -> Result<i64, String> {
    let sum: i128 = amounts.map(i128::from).sum();
    if sum > i128::from(AMOUNT_MINOR_MAX) {
        return Err(format!("its amounts add up to {sum}, above {AMOUNT_MINOR_MAX}"));
    }
    Ok(sum as i64)
}

/// `ceil(base × rate_bps / 10 000)`.
fn tax_at_rate_ceiling(base: i64, rate_bps: u64) -> i128 {
    let product = i128::from(base) * i128::from(rate_bps);
    (product + 9_999) / 10_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::types::{CustomerContext, TaxableLine};

    type WitTaxLine = tax::exports::kassa::rules::tax::TaxLine;

    fn request(amounts: &[i64]) -> TaxRequest {
        TaxRequest {
            lines: amounts
                .iter()
                .enumerate()
                .map(|(index, amount)| TaxableLine {
                    sku: format!("item{index}"),
                    amount_minor: *amount,
                })
                .collect(),
            currency: Currency::USD,
            customer: CustomerContext::default(),
            seller_country: "ZA".to_owned(),
        }
    }

    fn answer(lines: &[(u32, i64)]) -> WitTaxOutput {
        WitTaxOutput {
            currency: "usd".to_owned(),
            lines: lines
                .iter()
                .enumerate()
                .map(|(index, (rate_bps, amount))| WitTaxLine {
                    name: format!("Tax {index}"),
                    jurisdiction: "ZZ".to_owned(),
                    rate_bps: *rate_bps,
                    amount: *amount,
                })
                .collect(),
            reverse_charge: false,
        }
    }

    #[test]
    fn lines_at_full_rate_each_may_not_tax_more_than_the_whole_base() {
        let base = request(&[1000]);
        let stacked = taxed(&base, answer(&[(10_000, 1000); 5])).unwrap_err();
        assert!(stacked.contains("add up to 50000 bps"), "{stacked}");
        let over = taxed(&base, answer(&[(6_000, 600), (5_000, 500)])).unwrap_err();
        assert!(over.contains("above the 10000 bps"), "{over}");
    }

    #[test]
    fn stacked_rates_within_the_maximum_pass_with_per_line_rounding() {
        // A federal and a state rate, each rounded up on each of three lines.
        let base = request(&[333, 333, 334]);
        let stacked = taxed(&base, answer(&[(500, 50 + 3), (725, 73 + 3)])).expect("within bounds");
        assert_eq!(stacked.total_minor(), 129);
        let whole = taxed(&base, answer(&[(10_000, 1000)])).expect("100 % is the maximum");
        assert_eq!(whole.total_minor(), 1000);
    }

    #[test]
    fn the_lines_together_may_not_pass_what_their_rates_give() {
        let base = request(&[1000]);
        // Each line alone is within its own rate plus rounding; together they pass the sum.
        let error =
            within_rates_sum(&[tax_line(2_500, 251), tax_line(2_500, 251)], 1000, 0).unwrap_err();
        assert!(error.contains("more than their rates"), "{error}");
        assert!(
            taxed(&base, answer(&[(2_500, 250), (2_500, 251)])).is_ok(),
            "one unit of rounding"
        );
    }

    fn tax_line(rate_bps: u32, amount_minor: i64) -> TaxLine {
        TaxLine { name: "Tax".to_owned(), jurisdiction: "ZZ".to_owned(), rate_bps, amount_minor }
    }
}
