//! The engine's sled trees, one per record kind or index, and the numbers the log names them by.

/// The trees. A log record names each by its number here (see [`super::logged::apply`]), so a new tree goes
/// at the end: renumbering would send the records of an earlier log to the wrong trees.
#[derive(Clone, Copy)]
pub(super) enum TreeId {
    Customers,
    PaymentMethods,
    PaymentMethodOwners,
    Charges,
    ChargeOwners,
    Refunds,
    RefundOwners,
    Events,
    Idempotency,
    /// Charges still `processing` and refunds still `pending`, for recovery to find quickly.
    Unsettled,
    /// `gateway/reference` → `account/customer/charge`. Number 10 was a tree development
    /// builds wrote and nothing uses now; the numbers after it stay as they were.
    ChargeReferences = 11,
    Disputes,
    DisputeOwners,
    /// Gateway events under `account/evt_…` (Kassa's id): the account's list is a range scan.
    /// Each record gets its outcome written into it once applied.
    GatewayEvents,
    /// `gateway/gateway event id` → `account/evt_…`: what deduplicates deliveries.
    GatewayEventIds,
    /// The watermark from which a start looks for gateway events not yet applied (see
    /// [`super::unapplied`]).
    EventInbox,
    /// Number 17 was a tree development builds wrote and nothing uses now.
    Subscriptions = 18,
    SubscriptionOwners,
    Invoices,
    InvoiceOwners,
    /// Invoices whose automatic payment attempt has no charge recorded yet (see
    /// `Invoice::collecting`).
    Collecting,
    /// The durable schedule: `scope/due/account/customer/subscription` (see [`crate::store::keys::schedule`]).
    Schedule,
    CreditNotes,
    CreditNoteOwners,
    /// Rule plugin histories, `account/kind`: in the log so that a rollback and its
    /// idempotency record are one atomic write.
    Plugins,
    /// Dev API keys generated on first start: sha256 → account.
    ApiKeys,
    /// Plans and test clocks (`account/id`): the account's, not a customer's.
    Plans,
    TestClocks,
    /// Accounts by id: the configured ones (written at start) and those made by the admin API.
    Accounts,
    /// API keys made by the admin API, `account/key_…`; the secret's hash is in the record.
    AccountKeys,
    /// `account/evt_…` → customer: the account-wide audit trail, newest first.
    AuditIndex,
    /// Each customer's key, wrapped (`account/customer`; see `store::sealing`).
    CustomerKeys,
    /// `account/<email digest>/customer`: the `email=` filter's index (see `store::sealing`).
    CustomerEmails,
    /// The account's own audit events (`account/evt_…`): its settings, its keys.
    AccountEvents,
    /// Outgoing events, `account/evt_…` (ids given in commit order).
    OutgoingEvents,
    /// `evt_…` → account: outgoing events not yet settled at every endpoint that took them.
    OutboxQueue,
    /// `account/object id` → the `version` its latest outgoing event gave it (u64, big-endian).
    ObjectVersions,
    /// `account/we_…`: the platform's webhook endpoints, secrets sealed.
    WebhookEndpoints,
    /// `account/we_…/evt_…`: each event's delivery to each endpoint, once attempted.
    Deliveries,
    /// `account/coupon id`: the account's coupons.
    Coupons,
    /// `account/promo_…`: the account's promotion codes.
    PromotionCodes,
    /// `account/CODE` (upper case) → `promo_…`: what finds a code as a customer types it.
    PromotionCodeNames,
    /// `account/coupon id/ch_…`: each charge's redemption of a coupon.
    Redemptions,
    /// `account/customer/pp_…`: payment plans, and their `account/pp_…` → customer index.
    PaymentPlans,
    PaymentPlanOwners,
    /// `account/REFERENCE` → the charge or customer a bank-transfer reference pays.
    BankReferences,
    /// `account/identity` → what a statement line did (see `bank_statements::identities`).
    BankLines,
    /// `account/stmt_…`: uploaded bank statements.
    BankStatements,
    /// `account/customer/identity` → a statement line's record that credited the customer.
    BankCredits,
    /// `cs_…` → a checkout session (its id is its key: the page has no account).
    CheckoutSessions,
    /// An invoice page's token → `(account, in_…)`: what its page finds the invoice by.
    InvoicePages,
    /// `account/beneficiary/spons_…`: sponsorships, under the customer whose actor changes
    /// them, with their `account/spons_…` → beneficiary index, and `account/sponsor/spons_…`
    /// → beneficiary: what a sponsor pays for.
    Sponsorships,
    SponsorshipOwners,
    SponsorSponsorships,
    /// `account/sponsor/item`: shares a sponsor owes, not yet on one of its invoices.
    SponsorItems,
    /// `account/beneficiary/item`: shares a sponsor did not pay, for the beneficiary's actor.
    SponsorDefaults,
    /// `account/customer` → the number of change sets committed for the customer (u64 big
    /// endian), which several nodes on PostgreSQL check their memory of the customer against.
    /// Not written on sled, where one process is the only writer.
    CustomerVersions,
    /// `account` → the sequence number of the account's latest outgoing event (u64 big
    /// endian), where nodes sharing the store number events (PostgreSQL); sled's one process
    /// keeps it in memory.
    AccountSequences,
    /// `current` → the fingerprint of the data key a shared database is written with (see
    /// [`super::fingerprint`]).
    DataKeyFingerprint,
    /// `account/txn` → a posting of the books, or the postings of one change set under the
    /// first's id; `\0began` → when the books began, `\0accruals_began` and `\0sales_began`
    /// when they began to carry invoices' and sales' accruals (i64 BE).
    LedgerEntries,
    /// `account/source/txn`: the entries holding postings an object (`ch_…`, `re_…`, `dp_…`)
    /// made; a transfer's (`tr_…`) under its charge when the charge's postings share the entry.
    LedgerSources,
    /// `account/ledger account/currency` → the ledger account's running totals, moved on in the
    /// change set of each posting.
    LedgerBalances,
    /// `account/payee` → a payee, its personal data sealed.
    Payees,
    /// `account/payee/txn`: the entries holding postings that moved a payee's balance.
    LedgerPayees,
    /// `account/po` → a payout.
    Payouts,
    /// `account/payee/po`: a payee's payouts.
    PayeePayouts,
    /// `account/po`: the payouts not yet settled, which recovery and the status queries take up.
    UnsettledPayouts,
    /// `account/payee/instant`: the instants of a payee's schedule that were acted on.
    PayoutSlots,
    /// `account/currency/day` → the platform's revenue that day, moved on with each posting.
    RevenueDays,
    /// `account/customer/id` (an invoice, a charge) or `account/id` (an outgoing event) → where
    /// the archived record is (see [`crate::store::archive`]).
    Archived,
}

impl TreeId {
    /// The tree's number in the log.
    pub(super) fn number(self) -> u8 {
        self as u8
    }
}

pub(super) const TREE_NAMES: [&str; 72] = [
    "customers",
    "payment_methods",
    "payment_method_owners",
    "charges",
    "charge_owners",
    "refunds",
    "refund_owners",
    "events",
    "idempotency",
    "unsettled",
    // Retired: nothing reads or writes it; its place keeps the later trees' numbers.
    "breakdowns",
    "charge_references",
    "disputes",
    "dispute_owners",
    "gateway_events",
    "gateway_event_ids",
    "event_inbox",
    // Retired, as "breakdowns" is.
    "event_outcomes",
    "subscriptions",
    "subscription_owners",
    "invoices",
    "invoice_owners",
    "collecting_invoices",
    "schedule",
    "credit_notes",
    "credit_note_owners",
    "plugins",
    "api_keys",
    "plans",
    "test_clocks",
    "accounts",
    "account_keys",
    "audit_index",
    "customer_keys",
    "customer_emails",
    "account_events",
    "outgoing_events",
    "outbox_queue",
    "object_versions",
    "webhook_endpoints",
    "deliveries",
    "coupons",
    "promotion_codes",
    "promotion_code_names",
    "redemptions",
    "payment_plans",
    "payment_plan_owners",
    "bank_references",
    "bank_lines",
    "bank_statements",
    "bank_credits",
    "checkout_sessions",
    "invoice_pages",
    "sponsorships",
    "sponsorship_owners",
    "sponsor_sponsorships",
    "sponsor_items",
    "sponsor_defaults",
    "customer_versions",
    "account_sequences",
    "data_key_fingerprint",
    "ledger_entries",
    "ledger_sources",
    "ledger_balances",
    "payees",
    "ledger_payees",
    "payouts",
    "payee_payouts",
    "unsettled_payouts",
    "payout_slots",
    "revenue_days",
    "archived",
];
