use super::*;
use crate::billing::periods::days_from_civil;
use crate::domain::TaxBehavior;
use crate::domain::invoice::fixtures::{invoice, line};
use crate::domain::revenue::DAY_SECS;

fn utc(year: i64, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * DAY_SECS
}

/// An open invoice finalized on 2025-01-15 for a year from then: R120.00 and 15 % VAT.
fn annual() -> Invoice {
    let mut year = line(12_000, 0, 1_800);
    (year.period_start, year.period_end) = (utc(2025, 1, 15), utc(2026, 1, 15));
    let mut invoice = invoice(TaxBehavior::Exclusive, vec![year]);
    invoice.status = InvoiceStatus::Open;
    (invoice.amount_paid_minor, invoice.paid_at) = (0, None);
    invoice.finalized_at = Some(utc(2025, 1, 15));
    invoice
}

/// Posts `invoice` over what `posted` holds; answers what the postings hold after.
fn post(invoice: &Invoice, posted: Accrued) -> (Option<Posting>, Accrued) {
    let posting = posting(&AccountId::default_account(), invoice, posted, 0);
    let mut after = posted;
    if let Some(posting) = &posting {
        after.add(posting);
    }
    (posting, after)
}

fn legs_of(posting: &Option<Posting>) -> Vec<(String, String, i64)> {
    let legs = posting.as_ref().map(|posting| posting.legs.clone()).unwrap_or_default();
    legs.iter().map(|leg| (leg.debit.name(), leg.credit.name(), leg.amount_minor)).collect()
}

#[test]
fn a_finalized_annual_invoice_is_owed_taxed_and_deferred_then_earned_month_by_month() {
    let mut invoice = annual();
    let (finalized, mut posted) = post(&invoice, Accrued::default());
    let expected =
        Accrued { receivable: 13_800, tax_payable: 1_800, deferred: 12_000, ..Accrued::default() };
    assert_eq!(posted, expected);
    assert_eq!(finalized.as_ref().map(|posting| posting.kind), Some(PostingKind::Invoice));
    assert_eq!(next_recognition(&invoice), Some(utc(2025, 2, 1)), "at the month's end");

    invoice.recognized_through = next_recognition(&invoice);
    let (february, after) = post(&invoice, posted);
    // 17 of 365 days, rounded down.
    assert_eq!(legs_of(&february), [("deferred_revenue".into(), "recognized_revenue".into(), 558)]);
    posted = after;
    let mut months = 1;
    while let Some(next) = next_recognition(&invoice) {
        invoice.recognized_through = Some(next);
        posted = post(&invoice, posted).1;
        months += 1;
    }
    assert_eq!(months, 13, "Feb 1 to Jan 1, then the period's end");
    assert_eq!(invoice.recognized_through, Some(utc(2026, 1, 15)));
    assert_eq!((posted.deferred, posted.recognized), (0, 12_000), "all of it, exactly");
    assert_eq!(post(&invoice, posted).0, None, "nothing moves twice");
}

#[test]
fn paying_writing_off_recovering_and_voiding_move_the_receivable() {
    let mut invoice = annual();
    invoice.balance_applied_minor = 800;
    let (_, posted) = post(&invoice, Accrued::default());
    assert_eq!((posted.receivable, posted.collected), (13_000, 800), "credit applied settles");

    invoice.status = InvoiceStatus::Uncollectible;
    let (written_off, posted) = post(&invoice, posted);
    assert_eq!(legs_of(&written_off), [("bad_debt".into(), "receivable".into(), 13_000)]);

    invoice.status = InvoiceStatus::Paid;
    invoice.amount_paid_minor = 13_000;
    let (recovered, posted) = post(&invoice, posted);
    assert_eq!(legs_of(&recovered), [("collected".into(), "bad_debt".into(), 13_000)]);
    assert_eq!((posted.receivable, posted.collected, posted.bad_debt), (0, 13_800, 0));

    // A recalled payment reopens it; voiding it then takes everything back.
    invoice.status = InvoiceStatus::Open;
    invoice.amount_paid_minor = 0;
    let (_, posted) = post(&invoice, posted);
    assert_eq!((posted.receivable, posted.collected), (13_000, 800));
    invoice.status = InvoiceStatus::Void;
    let (voided, posted) = post(&invoice, posted);
    assert_eq!(posted, Accrued::default());
    let moved: i64 = legs_of(&voided).iter().map(|(_, _, amount)| amount).sum();
    assert_eq!(moved, 13_800, "what it was owed, credited back");
    assert_eq!(next_recognition(&invoice), None, "a void invoice earns nothing");
}

#[test]
fn a_period_within_its_month_is_recognized_at_once_and_credit_lowers_it() {
    let mut month = line(10_000, 0, 1_500);
    (month.period_start, month.period_end) = (utc(2025, 3, 1), utc(2025, 4, 1));
    let mut invoice = invoice(TaxBehavior::Exclusive, vec![month]);
    invoice.finalized_at = Some(utc(2025, 3, 1));
    let (_, posted) = post(&invoice, Accrued::default());
    assert_eq!((posted.recognized, posted.deferred, posted.collected), (10_000, 0, 11_500));
    assert_eq!(next_recognition(&invoice), None);

    // A credit note gave R15.00 back after it was paid: less revenue, less collected.
    invoice.post_payment_credited_minor = 1_500;
    let (credited, _) = post(&invoice, posted);
    assert_eq!(legs_of(&credited), [("recognized_revenue".into(), "collected".into(), 1_500)]);
}
