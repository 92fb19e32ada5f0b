//! Revenue by period and currency, on one of three bases (objects on test clocks left out, or,
//! asked for one clock, only that clock's, on the billings and recognized bases, whose days
//! are the clock's):
//! - **cash**: the money that moved, by the day it moved, read from the books' revenue days
//!   (kept with every posting; see [`crate::domain::revenue`]): charges (tax and discounts in
//!   them), refunds, disputes net of those won, gateway fees;
//! - **billings**: what invoices billed, by the day they were finalized (void ones left out),
//!   and what credit notes gave back, by the day they were issued; a charge that paid no
//!   invoice (a single course, an instalment) is billed by the day it succeeded, and its
//!   refunds give back by the day they were made;
//! - **recognized**: what invoices billed for a service period (after discounts, before tax),
//!   recognized day by day over it; a line without a period is recognized when its invoice is
//!   finalized, and a charge that paid no invoice when it succeeded.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Granularity, share};
use crate::domain::revenue::{DAY_SECS, day_of};
use crate::domain::{
    AccountId, ChargeId, ChargeStatus, CreditNote, CreditNoteId, Currency, CustomerId, Invoice,
    InvoiceStatus, RefundStatus, Revenue, TestClockId,
};
use crate::store::{CreditNoteFilter, Store, StoreError, each_charge, each_in_pages, each_invoice};

/// Invoices and credit notes read at a time.
const PAGE: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Cash,
    Billings,
    Recognized,
}

impl Basis {
    pub const ALL: [Basis; 3] = [Basis::Cash, Basis::Billings, Basis::Recognized];

    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Cash => "cash",
            Basis::Billings => "billings",
            Basis::Recognized => "recognized",
        }
    }

    pub fn parse(text: &str) -> Option<Basis> {
        Basis::ALL.into_iter().find(|basis| basis.as_str() == text)
    }
}

/// What a revenue report covers.
#[derive(Debug, Clone)]
pub struct RevenueQuery {
    pub from: i64,
    pub to: i64,
    pub granularity: Granularity,
    pub currency: Option<Currency>,
    pub basis: Basis,
    /// Only the objects on this test clock (billings and recognized bases), instead of only
    /// those on none.
    pub test_clock: Option<TestClockId>,
}

/// One period's revenue in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueRow {
    pub period_start: i64,
    pub currency: Currency,
    pub revenue: Revenue,
}

/// Each period's revenue, by period and then currency; periods with nothing are left out.
pub fn revenue(
    store: &dyn Store,
    account: &AccountId,
    query: &RevenueQuery,
) -> Result<Vec<RevenueRow>, StoreError> {
    let mut days = Days::new(query);
    match query.basis {
        Basis::Cash => {
            let (from_day, to_day) = (day_of(query.from), day_of(query.to - 1) + 1);
            for kept in store.revenue_days(account, query.currency, from_day, to_day)? {
                days.add(kept.currency, kept.day, kept.revenue);
            }
        }
        Basis::Billings | Basis::Recognized => {
            let mut clocks = Clocks::new(store, account, query.test_clock.as_ref());
            each_invoice(store, account, &mut |invoice| {
                if !clocks.reported(&invoice.customer)? {
                    return Ok(());
                }
                match query.basis {
                    Basis::Billings => bill(&mut days, &invoice),
                    _ => recognize(&mut days, &invoice),
                }
                Ok(())
            })?;
            direct_charges(store, account, query.basis, &mut clocks, &mut days)?;
            if query.basis == Basis::Billings {
                each_credit_note(store, account, &mut |note| {
                    if clocks.reported(&note.customer)? {
                        let refunds = Revenue { refunds: note.total_minor, ..Revenue::default() };
                        days.add(note.currency, day_of(note.created), refunds);
                    }
                    Ok(())
                })?;
            }
        }
    }
    Ok(days.rows())
}

/// Revenue gathered by period and currency, within the query's range and currency.
struct Days<'a> {
    query: &'a RevenueQuery,
    periods: BTreeMap<(i64, String), (Currency, Revenue)>,
}

impl<'a> Days<'a> {
    fn new(query: &'a RevenueQuery) -> Days<'a> {
        Days { query, periods: BTreeMap::new() }
    }

    fn add(&mut self, currency: Currency, day: i64, revenue: Revenue) {
        let at = day * DAY_SECS;
        let in_range = at >= day_of(self.query.from) * DAY_SECS && at < self.query.to;
        if !in_range || self.query.currency.is_some_and(|wanted| wanted != currency) {
            return;
        }
        let period = self.query.granularity.period_of_day(day);
        let code = crate::domain::money::currency_code(currency);
        let (_, sum) = self.periods.entry((period, code)).or_insert((currency, Revenue::default()));
        *sum = sum.plus(revenue).unwrap_or(*sum);
    }

    fn rows(self) -> Vec<RevenueRow> {
        self.periods
            .into_iter()
            .map(|((period_start, _), (currency, revenue))| RevenueRow {
                period_start,
                currency,
                revenue,
            })
            .collect()
    }
}

/// An invoice billed on the day it was finalized; a void one billed nothing.
fn bill(days: &mut Days<'_>, invoice: &Invoice) {
    let Some(finalized) = invoice.finalized_at else { return };
    if invoice.status == InvoiceStatus::Void {
        return;
    }
    let billed = Revenue {
        gross: invoice.total_minor,
        discounts: invoice.discounts.iter().map(|discount| discount.amount_minor).sum(),
        tax: invoice.tax.iter().map(|tax| tax.amount_minor).sum(),
        ..Revenue::default()
    };
    days.add(invoice.currency, day_of(finalized), billed);
}

/// Each line of a finalized invoice recognized over its period, day by day, in shares that
/// add up to the line exactly.
fn recognize(days: &mut Days<'_>, invoice: &Invoice) {
    let Some(finalized) = invoice.finalized_at else { return };
    if invoice.status == InvoiceStatus::Void {
        return;
    }
    for line in &invoice.lines {
        let net = line.net_amount_minor(invoice.tax_behavior);
        let (start, end) = (line.period_start, line.period_end);
        if end <= start {
            let revenue =
                Revenue { gross: net, discounts: line.discount_minor, ..Revenue::default() };
            days.add(invoice.currency, day_of(finalized), revenue);
            continue;
        }
        let whole = end - start;
        for day in day_of(start)..=day_of(end - 1) {
            let (day_start, day_end) =
                ((day * DAY_SECS).max(start), ((day + 1) * DAY_SECS).min(end));
            let (before, through) = (day_start - start, day_end - start);
            let revenue = Revenue {
                gross: share(net, through, whole) - share(net, before, whole),
                discounts: share(line.discount_minor, through, whole)
                    - share(line.discount_minor, before, whole),
                ..Revenue::default()
            };
            days.add(invoice.currency, day, revenue);
        }
    }
}

/// Charges that paid no invoice, on the billings or recognized basis: each that succeeded is
/// billed (its amount, with its discounts and tax) and its revenue recognized (before tax) on
/// the day it succeeded; on the billings basis, what its refunds gave back on their day.
fn direct_charges(
    store: &dyn Store,
    account: &AccountId,
    basis: Basis,
    clocks: &mut Clocks<'_>,
    days: &mut Days<'_>,
) -> Result<(), StoreError> {
    let mut refunded: HashMap<CustomerId, HashSet<ChargeId>> = HashMap::new();
    each_charge(store, account, &mut |charge| {
        if charge.status != ChargeStatus::Succeeded
            || charge.invoice.is_some()
            || !clocks.reported(&charge.customer)?
        {
            return Ok(());
        }
        let (discounts, tax) = charge.breakdown.as_deref().map_or((0, 0), |breakdown| {
            let discounts = breakdown.discounts.iter().map(|discount| discount.amount_minor);
            (discounts.sum(), breakdown.tax.iter().map(|tax| tax.amount_minor).sum())
        });
        let amount = charge.amount.amount_minor;
        let revenue = match basis {
            Basis::Billings => Revenue { gross: amount, discounts, tax, ..Revenue::default() },
            _ => Revenue { gross: amount - tax, discounts, ..Revenue::default() },
        };
        let day = day_of(charge.succeeded_at.unwrap_or(charge.created));
        days.add(charge.amount.currency, day, revenue);
        if basis == Basis::Billings && charge.amount_refunded_minor > 0 {
            refunded.entry(charge.customer).or_default().insert(charge.id);
        }
        Ok(())
    })?;
    for (customer, charges) in refunded {
        for refund in store.refunds(account, &customer)? {
            let of_direct = refund.charge.as_ref().is_some_and(|charge| charges.contains(charge));
            if refund.status == RefundStatus::Succeeded && of_direct {
                let refunds = Revenue { refunds: refund.amount.amount_minor, ..Revenue::default() };
                days.add(refund.amount.currency, day_of(refund.created), refunds);
            }
        }
    }
    Ok(())
}

/// Whose objects a report covers: customers on no test clock, or on the one asked for. Each
/// customer's clock is read once.
struct Clocks<'a> {
    store: &'a dyn Store,
    account: &'a AccountId,
    asked: Option<&'a TestClockId>,
    known: HashMap<CustomerId, bool>,
}

impl<'a> Clocks<'a> {
    fn new(
        store: &'a dyn Store,
        account: &'a AccountId,
        asked: Option<&'a TestClockId>,
    ) -> Clocks<'a> {
        Clocks { store, account, asked, known: HashMap::new() }
    }

    fn reported(&mut self, customer: &CustomerId) -> Result<bool, StoreError> {
        if let Some(known) = self.known.get(customer) {
            return Ok(*known);
        }
        let clock = self.store.customer_test_clock(self.account, customer)?;
        let reported = clock.as_ref() == self.asked;
        self.known.insert(customer.clone(), reported);
        Ok(reported)
    }
}

fn each_credit_note(
    store: &dyn Store,
    account: &AccountId,
    visit: &mut dyn FnMut(CreditNote) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let filter = CreditNoteFilter::default();
    let read = |after: Option<&CreditNoteId>| store.credit_notes(account, &filter, PAGE, after);
    each_in_pages(read, |note| note.id.clone(), visit)
}
