//! Durable storage behind traits of Kassa's own, so the actors and the API never see sled.
//!
//! - The store's parts, by concern, each user given only the one it needs: [`CustomerStore`]
//!   (customers, everything theirs, and billing: the actors, the scheduler, recovery),
//!   [`InboxStore`] (the webhook inbox), [`AccountStore`] (accounts and their keys), [`PluginStore`]
//!   (the rules host), [`OutboxStore`] (outgoing events, endpoints, deliveries),
//!   [`CouponStore`], [`StatementStore`], [`SponsorStore`] (sponsorships and sponsors' shares,
//!   part of [`CustomerStore`]), [`LedgerStore`] (the books), [`PayeeStore`],
//!   [`PayoutStore`]; [`Store`] is
//!   all of them (the API, start-up). Nothing in them names a backend: another (a database
//!   that several nodes share) implements the same parts.
//! - [`ChangeSet`] ([`change_set`]): every state change of one customer — records, audit event,
//!   idempotency record — committed as one atomic unit.
//! - [`DurableTicket`]: resolves once a flush that started after the commit has finished; a 2xx
//!   waits on it (group commit: concurrent writers share one flush and one fdatasync).
//! - [`tree_store`]: the sled 0.34 implementation; [`keys`] its layout, [`codec`] its encoding,
//!   [`group_commit`] its single flusher.

pub mod archive;
pub mod archived;
mod change_set;
pub mod checkpointer;
pub mod codec;
mod filters;
mod flush_hold;
pub mod group_commit;
pub mod keys;
pub mod ledger;
pub mod payees;
pub mod payloads;
pub mod payouts;
pub mod sealing;
pub mod sponsors;
pub mod tree_store;
pub mod wal;
mod walks;

pub use archived::{Archivable, ArchiveStore, ArchivedRecord};
pub use change_set::{
    ChangeSet, IdempotencyRecord, IdempotencyState, InFlightObject, Outcome, Write,
};
pub use filters::{
    AuditFilter, ChargeFilter, CreditNoteFilter, InvoiceFilter, OutgoingFilter, Page,
};
pub use ledger::{BooksPart, LedgerStore, LedgerTotals, PostingFilter, RevenueDay};
pub use payees::PayeeStore;
pub use payouts::{PayoutChange, PayoutStore};
pub use sponsors::SponsorStore;
pub use walks::{any_charge, each_charge, each_in_pages, each_invoice};

use std::time::Duration;

use futures::future::BoxFuture;

use crate::domain::{
    Account, AccountId, ApiKey, Applied, BankLineRecord, BankStatement, Charge, ChargeId,
    CheckoutSession, CheckoutSessionId, Coupon, CouponId, CreditNote, CreditNoteId, Customer,
    CustomerId, Delivery, Dispute, DisputeId, Event, EventId, GatewayEvent, Invoice, InvoiceId,
    NewGatewayEvent, NewOutgoingEvent, OutgoingEvent, PaymentMethod, PaymentMethodId, PaymentPlan,
    PaymentPlanId, Plan, PlanId, PluginHistory, PluginKind, PromotionCode, PromotionCodeId,
    Redemption, ReferenceTarget, Refund, RefundId, StatementId, Subscription, SubscriptionId,
    SubscriptionStatus, TestClock, TestClockId, WebhookEndpoint, WebhookEndpointId,
};

pub use tree_store::TreeStore;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("a stored record could not be decoded: {0}")]
    Corrupt(String),
    /// Another node changed the customer after this one decided the change: nothing was
    /// written; deciding again on what the store holds now may succeed.
    #[error("the customer changed meanwhile: {0}")]
    Conflict(String),
    /// An Idempotency-Key another request (on another node) holds in flight: nothing was
    /// written.
    #[error("the Idempotency-Key is in use by another request")]
    KeyInUse,
    /// The storage cannot be reached now (a database down or restarting): nothing was
    /// written, and the same call may succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> StoreError {
        StoreError::Storage(error.to_string())
    }
}

/// A schedule entry: the object has something due at `due`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    pub due: i64,
    pub account: AccountId,
    pub customer: CustomerId,
    pub object: Scheduled,
}

/// What the schedule holds entries for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheduled {
    Subscription(SubscriptionId),
    PaymentPlan(PaymentPlanId),
    /// A charge paid by bank transfer, until it expires.
    Charge(ChargeId),
    /// A checkout session, until it expires.
    CheckoutSession(CheckoutSessionId),
    /// A sponsor's shares, each month's invoiced at the start of the next.
    Sponsor(CustomerId),
    /// An invoice's deferred revenue, recognized a month at a time.
    Invoice(InvoiceId),
}

impl Scheduled {
    /// By its id's prefix, as a schedule key names it.
    pub fn parse(id: &str) -> Option<Scheduled> {
        SubscriptionId::parse(id)
            .map(Scheduled::Subscription)
            .or_else(|| PaymentPlanId::parse(id).map(Scheduled::PaymentPlan))
            .or_else(|| ChargeId::parse(id).map(Scheduled::Charge))
            .or_else(|| CheckoutSessionId::parse(id).map(Scheduled::CheckoutSession))
            .or_else(|| CustomerId::parse(id).map(Scheduled::Sponsor))
            .or_else(|| InvoiceId::parse(id).map(Scheduled::Invoice))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Scheduled::Subscription(id) => id.as_str(),
            Scheduled::PaymentPlan(id) => id.as_str(),
            Scheduled::Charge(id) => id.as_str(),
            Scheduled::CheckoutSession(id) => id.as_str(),
            Scheduled::Sponsor(id) => id.as_str(),
            Scheduled::Invoice(id) => id.as_str(),
        }
    }
}

/// A charge still `processing` or a refund still `pending`: recovery asks its gateway.
// Made once per unsettled item, at recovery and on a timeout: a box would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsettled {
    Charge { account: AccountId, charge: Charge },
    Refund { account: AccountId, refund: Refund },
}

impl Unsettled {
    pub fn object_id(&self) -> &str {
        match self {
            Unsettled::Charge { charge, .. } => charge.id.as_str(),
            Unsettled::Refund { refund, .. } => refund.id.as_str(),
        }
    }
}

/// What became of a gateway event handed to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertedEvent {
    Stored(GatewayEvent),
    /// An event with the same gateway id was stored before (this one): nothing was written.
    Duplicate(GatewayEvent),
}

/// Resolves once the commit it was issued for is durable (flushed and fdatasync'd).
pub struct DurableTicket(BoxFuture<'static, Result<(), StoreError>>);

impl DurableTicket {
    pub fn new(wait: BoxFuture<'static, Result<(), StoreError>>) -> DurableTicket {
        DurableTicket(wait)
    }

    /// A ticket for what is durable already.
    pub fn ready() -> DurableTicket {
        DurableTicket(Box::pin(async { Ok(()) }))
    }

    pub async fn wait(self) -> Result<(), StoreError> {
        self.0.await
    }
}

/// What every part of the store shares: how a caller learns that what it wrote is durable.
pub trait Durable: Send + Sync + 'static {
    /// A ticket for everything written so far, by this store or beside it in the same database.
    fn sync(&self) -> DurableTicket;

    /// Whether the storage answers now (a database's server may be down for a while; an
    /// embedded store is there while the process is).
    fn reachable(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether other nodes share this storage (PostgreSQL): work that belongs to no request is
    /// then claimed (see [`crate::cluster`]).
    fn shared(&self) -> bool {
        false
    }

    /// Takes or renews the claim on `work` for `node` until `lease` from now, unless another
    /// node holds it unexpired: answers whether `node` holds it. An unshared store's one
    /// process holds every claim.
    fn claim(&self, _work: &str, _node: &str, _lease: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Lets go of every claim `node` holds.
    fn release_claims(&self, _node: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Customers and everything that is theirs (payment methods, charges, refunds, disputes,
/// subscriptions, invoices, credit notes), the account-wide billing records they are billed by
/// (plans, test clocks, the renewal schedule), and the idempotency records of their requests.
/// The customers' actors write the books with their change sets, and read them for what a
/// change moves (what a dispute held of a payee's share). An archived invoice or charge reads by
/// id as a live one does (`archived: true`); lists show live ones only.
pub trait CustomerStore: Durable + SponsorStore + LedgerStore + ArchiveStore {
    /// Applies the change set atomically; the ticket says when it is durable.
    fn commit(&self, changes: ChangeSet) -> Result<DurableTicket, StoreError>;
    /// Whether the outgoing events `account` announces are queued for delivery (it has an
    /// enabled webhook endpoint, or nodes share the store): only then is there anything for
    /// the dispatcher to do.
    fn queues_events_of(&self, account: &AccountId) -> bool;
    /// The test clock the customer is on, read without opening its personal data.
    fn customer_test_clock(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<TestClockId>, StoreError>;
    /// How many change sets have been committed for the customer, where several nodes may
    /// change it (PostgreSQL); `None` where this process is its only writer (sled), so what an
    /// actor holds in memory is always current.
    fn customer_version(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<u64>, StoreError>;
    fn customer(
        &self,
        account: &AccountId,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError>;
    fn payment_methods(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<PaymentMethod>, StoreError>;
    fn payment_method_owner(
        &self,
        account: &AccountId,
        id: &PaymentMethodId,
    ) -> Result<Option<CustomerId>, StoreError>;
    fn charge(&self, account: &AccountId, id: &ChargeId) -> Result<Option<Charge>, StoreError>;
    fn charges(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Result<Page<Charge>, StoreError>;
    /// Every live charge of the account, in storage order (customer by customer): the walk
    /// for what needs them all rather than newest first, each read once, in sequence.
    fn each_live_charge(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Charge) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// An account's charges, newest first, as `filter` narrows them.
    fn account_charges(
        &self,
        account: &AccountId,
        filter: &ChargeFilter,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Result<Page<Charge>, StoreError>;
    fn refund(&self, account: &AccountId, id: &RefundId) -> Result<Option<Refund>, StoreError>;
    /// All of a customer's refunds, oldest first.
    fn refunds(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<Refund>, StoreError>;
    /// A customer's audit events, oldest first.
    fn events(&self, account: &AccountId, customer: &CustomerId) -> Result<Vec<Event>, StoreError>;
    /// The account's audit events that `filter` keeps, newest first.
    fn audit_events(
        &self,
        account: &AccountId,
        filter: &AuditFilter,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<Event>, StoreError>;
    fn idempotency(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Records the answer of a request that changed no customer (a plan, a test clock).
    fn put_idempotency(
        &self,
        account: &AccountId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<DurableTicket, StoreError>;
    /// Removes finished idempotency records created before `created_before` (Unix seconds), and
    /// answers how many. Records of requests still in flight are kept whatever their age.
    fn expire_idempotency(&self, created_before: i64) -> Result<usize, StoreError>;
    /// Every charge still `processing` and refund still `pending`, for recovery.
    fn unsettled(&self) -> Result<Vec<Unsettled>, StoreError>;
    /// The charge a gateway knows by `reference`, with its account and customer.
    fn charge_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<(AccountId, CustomerId, ChargeId)>, StoreError>;
    fn dispute(&self, account: &AccountId, id: &DisputeId) -> Result<Option<Dispute>, StoreError>;
    /// The account's customers with exactly this email, newest first.
    fn customers_with_email(
        &self,
        account: &AccountId,
        email: &str,
    ) -> Result<Vec<Customer>, StoreError>;
    /// An account's customers, newest first.
    fn customers(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&CustomerId>,
    ) -> Result<Page<Customer>, StoreError>;
    /// Plans are the account's, not a customer's: one single-key write each, outside the
    /// log; the ticket says when it is durable.
    fn put_plan(&self, account: &AccountId, plan: &Plan) -> Result<DurableTicket, StoreError>;
    fn plan(&self, account: &AccountId, id: &PlanId) -> Result<Option<Plan>, StoreError>;
    /// An account's plans, newest first, only those with `active` when it is given.
    fn plans(
        &self,
        account: &AccountId,
        active: Option<bool>,
        limit: usize,
        starting_after: Option<&PlanId>,
    ) -> Result<Page<Plan>, StoreError>;
    fn put_test_clock(
        &self,
        account: &AccountId,
        clock: &TestClock,
    ) -> Result<DurableTicket, StoreError>;
    fn test_clock(
        &self,
        account: &AccountId,
        id: &TestClockId,
    ) -> Result<Option<TestClock>, StoreError>;
    fn remove_test_clock(
        &self,
        account: &AccountId,
        id: &TestClockId,
    ) -> Result<DurableTicket, StoreError>;
    /// Every clock left `advancing` (a stop during an advance), to finish at start-up.
    fn advancing_test_clocks(&self) -> Result<Vec<(AccountId, TestClock)>, StoreError>;
    fn subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError>;
    /// A customer's subscriptions, oldest first.
    fn subscriptions(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<Subscription>, StoreError>;
    fn payment_plan(
        &self,
        account: &AccountId,
        id: &PaymentPlanId,
    ) -> Result<Option<PaymentPlan>, StoreError>;
    /// The invoice whose page has this token, and its account.
    fn invoice_by_page(&self, token: &str) -> Result<Option<(AccountId, Invoice)>, StoreError>;
    /// A checkout session by its id alone (its page has no account to ask with).
    fn checkout_session(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Option<CheckoutSession>, StoreError>;
    /// A customer's payment plans, oldest first.
    fn payment_plans(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<PaymentPlan>, StoreError>;
    /// What a bank-transfer reference pays, if it is one of the account's.
    fn bank_reference(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> Result<Option<ReferenceTarget>, StoreError>;
    /// What the statement line with this identity did, if it was seen before.
    fn bank_line(
        &self,
        account: &AccountId,
        identity: &str,
    ) -> Result<Option<BankLineRecord>, StoreError>;
    /// The credits applied to the customer's charges or balance by statement lines, newest
    /// first, at most `limit`: where a recall finds what it returns.
    fn bank_credits(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        limit: usize,
    ) -> Result<Vec<(String, BankLineRecord)>, StoreError>;
    /// Every subscription of the account, handed to `visit` one at a time (for reports).
    fn each_subscription(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Subscription) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// How many subscriptions there are in each status, across every account (for metrics,
    /// counted once at start).
    fn subscriptions_by_status(&self) -> Result<Vec<(SubscriptionStatus, u64)>, StoreError>;
    fn invoice(&self, account: &AccountId, id: &InvoiceId) -> Result<Option<Invoice>, StoreError>;
    /// An account's invoices, newest first, as `filter` narrows them.
    fn invoices(
        &self,
        account: &AccountId,
        filter: &InvoiceFilter,
        limit: usize,
        starting_after: Option<&InvoiceId>,
    ) -> Result<Page<Invoice>, StoreError>;
    fn credit_note(
        &self,
        account: &AccountId,
        id: &CreditNoteId,
    ) -> Result<Option<CreditNote>, StoreError>;
    /// An account's credit notes, newest first, as `filter` narrows them.
    fn credit_notes(
        &self,
        account: &AccountId,
        filter: &CreditNoteFilter,
        limit: usize,
        starting_after: Option<&CreditNoteId>,
    ) -> Result<Page<CreditNote>, StoreError>;
    /// Every credit note of one invoice of `customer`, oldest first.
    fn invoice_credit_notes(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        invoice: &InvoiceId,
    ) -> Result<Vec<CreditNote>, StoreError>;
    /// Schedule entries of `scope` (a test clock's id, or [`keys::LIVE_SCOPE`]) due at or before
    /// `up_to`, earliest first, at most `limit`.
    fn due(&self, scope: &str, up_to: i64, limit: usize) -> Result<Vec<DueEntry>, StoreError>;
    /// Removes a schedule entry that names nothing due any more (the subscription moved on).
    fn remove_due(&self, scope: &str, entry: &DueEntry) -> Result<(), StoreError>;
    /// Invoices whose automatic payment attempt was decided and whose charge is not yet
    /// recorded, for start-up to resume: `(account, customer, invoice)`.
    fn collecting_invoices(&self) -> Result<Vec<(AccountId, CustomerId, InvoiceId)>, StoreError>;
    /// The `version` the latest outgoing event about the object gave it; 0 if none did.
    fn object_version(&self, account: &AccountId, object_id: &str) -> Result<u64, StoreError>;
}

/// The outbox and where it goes: the outgoing events (written by change sets, see
/// [`Write::Outgoing`]), the platform's webhook endpoints, and each event's delivery to each.
pub trait OutboxStore: Durable {
    /// Writes the account's own event (not a customer's), queued like every other.
    fn emit(&self, event: NewOutgoingEvent) -> Result<DurableTicket, StoreError>;
    fn outgoing_event(
        &self,
        account: &AccountId,
        id: &EventId,
    ) -> Result<Option<OutgoingEvent>, StoreError>;
    /// The account's outgoing events that `filter` keeps, newest first.
    fn outgoing_events(
        &self,
        account: &AccountId,
        filter: &OutgoingFilter,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<OutgoingEvent>, StoreError>;
    /// Queued events (not yet settled at every endpoint that took them) after `after`, in
    /// commit order, at most `limit`; as stored, their data still sealed: what they are about
    /// decides where they go, and [`OutboxStore::opened_event`] opens one to send it.
    fn queued_events(
        &self,
        after: Option<&EventId>,
        limit: usize,
    ) -> Result<Vec<OutgoingEvent>, StoreError>;
    /// A queued event with its sealed data opened, as it is sent.
    fn opened_event(&self, event: OutgoingEvent) -> Result<OutgoingEvent, StoreError>;
    /// Writes deliveries as attempts left them, and takes `settled` events (delivered or given
    /// up at every endpoint that took them) off the queue, as one atomic write.
    fn record_deliveries(
        &self,
        deliveries: &[Delivery],
        settled: &[EventId],
    ) -> Result<DurableTicket, StoreError>;
    fn delivery(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpointId,
        event: &EventId,
    ) -> Result<Option<Delivery>, StoreError>;
    /// An endpoint's deliveries, newest event first.
    fn deliveries(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpointId,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<Delivery>, StoreError>;
    /// Writes a new or changed endpoint, with the idempotency record of the request that did it.
    fn put_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        answered: Option<(&str, &IdempotencyRecord)>,
    ) -> Result<DurableTicket, StoreError>;
    /// Removes an endpoint and its deliveries.
    fn remove_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> Result<DurableTicket, StoreError>;
    fn endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// An account's endpoints, oldest first.
    fn endpoints(&self, account: &AccountId) -> Result<Vec<WebhookEndpoint>, StoreError>;
}

/// The webhook inbox: gateways' events, stored once each, and what applying them did.
pub trait InboxStore: Durable {
    /// Persists a gateway's event under a fresh Kassa id, to be applied, unless an event with
    /// the same gateway id is stored already: then nothing is written and the stored one is
    /// answered. Durable once a `sync()` issued after it resolves.
    fn insert_gateway_event(&self, event: NewGatewayEvent) -> Result<InsertedEvent, StoreError>;
    fn gateway_event(
        &self,
        account: &AccountId,
        id: &EventId,
    ) -> Result<Option<GatewayEvent>, StoreError>;
    /// The events persisted and not yet applied, oldest first. Called once, at start, on a
    /// store no other node shares.
    fn unapplied_gateway_events(&self) -> Result<Vec<GatewayEvent>, StoreError>;
    /// Where nodes share the store: the events not yet applied that were received before
    /// `received_before` (Unix seconds), oldest first, at most `limit`: those a node that
    /// stopped left, when every node applies what it takes in well within that time. Nothing
    /// on a store of its own, where a start finds what is left.
    fn gateway_events_left(
        &self,
        received_before: i64,
        limit: usize,
    ) -> Result<Vec<GatewayEvent>, StoreError>;
    /// Records what applying the event (filed under `account`) did, and files it under
    /// `owner`, the account whose charge it turned out to be about, when that is another; the
    /// ticket says when that is durable.
    fn complete_gateway_event(
        &self,
        account: &AccountId,
        id: &EventId,
        applied: &Applied,
        owner: &AccountId,
    ) -> Result<DurableTicket, StoreError>;
    /// An account's gateway events, newest first, of one type when `kind` is given.
    fn gateway_events(
        &self,
        account: &AccountId,
        kind: Option<&str>,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<GatewayEvent>, StoreError>;
}

/// Accounts and the API keys Kassa made (configured keys live in the config).
pub trait AccountStore: Durable {
    /// The account a dev key generated on first start belongs to, by the key's hash.
    fn api_key_account(&self, key_sha256: &[u8; 32]) -> Result<Option<AccountId>, StoreError>;
    /// Stores a generated dev key's hash for the account, durably.
    fn put_generated_api_key(
        &self,
        account: &AccountId,
        key_sha256: &[u8; 32],
    ) -> Result<DurableTicket, StoreError>;
    fn has_generated_api_key(&self, account: &AccountId) -> Result<bool, StoreError>;
    fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    /// Every account. There are as many as an operator has tenants, so the API pages them in
    /// memory.
    fn accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Writes a new or changed account, with the idempotency record of the request that did it
    /// and the change's audit event (one atomic write).
    fn put_account(
        &self,
        account: &Account,
        answered: Option<(&str, &IdempotencyRecord)>,
        audit: Option<&Event>,
    ) -> Result<DurableTicket, StoreError>;
    /// Every key made through the API, revoked ones included, for the key table at start.
    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    /// Writes a new or changed key, with the idempotency record of the admin request that did
    /// it and the change's audit event (none for a note of its last use).
    fn put_api_key(
        &self,
        key: &ApiKey,
        answered: Option<(&str, &IdempotencyRecord)>,
        audit: Option<&Event>,
    ) -> Result<DurableTicket, StoreError>;
}

/// Each account's uploaded rule versions.
pub trait PluginStore: Durable {
    /// An account's uploaded rule versions of one kind; `None` if it never uploaded one.
    fn plugin_history(
        &self,
        account: &AccountId,
        kind: PluginKind,
    ) -> Result<Option<PluginHistory>, StoreError>;
    /// Every account's rule histories, for loading the active rules at start-up.
    fn plugin_histories(&self) -> Result<Vec<(AccountId, PluginKind, PluginHistory)>, StoreError>;
    /// Replaces an account's history of one kind, with the idempotency record of the request
    /// that changed it if it came with a key (one atomic write); the ticket says when durable.
    fn put_plugin_history(
        &self,
        account: &AccountId,
        kind: PluginKind,
        history: &PluginHistory,
        answered: Option<(&str, &IdempotencyRecord)>,
    ) -> Result<DurableTicket, StoreError>;
}

/// The whole store, for what needs every part of it (the API, start-up). Each other user is
/// given only the part it needs, and a backend implements each part.
/// A coupon or promotion code not written: the account has one with its id, or its code,
/// already.
#[derive(Debug)]
pub struct Taken;

/// The account's coupons and promotion codes, and the redemptions charges make of them (written
/// in the customers' change sets, read here to count them).
/// Uploaded bank statements: the account's, each written with the outcomes of its lines that
/// no customer's change set wrote (unmatched, debits).
pub trait StatementStore: Durable {
    fn put_statement(
        &self,
        account: &AccountId,
        statement: &BankStatement,
        lines: &[(String, BankLineRecord)],
    ) -> Result<DurableTicket, StoreError>;
    fn statement(
        &self,
        account: &AccountId,
        id: &StatementId,
    ) -> Result<Option<BankStatement>, StoreError>;
    /// The account's statements, newest first.
    fn statements(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&StatementId>,
    ) -> Result<Page<BankStatement>, StoreError>;
}

pub trait CouponStore: Durable {
    /// Writes a new coupon, unless the account has one with its id already.
    fn create_coupon(
        &self,
        account: &AccountId,
        coupon: &Coupon,
    ) -> Result<Result<DurableTicket, Taken>, StoreError>;
    /// Writes a changed coupon (its name, metadata, deletion).
    fn put_coupon(&self, account: &AccountId, coupon: &Coupon)
    -> Result<DurableTicket, StoreError>;
    fn coupon(&self, account: &AccountId, id: &CouponId) -> Result<Option<Coupon>, StoreError>;
    /// The account's coupons that are not deleted, by id, last first.
    fn coupons(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&CouponId>,
    ) -> Result<Page<Coupon>, StoreError>;
    /// Writes a new promotion code, unless its code (whatever its case) is taken.
    fn create_promotion_code(
        &self,
        account: &AccountId,
        code: &PromotionCode,
    ) -> Result<Result<DurableTicket, Taken>, StoreError>;
    /// Writes a changed promotion code (`active`, metadata); its code never changes.
    fn put_promotion_code(
        &self,
        account: &AccountId,
        code: &PromotionCode,
    ) -> Result<DurableTicket, StoreError>;
    fn promotion_code(
        &self,
        account: &AccountId,
        id: &PromotionCodeId,
    ) -> Result<Option<PromotionCode>, StoreError>;
    /// The promotion code spelled `code`, in any case.
    fn promotion_code_named(
        &self,
        account: &AccountId,
        code: &str,
    ) -> Result<Option<PromotionCode>, StoreError>;
    /// The account's promotion codes, newest first, only `coupon`'s when it is given.
    fn promotion_codes(
        &self,
        account: &AccountId,
        coupon: Option<&CouponId>,
        limit: usize,
        starting_after: Option<&PromotionCodeId>,
    ) -> Result<Page<PromotionCode>, StoreError>;
    /// Every redemption of a coupon, reserved or counted.
    fn redemptions(
        &self,
        account: &AccountId,
        coupon: &CouponId,
    ) -> Result<Vec<Redemption>, StoreError>;
}

pub trait Store:
    CustomerStore
    + InboxStore
    + AccountStore
    + PluginStore
    + OutboxStore
    + CouponStore
    + StatementStore
    + LedgerStore
    + PayeeStore
    + PayoutStore
{
}

impl<
    T: CustomerStore
        + InboxStore
        + AccountStore
        + PluginStore
        + OutboxStore
        + CouponStore
        + StatementStore
        + LedgerStore
        + PayeeStore
        + PayoutStore,
> Store for T
{
}
