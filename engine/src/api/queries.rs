//! What handlers read, and nothing that writes: every change to a customer goes through its
//! actor ([`crate::actor::Registry`]), account-wide billing objects through
//! [`super::account_writes`], and idempotency records through [`super::idempotency`]. Reads see
//! every acknowledged write (the store's overlay holds what sled has not applied yet).

use std::sync::Arc;

use crate::actor::CustomerKey;
use crate::billing::entitlement_index::EntitlementIndex;
use crate::billing::entitlements::Grant;
use crate::domain::{
    Account, AccountId, Charge, ChargeId, CheckoutSession, CheckoutSessionId, CheckoutStatus,
    CreditNote, CreditNoteId, Customer, CustomerId, Dispute, DisputeId, Event, EventId,
    GatewayEvent, Invoice, InvoiceId, PaymentMethod, PaymentMethodId, PaymentPlan, PaymentPlanId,
    Plan, PlanId, Refund, RefundId, Sponsorship, SponsorshipId, Subscription, SubscriptionId,
    TestClock, TestClockId,
};
use crate::domain::{Payee, PayeeId, Payout, PayoutId, Posting, TransactionId};
use crate::store::{
    AuditFilter, ChargeFilter, CreditNoteFilter, InvoiceFilter, LedgerStore, LedgerTotals, Page,
    PostingFilter, Store, StoreError,
};

type Read<T> = Result<T, StoreError>;

pub struct Queries {
    store: Arc<dyn Store>,
}

impl Queries {
    pub fn new(store: Arc<dyn Store>) -> Queries {
        Queries { store }
    }

    /// Whether storage answers now (see [`crate::store::Durable::reachable`]).
    pub fn reachable(&self) -> Read<()> {
        self.store.reachable()
    }

    pub fn payee(&self, account: &AccountId, id: &PayeeId) -> Read<Option<Payee>> {
        self.store.payee(account, id)
    }

    /// See [`crate::store::PayeeStore::payee_unopened`].
    pub fn payee_unopened(&self, account: &AccountId, id: &PayeeId) -> Read<Option<Payee>> {
        self.store.payee_unopened(account, id)
    }

    pub fn payees(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&PayeeId>,
    ) -> Read<Page<Payee>> {
        self.store.payees(account, limit, starting_after)
    }

    pub fn payout(&self, account: &AccountId, id: &PayoutId) -> Read<Option<Payout>> {
        self.store.payout(account, id)
    }

    pub fn payee_payouts(
        &self,
        account: &AccountId,
        payee: &PayeeId,
        limit: usize,
        starting_after: Option<&PayoutId>,
    ) -> Read<Page<Payout>> {
        self.store.payee_payouts(account, payee, limit, starting_after)
    }

    /// The whole store, for reports that read across its parts.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The books, for what adds postings up (a payee's balance).
    pub fn ledger(&self) -> &dyn LedgerStore {
        &*self.store
    }

    pub fn ledger_totals(&self, account: &AccountId) -> Read<Vec<LedgerTotals>> {
        self.store.ledger_totals(account)
    }

    pub fn postings(
        &self,
        account: &AccountId,
        filter: &PostingFilter,
        limit: usize,
        starting_after: Option<&TransactionId>,
    ) -> Read<Page<Posting>> {
        self.store.postings(account, filter, limit, starting_after)
    }

    pub fn account(&self, id: &AccountId) -> Read<Option<Account>> {
        self.store.account(id)
    }

    pub fn accounts(&self) -> Read<Vec<Account>> {
        self.store.accounts()
    }

    pub fn customer(&self, account: &AccountId, id: &CustomerId) -> Read<Option<Customer>> {
        self.store.customer(account, id)
    }

    /// The account's customers with exactly this email, newest first.
    pub fn customers_with_email(&self, account: &AccountId, email: &str) -> Read<Vec<Customer>> {
        self.store.customers_with_email(account, email)
    }

    pub fn customers(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&CustomerId>,
    ) -> Read<Page<Customer>> {
        self.store.customers(account, limit, starting_after)
    }

    pub fn payment_methods(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Read<Vec<PaymentMethod>> {
        self.store.payment_methods(account, customer)
    }

    pub fn payment_method_owner(
        &self,
        account: &AccountId,
        id: &PaymentMethodId,
    ) -> Read<Option<CustomerId>> {
        self.store.payment_method_owner(account, id)
    }

    pub fn charge(&self, account: &AccountId, id: &ChargeId) -> Read<Option<Charge>> {
        self.store.charge(account, id)
    }

    pub fn charges(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Read<Page<Charge>> {
        self.store.charges(account, customer, limit, starting_after)
    }

    /// Whether any of the customer's charges is one `keep` asks for.
    pub fn any_charge(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        keep: impl Fn(&Charge) -> bool,
    ) -> Read<bool> {
        crate::store::any_charge(self.store.as_ref(), account, customer, keep)
    }

    pub fn account_charges(
        &self,
        account: &AccountId,
        filter: &ChargeFilter,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Read<Page<Charge>> {
        self.store.account_charges(account, filter, limit, starting_after)
    }

    pub fn refund(&self, account: &AccountId, id: &RefundId) -> Read<Option<Refund>> {
        self.store.refund(account, id)
    }

    pub fn dispute(&self, account: &AccountId, id: &DisputeId) -> Read<Option<Dispute>> {
        self.store.dispute(account, id)
    }

    pub fn plan(&self, account: &AccountId, id: &PlanId) -> Read<Option<Plan>> {
        self.store.plan(account, id)
    }

    pub fn plans(
        &self,
        account: &AccountId,
        active: Option<bool>,
        limit: usize,
        starting_after: Option<&PlanId>,
    ) -> Read<Page<Plan>> {
        self.store.plans(account, active, limit, starting_after)
    }

    pub fn test_clock(&self, account: &AccountId, id: &TestClockId) -> Read<Option<TestClock>> {
        self.store.test_clock(account, id)
    }

    pub fn subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Read<Option<Subscription>> {
        self.store.subscription(account, id)
    }

    pub fn subscriptions(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Read<Vec<Subscription>> {
        self.store.subscriptions(account, customer)
    }

    pub fn payment_plan(
        &self,
        account: &AccountId,
        id: &PaymentPlanId,
    ) -> Read<Option<PaymentPlan>> {
        self.store.payment_plan(account, id)
    }

    pub fn invoice_by_page(&self, token: &str) -> Read<Option<(AccountId, Invoice)>> {
        self.store.invoice_by_page(token)
    }

    pub fn checkout_session(&self, id: &CheckoutSessionId) -> Read<Option<CheckoutSession>> {
        self.store.checkout_session(id)
    }

    /// The session's status as of `now` (see [`crate::actor::checkout::status_at`]).
    pub fn checkout_status(&self, session: &CheckoutSession, now: i64) -> Read<CheckoutStatus> {
        crate::actor::checkout::status_at(self.store.as_ref(), session, now)
    }

    pub fn sponsorship(
        &self,
        account: &AccountId,
        id: &SponsorshipId,
    ) -> Read<Option<Sponsorship>> {
        self.store.sponsorship(account, id)
    }

    /// The sponsorships `customer` benefits from, oldest first.
    pub fn sponsorships(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Read<Vec<Sponsorship>> {
        self.store.sponsorships(account, customer)
    }

    /// The sponsorships `customer` pays for, oldest first.
    pub fn sponsorships_paid_by(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Read<Vec<Sponsorship>> {
        self.store.sponsorships_paid_by(account, customer)
    }

    pub fn payment_plans(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Read<Vec<PaymentPlan>> {
        self.store.payment_plans(account, customer)
    }

    pub fn bank_reference(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> Read<Option<crate::domain::ReferenceTarget>> {
        self.store.bank_reference(account, reference)
    }

    pub fn bank_line(
        &self,
        account: &AccountId,
        identity: &str,
    ) -> Read<Option<crate::domain::BankLineRecord>> {
        self.store.bank_line(account, identity)
    }

    pub fn invoice(&self, account: &AccountId, id: &InvoiceId) -> Read<Option<Invoice>> {
        self.store.invoice(account, id)
    }

    pub fn invoices(
        &self,
        account: &AccountId,
        filter: &InvoiceFilter,
        limit: usize,
        starting_after: Option<&InvoiceId>,
    ) -> Read<Page<Invoice>> {
        self.store.invoices(account, filter, limit, starting_after)
    }

    pub fn credit_note(&self, account: &AccountId, id: &CreditNoteId) -> Read<Option<CreditNote>> {
        self.store.credit_note(account, id)
    }

    pub fn credit_notes(
        &self,
        account: &AccountId,
        filter: &CreditNoteFilter,
        limit: usize,
        starting_after: Option<&CreditNoteId>,
    ) -> Read<Page<CreditNote>> {
        self.store.credit_notes(account, filter, limit, starting_after)
    }

    /// A customer's audit events, oldest first.
    pub fn events(&self, account: &AccountId, customer: &CustomerId) -> Read<Vec<Event>> {
        self.store.events(account, customer)
    }

    pub fn audit_events(
        &self,
        account: &AccountId,
        filter: &AuditFilter,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Read<Page<Event>> {
        self.store.audit_events(account, filter, limit, starting_after)
    }

    pub fn gateway_event(&self, account: &AccountId, id: &EventId) -> Read<Option<GatewayEvent>> {
        self.store.gateway_event(account, id)
    }

    pub fn gateway_events(
        &self,
        account: &AccountId,
        kind: Option<&str>,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Read<Page<GatewayEvent>> {
        self.store.gateway_events(account, kind, limit, starting_after)
    }

    /// A resident customer's entitlements as its actor last published them; `None` when it is
    /// not resident (its actor computes them).
    pub fn published_grants(
        &self,
        index: &EntitlementIndex,
        key: &CustomerKey,
        now: i64,
    ) -> Option<Vec<Grant>> {
        index.grants(self.store.as_ref(), key, now)
    }
}
