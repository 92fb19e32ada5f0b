use super::*;
use crate::domain::InvoiceId;

/// A R115.00 course sold by a charge that paid no invoice: R100.00 and 15 % VAT of R15.00.
fn course_sale() -> Charge {
    let rule = |kind| serde_json::json!({"kind": kind, "version": 1, "source": "Bundled", "sha256": "ab".repeat(32)});
    let json = serde_json::json!({
        "id": "ch_01J9Z8Z1MN2P3Q4R5S6T7V8W9X", "customer": "cus_01J9Z8X7W6V5T4S3R2Q1P0N9M8",
        "amount": {"amount_minor": 11_500, "currency": "ZAR"},
        "payment_method": "pm_01J9Z8Y1MN2P3Q4R5S6T7V8W9X", "gateway": "sandbox",
        "gateway_reference": "sandbox_1", "status": "Succeeded", "failure": null,
        "amount_refunded_minor": 0, "description": null, "metadata": {}, "created": 1,
        "idempotency_key": null,
        "breakdown": {
            "lines": [{"sku": "course", "quantity": 1, "amount_minor": 10_000}],
            "subtotal_minor": 10_000, "discounts": [],
            "tax": [{"name": "VAT", "jurisdiction": "ZA", "rate_bps": 1_500, "amount_minor": 1_500}],
            "reverse_charge": false, "total_minor": 11_500,
            "evaluation": {"pricing": rule("Pricing"), "tax": rule("Tax"), "evaluated_at": 1},
        },
    });
    serde_json::from_value(json).expect("a charge")
}

fn sale(collected: i64, tax_payable: i64, recognized: i64) -> Accrued {
    Accrued { collected, tax_payable, recognized, ..Accrued::default() }
}

/// Posts `charge` over what `held` holds; answers the posting's legs and what is held after.
fn post(charge: &Charge, held: Accrued) -> (Vec<(String, String, i64)>, Accrued) {
    let posting = posting(&AccountId::default_account(), charge, held, 7);
    let mut after = held;
    let mut legs = Vec::new();
    if let Some(posting) = &posting {
        assert_eq!(posting.kind, PostingKind::Sale);
        assert_eq!((posting.source.as_str(), posting.created), (charge.id.as_str(), 7));
        assert!(!posting.kind.moves_money(), "not a balance transaction");
        after.add(posting);
        legs = posting
            .legs
            .iter()
            .map(|leg| (leg.debit.name(), leg.credit.name(), leg.amount_minor))
            .collect();
    }
    (legs, after)
}

#[test]
fn a_sale_is_collected_taxed_and_recognized_at_once_and_refunds_take_their_part_back() {
    let mut charge = course_sale();
    let (legs, held) = post(&charge, Accrued::default());
    assert_eq!(held, sale(11_500, 1_500, 10_000));
    let mut legs = legs;
    legs.sort();
    assert_eq!(
        legs,
        [
            ("collected".into(), "recognized_revenue".into(), 10_000),
            ("collected".into(), "tax_payable".into(), 1_500),
        ]
    );

    // R38.33 of R115.00 refunded: the VAT kept is 1 500 × 7 667 ÷ 11 500 = 999.93, rounded
    // half up to 1 000, so 500 of it goes back with 3 333 of revenue.
    charge.amount_refunded_minor = 3_833;
    let (_, held) = post(&charge, held);
    assert_eq!(held, sale(7_667, 1_000, 6_667));

    // The rest refunded: nothing is left of any of it, to the cent.
    charge.amount_refunded_minor = 11_500;
    let (_, held) = post(&charge, held);
    assert_eq!(held, Accrued::default());
    assert_eq!(post(&charge, held).0, [], "no change, no posting");
}

#[test]
fn a_recall_takes_the_sale_back_and_a_charge_paying_an_invoice_accrues_nothing_itself() {
    let mut charge = course_sale();
    let held = post(&charge, Accrued::default()).1;
    charge.status = ChargeStatus::Processing;
    let (legs, held) = post(&charge, held);
    assert_eq!(held, Accrued::default(), "recalled: {legs:?}");

    let mut invoice_charge = course_sale();
    invoice_charge.invoice = Some(InvoiceId::generate());
    assert_eq!(accrues(&invoice_charge), Accrued::default(), "its invoice accrues");

    let mut untaxed = course_sale();
    untaxed.breakdown = None;
    assert_eq!(accrues(&untaxed), sale(11_500, 0, 11_500));
}
