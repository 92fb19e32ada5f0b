//! Kassa's bundled pricing rule: each line priced from the rule's own tier table, then the
//! customer's coupons taken off the subtotal.
//!
//! - `tiers`: the embedded per-sku tier table (graduated or volume) and what a quantity costs.
//! - `coupons`: the embedded coupon table, expiry to the second, and the discounts they give.
//!
//! A sku without a table is priced at its catalogue `unit_amount × quantity`. Every refusal is
//! `RuleError::InvalidInput` naming what was refused: a zero quantity, a negative catalogue
//! price, a tiered sku in a currency its table does not have, an unknown, expired or repeated
//! coupon, or an amount that would overflow an `i64`.

mod coupons;
mod tiers;

use kassa_rules_sdk::{
    Amount, LineItem, PricedLine, PricingInput, PricingOutput, PricingRule, RuleError,
};

pub struct TieredPricing;

impl PricingRule for TieredPricing {
    fn price(input: PricingInput) -> Result<PricingOutput, RuleError> {
        price(&input)
    }
}

kassa_rules_sdk::export_pricing_rule!(TieredPricing);

fn price(input: &PricingInput) -> Result<PricingOutput, RuleError> {
    let lines = input
        .lines
        .iter()
        .map(|line| price_line(line, &input.currency))
        .collect::<Result<Vec<_>, _>>()?;
    let subtotal = lines
        .iter()
        .try_fold(0, |sum: Amount, line| sum.checked_add(line.amount))
        .ok_or_else(|| RuleError::InvalidInput("the subtotal overflows".to_owned()))?;
    let discounts = coupons::discounts(&input.coupons, subtotal, &input.currency, input.now)?;
    // Each discount is capped at what the earlier ones left, so this neither overflows nor goes
    // below zero.
    let discounted: Amount = discounts.iter().map(|discount| discount.amount).sum();
    let total = subtotal - discounted;
    assert!(total >= 0, "discounts {discounted} exceed the subtotal {subtotal}");
    Ok(PricingOutput { currency: input.currency.clone(), lines, subtotal, discounts, total })
}

fn price_line(line: &LineItem, currency: &str) -> Result<PricedLine, RuleError> {
    let sku = &line.sku;
    if line.quantity == 0 {
        return Err(RuleError::InvalidInput(format!("line `{sku}` has quantity 0")));
    }
    let amount = match tiers::find(sku) {
        Some(table) if table.currency != currency => {
            return Err(RuleError::InvalidInput(format!(
                "sku `{sku}` has tiers in {} only, not {currency}",
                table.currency
            )));
        }
        Some(table) => table.amount_minor(line.quantity),
        None if line.unit_amount < 0 => {
            return Err(RuleError::InvalidInput(format!(
                "line `{sku}` has a negative unit amount {}",
                line.unit_amount
            )));
        }
        None => line.unit_amount.checked_mul(Amount::from(line.quantity)),
    }
    .ok_or_else(|| RuleError::InvalidInput(format!("the amount of line `{sku}` overflows")))?;
    Ok(PricedLine { sku: sku.clone(), quantity: line.quantity, amount })
}

#[cfg(test)]
mod tests {
    //! The rule end to end through its trait: tiered and catalogue lines side by side, the
    //! subtotal and total, and each refusal.
    use kassa_rules_sdk::{CustomerContext, DiscountLine};

    use super::*;

    /// A second at which `WELCOME10` and `FIVEOFF` are valid.
    const NOW: i64 = 1_790_000_000;

    fn line(sku: &str, quantity: u32, unit_amount: Amount) -> LineItem {
        LineItem { sku: sku.to_owned(), quantity, unit_amount }
    }

    fn input(lines: Vec<LineItem>, coupons: &[&str]) -> PricingInput {
        PricingInput {
            lines,
            currency: "usd".to_owned(),
            customer: CustomerContext::default(),
            coupons: coupons.iter().map(|code| code.to_string()).collect(),
            now: NOW,
        }
    }

    fn refusal(input: PricingInput) -> String {
        match TieredPricing::price(input) {
            Err(RuleError::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn tiered_and_catalogue_lines_make_the_subtotal() {
        let lines =
            vec![line("seat", 11, 9999), line("storage-gb", 150, 9999), line("widget", 3, 250)];
        let output = TieredPricing::price(input(lines, &[])).unwrap();
        let amounts: Vec<(&str, u32, Amount)> = output
            .lines
            .iter()
            .map(|line| (line.sku.as_str(), line.quantity, line.amount))
            .collect();
        // Seats: 10 × 1000 + 1 × 800. Storage: all 150 GB at 40. Widgets: the catalogue price.
        assert_eq!(
            amounts,
            vec![("seat", 11, 10_800), ("storage-gb", 150, 6000), ("widget", 3, 750)]
        );
        assert_eq!(output.subtotal, 17_550);
        assert_eq!(output.discounts, vec![]);
        assert_eq!(output.total, 17_550);
    }

    #[test]
    fn coupons_come_off_the_subtotal() {
        let lines = vec![line("seat", 11, 0), line("widget", 3, 250)];
        let output = TieredPricing::price(input(lines, &["WELCOME10", "FIVEOFF"])).unwrap();
        assert_eq!(output.subtotal, 11_550);
        assert_eq!(
            output.discounts,
            vec![
                DiscountLine { code: "WELCOME10".to_owned(), amount: 1155 },
                DiscountLine { code: "FIVEOFF".to_owned(), amount: 500 },
            ]
        );
        assert_eq!(output.total, 11_550 - 1155 - 500);
    }

    #[test]
    fn the_total_never_goes_below_zero() {
        let output =
            TieredPricing::price(input(vec![line("widget", 1, 120)], &["FIVEOFF"])).unwrap();
        assert_eq!(
            output.discounts,
            vec![DiscountLine { code: "FIVEOFF".to_owned(), amount: 120 }]
        );
        assert_eq!(output.total, 0);
    }

    #[test]
    fn no_lines_cost_nothing() {
        let output = TieredPricing::price(input(vec![], &["WELCOME10"])).unwrap();
        assert_eq!((output.subtotal, output.discounts, output.total), (0, vec![], 0));
    }

    #[test]
    fn a_zero_quantity_is_refused() {
        assert_eq!(refusal(input(vec![line("seat", 0, 1000)], &[])), "line `seat` has quantity 0");
        assert_eq!(
            refusal(input(vec![line("widget", 0, 1000)], &[])),
            "line `widget` has quantity 0"
        );
    }

    #[test]
    fn a_negative_catalogue_price_is_refused() {
        let message = refusal(input(vec![line("widget", 1, -1)], &[]));
        assert_eq!(message, "line `widget` has a negative unit amount -1");
    }

    #[test]
    fn a_tiered_sku_in_another_currency_is_refused() {
        let mut eur = input(vec![line("seat", 1, 1000)], &[]);
        eur.currency = "eur".to_owned();
        assert_eq!(refusal(eur), "sku `seat` has tiers in usd only, not eur");
    }

    #[test]
    fn overflow_is_refused() {
        let message = refusal(input(vec![line("widget", 2, Amount::MAX)], &[]));
        assert_eq!(message, "the amount of line `widget` overflows");
        let half = Amount::MAX / 2 + 1;
        let message = refusal(input(vec![line("a", 1, half), line("b", 1, half)], &[]));
        assert_eq!(message, "the subtotal overflows");
    }

    #[test]
    fn an_expired_coupon_is_refused_by_name() {
        let message = refusal(input(vec![line("widget", 1, 1000)], &["EXPIRED"]));
        assert!(message.contains("`EXPIRED`"), "{message}");
    }
}
