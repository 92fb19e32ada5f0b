//! After the burst: did every subscription renew exactly once, paid, and was every paying charge
//! made exactly once at the processor? The account's invoices (`GET /v1/invoices`), its charges
//! (`GET /v1/charges`) and the sandbox ledger (`GET /v1/sandbox/ledger`) are each read whole, the
//! three at once, 100 records a request (`listing`); then, for each subscription:
//!
//! - the invoices naming it are exactly two: the first (its `period_start` the first period's
//!   start) and the renewal (its `period_start` the first period's end), both `paid`, each with
//!   the `charge` that paid it;
//! - that charge is among the account's charges, `succeeded`, and carries `invoice` = that
//!   invoice; no other `succeeded` charge names the invoice (it was not paid twice).
//!
//! The ledger must hold exactly one `charge` entry for each of those charges (matched by its
//! `idempotency_key`, the charge id, or by the charge's `gateway_reference`). A record listed twice
//! is a mismatch too (it would hide or fake a duplicate). Every departure is a mismatch, named
//! with its ids; a list that cannot be read is one too, so the figures of a long burst are still
//! written when the check cannot finish.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::ledger::{self, LedgerIndex};
use super::listing::{self, Listing};
use super::subscriptions::Subscribed;
use crate::limits::MISMATCHES_KEPT_MAX;
use crate::setup::Caller;

const PAID: &str = "paid";
const SUCCEEDED: &str = "succeeded";
const INVOICES_PATH: &str = "/v1/invoices";
const CHARGES_PATH: &str = "/v1/charges";

/// What the verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub secs: f64,
    pub subscriptions_checked: usize,
    /// Subscriptions with exactly one paid invoice for the new period.
    pub renewals_paid: usize,
    /// Paid invoices found where expected (first and renewal), each with its charge.
    pub invoices_paid: usize,
    pub charges_checked: usize,
    /// The account's invoices and charges read (every one, the run's and any from before it).
    pub invoices_read: usize,
    pub charges_read: usize,
    /// Seconds spent reading the account's invoices, its charges (both at once with the ledger).
    pub invoices_read_secs: f64,
    pub charges_read_secs: f64,
    /// Seconds spent reading the sandbox ledger, page by page (part of `secs`).
    pub ledger_read_secs: f64,
    pub ledger_entries_read: usize,
    pub ledger_charge_entries: usize,
    /// Ledger `charge` entries that some invoice's charge matched; the others are the ordinary
    /// charges (and whatever else the engine had charged before the run).
    pub ledger_charge_entries_matched: usize,
    pub mismatch_count: usize,
    /// The first `MISMATCHES_KEPT_MAX` mismatches.
    pub mismatches: Vec<String>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.mismatch_count == 0
    }

    pub fn mismatch(&mut self, text: String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MISMATCHES_KEPT_MAX {
            self.mismatches.push(text);
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceView {
    pub id: String,
    pub status: String,
    pub period_start: i64,
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub charge: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChargeView {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub invoice: Option<String>,
    #[serde(default)]
    pub gateway_reference: Option<String>,
}

/// A paid invoice and the charge that paid it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidInvoice {
    pub invoice: String,
    pub charge: String,
}

/// A paying charge as the engine shows it, to match against the ledger.
#[derive(Debug, Clone)]
struct PayingCharge {
    invoice: String,
    charge: String,
    gateway_reference: Option<String>,
}

/// Reads the three lists at once, then checks every subscription, then the ledger.
pub async fn verify(caller: &Caller, subscriptions: &[Subscribed]) -> Verification {
    let started = Instant::now();
    let mut found = Verification::default();
    eprintln!("verify: reading the account's invoices and charges, and the sandbox ledger");
    let (invoices, charges, ledger) = futures::join!(
        listing::read_all(caller, INVOICES_PATH, "invoices", |invoice: &InvoiceView| {
            invoice.id.as_str()
        }),
        listing::read_all(caller, CHARGES_PATH, "charges", |charge: &ChargeView| {
            charge.id.as_str()
        }),
        async {
            let ledger_started = Instant::now();
            let ledger = ledger::read(caller).await;
            (ledger, ledger_started.elapsed().as_secs_f64())
        },
    );
    let (ledger, ledger_read_secs) = ledger;
    found.ledger_read_secs = ledger_read_secs;
    let invoices = whole(&mut found, "invoices", invoices);
    let charges = whole(&mut found, "charges", charges);
    if let Some(invoices) = &invoices {
        found.invoices_read = invoices.items.len();
        found.invoices_read_secs = invoices.secs;
    }
    if let Some(charges) = &charges {
        found.charges_read = charges.items.len();
        found.charges_read_secs = charges.secs;
    }
    let (Some(invoices), Some(charges)) = (invoices, charges) else {
        found.secs = started.elapsed().as_secs_f64();
        return found;
    };
    let paying = check_fleet(&mut found, subscriptions, invoices.items, charges.items);
    match ledger {
        Ok(mut index) => match_ledger(&mut found, &mut index, &paying),
        Err(error) => found.mismatch(format!("the sandbox ledger could not be read: {error}")),
    }
    found.secs = started.elapsed().as_secs_f64();
    found
}

/// The listing, when it was read through; a mismatch when it was not.
fn whole<T>(
    found: &mut Verification,
    what: &str,
    listing: Result<Listing<T>, String>,
) -> Option<Listing<T>> {
    match listing {
        Ok(listing) => {
            if listing.cut_short {
                found.mismatch(format!(
                    "the account's {what} are more than the {} read: the rest are unchecked",
                    listing.items.len()
                ));
            }
            Some(listing)
        }
        Err(error) => {
            found.mismatch(format!("the account's {what} could not be read: {error}"));
            None
        }
    }
}

/// Every subscription's invoices and their charges, from the account's lists; the charges that
/// paid them, for the ledger.
fn check_fleet(
    found: &mut Verification,
    subscriptions: &[Subscribed],
    invoices: Vec<InvoiceView>,
    charges: Vec<ChargeView>,
) -> Vec<PayingCharge> {
    let mut invoice_ids = HashSet::with_capacity(invoices.len());
    let mut by_subscription: HashMap<String, Vec<InvoiceView>> = HashMap::new();
    for invoice in invoices {
        if !invoice_ids.insert(invoice.id.clone()) {
            found.mismatch(format!("invoice {} is listed more than once", invoice.id));
        }
        if let Some(subscription) = invoice.subscription.clone() {
            by_subscription.entry(subscription).or_default().push(invoice);
        }
    }
    let mut by_id: HashMap<String, ChargeView> = HashMap::with_capacity(charges.len());
    // The succeeded charges naming each invoice, to catch an invoice paid twice.
    let mut succeeded_by_invoice: HashMap<String, Vec<String>> = HashMap::new();
    for charge in charges {
        if charge.status == SUCCEEDED
            && let Some(invoice) = &charge.invoice
        {
            succeeded_by_invoice.entry(invoice.clone()).or_default().push(charge.id.clone());
        }
        if by_id.contains_key(&charge.id) {
            found.mismatch(format!("charge {} is listed more than once", charge.id));
            continue;
        }
        by_id.insert(charge.id.clone(), charge);
    }

    let mut paying = Vec::with_capacity(subscriptions.len() * 2);
    for subscribed in subscriptions {
        found.subscriptions_checked += 1;
        let invoices = by_subscription.remove(&subscribed.id).unwrap_or_default();
        let (paid, mismatches) = judge_invoices(subscribed, &invoices);
        mismatches.into_iter().for_each(|text| found.mismatch(text));
        found.renewals_paid += usize::from(paid.iter().any(|(renewal, _)| *renewal));
        found.invoices_paid += paid.len();
        for (_, invoice) in paid {
            let Some(charge) = by_id.get(&invoice.charge) else {
                found.mismatch(format!(
                    "invoice {}: its charge {} is not among the account's charges",
                    invoice.invoice, invoice.charge
                ));
                continue;
            };
            judge_charge(&invoice, charge).into_iter().for_each(|text| found.mismatch(text));
            let naming = succeeded_by_invoice.get(&invoice.invoice).map(Vec::as_slice);
            for other in naming.unwrap_or_default().iter().filter(|id| **id != invoice.charge) {
                found.mismatch(format!(
                    "invoice {}: paid by {} but also by the succeeded charge {other}",
                    invoice.invoice, invoice.charge
                ));
            }
            paying.push(PayingCharge {
                invoice: invoice.invoice,
                charge: invoice.charge,
                gateway_reference: charge.gateway_reference.clone(),
            });
        }
    }
    found.charges_checked = paying.len();
    paying
}

fn match_ledger(found: &mut Verification, index: &mut LedgerIndex, paying: &[PayingCharge]) {
    if index.cut_short {
        found.mismatch(format!(
            "the sandbox ledger is longer than the {} entries read: charges past them are unmatched",
            index.entries_read
        ));
    }
    for charge in paying {
        let entries = index.match_charge(&charge.charge, charge.gateway_reference.as_deref());
        if entries != 1 {
            found.mismatch(format!(
                "invoice {}: the sandbox ledger has {entries} charge entries for its charge {} \
                 (reference {}), not 1",
                charge.invoice,
                charge.charge,
                charge.gateway_reference.as_deref().unwrap_or("none")
            ));
        }
    }
    found.ledger_entries_read = index.entries_read;
    found.ledger_charge_entries = index.charge_entries();
    found.ledger_charge_entries_matched = index.matched_entries();
}

/// The paid invoices where they belong (`true` for the renewal's), and every mismatch: of
/// `invoices` (the ones naming the subscription), each of the two periods must have exactly one,
/// `paid`, with a charge, and there must be no other.
pub fn judge_invoices(
    subscribed: &Subscribed,
    invoices: &[InvoiceView],
) -> (Vec<(bool, PaidInvoice)>, Vec<String>) {
    let sub = &subscribed.id;
    let mut mismatches = Vec::new();
    let mut paid = Vec::new();
    let periods =
        [(false, "first", subscribed.period_start), (true, "renewal", subscribed.period_end)];
    for (renewal, what, period_start) in periods {
        let of_period: Vec<&InvoiceView> =
            invoices.iter().filter(|invoice| invoice.period_start == period_start).collect();
        let [invoice] = of_period.as_slice() else {
            let ids: Vec<&str> = of_period.iter().map(|invoice| invoice.id.as_str()).collect();
            mismatches.push(format!(
                "subscription {sub}: {} {what} invoices with period_start {period_start}, not 1 {ids:?}",
                of_period.len()
            ));
            continue;
        };
        match (invoice.status.as_str(), &invoice.charge) {
            (PAID, Some(charge)) => paid.push((
                renewal,
                PaidInvoice { invoice: invoice.id.clone(), charge: charge.clone() },
            )),
            (PAID, None) => mismatches.push(format!(
                "subscription {sub}: {what} invoice {} is paid with no charge",
                invoice.id
            )),
            (status, _) => mismatches.push(format!(
                "subscription {sub}: {what} invoice {} is {status}, not paid",
                invoice.id
            )),
        }
    }
    let expected = [subscribed.period_start, subscribed.period_end];
    for invoice in invoices.iter().filter(|invoice| !expected.contains(&invoice.period_start)) {
        mismatches.push(format!(
            "subscription {sub}: unexpected invoice {} ({}, period_start {})",
            invoice.id, invoice.status, invoice.period_start
        ));
    }
    (paid, mismatches)
}

/// The charge that paid `invoice` must have succeeded and must name the invoice.
pub fn judge_charge(invoice: &PaidInvoice, charge: &ChargeView) -> Vec<String> {
    let mut mismatches = Vec::new();
    if charge.status != SUCCEEDED {
        mismatches.push(format!(
            "invoice {}: its charge {} is {}, not succeeded",
            invoice.invoice, charge.id, charge.status
        ));
    }
    if charge.invoice.as_deref() != Some(invoice.invoice.as_str()) {
        mismatches.push(format!(
            "invoice {}: its charge {} carries invoice {}",
            invoice.invoice,
            charge.id,
            charge.invoice.as_deref().unwrap_or("null")
        ));
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_767_225_600;
    const END: i64 = 1_769_904_000;

    fn subscribed() -> Subscribed {
        Subscribed { id: "sub_1".into(), period_start: START, period_end: END }
    }

    fn invoice(id: &str, status: &str, period_start: i64, charge: Option<&str>) -> InvoiceView {
        InvoiceView {
            id: id.into(),
            status: status.into(),
            period_start,
            subscription: Some("sub_1".into()),
            charge: charge.map(Into::into),
        }
    }

    fn charge(id: &str, status: &str, invoice: Option<&str>) -> ChargeView {
        ChargeView {
            id: id.into(),
            status: status.into(),
            invoice: invoice.map(Into::into),
            gateway_reference: Some(format!("sbx_{id}")),
        }
    }

    #[test]
    fn a_first_and_a_renewal_invoice_both_paid_pass() {
        let invoices = vec![
            invoice("in_2", "paid", END, Some("ch_2")),
            invoice("in_1", "paid", START, Some("ch_1")),
        ];
        let (paid, mismatches) = judge_invoices(&subscribed(), &invoices);
        assert!(mismatches.is_empty(), "{mismatches:?}");
        let expected = [
            (false, PaidInvoice { invoice: "in_1".into(), charge: "ch_1".into() }),
            (true, PaidInvoice { invoice: "in_2".into(), charge: "ch_2".into() }),
        ];
        assert_eq!(paid, expected);
    }

    #[test]
    fn a_missing_renewal_a_second_one_or_an_open_one_is_a_mismatch() {
        let first = || invoice("in_1", "paid", START, Some("ch_1"));
        let (paid, missing) = judge_invoices(&subscribed(), &[first()]);
        assert_eq!(paid.len(), 1);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].contains("0 renewal invoices"), "{missing:?}");

        let twice = [
            invoice("in_3", "paid", END, Some("ch_3")),
            invoice("in_2", "paid", END, Some("ch_2")),
            first(),
        ];
        let (paid, doubled) = judge_invoices(&subscribed(), &twice);
        assert!(paid.iter().all(|(renewal, _)| !renewal), "no renewal counts as paid");
        assert!(doubled[0].contains("2 renewal invoices"), "{doubled:?}");

        let open = [invoice("in_2", "open", END, Some("ch_2")), first()];
        let (_, unpaid) = judge_invoices(&subscribed(), &open);
        assert!(unpaid[0].contains("is open, not paid"), "{unpaid:?}");

        let no_charge = [invoice("in_2", "paid", END, None), first()];
        let (_, free) = judge_invoices(&subscribed(), &no_charge);
        assert!(free[0].contains("paid with no charge"), "{free:?}");
    }

    #[test]
    fn an_invoice_of_another_period_is_a_mismatch() {
        let invoices = [
            invoice("in_9", "paid", END + 2_678_400, Some("ch_9")),
            invoice("in_2", "paid", END, Some("ch_2")),
            invoice("in_1", "paid", START, Some("ch_1")),
        ];
        let (paid, mismatches) = judge_invoices(&subscribed(), &invoices);
        assert_eq!(paid.len(), 2);
        assert_eq!(mismatches.len(), 1, "{mismatches:?}");
        assert!(mismatches[0].contains("unexpected invoice in_9"), "{mismatches:?}");
    }

    #[test]
    fn the_paying_charge_must_have_succeeded_and_name_its_invoice() {
        let paid = PaidInvoice { invoice: "in_2".into(), charge: "ch_2".into() };
        assert!(judge_charge(&paid, &charge("ch_2", "succeeded", Some("in_2"))).is_empty());
        assert_eq!(judge_charge(&paid, &charge("ch_2", "failed", Some("in_2"))).len(), 1);
        let unnamed = judge_charge(&paid, &charge("ch_2", "succeeded", None));
        assert!(unnamed[0].contains("carries invoice null"), "{unnamed:?}");
    }

    /// Two subscriptions, all paid; `sub_2`'s invoices named by their subscription field only.
    fn fleet() -> (Vec<Subscribed>, Vec<InvoiceView>, Vec<ChargeView>) {
        let second =
            Subscribed { id: "sub_2".into(), period_start: START + 5, period_end: END + 5 };
        let of_second = |id: &str, period_start: i64, charge: &str| InvoiceView {
            subscription: Some("sub_2".into()),
            ..invoice(id, "paid", period_start, Some(charge))
        };
        let invoices = vec![
            of_second("in_4", END + 5, "ch_4"),
            invoice("in_3", "paid", END, Some("ch_3")),
            of_second("in_2", START + 5, "ch_2"),
            invoice("in_1", "paid", START, Some("ch_1")),
            InvoiceView { subscription: None, ..invoice("in_0", "open", START, None) },
        ];
        let charges = vec![
            charge("ch_ordinary", "succeeded", None),
            charge("ch_4", "succeeded", Some("in_4")),
            charge("ch_3", "succeeded", Some("in_3")),
            charge("ch_2", "succeeded", Some("in_2")),
            charge("ch_1", "succeeded", Some("in_1")),
        ];
        (vec![subscribed(), second], invoices, charges)
    }

    #[test]
    fn a_clean_fleet_passes_from_the_account_lists() {
        let (subscriptions, invoices, charges) = fleet();
        let mut found = Verification::default();
        let paying = check_fleet(&mut found, &subscriptions, invoices, charges);
        assert!(found.passed(), "{:?}", found.mismatches);
        assert_eq!((found.subscriptions_checked, found.renewals_paid), (2, 2));
        assert_eq!((found.invoices_paid, found.charges_checked, paying.len()), (4, 4, 4));
        assert_eq!(paying[0].gateway_reference.as_deref(), Some("sbx_ch_1"));
    }

    #[test]
    fn a_duplicate_renewal_a_missing_or_second_charge_or_a_repeated_record_is_a_mismatch() {
        let (subscriptions, mut invoices, charges) = fleet();
        invoices.insert(0, invoice("in_5", "paid", END, Some("ch_5")));
        let mut found = Verification::default();
        check_fleet(&mut found, &subscriptions, invoices, charges.clone());
        assert_eq!(found.mismatch_count, 1, "{:?}", found.mismatches);
        assert!(
            found.mismatches[0].contains("sub_1: 2 renewal invoices"),
            "{:?}",
            found.mismatches
        );
        assert_eq!(found.renewals_paid, 1);

        let (subscriptions, invoices, mut charges) = fleet();
        charges.retain(|charge| charge.id != "ch_3");
        charges.insert(0, charge("ch_6", "succeeded", Some("in_1")));
        let mut found = Verification::default();
        check_fleet(&mut found, &subscriptions, invoices, charges);
        assert_eq!(found.mismatch_count, 2, "{:?}", found.mismatches);
        let texts = found.mismatches.join("\n");
        assert!(
            texts.contains("in_1: paid by ch_1 but also by the succeeded charge ch_6"),
            "{texts}"
        );
        assert!(
            texts.contains("in_3: its charge ch_3 is not among the account's charges"),
            "{texts}"
        );

        let (subscriptions, mut invoices, mut charges) = fleet();
        invoices.push(invoices[1].clone());
        charges.push(charges[1].clone());
        let mut found = Verification::default();
        check_fleet(&mut found, &subscriptions, invoices, charges);
        let texts = found.mismatches.join("\n");
        assert!(texts.contains("invoice in_3 is listed more than once"), "{texts}");
        assert!(texts.contains("charge ch_4 is listed more than once"), "{texts}");
        assert!(texts.contains("sub_1: 2 renewal invoices"), "{texts}");
    }

    #[test]
    fn every_paying_charge_needs_exactly_one_ledger_entry() {
        use super::ledger::LedgerEntry;
        let entry = |reference: &str, key: &str| LedgerEntry {
            gateway_reference: reference.into(),
            idempotency_key: key.into(),
            kind: "charge".into(),
        };
        let mut index = LedgerIndex::from_entries([
            entry("sbx_1", "ch_1"),
            entry("sbx_2", "ch_2"),
            entry("sbx_3", "ch_2"),
            entry("sbx_9", "ch_other"),
        ]);
        let paying = |invoice: &str, charge: &str, reference: &str| PayingCharge {
            invoice: invoice.into(),
            charge: charge.into(),
            gateway_reference: Some(reference.into()),
        };
        let mut found = Verification::default();
        let charges = [
            paying("in_1", "ch_1", "sbx_1"),
            paying("in_2", "ch_2", "sbx_2"),
            paying("in_3", "ch_3", "sbx_x"),
        ];
        match_ledger(&mut found, &mut index, &charges);
        assert_eq!(found.mismatch_count, 2, "{:?}", found.mismatches);
        assert!(found.mismatches[0].contains("in_2") && found.mismatches[0].contains("has 2"));
        assert!(found.mismatches[1].contains("in_3") && found.mismatches[1].contains("has 0"));
        assert_eq!((found.ledger_charge_entries, found.ledger_charge_entries_matched), (4, 3));
        assert!(!found.passed());
    }
}
