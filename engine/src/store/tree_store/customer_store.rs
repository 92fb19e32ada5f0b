//! [`CustomerStore`] on the trees: a customer's change sets committed through the log (and
//! sealed where they hold personal data), and the reads of customers and what they own.

use super::change_ops::{ops_of, take_outgoing};
use super::ledger;
use super::ops::Op;
use super::tree_ids::TreeId;
use super::versions::keys_in_flight;
use super::{Base, TreeStore};
use crate::domain::{
    AccountId, BankLineRecord, Charge, ChargeId, CheckoutSession, CheckoutSessionId, CreditNote,
    CreditNoteId, Customer, CustomerId, Dispute, DisputeId, Event, EventId, Invoice, InvoiceId,
    PaymentMethod, PaymentMethodId, PaymentPlan, PaymentPlanId, Plan, PlanId, ReferenceTarget,
    Refund, RefundId, Subscription, SubscriptionId, SubscriptionStatus, TestClock, TestClockId,
};
use crate::store::codec::{decode, encode};
use crate::store::{
    AuditFilter, ChangeSet, ChargeFilter, CreditNoteFilter, CustomerStore, DueEntry, DurableTicket,
    IdempotencyRecord, IdempotencyState, InvoiceFilter, Page, StoreError, Unsettled, Write, keys,
};

impl CustomerStore for TreeStore {
    fn queues_events_of(&self, account: &AccountId) -> bool {
        self.is_shared() || self.is_listening(account)
    }

    fn commit(&self, changes: ChangeSet) -> Result<DurableTicket, StoreError> {
        let (mut changes, added, new_keys) = self.seal_change_set(changes)?;
        let forgets = changes.writes.iter().any(|write| matches!(write, Write::ForgetCustomerKey));
        let (account, customer) = (changes.account.clone(), changes.customer.clone());
        let decided_at = changes.decided_at;
        let keys_in_flight = keys_in_flight(&changes);
        let outgoing = take_outgoing(&mut changes);
        let postings = ledger::take_postings(&mut changes);
        let mut ops = ops_of(changes);
        ops.extend(added);
        let order = self.write_order()?;
        if self.is_shared() {
            // Under the write order, which on PostgreSQL every node's writers share.
            self.check_keys_in_flight(&account, &keys_in_flight)?;
            ops.push(self.next_version(&account, &customer, decided_at)?);
        }
        self.outgoing_ops(outgoing, &mut ops)?;
        let moved = self.posting_ops(postings, &mut ops)?;
        self.append_and_apply(&order, &ops)?;
        self.remember_moved(moved);
        drop(order);
        let ticket = self.written();
        self.keep_new_keys(new_keys);
        if forgets && let Some(sealer) = &self.sealer {
            sealer.forget(&customer);
        }
        Ok(ticket)
    }

    fn customer_test_clock(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<TestClockId>, StoreError> {
        let stored: Option<Customer> =
            self.get(TreeId::Customers, &keys::customer(account, customer))?;
        Ok(stored.and_then(|customer| customer.test_clock))
    }

    fn customer_version(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<u64>, StoreError> {
        match &self.base {
            Base::Sled(_) => Ok(None),
            Base::Postgres(_) => self.stored_version(account, customer).map(Some),
        }
    }

    fn customer(
        &self,
        account: &AccountId,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let stored: Option<Customer> = self.get(TreeId::Customers, &keys::customer(account, id))?;
        stored.map(|customer| self.opened_customer(account, customer)).transpose()
    }

    fn payment_methods(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<PaymentMethod>, StoreError> {
        let stored: Vec<PaymentMethod> =
            self.scan_customer(TreeId::PaymentMethods, account, customer)?;
        stored.into_iter().map(|method| self.opened_method(account, method)).collect()
    }

    fn payment_method_owner(
        &self,
        account: &AccountId,
        id: &PaymentMethodId,
    ) -> Result<Option<CustomerId>, StoreError> {
        let owner =
            self.tree(TreeId::PaymentMethodOwners).get(keys::by_id(account, id.as_str()))?;
        Ok(owner.and_then(|bytes| std::str::from_utf8(&bytes).ok().and_then(CustomerId::parse)))
    }

    fn charge(&self, account: &AccountId, id: &ChargeId) -> Result<Option<Charge>, StoreError> {
        let found =
            self.live_or_archived(TreeId::ChargeOwners, TreeId::Charges, account, id.as_str())?;
        Ok(found.map(|(charge, archived)| Charge { archived, ..charge }))
    }

    fn charges(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Result<Page<Charge>, StoreError> {
        let prefix = keys::customer_prefix(account, customer);
        let upper = match starting_after {
            Some(id) => keys::owned(account, customer, id.as_str()),
            None => keys::prefix_end(&prefix),
        };
        let mut items = Vec::with_capacity(limit);
        for item in self.tree(TreeId::Charges).range(prefix..upper).rev() {
            if items.len() == limit {
                return Ok(Page { items, has_more: true });
            }
            let (_, bytes) = item?;
            items.push(decode(&bytes)?);
        }
        Ok(Page { items, has_more: false })
    }

    fn account_charges(
        &self,
        account: &AccountId,
        filter: &ChargeFilter,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Result<Page<Charge>, StoreError> {
        self.list_account_charges(account, filter, limit, starting_after)
    }

    fn each_live_charge(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Charge) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self.tree(TreeId::Charges).scan_prefix(keys::account_prefix(account)) {
            visit(decode(&item?.1)?)?;
        }
        Ok(())
    }

    fn refund(&self, account: &AccountId, id: &RefundId) -> Result<Option<Refund>, StoreError> {
        self.owned_by_id(TreeId::RefundOwners, TreeId::Refunds, account, id.as_str())
    }

    fn refunds(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<Refund>, StoreError> {
        self.scan_customer(TreeId::Refunds, account, customer)
    }

    fn events(&self, account: &AccountId, customer: &CustomerId) -> Result<Vec<Event>, StoreError> {
        self.scan_customer(TreeId::Events, account, customer)
    }

    fn audit_events(
        &self,
        account: &AccountId,
        filter: &AuditFilter,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.list_audit_events(account, filter, limit, starting_after)
    }

    fn idempotency(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let stored: Option<IdempotencyRecord> =
            self.get(TreeId::Idempotency, &keys::idempotency(account, key))?;
        stored.map(|record| self.opened_record(account, record)).transpose()
    }

    fn put_idempotency(
        &self,
        account: &AccountId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<DurableTicket, StoreError> {
        self.commit_ops(vec![Op::put(
            TreeId::Idempotency,
            keys::idempotency(account, key),
            encode(record),
        )])
    }

    fn expire_idempotency(&self, created_before: i64) -> Result<usize, StoreError> {
        let tree = self.tree(TreeId::Idempotency);
        let mut expired = 0;
        for item in tree.iter() {
            let (key, bytes) = item?;
            let record: IdempotencyRecord = match decode(&bytes) {
                Ok(record) => record,
                Err(error) => {
                    // One bad record must not stop retention for all the others.
                    tracing::error!(%error, "skipping an undecodable idempotency record");
                    continue;
                }
            };
            let finished = matches!(record.state, IdempotencyState::Completed(_));
            if !finished || record.created >= created_before {
                continue;
            }
            // Compare-and-swap: a record rewritten since it was read is not the one that expired.
            let order = self.write_order()?;
            if tree.get(&key)?.as_deref() == Some(&bytes[..]) {
                self.append_and_apply(&order, &[Op::remove(TreeId::Idempotency, key.to_vec())])?;
                expired += 1;
            }
        }
        Ok(expired)
    }

    fn unsettled(&self) -> Result<Vec<Unsettled>, StoreError> {
        let mut found = Vec::new();
        for item in self.tree(TreeId::Unsettled).iter() {
            let (key, _) = item?;
            let corrupt = || StoreError::Corrupt("unsettled index key".into());
            let (account, _, object_id) = keys::split_owned(&key).ok_or_else(corrupt)?;
            let account = AccountId::parse(account).ok_or_else(corrupt)?;
            if ChargeId::parse(object_id).is_some() {
                if let Some(charge) = self.get(TreeId::Charges, &key)? {
                    found.push(Unsettled::Charge { account, charge });
                }
            } else if RefundId::parse(object_id).is_some() {
                if let Some(refund) = self.get(TreeId::Refunds, &key)? {
                    found.push(Unsettled::Refund { account, refund });
                }
            } else {
                return Err(corrupt());
            }
        }
        Ok(found)
    }

    fn charge_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<(AccountId, CustomerId, ChargeId)>, StoreError> {
        let Some(key) =
            self.tree(TreeId::ChargeReferences).get(keys::gateway_object(gateway, reference))?
        else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt(format!("charge reference index of {reference}"));
        let (account, customer, charge) = keys::split_owned(&key).ok_or_else(corrupt)?;
        Ok(Some((
            AccountId::parse(account).ok_or_else(corrupt)?,
            CustomerId::parse(customer).ok_or_else(corrupt)?,
            ChargeId::parse(charge).ok_or_else(corrupt)?,
        )))
    }

    fn dispute(&self, account: &AccountId, id: &DisputeId) -> Result<Option<Dispute>, StoreError> {
        self.owned_by_id(TreeId::DisputeOwners, TreeId::Disputes, account, id.as_str())
    }

    fn customers_with_email(
        &self,
        account: &AccountId,
        email: &str,
    ) -> Result<Vec<Customer>, StoreError> {
        self.find_by_email(account, email)
    }

    fn customers(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        self.list_customers(account, limit, starting_after)
    }

    fn put_plan(&self, account: &AccountId, plan: &Plan) -> Result<DurableTicket, StoreError> {
        self.insert_plan(account, plan)
    }

    fn plan(&self, account: &AccountId, id: &PlanId) -> Result<Option<Plan>, StoreError> {
        self.read_plan(account, id)
    }

    fn plans(
        &self,
        account: &AccountId,
        active: Option<bool>,
        limit: usize,
        starting_after: Option<&PlanId>,
    ) -> Result<Page<Plan>, StoreError> {
        self.list_plans(account, active, limit, starting_after)
    }

    fn put_test_clock(
        &self,
        account: &AccountId,
        clock: &TestClock,
    ) -> Result<DurableTicket, StoreError> {
        self.insert_test_clock(account, clock)
    }

    fn test_clock(
        &self,
        account: &AccountId,
        id: &TestClockId,
    ) -> Result<Option<TestClock>, StoreError> {
        self.read_test_clock(account, id)
    }

    fn remove_test_clock(
        &self,
        account: &AccountId,
        id: &TestClockId,
    ) -> Result<DurableTicket, StoreError> {
        self.delete_test_clock(account, id)
    }

    fn advancing_test_clocks(&self) -> Result<Vec<(AccountId, TestClock)>, StoreError> {
        self.test_clocks_advancing()
    }

    fn subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.read_subscription(account, id)
    }

    fn subscriptions(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.customer_subscriptions(account, customer)
    }

    fn payment_plan(
        &self,
        account: &AccountId,
        id: &PaymentPlanId,
    ) -> Result<Option<PaymentPlan>, StoreError> {
        self.read_payment_plan(account, id)
    }

    fn invoice_by_page(&self, token: &str) -> Result<Option<(AccountId, Invoice)>, StoreError> {
        let page: Option<(AccountId, InvoiceId)> =
            self.get(TreeId::InvoicePages, token.as_bytes())?;
        let Some((account, invoice)) = page else { return Ok(None) };
        Ok(self.invoice(&account, &invoice)?.map(|invoice| (account, invoice)))
    }

    fn checkout_session(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        self.get(TreeId::CheckoutSessions, id.as_str().as_bytes())
    }

    fn payment_plans(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<PaymentPlan>, StoreError> {
        self.customer_payment_plans(account, customer)
    }

    fn bank_reference(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> Result<Option<ReferenceTarget>, StoreError> {
        self.read_bank_reference(account, reference)
    }

    fn bank_line(
        &self,
        account: &AccountId,
        identity: &str,
    ) -> Result<Option<BankLineRecord>, StoreError> {
        self.read_bank_line(account, identity)
    }

    fn bank_credits(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        limit: usize,
    ) -> Result<Vec<(String, BankLineRecord)>, StoreError> {
        self.customer_bank_credits(account, customer, limit)
    }

    fn each_subscription(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Subscription) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self.tree(TreeId::Subscriptions).scan_prefix(keys::account_prefix(account)) {
            visit(decode(&item?.1)?)?;
        }
        Ok(())
    }

    fn subscriptions_by_status(&self) -> Result<Vec<(SubscriptionStatus, u64)>, StoreError> {
        self.count_subscriptions_by_status()
    }

    fn invoice(&self, account: &AccountId, id: &InvoiceId) -> Result<Option<Invoice>, StoreError> {
        self.read_invoice(account, id)
    }

    fn invoices(
        &self,
        account: &AccountId,
        filter: &InvoiceFilter,
        limit: usize,
        starting_after: Option<&InvoiceId>,
    ) -> Result<Page<Invoice>, StoreError> {
        self.list_invoices(account, filter, limit, starting_after)
    }

    fn credit_note(
        &self,
        account: &AccountId,
        id: &CreditNoteId,
    ) -> Result<Option<CreditNote>, StoreError> {
        self.owned_by_id(TreeId::CreditNoteOwners, TreeId::CreditNotes, account, id.as_str())
    }

    fn credit_notes(
        &self,
        account: &AccountId,
        filter: &CreditNoteFilter,
        limit: usize,
        starting_after: Option<&CreditNoteId>,
    ) -> Result<Page<CreditNote>, StoreError> {
        self.list_credit_notes(account, filter, limit, starting_after)
    }

    fn invoice_credit_notes(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        invoice: &InvoiceId,
    ) -> Result<Vec<CreditNote>, StoreError> {
        let notes: Vec<CreditNote> = self.scan_customer(TreeId::CreditNotes, account, customer)?;
        Ok(notes.into_iter().filter(|note| &note.invoice == invoice).collect())
    }

    fn due(&self, scope: &str, up_to: i64, limit: usize) -> Result<Vec<DueEntry>, StoreError> {
        self.due_entries(scope, up_to, limit)
    }

    fn remove_due(&self, scope: &str, entry: &DueEntry) -> Result<(), StoreError> {
        self.remove_due_entry(scope, entry)
    }

    fn object_version(&self, account: &AccountId, object_id: &str) -> Result<u64, StoreError> {
        self.stored_object_version(account, object_id)
    }

    fn collecting_invoices(&self) -> Result<Vec<(AccountId, CustomerId, InvoiceId)>, StoreError> {
        self.invoices_collecting()
    }
}
