//! Subscriptions, invoices, credit notes, the schedule, plans and test clocks in sled.
//!
//! A subscription's schedule entry is derived from its record here, in the same change set, so
//! the schedule can never miss a subscription that has something due; an entry left behind by
//! a change is harmless (the actor finds nothing due and the scheduler removes it).

use super::view::TreeView;
use super::{Op, TreeId, TreeStore};
use crate::domain::{
    AccountId, Customer, CustomerId, Invoice, InvoiceId, PaymentPlan, PaymentPlanId, Plan, PlanId,
    Subscription, SubscriptionId, SubscriptionStatus, TestClock, TestClockId, TestClockStatus,
};
use crate::domain::{Charge, ChargeId, CreditNote, CreditNoteId};
use crate::store::codec::{decode, encode};
use crate::store::{
    ChargeFilter, CreditNoteFilter, DueEntry, InvoiceFilter, Page, Scheduled, StoreError, keys,
};

pub(super) fn subscription_ops(
    ops: &mut Vec<Op>,
    account: &AccountId,
    customer: &CustomerId,
    record: &Subscription,
    due_before: Option<i64>,
) {
    let id = record.id.as_str();
    let due = Due { scope: record.schedule_scope(), before: due_before, now: record.next_due() };
    schedule_ops(ops, account, customer, id, due);
    ops.push(Op::put(TreeId::Subscriptions, keys::owned(account, customer, id), encode(record)));
    ops.push(Op::put(
        TreeId::SubscriptionOwners,
        keys::by_id(account, id),
        customer.as_str().as_bytes().to_vec(),
    ));
}

pub(super) fn payment_plan_ops(
    ops: &mut Vec<Op>,
    account: &AccountId,
    customer: &CustomerId,
    record: &PaymentPlan,
    due_before: Option<i64>,
) {
    let id = record.id.as_str();
    let due = Due { scope: record.schedule_scope(), before: due_before, now: record.next_due() };
    schedule_ops(ops, account, customer, id, due);
    ops.push(Op::put(TreeId::PaymentPlans, keys::owned(account, customer, id), encode(record)));
    ops.push(Op::put(
        TreeId::PaymentPlanOwners,
        keys::by_id(account, id),
        customer.as_str().as_bytes().to_vec(),
    ));
}

/// Where a scheduled object's entry was and is now.
struct Due<'a> {
    scope: &'a str,
    before: Option<i64>,
    now: Option<i64>,
}

/// Moves the object's schedule entry from where it was due to where it is due now.
fn schedule_ops(ops: &mut Vec<Op>, account: &AccountId, customer: &CustomerId, id: &str, due: Due) {
    if let Some(before) = due.before
        && Some(before) != due.now
    {
        ops.push(Op::remove(
            TreeId::Schedule,
            keys::schedule(due.scope, before, account, customer, id),
        ));
    }
    if let Some(now) = due.now {
        ops.push(Op::put(
            TreeId::Schedule,
            keys::schedule(due.scope, now, account, customer, id),
            Vec::new(),
        ));
    }
}

pub(super) fn invoice_ops(
    ops: &mut Vec<Op>,
    account: &AccountId,
    customer: &CustomerId,
    invoice: &Invoice,
) {
    let id = invoice.id.as_str();
    let key = keys::owned(account, customer, id);
    ops.push(Op::put(TreeId::Invoices, key.clone(), encode(invoice)));
    ops.push(Op::put(
        TreeId::InvoiceOwners,
        keys::by_id(account, id),
        customer.as_str().as_bytes().to_vec(),
    ));
    ops.push(match invoice.collecting {
        true => Op::put(TreeId::Collecting, key, Vec::new()),
        false => Op::remove(TreeId::Collecting, key),
    });
    if let Some(token) = &invoice.page_token {
        let page = (account, &invoice.id);
        ops.push(Op::put(TreeId::InvoicePages, token.as_bytes().to_vec(), encode(&page)));
    }
}

pub(super) fn credit_note_ops(
    ops: &mut Vec<Op>,
    account: &AccountId,
    customer: &CustomerId,
    note: &CreditNote,
) {
    let id = note.id.as_str();
    ops.push(Op::put(TreeId::CreditNotes, keys::owned(account, customer, id), encode(note)));
    ops.push(Op::put(
        TreeId::CreditNoteOwners,
        keys::by_id(account, id),
        customer.as_str().as_bytes().to_vec(),
    ));
}

/// The entries of `tree` under `prefix`, newest first (ids are time-ordered), below the key of
/// `starting_after` when a page continues a list.
pub(super) fn newest_first<'a>(
    tree: TreeView<'a>,
    prefix: Vec<u8>,
    starting_after: Option<Vec<u8>>,
) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + 'a {
    let upper = starting_after.unwrap_or_else(|| keys::prefix_end(&prefix));
    tree.range(prefix..upper).rev()
}

/// At most `limit` of the records `found` (in its order) that are `Some`; `has_more` when
/// another follows.
pub(super) fn page<T>(
    found: impl Iterator<Item = Result<Option<T>, StoreError>>,
    limit: usize,
) -> Result<Page<T>, StoreError> {
    let mut items = Vec::with_capacity(limit.min(100));
    for record in found {
        let Some(record) = record? else { continue };
        if items.len() == limit {
            return Ok(Page { items, has_more: true });
        }
        items.push(record);
    }
    Ok(Page { items, has_more: false })
}

/// Newest first from a tree keyed `account/id`, skipping what `keep` refuses.
fn page_by_id<T: serde::de::DeserializeOwned>(
    tree: TreeView<'_>,
    account: &AccountId,
    limit: usize,
    starting_after: Option<&str>,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T>, StoreError> {
    let starting_after = starting_after.map(|id| keys::by_id(account, id));
    let found = newest_first(tree, keys::account_prefix(account), starting_after).map(|item| {
        let record: T = decode(&item?.1)?;
        Ok(keep(&record).then_some(record))
    });
    page(found, limit)
}

impl TreeStore {
    pub(super) fn list_customers(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        let starting_after = starting_after.map(CustomerId::as_str);
        let page: Page<Customer> =
            page_by_id(self.tree(TreeId::Customers), account, limit, starting_after, |_| true)?;
        let items = page
            .items
            .into_iter()
            .map(|customer| self.opened_customer(account, customer))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, has_more: page.has_more })
    }

    pub(super) fn insert_plan(
        &self,
        account: &AccountId,
        plan: &Plan,
    ) -> Result<crate::store::DurableTicket, StoreError> {
        self.commit_ops(vec![Op::put(
            TreeId::Plans,
            keys::by_id(account, plan.id.as_str()),
            encode(plan),
        )])
    }

    pub(super) fn read_plan(
        &self,
        account: &AccountId,
        id: &PlanId,
    ) -> Result<Option<Plan>, StoreError> {
        match self.tree(TreeId::Plans).get(keys::by_id(account, id.as_str()))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn list_plans(
        &self,
        account: &AccountId,
        active: Option<bool>,
        limit: usize,
        starting_after: Option<&PlanId>,
    ) -> Result<Page<Plan>, StoreError> {
        let starting_after = starting_after.map(PlanId::as_str);
        page_by_id(self.tree(TreeId::Plans), account, limit, starting_after, |plan: &Plan| {
            active.is_none_or(|active| plan.active == active)
        })
    }

    pub(super) fn insert_test_clock(
        &self,
        account: &AccountId,
        clock: &TestClock,
    ) -> Result<crate::store::DurableTicket, StoreError> {
        self.commit_ops(vec![Op::put(
            TreeId::TestClocks,
            keys::by_id(account, clock.id.as_str()),
            encode(clock),
        )])
    }

    pub(super) fn read_test_clock(
        &self,
        account: &AccountId,
        id: &TestClockId,
    ) -> Result<Option<TestClock>, StoreError> {
        match self.tree(TreeId::TestClocks).get(keys::by_id(account, id.as_str()))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn delete_test_clock(
        &self,
        account: &AccountId,
        id: &TestClockId,
    ) -> Result<crate::store::DurableTicket, StoreError> {
        self.commit_ops(vec![Op::remove(TreeId::TestClocks, keys::by_id(account, id.as_str()))])
    }

    pub(super) fn test_clocks_advancing(&self) -> Result<Vec<(AccountId, TestClock)>, StoreError> {
        let mut found = Vec::new();
        for item in self.tree(TreeId::TestClocks).iter() {
            let (key, bytes) = item?;
            let clock: TestClock = decode(&bytes)?;
            if clock.status != TestClockStatus::Advancing {
                continue;
            }
            let corrupt = || StoreError::Corrupt("test clock key".into());
            let (account, _) = keys::split_plugin(&key).ok_or_else(corrupt)?;
            found.push((AccountId::parse(account).ok_or_else(corrupt)?, clock));
        }
        Ok(found)
    }

    pub(super) fn read_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.owned_by_id(TreeId::SubscriptionOwners, TreeId::Subscriptions, account, id.as_str())
    }

    pub(super) fn customer_subscriptions(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.scan_customer(TreeId::Subscriptions, account, customer)
    }

    pub(super) fn read_payment_plan(
        &self,
        account: &AccountId,
        id: &PaymentPlanId,
    ) -> Result<Option<PaymentPlan>, StoreError> {
        self.owned_by_id(TreeId::PaymentPlanOwners, TreeId::PaymentPlans, account, id.as_str())
    }

    pub(super) fn customer_payment_plans(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<PaymentPlan>, StoreError> {
        self.scan_customer(TreeId::PaymentPlans, account, customer)
    }

    pub(super) fn count_subscriptions_by_status(
        &self,
    ) -> Result<Vec<(SubscriptionStatus, u64)>, StoreError> {
        let mut counts: Vec<(SubscriptionStatus, u64)> = Vec::new();
        for item in self.tree(TreeId::Subscriptions).iter() {
            let subscription: Subscription = decode(&item?.1)?;
            match counts.iter_mut().find(|(status, _)| *status == subscription.status) {
                Some((_, count)) => *count += 1,
                None => counts.push((subscription.status, 1)),
            }
        }
        Ok(counts)
    }

    pub(super) fn read_invoice(
        &self,
        account: &AccountId,
        id: &InvoiceId,
    ) -> Result<Option<Invoice>, StoreError> {
        let found =
            self.live_or_archived(TreeId::InvoiceOwners, TreeId::Invoices, account, id.as_str())?;
        Ok(found.map(|(invoice, archived)| Invoice { archived, ..invoice }))
    }

    pub(super) fn list_invoices(
        &self,
        account: &AccountId,
        filter: &InvoiceFilter,
        limit: usize,
        starting_after: Option<&InvoiceId>,
    ) -> Result<Page<Invoice>, StoreError> {
        let keep = |invoice: &Invoice| {
            filter.subscription.as_ref().is_none_or(|id| invoice.subscription.as_ref() == Some(id))
                && filter.status.is_none_or(|status| invoice.status == status)
        };
        // A subscription's invoices are its customer's: one customer's range, not the account's.
        let owner = match (&filter.customer, &filter.subscription) {
            (Some(customer), _) => Some(customer.clone()),
            (None, Some(subscription)) => {
                match self.owner(TreeId::SubscriptionOwners, account, subscription.as_str())? {
                    Some(customer) => Some(customer),
                    None => return Ok(Page { items: Vec::new(), has_more: false }),
                }
            }
            (None, None) => None,
        };
        let starting_after = starting_after.map(InvoiceId::as_str);
        let Some(customer) = &owner else {
            let found = self
                .owned_newest_first(TreeId::InvoiceOwners, account, starting_after)
                .map(|entry| {
                    let invoice: Option<Invoice> = self.get(TreeId::Invoices, &entry?.1)?;
                    Ok(invoice.filter(keep))
                });
            return page(found, limit);
        };
        let prefix = keys::customer_prefix(account, customer);
        let starting_after = starting_after.map(|id| keys::owned(account, customer, id));
        let found = newest_first(self.tree(TreeId::Invoices), prefix, starting_after).map(|item| {
            let invoice: Invoice = decode(&item?.1)?;
            Ok(keep(&invoice).then_some(invoice))
        });
        page(found, limit)
    }

    pub(super) fn list_credit_notes(
        &self,
        account: &AccountId,
        filter: &CreditNoteFilter,
        limit: usize,
        starting_after: Option<&CreditNoteId>,
    ) -> Result<Page<CreditNote>, StoreError> {
        let keep = |note: &CreditNote| filter.invoice.as_ref().is_none_or(|id| &note.invoice == id);
        // An invoice's credit notes are its customer's: one customer's range, not the account's.
        let owner = match (&filter.customer, &filter.invoice) {
            (Some(customer), _) => Some(customer.clone()),
            (None, Some(invoice)) => {
                match self.owner(TreeId::InvoiceOwners, account, invoice.as_str())? {
                    Some(customer) => Some(customer),
                    None => return Ok(Page { items: Vec::new(), has_more: false }),
                }
            }
            (None, None) => None,
        };
        let starting_after = starting_after.map(CreditNoteId::as_str);
        let Some(customer) = &owner else {
            let found = self
                .owned_newest_first(TreeId::CreditNoteOwners, account, starting_after)
                .map(|entry| {
                    let note: Option<CreditNote> = self.get(TreeId::CreditNotes, &entry?.1)?;
                    Ok(note.filter(keep))
                });
            return page(found, limit);
        };
        let prefix = keys::customer_prefix(account, customer);
        let starting_after = starting_after.map(|id| keys::owned(account, customer, id));
        let found =
            newest_first(self.tree(TreeId::CreditNotes), prefix, starting_after).map(|item| {
                let note: CreditNote = decode(&item?.1)?;
                Ok(keep(&note).then_some(note))
            });
        page(found, limit)
    }

    pub(super) fn list_account_charges(
        &self,
        account: &AccountId,
        filter: &ChargeFilter,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Result<Page<Charge>, StoreError> {
        let starting_after = starting_after.map(ChargeId::as_str);
        let found =
            self.owned_newest_first(TreeId::ChargeOwners, account, starting_after).map(|entry| {
                let (customer, key) = entry?;
                if filter.customer.as_ref().is_some_and(|wanted| wanted != &customer) {
                    return Ok(None);
                }
                let charge: Option<Charge> = self.get(TreeId::Charges, &key)?;
                Ok(charge.filter(|charge| {
                    filter.invoice.as_ref().is_none_or(|id| charge.invoice.as_ref() == Some(id))
                        && filter.status.is_none_or(|status| charge.status == status)
                }))
            });
        page(found, limit)
    }

    /// An account's records, newest first, through an `account/id → customer` index (keyed by
    /// time-ordered ids): each owner and the record's key in its own tree.
    fn owned_newest_first<'a>(
        &'a self,
        owners: TreeId,
        account: &'a AccountId,
        starting_after: Option<&str>,
    ) -> impl Iterator<Item = Result<(CustomerId, Vec<u8>), StoreError>> + 'a {
        let starting_after = starting_after.map(|id| keys::by_id(account, id));
        newest_first(self.tree(owners), keys::account_prefix(account), starting_after).map(
            move |item| {
                let (key, owner) = item?;
                let corrupt = || StoreError::Corrupt("owner index".into());
                let customer = std::str::from_utf8(&owner)
                    .ok()
                    .and_then(CustomerId::parse)
                    .ok_or_else(corrupt)?;
                let id = std::str::from_utf8(&key[keys::account_prefix_of(&key).len()..])
                    .map_err(|_| corrupt())?;
                Ok((customer.clone(), keys::owned(account, &customer, id)))
            },
        )
    }

    pub(super) fn due_entries(
        &self,
        scope: &str,
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let range = keys::schedule_scope(scope)..keys::schedule_after(scope, up_to);
        let mut found = Vec::new();
        for item in self.tree(TreeId::Schedule).range(range).take(limit) {
            let (key, _) = item?;
            let corrupt = || StoreError::Corrupt("schedule key".into());
            let (due, account, customer, object) =
                keys::split_schedule(&key).ok_or_else(corrupt)?;
            found.push(DueEntry {
                due,
                account: AccountId::parse(account).ok_or_else(corrupt)?,
                customer: CustomerId::parse(customer).ok_or_else(corrupt)?,
                object: Scheduled::parse(object).ok_or_else(corrupt)?,
            });
        }
        Ok(found)
    }

    pub(super) fn remove_due_entry(&self, scope: &str, entry: &DueEntry) -> Result<(), StoreError> {
        let key = keys::schedule(
            scope,
            entry.due,
            &entry.account,
            &entry.customer,
            entry.object.as_str(),
        );
        // Durable with the next flush: a due entry found again after a crash is looked at again.
        self.commit_ops(vec![Op::remove(TreeId::Schedule, key)]).map(drop)
    }

    pub(super) fn invoices_collecting(
        &self,
    ) -> Result<Vec<(AccountId, CustomerId, InvoiceId)>, StoreError> {
        let mut found = Vec::new();
        for item in self.tree(TreeId::Collecting).iter() {
            let (key, _) = item?;
            let corrupt = || StoreError::Corrupt("collecting invoice key".into());
            let (account, customer, invoice) = keys::split_owned(&key).ok_or_else(corrupt)?;
            found.push((
                AccountId::parse(account).ok_or_else(corrupt)?,
                CustomerId::parse(customer).ok_or_else(corrupt)?,
                InvoiceId::parse(invoice).ok_or_else(corrupt)?,
            ));
        }
        Ok(found)
    }
}
