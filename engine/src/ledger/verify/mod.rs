//! `kassa verify-ledger`: every ledger account's totals and every day's revenue recomputed from
//! the postings and compared with what the books keep, every posting checked whole, and every charge and
//! refund since the books began, and every payout, matched to the postings it made; every
//! customer's balance and every invoice's and sale's accruals matched to what their postings
//! hold. The first difference is named.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::domain::money::currency_code;
use crate::domain::revenue::day_of;
use crate::domain::{
    AccountId, Charge, ChargeStatus, Currency, CustomerId, LedgerAccount, LedgerBalance, Payout,
    PayoutId, Posting, PostingKind, Refund, RefundId, RefundStatus, Revenue,
};
use crate::ledger::accrual::Accrued;
use crate::ledger::sale;
use crate::store::{BooksPart, Store, StoreError, each_charge, each_in_pages, each_invoice};

mod source_nets;

use source_nets::SourceNets;

/// What a check that passed looked at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verified {
    pub accounts: usize,
    pub postings: u64,
    pub totals: usize,
    pub charges: u64,
    pub refunds: u64,
    pub payouts: u64,
    pub customer_balances: u64,
    pub invoices: u64,
    pub sales: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the books do not balance: {0}")]
    Difference(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// Charges read at a time while matching them to the books.
const CHARGES_PAGE: usize = 1_000;

pub fn verify(store: &dyn Store) -> Result<Verified, VerifyError> {
    let mut verified = Verified::default();
    let began = Began {
        books: store.books_began(BooksPart::Money)?,
        accruals: store.books_began(BooksPart::Accruals)?,
        sales: store.books_began(BooksPart::Sales)?,
    };
    for account in store.accounts()? {
        verify_account(store, &account.id, &began, &mut verified)?;
        verified.accounts += 1;
    }
    Ok(verified)
}

/// When the books began, and when they began to carry invoices' and sales' accruals: what
/// moved before is not in them.
struct Began {
    books: Option<i64>,
    accruals: Option<i64>,
    sales: Option<i64>,
}

/// What the postings of one account add up to.
#[derive(Default)]
struct Recomputed {
    totals: BTreeMap<Currency, BTreeMap<LedgerAccount, LedgerBalance>>,
    /// What each object's postings moved into the platform's balance.
    platform_net_by_source: SourceNets,
    /// What each transfer's and payout's postings moved into its payee's balance.
    payee_net_by_source: HashMap<String, i64>,
    /// What each payout's postings left in transit.
    transit_by_source: HashMap<String, i64>,
    /// What each customer's postings left in customer balances (credit: positive).
    credit_by_customer: HashMap<CustomerId, i64>,
    /// What each refund's postings moved into customer balances (a refund of credit's).
    credit_by_refund: HashMap<String, i64>,
    /// What each invoice's accrual postings hold.
    accrued_by_invoice: HashMap<String, Accrued>,
    /// What each sale's accrual postings hold, by its charge.
    accrued_by_sale: HashMap<String, Accrued>,
    /// The platform's revenue per currency and day.
    revenue: BTreeMap<(Currency, i64), Revenue>,
}

fn verify_account(
    store: &dyn Store,
    account: &AccountId,
    began: &Began,
    verified: &mut Verified,
) -> Result<(), VerifyError> {
    let mut recomputed = Recomputed::default();
    let mut difference = None;
    store.each_posting(account, &mut |posting| {
        verified.postings += 1;
        if difference.is_none() {
            difference = add(&mut recomputed, account, &posting);
        }
        Ok(())
    })?;
    if let Some(difference) = difference {
        return Err(VerifyError::Difference(difference));
    }
    compare_totals(store, account, &recomputed, verified)?;
    compare_revenue(store, account, &recomputed)?;
    if let Some(books) = began.books {
        match_objects(store, account, (books, began.sales), &recomputed, verified)?;
    }
    match_customer_balances(store, account, &recomputed, verified)?;
    if let Some(began) = began.accruals {
        match_invoices(store, account, began, &recomputed, verified)?;
    }
    match_payouts(store, account, &recomputed, verified)
}

/// Every customer whose balance the books carry against its postings: the credit its balance
/// holds (or, negative, what it owes) is what they left in customer balances.
fn match_customer_balances(
    store: &dyn Store,
    account: &AccountId,
    recomputed: &Recomputed,
    verified: &mut Verified,
) -> Result<(), VerifyError> {
    let read = |after: Option<&CustomerId>| store.customers(account, CHARGES_PAGE, after);
    each_in_pages(
        read,
        |customer| customer.id.clone(),
        |customer| {
            if !customer.balance_in_books {
                return Ok(());
            }
            verified.customer_balances += 1;
            let posted =
                recomputed.credit_by_customer.get(&customer.id).copied().unwrap_or_default();
            let credit = -customer.balance_minor;
            if posted == credit {
                return Ok(());
            }
            Err(VerifyError::Difference(format!(
                "customer {} holds {credit} of credit on its balance, its postings {posted}",
                customer.id
            )))
        },
    )
}

/// Every invoice made since the books began to carry accruals (or with accrual postings)
/// against its postings: they hold what its state accrues.
fn match_invoices(
    store: &dyn Store,
    account: &AccountId,
    began: i64,
    recomputed: &Recomputed,
    verified: &mut Verified,
) -> Result<(), VerifyError> {
    until_difference(
        |visit| each_invoice(store, account, visit),
        |invoice| {
            let held = recomputed.accrued_by_invoice.get(invoice.id.as_str()).copied();
            if invoice.created < began && held.is_none() {
                return None;
            }
            verified.invoices += 1;
            let (held, accrues) = (held.unwrap_or_default(), Accrued::of(&invoice));
            (held != accrues).then(|| {
                format!(
                    "invoice {} ({}) accrues {accrues:?}, its postings hold {held:?}",
                    invoice.id,
                    invoice.status.as_str()
                )
            })
        },
    )
}

/// `walk` over records, each given to `check`, which answers what is wrong with it: the first
/// difference stops the walk and is what the check answers.
fn until_difference<T>(
    walk: impl FnOnce(&mut dyn FnMut(T) -> Result<(), StoreError>) -> Result<(), StoreError>,
    mut check: impl FnMut(T) -> Option<String>,
) -> Result<(), VerifyError> {
    let mut difference = None;
    let walked = walk(&mut |record| {
        difference = check(record);
        match difference {
            Some(_) => Err(StoreError::Storage("a difference was found".into())),
            None => Ok(()),
        }
    });
    if let Some(difference) = difference {
        return Err(VerifyError::Difference(difference));
    }
    Ok(walked?)
}

/// Every payout against its postings: its amount taken from the payee, less what failed and
/// went back; in transit, what is not settled.
fn match_payouts(
    store: &dyn Store,
    account: &AccountId,
    recomputed: &Recomputed,
    verified: &mut Verified,
) -> Result<(), VerifyError> {
    let read = |after: Option<&PayoutId>| store.account_payouts(account, CHARGES_PAGE, after);
    each_in_pages(
        read,
        |payout| payout.id.clone(),
        |payout| {
            verified.payouts += 1;
            match_payout(&payout, recomputed)
        },
    )
}

fn match_payout(payout: &Payout, recomputed: &Recomputed) -> Result<(), VerifyError> {
    let source = payout.id.as_str();
    let taken = -recomputed.payee_net_by_source.get(source).copied().unwrap_or_default();
    let expected = payout.amount_minor - payout.returned_minor();
    if taken != expected {
        return Err(VerifyError::Difference(format!(
            "payout {} ({}) took {expected} from payee {}, its postings {taken}",
            payout.id,
            payout.status().as_str(),
            payout.payee
        )));
    }
    let unsettled: i64 = payout
        .parts
        .iter()
        .filter(|part| !part.status.settled())
        .map(|part| part.amount_minor)
        .sum();
    let in_transit = recomputed.transit_by_source.get(source).copied().unwrap_or_default();
    if in_transit != unsettled {
        return Err(VerifyError::Difference(format!(
            "payout {} has {unsettled} not settled, its postings leave {in_transit} in transit",
            payout.id
        )));
    }
    Ok(())
}

/// Adds a posting to what is recomputed; names what is wrong with it, if anything.
fn add(recomputed: &mut Recomputed, account: &AccountId, posting: &Posting) -> Option<String> {
    let id = &posting.id;
    if posting.account != *account {
        return Some(format!(
            "posting {id} is filed under {account}, made for {}",
            posting.account
        ));
    }
    if posting.legs.is_empty() {
        return Some(format!("posting {id} moves nothing"));
    }
    for leg in &posting.legs {
        if leg.amount_minor <= 0 || leg.debit == leg.credit {
            return Some(format!(
                "posting {id} has a leg of {} from {} to {}",
                leg.amount_minor,
                leg.debit.name(),
                leg.credit.name()
            ));
        }
    }
    let totals = recomputed.totals.entry(posting.currency).or_default();
    for leg in &posting.legs {
        let debited = total_of(totals, &leg.debit);
        debited.debits_minor = match debited.debits_minor.checked_add(leg.amount_minor) {
            Some(sum) => sum,
            None => return Some(format!("posting {id} takes {} past i64", leg.debit.name())),
        };
        let credited = total_of(totals, &leg.credit);
        credited.credits_minor = match credited.credits_minor.checked_add(leg.amount_minor) {
            Some(sum) => sum,
            None => return Some(format!("posting {id} takes {} past i64", leg.credit.name())),
        };
    }
    recomputed
        .platform_net_by_source
        .add(&posting.source, posting.net_for(&LedgerAccount::Platform));
    if let Some(payee) = &posting.payee {
        *recomputed.payee_net_by_source.entry(posting.source.clone()).or_default() +=
            posting.net_for(&LedgerAccount::Payee { payee: payee.clone() });
    }
    if let Some(revenue) = Revenue::of(posting) {
        let day =
            recomputed.revenue.entry((posting.currency, day_of(posting.created))).or_default();
        match day.plus(revenue) {
            Some(sum) => *day = sum,
            None => return Some(format!("posting {id} takes a day's revenue past i64")),
        }
    }
    let accrued_by = match posting.kind {
        PostingKind::Invoice => Some(&mut recomputed.accrued_by_invoice),
        PostingKind::Sale => Some(&mut recomputed.accrued_by_sale),
        _ => None,
    };
    if let Some(accrued_by) = accrued_by {
        accrued_by.entry(posting.source.clone()).or_default().add(posting);
    }
    let credit = posting.net_for(&LedgerAccount::CustomerBalances);
    if let Some(customer) = posting.customer.as_ref().filter(|_| credit != 0) {
        *recomputed.credit_by_customer.entry(customer.clone()).or_default() += credit;
        if RefundId::parse(&posting.source).is_some() {
            *recomputed.credit_by_refund.entry(posting.source.clone()).or_default() += credit;
        }
    }
    let in_transit = posting.net_for(&LedgerAccount::PayoutsInTransit);
    if in_transit != 0 {
        *recomputed.transit_by_source.entry(posting.source.clone()).or_default() += in_transit;
    }
    None
}

/// An account's totals among one currency's, made (zero) when first moved.
fn total_of<'a>(
    totals: &'a mut BTreeMap<LedgerAccount, LedgerBalance>,
    account: &LedgerAccount,
) -> &'a mut LedgerBalance {
    if !totals.contains_key(account) {
        totals.insert(account.clone(), LedgerBalance::default());
    }
    totals.get_mut(account).expect("inserted above")
}

fn compare_totals(
    store: &dyn Store,
    account: &AccountId,
    recomputed: &Recomputed,
    verified: &mut Verified,
) -> Result<(), VerifyError> {
    let stored = store.ledger_totals(account)?;
    let mut seen = HashSet::new();
    for kept in &stored {
        let key = (kept.account.clone(), kept.currency);
        let from_postings = recomputed
            .totals
            .get(&kept.currency)
            .and_then(|totals| totals.get(&kept.account))
            .copied()
            .unwrap_or_default();
        if kept.balance != from_postings {
            return Err(VerifyError::Difference(format!(
                "{account} {} {}: the books keep debits {} and credits {}, the postings add up \
                 to debits {} and credits {}",
                kept.account.name(),
                currency_code(kept.currency),
                kept.balance.debits_minor,
                kept.balance.credits_minor,
                from_postings.debits_minor,
                from_postings.credits_minor
            )));
        }
        seen.insert(key);
    }
    let moved = recomputed.totals.iter().flat_map(|(currency, totals)| {
        totals.keys().map(|ledger_account| (ledger_account.clone(), *currency))
    });
    if let Some((ledger_account, currency)) = moved.into_iter().find(|key| !seen.contains(key)) {
        return Err(VerifyError::Difference(format!(
            "{account} {} {}: postings with no totals kept",
            ledger_account.name(),
            currency_code(currency)
        )));
    }
    verified.totals += stored.len();
    Ok(())
}

/// The revenue days the books keep against those the postings add up to.
fn compare_revenue(
    store: &dyn Store,
    account: &AccountId,
    recomputed: &Recomputed,
) -> Result<(), VerifyError> {
    let kept = store.revenue_days(account, None, i64::MIN, i64::MAX)?;
    let kept: BTreeMap<(Currency, i64), Revenue> =
        kept.into_iter().map(|day| ((day.currency, day.day), day.revenue)).collect();
    let days: BTreeSet<&(Currency, i64)> = kept.keys().chain(recomputed.revenue.keys()).collect();
    for key in days {
        let (stored, from_postings) = (kept.get(key), recomputed.revenue.get(key));
        if stored.copied().unwrap_or_default() != from_postings.copied().unwrap_or_default() {
            return Err(VerifyError::Difference(format!(
                "{account} revenue of day {} in {}: the books keep {stored:?}, the postings add up to {from_postings:?}",
                key.1,
                currency_code(key.0)
            )));
        }
    }
    Ok(())
}

/// Every charge and refund made since the books began against the postings it made: a
/// succeeded charge brought its amount in (less its gateway's fee, and any recall) and moved
/// its transfer's net share, less what refunds reversed, to the payee; a succeeded refund took
/// its amount out; anything else moved nothing. Every charge made since the books began to
/// carry sales (or with sale postings) against them: they hold what its state accrues.
fn match_objects(
    store: &dyn Store,
    account: &AccountId,
    (began, sales_began): (i64, Option<i64>),
    recomputed: &Recomputed,
    verified: &mut Verified,
) -> Result<(), VerifyError> {
    let posted = |source: &str| recomputed.platform_net_by_source.get(source);
    let mut customers = HashSet::new();
    // Charges the gateway settled into another currency, whose refunds the books carry there.
    let mut converted = HashMap::new();
    until_difference(
        |visit| each_charge(store, account, visit),
        |charge| {
            customers.insert(charge.customer.clone());
            if charge.conversion.is_some() {
                converted.insert(charge.id.clone(), charge.clone());
            }
            if let Some(sales_began) = sales_began
                && let Some(difference) =
                    sale_difference(&charge, sales_began, recomputed, verified)
            {
                return Some(difference);
            }
            if charge.created < began {
                return None;
            }
            verified.charges += 1;
            charge_difference(&charge, recomputed, &posted)
        },
    )?;
    // A customer whose balance moved may have refunded its credit without any charge.
    customers.extend(recomputed.credit_by_customer.keys().cloned());
    for customer in customers {
        for refund in store.refunds(account, &customer)? {
            if refund.created < began {
                continue;
            }
            verified.refunds += 1;
            let charge = refund.charge.as_ref().and_then(|charge| converted.get(charge));
            if let Some(difference) = refund_difference(&refund, charge, recomputed, &posted) {
                return Err(VerifyError::Difference(difference));
            }
        }
    }
    Ok(())
}

/// What is wrong with a sale's accrual postings, if anything: they hold what its charge's state
/// accrues (nothing for a charge that pays an invoice). A charge made before the books carried
/// sales is left out unless it succeeded since.
fn sale_difference(
    charge: &Charge,
    began: i64,
    recomputed: &Recomputed,
    verified: &mut Verified,
) -> Option<String> {
    let held = recomputed.accrued_by_sale.get(charge.id.as_str()).copied();
    if charge.created < began && held.is_none() {
        return None;
    }
    verified.sales += 1;
    let (held, accrues) = (held.unwrap_or_default(), sale::accrues(charge));
    (held != accrues).then(|| {
        format!(
            "sale {} ({:?}, {} refunded) accrues {accrues:?}, its postings hold {held:?}",
            charge.id, charge.status, charge.amount_refunded_minor
        )
    })
}

/// What is wrong with a refund's postings, if anything. A succeeded refund of a charge took its
/// amount out of the platform's balance (converted as its charge was, where the gateway settled
/// the charge into another currency). A refund of credit never touches the platform's
/// balance: its amount left the customer's balance when it was recorded, and waits in transit
/// until it is paid; a failed one put it back.
fn refund_difference(
    refund: &Refund,
    converted: Option<&Charge>,
    recomputed: &Recomputed,
    posted: &dyn Fn(&str) -> Option<i64>,
) -> Option<String> {
    let source = refund.id.as_str();
    let (amount, status) = (refund.amount.amount_minor, refund.status);
    let platform = posted(source).unwrap_or_default();
    let booked = refund.booked(converted).amount_minor;
    let expected = match status {
        RefundStatus::Succeeded if !refund.of_balance() => -booked,
        _ => 0,
    };
    if platform != expected {
        return Some(format!(
            "refund {} ({status:?}) took {} out of the platform's balance, its postings {}",
            refund.id, -expected, -platform
        ));
    }
    if !refund.of_balance() {
        return None;
    }
    let credit = recomputed.credit_by_refund.get(source).copied().unwrap_or_default();
    let in_transit = recomputed.transit_by_source.get(source).copied().unwrap_or_default();
    let expected = match status {
        RefundStatus::Failed => (0, 0),
        RefundStatus::Pending => (-amount, amount),
        RefundStatus::Succeeded => (-amount, 0),
    };
    (expected != (credit, in_transit)).then(|| {
        format!(
            "refund {} of credit ({status:?}) took {} from the customer's balance and left {} \
             in transit, its postings {} and {in_transit}",
            refund.id, -expected.0, expected.1, -credit
        )
    })
}

/// What is wrong with a charge's postings, if anything: a succeeded charge brought its amount
/// in less the gateway's fee (which a recall does not give back), and its transfer moved the
/// net share less what refunds reversed to the payee.
fn charge_difference(
    charge: &Charge,
    recomputed: &Recomputed,
    posted: &dyn Fn(&str) -> Option<i64>,
) -> Option<String> {
    let expected = match charge.status {
        ChargeStatus::Succeeded => {
            charge.booked(charge.amount.amount_minor).amount_minor - charge.booked_fee()
        }
        _ => -charge.booked_fee(),
    };
    let held = posted(charge.id.as_str()).unwrap_or_default();
    if held != expected {
        return Some(format!(
            "charge {} ({:?}, {} {}) brought {expected} into the books, its postings {held}",
            charge.id,
            charge.status,
            charge.amount.amount_minor,
            currency_code(charge.amount.currency)
        ));
    }
    let transfer = charge.transfer.as_ref()?;
    let expected = match charge.status {
        ChargeStatus::Succeeded => transfer.net_minor() - transfer.reversed_minor,
        _ => 0,
    };
    let moved =
        recomputed.payee_net_by_source.get(transfer.id.as_str()).copied().unwrap_or_default();
    (moved != expected).then(|| {
        format!(
            "transfer {} of charge {} owes payee {} {expected}, its postings {moved}",
            transfer.id, charge.id, transfer.payee
        )
    })
}
