//! After the burst: did every subscription renew exactly once, paid, and was every paying charge
//! made exactly once at the processor? For each subscription:
//!
//! - `GET /v1/invoices?subscription=…&limit=100` lists exactly two invoices: the first (its
//!   `period_start` the first period's start) and the renewal (its `period_start` the first
//!   period's end), both `paid`, each with the `charge` that paid it;
//! - `GET /v1/charges/{charge}` of each is `succeeded` and carries `invoice` = that invoice.
//!
//! Then the sandbox ledger, read whole, must hold exactly one `charge` entry for each of those
//! charges (matched by its `idempotency_key`, the charge id, or by the charge's
//! `gateway_reference`). Every departure is a mismatch, named with its ids; a read that fails is
//! one too, so the figures of a long burst are still written when the check cannot finish.

use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::ledger::{self, LedgerIndex};
use super::subscriptions::Subscribed;
use super::{excerpt, path_segment, query_value};
use crate::limits::{
    LIST_PAGE_LIMIT, MISMATCHES_KEPT_MAX, SETUP_CONCURRENCY, VERIFY_PROGRESS_EVERY,
};
use crate::report::format::count;
use crate::setup::Caller;
use crate::target::RequestSpec;

const PAID: &str = "paid";
const SUCCEEDED: &str = "succeeded";

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
pub struct InvoiceList {
    pub data: Vec<InvoiceView>,
    pub has_more: bool,
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

/// One subscription's findings.
#[derive(Debug, Default)]
struct SubscriptionCheck {
    renewal_paid: bool,
    invoices_paid: usize,
    paying: Vec<PayingCharge>,
    mismatches: Vec<String>,
}

/// Checks every subscription, then the ledger.
pub async fn verify(caller: &Caller, subscriptions: &[Subscribed]) -> Verification {
    let started = Instant::now();
    let mut found = Verification::default();
    let mut paying = Vec::with_capacity(subscriptions.len() * 2);
    let mut checks = stream::iter(subscriptions)
        .map(|subscribed| check_subscription(caller, subscribed))
        .buffer_unordered(SETUP_CONCURRENCY);
    while let Some(check) = checks.next().await {
        found.subscriptions_checked += 1;
        found.renewals_paid += usize::from(check.renewal_paid);
        found.invoices_paid += check.invoices_paid;
        check.mismatches.into_iter().for_each(|text| found.mismatch(text));
        paying.extend(check.paying);
        if found.subscriptions_checked.is_multiple_of(VERIFY_PROGRESS_EVERY) {
            eprintln!(
                "verify: {} / {} subscriptions checked ({} mismatches)",
                count(found.subscriptions_checked as f64),
                count(subscriptions.len() as f64),
                found.mismatch_count
            );
        }
    }
    found.charges_checked = paying.len();
    eprintln!("verify: reading the sandbox ledger");
    let ledger_started = Instant::now();
    let ledger = ledger::read(caller).await;
    found.ledger_read_secs = ledger_started.elapsed().as_secs_f64();
    match ledger {
        Ok(mut index) => match_ledger(&mut found, &mut index, &paying),
        Err(error) => found.mismatch(format!("the sandbox ledger could not be read: {error}")),
    }
    found.secs = started.elapsed().as_secs_f64();
    found
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

async fn check_subscription(caller: &Caller, subscribed: &Subscribed) -> SubscriptionCheck {
    let mut check = SubscriptionCheck::default();
    let list = match list_invoices(caller, &subscribed.id).await {
        Ok(list) => list,
        Err(error) => {
            check.mismatches.push(format!("subscription {}: {error}", subscribed.id));
            return check;
        }
    };
    let (paid, mismatches) = judge_invoices(subscribed, &list);
    check.mismatches = mismatches;
    check.renewal_paid = paid.iter().any(|(renewal, _)| *renewal);
    check.invoices_paid = paid.len();
    for (_, invoice) in paid {
        match read_charge(caller, &invoice.charge).await {
            Ok(charge) => {
                check.mismatches.extend(judge_charge(&invoice, &charge));
                check.paying.push(PayingCharge {
                    invoice: invoice.invoice,
                    charge: invoice.charge,
                    gateway_reference: charge.gateway_reference,
                });
            }
            Err(error) => check.mismatches.push(format!("invoice {}: {error}", invoice.invoice)),
        }
    }
    check
}

/// The paid invoices where they belong (`true` for the renewal's), and every mismatch: each of
/// the two periods must have exactly one invoice, `paid`, with a charge, and there must be no
/// other invoice.
pub fn judge_invoices(
    subscribed: &Subscribed,
    list: &InvoiceList,
) -> (Vec<(bool, PaidInvoice)>, Vec<String>) {
    let sub = &subscribed.id;
    let mut mismatches = Vec::new();
    if list.has_more {
        mismatches.push(format!("subscription {sub}: more than {LIST_PAGE_LIMIT} invoices"));
    }
    for invoice in &list.data {
        if invoice.subscription.as_deref().is_some_and(|of| of != sub) {
            mismatches.push(format!(
                "subscription {sub}: its invoice list holds {} of {}",
                invoice.id,
                invoice.subscription.as_deref().unwrap_or_default()
            ));
        }
    }
    let mut paid = Vec::new();
    let periods =
        [(false, "first", subscribed.period_start), (true, "renewal", subscribed.period_end)];
    for (renewal, what, period_start) in periods {
        let of_period: Vec<&InvoiceView> =
            list.data.iter().filter(|invoice| invoice.period_start == period_start).collect();
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
    for invoice in list.data.iter().filter(|invoice| !expected.contains(&invoice.period_start)) {
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

async fn list_invoices(caller: &Caller, subscription: &str) -> Result<InvoiceList, String> {
    let path =
        format!("/v1/invoices?subscription={}&limit={LIST_PAGE_LIMIT}", query_value(subscription));
    read_json(caller, path).await
}

async fn read_charge(caller: &Caller, charge: &str) -> Result<ChargeView, String> {
    read_json(caller, format!("/v1/charges/{}", path_segment(charge))).await
}

async fn read_json<T: for<'de> Deserialize<'de>>(
    caller: &Caller,
    path: String,
) -> Result<T, String> {
    let answer =
        caller.call(RequestSpec::get(path.clone())).await.map_err(|error| error.to_string())?;
    serde_json::from_slice(&answer.body).map_err(|error| {
        format!("GET {path} answered JSON unread ({error}): {}", excerpt(&answer.body))
    })
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

    fn list(data: Vec<InvoiceView>) -> InvoiceList {
        InvoiceList { data, has_more: false }
    }

    #[test]
    fn a_first_and_a_renewal_invoice_both_paid_pass() {
        let invoices = list(vec![
            invoice("in_2", "paid", END, Some("ch_2")),
            invoice("in_1", "paid", START, Some("ch_1")),
        ]);
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
        let (paid, missing) = judge_invoices(&subscribed(), &list(vec![first()]));
        assert_eq!(paid.len(), 1);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].contains("0 renewal invoices"), "{missing:?}");

        let twice = list(vec![
            invoice("in_3", "paid", END, Some("ch_3")),
            invoice("in_2", "paid", END, Some("ch_2")),
            first(),
        ]);
        let (paid, doubled) = judge_invoices(&subscribed(), &twice);
        assert!(paid.iter().all(|(renewal, _)| !renewal), "no renewal counts as paid");
        assert!(doubled[0].contains("2 renewal invoices"), "{doubled:?}");

        let open = list(vec![invoice("in_2", "open", END, Some("ch_2")), first()]);
        let (_, unpaid) = judge_invoices(&subscribed(), &open);
        assert!(unpaid[0].contains("is open, not paid"), "{unpaid:?}");

        let no_charge = list(vec![invoice("in_2", "paid", END, None), first()]);
        let (_, free) = judge_invoices(&subscribed(), &no_charge);
        assert!(free[0].contains("paid with no charge"), "{free:?}");
    }

    #[test]
    fn an_invoice_of_another_period_or_subscription_is_a_mismatch() {
        let mut stray = invoice("in_9", "paid", END + 2_678_400, Some("ch_9"));
        stray.subscription = Some("sub_2".into());
        let invoices = list(vec![
            stray,
            invoice("in_2", "paid", END, Some("ch_2")),
            invoice("in_1", "paid", START, Some("ch_1")),
        ]);
        let (paid, mismatches) = judge_invoices(&subscribed(), &invoices);
        assert_eq!(paid.len(), 2);
        assert_eq!(mismatches.len(), 2, "{mismatches:?}");
        assert!(mismatches.iter().any(|text| text.contains("in_9 of sub_2")));
        assert!(mismatches.iter().any(|text| text.contains("unexpected invoice in_9")));
    }

    #[test]
    fn the_paying_charge_must_have_succeeded_and_name_its_invoice() {
        let paid = PaidInvoice { invoice: "in_2".into(), charge: "ch_2".into() };
        let charge = |status: &str, invoice: Option<&str>| ChargeView {
            id: "ch_2".into(),
            status: status.into(),
            invoice: invoice.map(Into::into),
            gateway_reference: Some("sbx_2".into()),
        };
        assert!(judge_charge(&paid, &charge("succeeded", Some("in_2"))).is_empty());
        assert_eq!(judge_charge(&paid, &charge("failed", Some("in_2"))).len(), 1);
        let unnamed = judge_charge(&paid, &charge("succeeded", None));
        assert!(unnamed[0].contains("carries invoice null"), "{unnamed:?}");
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
