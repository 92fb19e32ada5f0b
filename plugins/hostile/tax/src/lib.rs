//! Test fixture, never bundled: a tax rule that misbehaves in the way its first line's sku names.
//! Any other sku is taxed honestly at 10 %.

use kassa_rules_sdk::{RuleError, TaxInput, TaxLine, TaxOutput, TaxRule};

pub struct Hostile;

impl TaxRule for Hostile {
    fn calculate(input: TaxInput) -> Result<TaxOutput, RuleError> {
        let sku = input.lines.first().map(|line| line.sku.clone()).unwrap_or_default();
        let base: i64 = input.lines.iter().map(|line| line.amount).sum();
        let mut output = TaxOutput {
            currency: input.currency.clone(),
            lines: vec![TaxLine {
                name: "Tax".to_owned(),
                jurisdiction: "ZZ".to_owned(),
                rate_bps: 1000,
                amount: base / 10,
            }],
            reverse_charge: false,
        };
        match sku.as_str() {
            "negative-tax" => output.lines[0].amount = -(base / 10).max(1),
            "wrong-currency" => {
                output.currency = if input.currency == "usd" { "eur" } else { "usd" }.to_owned()
            }
            "excessive-tax" => output.lines[0].amount = base * 5,
            // Each line alone within its rate of 100 %; five of them tax the charge 500 %.
            "stacked-tax" => {
                output.lines = (0..5)
                    .map(|index| TaxLine {
                        name: format!("Levy {index}"),
                        jurisdiction: "ZZ".to_owned(),
                        rate_bps: 10_000,
                        amount: base,
                    })
                    .collect();
            }
            "reverse-charge-with-tax" => output.reverse_charge = true,
            "refuse" => {
                return Err(RuleError::InvalidInput("this rule refuses sku `refuse`".to_owned()));
            }
            _ => {}
        }
        Ok(output)
    }
}

kassa_rules_sdk::export_tax_rule!(Hostile);
