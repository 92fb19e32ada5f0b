//! Kassa's bundled pricing rule: each line priced from the rule's own tier table, then the
//! coupons the engine resolved taken off the subtotal.
//!
//! - `tiers`: the embedded per-sku tier table (graduated or volume), its prices in each currency
//!   (zar, kes, ngn, usd, eur, gbp), and what a quantity costs.
//! - `coupons`: the discounts the coupons give, exactly (percent half-up, capped at the subtotal).
//!
//! A sku without a table is priced at its catalogue `unit_amount × quantity`, in any currency.
//! Every refusal is `RuleError::InvalidInput` naming what was refused: a zero quantity, a negative
//! catalogue price, a tiered sku in a currency its table has no prices in (naming those it has),
//! a repeated coupon or one above 100 %, or an amount that would overflow an `i64`.

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
    let discounts = coupons::discounts(&input.coupons, subtotal)?;
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
        // The catalogue price is not a fallback for a tiered sku: it would charge a price the
        // table does not set, so a currency without prices is refused, naming the ones it has.
        Some(table) => match table.in_currency(currency) {
            Some(tiers) => tiers.amount_minor(line.quantity),
            None => {
                return Err(RuleError::InvalidInput(format!(
                    "sku `{sku}` has tiers in {} only, not {currency}",
                    table.currencies().join(", ")
                )));
            }
        },
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
    //! subtotal and total, the same cart in each currency the tiers price, and each refusal.
    use kassa_rules_sdk::{Coupon, CouponOff, CustomerContext, DiscountLine};

    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn welcome10() -> Coupon {
        Coupon { id: "WELCOME10".to_owned(), off: CouponOff::PercentOffBps(1_000) }
    }

    fn fiveoff() -> Coupon {
        Coupon { id: "FIVEOFF".to_owned(), off: CouponOff::AmountOff(500) }
    }

    fn line(sku: &str, quantity: u32, unit_amount: Amount) -> LineItem {
        LineItem { sku: sku.to_owned(), quantity, unit_amount }
    }

    fn input(lines: Vec<LineItem>, coupons: &[Coupon]) -> PricingInput {
        input_in("usd", lines, coupons)
    }

    fn input_in(currency: &str, lines: Vec<LineItem>, coupons: &[Coupon]) -> PricingInput {
        PricingInput {
            lines,
            currency: currency.to_owned(),
            customer: CustomerContext::default(),
            coupons: coupons.to_vec(),
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
        let output = TieredPricing::price(input(lines, &[welcome10(), fiveoff()])).unwrap();
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
            TieredPricing::price(input(vec![line("widget", 1, 120)], &[fiveoff()])).unwrap();
        assert_eq!(
            output.discounts,
            vec![DiscountLine { code: "FIVEOFF".to_owned(), amount: 120 }]
        );
        assert_eq!(output.total, 0);
    }

    #[test]
    fn no_lines_cost_nothing() {
        let output = TieredPricing::price(input(vec![], &[welcome10()])).unwrap();
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

    /// The amount of each line and the subtotal of `lines` priced in `currency`, without coupons.
    fn priced_in(currency: &str, lines: Vec<LineItem>) -> (Vec<Amount>, Amount) {
        let output = TieredPricing::price(input_in(currency, lines, &[])).unwrap();
        assert_eq!(output.currency, currency);
        assert_eq!(output.total, output.subtotal, "no coupons, nothing off");
        (output.lines.iter().map(|line| line.amount).collect(), output.subtotal)
    }

    /// The README's cart: 12 seats cross the first graduated edge, 150 GB the first volume edge,
    /// and a course at its catalogue price.
    fn readme_cart() -> Vec<LineItem> {
        vec![line("seat", 12, 0), line("storage-gb", 150, 0), line("course", 1, 5000)]
    }

    #[test]
    fn usd_keeps_its_prices() {
        // Seats: 10 × $10.00 + 2 × $8.00. Storage: all 150 GB at $0.40.
        assert_eq!(priced_in("usd", readme_cart()), (vec![11_600, 6000, 5000], 22_600));
        // The README's walk-through: 12 seats and the course.
        let (_, subtotal) = priced_in("usd", vec![line("seat", 12, 0), line("course", 1, 5000)]);
        assert_eq!(subtotal, 16_600);
    }

    #[test]
    fn zar_is_priced_from_its_own_table() {
        // Seats: 10 × R175 + 2 × R140. Storage: all 150 GB at R7.00.
        assert_eq!(priced_in("zar", readme_cart()), (vec![203_000, 105_000, 5000], 313_000));
    }

    #[test]
    fn kes_is_priced_from_its_own_table() {
        // Seats: 10 × KSh 1,250 + 2 × KSh 1,000. Storage: all 150 GB at KSh 52.
        assert_eq!(priced_in("kes", readme_cart()), (vec![1_450_000, 780_000, 5000], 2_235_000));
    }

    #[test]
    fn ngn_is_priced_from_its_own_table() {
        // Seats: 10 × ₦15,000 + 2 × ₦12,000. Storage: all 150 GB at ₦600.
        assert_eq!(
            priced_in("ngn", readme_cart()),
            (vec![17_400_000, 9_000_000, 5000], 26_405_000)
        );
    }

    #[test]
    fn eur_is_priced_from_its_own_table() {
        // Seats: 10 × €9.00 + 2 × €7.20. Storage: all 150 GB at €0.36.
        assert_eq!(priced_in("eur", readme_cart()), (vec![10_440, 5400, 5000], 20_840));
    }

    #[test]
    fn gbp_is_priced_from_its_own_table() {
        // Seats: 10 × £7.50 + 2 × £6.00. Storage: all 150 GB at 32p.
        assert_eq!(priced_in("gbp", readme_cart()), (vec![8700, 4800, 5000], 18_500));
    }

    #[test]
    fn a_tiered_sku_in_a_currency_without_prices_is_refused_naming_those_it_has() {
        let message = refusal(input_in("jpy", vec![line("seat", 1, 1000)], &[]));
        assert_eq!(message, "sku `seat` has tiers in usd, zar, kes, ngn, eur, gbp only, not jpy");
        let message = refusal(input_in("jpy", vec![line("storage-gb", 1, 50)], &[]));
        assert_eq!(
            message,
            "sku `storage-gb` has tiers in usd, zar, kes, ngn, eur, gbp only, not jpy"
        );
        // Currencies are lower-case codes and matched exactly.
        let message = refusal(input_in("USD", vec![line("seat", 1, 1000)], &[]));
        assert!(message.ends_with("only, not USD"), "{message}");
    }

    #[test]
    fn an_untiered_sku_is_priced_at_its_catalogue_price_in_any_currency() {
        for currency in ["usd", "zar", "kes", "ngn", "eur", "gbp", "jpy"] {
            let (amounts, subtotal) = priced_in(currency, vec![line("course", 3, 4999)]);
            assert_eq!((amounts, subtotal), (vec![3 * 4999], 3 * 4999), "{currency}");
        }
    }

    #[test]
    fn a_percent_coupon_applies_in_any_currency() {
        let output =
            TieredPricing::price(input_in("zar", vec![line("seat", 12, 0)], &[welcome10()]))
                .unwrap();
        assert_eq!(
            output.discounts,
            vec![DiscountLine { code: "WELCOME10".into(), amount: 20_300 }]
        );
        assert_eq!(output.total, 203_000 - 20_300);
    }

    #[test]
    fn overflow_is_refused() {
        let message = refusal(input(vec![line("widget", 2, Amount::MAX)], &[]));
        assert_eq!(message, "the amount of line `widget` overflows");
        let half = Amount::MAX / 2 + 1;
        let message = refusal(input(vec![line("a", 1, half), line("b", 1, half)], &[]));
        assert_eq!(message, "the subtotal overflows");
    }
}
