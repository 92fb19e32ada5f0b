use super::*;
use crate::domain::CreditNoteId;
use crate::domain::invoice::fixtures::{invoice, line, vat};

fn noted(invoice: &Invoice, credit: Credit) -> CreditNote {
    CreditNote {
        id: CreditNoteId::generate(),
        number: "ABCD2345-CN-0001".into(),
        customer: invoice.customer.clone(),
        invoice: invoice.id.clone(),
        currency: invoice.currency,
        lines: credit.lines,
        subtotal_minor: credit.subtotal_minor,
        tax: credit.tax,
        total_minor: credit.total_minor,
        pre_payment_minor: 0,
        refund_minor: 0,
        credit_minor: credit.total_minor,
        out_of_band_minor: 0,
        refund: None,
        reason: None,
        created: 0,
    }
}

#[test]
fn the_rest_of_an_invoice_is_exactly_what_it_charged() {
    let invoice = invoice(TaxBehavior::Exclusive, vec![line(9_999, 0, 1_500), line(333, 0, 50)]);
    let credit = credit(&invoice, &[], CreditAsk::Rest).unwrap();
    assert_eq!(credit.subtotal_minor, 10_332);
    assert_eq!(credit.tax, vec![vat(1_550)]);
    assert_eq!(credit.total_minor, invoice.total_minor);
}

#[test]
fn a_partial_line_reverses_tax_at_the_rate_half_up() {
    let invoice = invoice(TaxBehavior::Exclusive, vec![line(10_000, 0, 1_500)]);
    let id = invoice.lines[0].id.clone();
    // 15 % of 3 333 is 499.95: half up to 500.
    let credit = credit(&invoice, &[], CreditAsk::Lines(vec![(id, 3_333)])).unwrap();
    assert_eq!(credit.lines[0].tax_minor(), 500);
    assert_eq!(credit.total_minor, 3_833);
}

#[test]
fn credits_in_parts_add_up_to_the_invoice_to_the_cent() {
    let invoice = invoice(TaxBehavior::Exclusive, vec![line(10_000, 1, 1_500)]);
    let id = invoice.lines[0].id.clone();
    let mut earlier = Vec::new();
    for _ in 0..2 {
        let part = credit(&invoice, &earlier, CreditAsk::Lines(vec![(id.clone(), 3_333)])).unwrap();
        earlier.push(noted(&invoice, part));
    }
    let rest = credit(&invoice, &earlier, CreditAsk::Rest).unwrap();
    assert_eq!(rest.subtotal_minor, 9_999 - 2 * 3_333);
    earlier.push(noted(&invoice, rest));
    let given: i64 = earlier.iter().map(|note| note.total_minor).sum();
    let tax: i64 = earlier.iter().flat_map(|note| &note.tax).map(|tax| tax.amount_minor).sum();
    assert_eq!(given, invoice.total_minor);
    assert_eq!(tax, 1_500);
    assert_eq!(credit(&invoice, &earlier, CreditAsk::Rest), Err(CreditError::NothingLeft));
}

#[test]
fn a_total_is_spread_over_the_lines_and_adds_up_exactly() {
    for behavior in [TaxBehavior::Exclusive, TaxBehavior::Inclusive] {
        let invoice = invoice(behavior, vec![line(7_000, 0, 913), line(3_001, 0, 391)]);
        let credit = credit(&invoice, &[], CreditAsk::Total(2_501)).unwrap();
        assert_eq!(credit.total_minor, 2_501, "{behavior:?}");
        let lines: i64 = credit
            .lines
            .iter()
            .map(|line| match behavior {
                TaxBehavior::Exclusive => line.amount_minor + line.tax_minor(),
                TaxBehavior::Inclusive => line.amount_minor,
            })
            .sum();
        assert_eq!(lines, 2_501);
        assert!(credit.lines.iter().all(|line| line.tax_minor() > 0));
    }
}

#[test]
fn more_than_is_left_is_refused() {
    let invoice = invoice(TaxBehavior::Exclusive, vec![line(1_000, 0, 150), line(-400, 0, -60)]);
    let id = invoice.lines[0].id.clone();
    let credit_line = |amount| credit(&invoice, &[], CreditAsk::Lines(vec![(id.clone(), amount)]));
    assert_eq!(
        credit_line(1_001),
        Err(CreditError::LineExceeded { line: id.to_string(), left: 1_000 })
    );
    assert_eq!(credit_line(0), Err(CreditError::NotPositive));
    // The credit line (a proration) counts against the invoice: 1 150 − 460 is left.
    assert_eq!(credit_line(1_000), Err(CreditError::TotalExceeded { left: 690 }));
    assert_eq!(
        credit(&invoice, &[], CreditAsk::Total(691)),
        Err(CreditError::TotalExceeded { left: 690 })
    );
    let other = InvoiceLineId::generate();
    assert_eq!(
        credit(&invoice, &[], CreditAsk::Lines(vec![(other.clone(), 1)])),
        Err(CreditError::UnknownLine(other.to_string()))
    );
    let twice = CreditAsk::Lines(vec![(id.clone(), 1), (id.clone(), 1)]);
    assert_eq!(credit(&invoice, &[], twice), Err(CreditError::LineTwice(id.to_string())));
}

#[test]
fn the_rest_of_an_invoice_with_a_credit_line_reverses_that_line_too() {
    let invoice = invoice(TaxBehavior::Exclusive, vec![line(2_032, 0, 305), line(-677, 0, -102)]);
    let rest = credit(&invoice, &[], CreditAsk::Rest).unwrap();
    assert_eq!(rest.total_minor, invoice.total_minor);
    assert_eq!(rest.lines[1].amount_minor, -677);
    let part = credit(&invoice, &[], CreditAsk::Total(1_000)).unwrap();
    let after = vec![noted(&invoice, part)];
    assert_eq!(
        credit(&invoice, &after, CreditAsk::Rest).unwrap().total_minor,
        invoice.total_minor - 1_000
    );
}

#[test]
fn what_was_taken_off_an_open_invoice_without_a_note_is_not_given_back_again() {
    let mut invoice = invoice(TaxBehavior::Inclusive, vec![line(1_150, 0, 150)]);
    invoice.credited_minor = 779;
    let rest = credit(&invoice, &[], CreditAsk::Rest).unwrap();
    assert_eq!(rest.total_minor, 371);
    assert_eq!(
        credit(&invoice, &[], CreditAsk::Total(372)),
        Err(CreditError::TotalExceeded { left: 371 })
    );
}

#[test]
fn largest_remainder_adds_up_and_favours_the_largest_fraction() {
    assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
    assert_eq!(largest_remainder(7, &[0, 0]), vec![7, 0]);
    assert_eq!(largest_remainder(5, &[2, 8]), vec![1, 4]);
}
