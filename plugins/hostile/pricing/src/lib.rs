//! Test fixture, never bundled: a pricing rule that misbehaves in the way its first line's sku
//! names, so one uploaded component gives the engine's tests every hostile case. Any other sku
//! is priced honestly at `unit_amount × quantity`, which lets a test show that the same component
//! still serves well-formed requests after a hostile one.

use kassa_rules_sdk::{
    DiscountLine, PricedLine, PricingInput, PricingOutput, PricingRule, RuleError,
};

pub struct Hostile;

impl PricingRule for Hostile {
    fn price(input: PricingInput) -> Result<PricingOutput, RuleError> {
        let sku = input.lines.first().map(|line| line.sku.clone()).unwrap_or_default();
        match sku.as_str() {
            "loop" => loop {
                // black_box keeps the loop from being optimised into a trap.
                core::hint::black_box(());
            },
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 1 << 20]);
                    core::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("the hostile rule gave up on purpose"),
            // Waits instead of computing: a host timer, which fuel does not count.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(honest(&input, 0))
            }
            // Not hostile, only long: ~5 M instructions, past the engine's inline budget and
            // far within its full one, then an honest answer.
            "slow" => {
                for step in 0..1_000_000_u64 {
                    core::hint::black_box(step);
                }
                Ok(honest(&input, 0))
            }
            "recurse" => Ok(honest(&input, recurse(core::hint::black_box(1)))),
            "huge" => Ok(huge(&input)),
            "wrong-currency" => {
                let mut output = honest(&input, 0);
                output.currency = if input.currency == "usd" { "eur" } else { "usd" }.to_owned();
                Ok(output)
            }
            "bad-totals" => {
                let mut output = honest(&input, 0);
                output.total += 1;
                Ok(output)
            }
            "negative" => {
                let mut output = honest(&input, 0);
                output.lines[0].amount = -output.lines[0].amount;
                output.subtotal = output.lines.iter().map(|line| line.amount).sum();
                output.total = output.subtotal;
                Ok(output)
            }
            "oversized-discount" => {
                let mut output = honest(&input, 0);
                output.discounts.push(DiscountLine {
                    code: "EVERYTHING".to_owned(),
                    amount: output.subtotal + 1,
                });
                output.total = 0;
                Ok(output)
            }
            _ => Ok(honest(&input, 0)),
        }
    }
}

kassa_rules_sdk::export_pricing_rule!(Hostile);

fn honest(input: &PricingInput, extra: i64) -> PricingOutput {
    let lines: Vec<PricedLine> = input
        .lines
        .iter()
        .map(|line| PricedLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            amount: line.unit_amount * i64::from(line.quantity) + extra,
        })
        .collect();
    let subtotal = lines.iter().map(|line| line.amount).sum();
    PricingOutput {
        currency: input.currency.clone(),
        lines,
        subtotal,
        discounts: Vec::new(),
        total: subtotal,
    }
}

/// Never returns: each frame calls the next until the stack runs out.
fn recurse(depth: i64) -> i64 {
    if core::hint::black_box(depth) == 0 {
        return 0;
    }
    recurse(depth + 1) + 1
}

/// About 12 MB of output: 60 000 lines whose skus are 200 bytes each.
fn huge(input: &PricingInput) -> PricingOutput {
    let sku = "x".repeat(200);
    let lines: Vec<PricedLine> =
        (0..60_000).map(|_| PricedLine { sku: sku.clone(), quantity: 1, amount: 1 }).collect();
    PricingOutput {
        currency: input.currency.clone(),
        lines,
        subtotal: 60_000,
        discounts: Vec::new(),
        total: 60_000,
    }
}
