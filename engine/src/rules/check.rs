//! The host's checks of every rule output before the engine uses it. A rule is code the engine
//! did not write: its answer is data to validate, like a request body. Each refusal names what is
//! wrong, for the `plugin_error` the client (and the rule's author) will read.

use super::bindings::{pricing, proration, tax};
use super::types::{Priced, PricingRequest, Prorated, ProrationRequest, TaxRequest, Taxed};
use crate::domain::money::currency_code;
use crate::domain::{Currency, Discount, PricedLine, TaxLine};
use crate::limits::{
    AMOUNT_MINOR_MAX, RULE_OUTPUT_LINES_MAX, RULE_OUTPUT_TEXT_LEN_MAX, TAX_RATE_BPS_MAX,
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
        discounts.push(Discount { code: discount.code, amount_minor: discount.amount });
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
        // Rounding per input line may add up to one minor unit per line over the exact rate.
        let allowed = tax_at_rate_ceiling(base, line.rate_bps) + request.lines.len() as i128;
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
    sum_of(lines.iter().map(|line| line.amount_minor))?;
    Ok(Taxed { lines, reverse_charge: output.reverse_charge })
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
fn tax_at_rate_ceiling(base: i64, rate_bps: u32) -> i128 {
    let product = i128::from(base) * i128::from(rate_bps);
    (product + 9_999) / 10_000
}
