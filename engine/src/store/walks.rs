//! Walks over the store's lists that callers share: every page of a paginated list, and every
//! charge or invoice of an account however old (live ones, then archived ones).

use super::{CustomerStore, InvoiceFilter, Page, StoreError};
use crate::domain::{AccountId, Charge, CustomerId, Invoice, InvoiceId};

/// Hands every item of a paginated list to `visit`, page after page: `read(after)` reads the
/// page that follows the item `key` names `after` (the first page for `None`).
pub fn each_in_pages<T, K, E: From<StoreError>>(
    mut read: impl FnMut(Option<&K>) -> Result<Page<T>, StoreError>,
    key: impl Fn(&T) -> K,
    mut visit: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E> {
    let mut after = None;
    loop {
        let page = read(after.as_ref())?;
        let next = page.items.last().map(&key);
        for item in page.items {
            visit(item)?;
        }
        match (page.has_more, next) {
            (true, Some(last)) => after = Some(last),
            _ => return Ok(()),
        }
    }
}

/// Whether any of the customer's charges, however old (archived ones too), is one `keep` asks
/// for: its pages read until one is found.
pub fn any_charge(
    store: &dyn CustomerStore,
    account: &AccountId,
    customer: &CustomerId,
    keep: impl Fn(&Charge) -> bool,
) -> Result<bool, StoreError> {
    let mut starting_after = None;
    loop {
        let page = store.charges(account, customer, 100, starting_after.as_ref())?;
        if page.items.iter().any(&keep) {
            return Ok(true);
        }
        match (page.has_more, page.items.last()) {
            (true, Some(last)) => starting_after = Some(last.id.clone()),
            _ => break,
        }
    }
    let mut found = false;
    store.each_archived_charge(account, Some(customer), &mut |charge| {
        found |= keep(&charge);
        Ok(())
    })?;
    Ok(found)
}

/// Every charge of the account, live ones (customer by customer) and then archived ones: for
/// what must count every charge however old (the books' check, exports).
pub fn each_charge(
    store: &dyn CustomerStore,
    account: &AccountId,
    visit: &mut dyn FnMut(Charge) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    store.each_live_charge(account, &mut *visit)?;
    store.each_archived_charge(account, None, visit)
}

/// Every invoice of the account, live ones (newest first) and then archived ones: for reports
/// and exports.
pub fn each_invoice(
    store: &dyn CustomerStore,
    account: &AccountId,
    visit: &mut dyn FnMut(Invoice) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let filter = InvoiceFilter::default();
    let read = |after: Option<&InvoiceId>| store.invoices(account, &filter, EACH_PAGE, after);
    each_in_pages(read, |invoice| invoice.id.clone(), &mut *visit)?;
    store.each_archived_invoice(account, visit)
}

/// Records [`each_charge`] and [`each_invoice`] read at a time.
const EACH_PAGE: usize = 1_000;
