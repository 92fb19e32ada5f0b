//! A change set — every write of one state change of one customer, committed atomically — and
//! the idempotency record a request leaves, with the outcome a retry is answered with.

use serde::{Deserialize, Serialize};

use super::Scheduled;
use crate::domain::{
    Account, AccountId, ApiKey, BankLineRecord, Charge, ChargeId, CheckoutSession, Coupon,
    CouponId, CreditNote, Customer, CustomerId, Dispute, Event, GrantId, Invoice, InvoiceId,
    KindListing, NewOutgoingEvent, Payee, PaymentMethod, PaymentMethodId, PaymentPlan,
    PaymentPlanId, Payout, Plan, Posting, PromotionCode, PromotionalGrant, Redemption,
    ReferenceTarget, Refund, RefundId, SponsorItem, Sponsorship, Subscription, SubscriptionId,
    TestClock, TestClockId, WebhookEndpoint,
};

/// One write of a change set.
#[derive(Debug, Clone)]
pub enum Write {
    Customer(Customer),
    PaymentMethod(PaymentMethod),
    RemovePaymentMethod(PaymentMethodId),
    /// Destroys the customer's key (erasure): what was sealed under it no longer opens.
    ForgetCustomerKey,
    /// A charge just created: its record (its breakdown in it) and its id index entry.
    NewCharge(Charge),
    /// A charge as it stands now, its breakdown in it.
    Charge(Charge),
    Refund(Refund),
    /// The gateway's reference for a charge (a PaymentIntent id), indexed once it is known so
    /// that the gateway's webhooks, which name only that, find the charge.
    ChargeReference {
        gateway: String,
        reference: String,
        charge: ChargeId,
    },
    Dispute(Dispute),
    /// A subscription as it stands now, and when it was due before this change (its schedule
    /// entry then), so the store moves the entry to [`Subscription::next_due`].
    Subscription {
        record: Subscription,
        due_before: Option<i64>,
    },
    /// A payment plan as it stands now, and when it was due before this change, as for a
    /// subscription.
    PaymentPlan {
        record: PaymentPlan,
        due_before: Option<i64>,
    },
    /// An invoice as it stands now; its `collecting` flag keeps it in the index a restart reads.
    Invoice(Invoice),
    CreditNote(CreditNote),
    Event(Event),
    /// An event for the platform's endpoints (the outbox); the store gives it its id and the
    /// account's next sequence number, and queues it for delivery.
    Outgoing(NewOutgoingEvent),
    Idempotency {
        key: String,
        record: IdempotencyRecord,
    },
    /// A redemption of a coupon, reserved or counted.
    Redemption(Redemption),
    /// A bank-transfer reference and what it pays.
    BankReference {
        reference: String,
        target: ReferenceTarget,
    },
    /// What a statement line did, under its identity: written with its effect, so a line is
    /// never applied twice.
    BankLine {
        identity: String,
        record: BankLineRecord,
    },
    /// A schedule entry for `object` at `due` (a bank transfer's expiry); removed by the
    /// scheduler once nothing is due for it.
    Due {
        scope: String,
        due: i64,
        object: Scheduled,
    },
    /// A reservation released: its charge failed, its subscription was never paid.
    RemoveRedemption {
        coupon: CouponId,
        holder: String,
    },
    /// Frees a key whose request provably did nothing (recovery found the gateway never saw
    /// it), so the client's retry with that key is carried out instead of answered with a failure.
    RemoveIdempotency {
        key: String,
    },
    /// A checkout session as it stands now, under its id alone: its page finds it by that.
    CheckoutSession(Box<CheckoutSession>),
    /// A sponsorship as it stands now, written by its beneficiary's actor.
    Sponsorship(Box<Sponsorship>),
    /// A share a sponsor owes, and the schedule entry of the sponsor's invoice that takes it.
    SponsorItem(Box<SponsorItem>),
    /// A share put on the sponsor's invoice, in the change set that made the invoice.
    RemoveSponsorItem {
        id: String,
    },
    /// A posting of the books, for the money this set moves; the store moves the balances it
    /// touches on under the write order.
    Posting(Box<Posting>),
    /// A share its sponsor did not pay by the end of its grace, for the beneficiary's actor to
    /// act on (its sponsorship's `on_default`), with the beneficiary's schedule entry for it.
    SponsorDefault(Box<SponsorItem>),
    /// A default acted on, in the change set that carried it out.
    RemoveSponsorDefault {
        id: String,
    },
}

/// All writes of one state change of one customer; committed atomically or not at all.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    pub account: AccountId,
    pub customer: CustomerId,
    pub writes: Vec<Write>,
    /// The customer's version (see [`super::CustomerStore::customer_version`]) the change was
    /// decided on: the commit is refused with [`super::StoreError::Conflict`] if another node
    /// changed the customer since. `None`: committed whatever the version.
    pub decided_at: Option<u64>,
    /// The customer's test clock as the actor deciding the change holds it, so the books need
    /// not read the customer to learn it; `None`: not known, read from the store.
    pub test_clock: Option<Option<TestClockId>>,
}

impl ChangeSet {
    pub fn new(account: &AccountId, customer: &CustomerId) -> ChangeSet {
        ChangeSet {
            account: account.clone(),
            customer: customer.clone(),
            writes: Vec::new(),
            decided_at: None,
            test_clock: None,
        }
    }

    pub fn with(mut self, write: Write) -> ChangeSet {
        self.writes.push(write);
        self
    }

    pub fn push(&mut self, write: Write) {
        self.writes.push(write);
    }
}

impl Extend<Write> for ChangeSet {
    fn extend<T: IntoIterator<Item = Write>>(&mut self, writes: T) {
        self.writes.extend(writes);
    }
}

impl Write {
    /// The idempotency record of a request answered now, in the same change as its effect.
    pub fn idempotency_completed(key: &str, fingerprint: [u8; 32], outcome: Outcome) -> Write {
        Write::Idempotency {
            key: key.to_owned(),
            record: IdempotencyRecord {
                fingerprint,
                created: crate::domain::time::now_unix_secs(),
                state: IdempotencyState::Completed(Box::new(outcome)),
            },
        }
    }

    /// The idempotency record of a charge or refund whose gateway outcome is still to come.
    pub fn idempotency_in_flight(
        key: &str,
        fingerprint: [u8; 32],
        object: InFlightObject,
    ) -> Write {
        Write::Idempotency {
            key: key.to_owned(),
            record: IdempotencyRecord {
                fingerprint,
                created: crate::domain::time::now_unix_secs(),
                state: IdempotencyState::InFlight(object),
            },
        }
    }
}

/// What a POST with an Idempotency-Key did, kept so that a retry gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// SHA-256 of method, path and canonical body: a different request under the same key is
    /// refused, not replayed.
    pub fingerprint: [u8; 32],
    pub created: i64,
    pub state: IdempotencyState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdempotencyState {
    /// The charge or refund is recorded but its gateway outcome is not yet known.
    InFlight(InFlightObject),
    /// The request's result: replayed, as first answered, to every retry.
    Completed(Box<Outcome>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InFlightObject {
    Charge(ChargeId),
    Refund(RefundId),
    /// A subscription whose first payment is under way: a replay shows it as it stands.
    Subscription(SubscriptionId),
    /// An invoice being paid: a replay shows it as it stands.
    Invoice(InvoiceId),
    /// A payment plan whose instalment is being charged: a replay shows it as it stands.
    PaymentPlan(PaymentPlanId),
}

/// The object a request produced, as it was when first answered. The API renders the response
/// (status and body) from it, the same way every time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Customer(Customer),
    PaymentMethod(PaymentMethod),
    PaymentMethodDeleted(PaymentMethodId),
    Charge(Charge),
    Refund(Refund),
    Plan(Plan),
    TestClock(TestClock),
    Subscription(Subscription),
    /// A subscription whose first payment was declined: answered 402 with its id.
    SubscriptionDeclined {
        subscription: Box<Subscription>,
        charge: Box<Charge>,
    },
    Invoice(Invoice),
    CreditNote(CreditNote),
    /// An account's rule of one kind after a rollback.
    Plugin(KindListing),
    /// An admin request's account.
    Account(Account),
    /// An admin request's API key, as replays show it: without its secret, which only the
    /// first answer held.
    ApiKey(ApiKey),
    /// A webhook endpoint as a request left it, its secrets emptied: only the answer that made
    /// (or rotated) it showed the secret.
    WebhookEndpoint(WebhookEndpoint),
    /// A coupon as a request left it, and how often it was redeemed then.
    Coupon {
        coupon: Box<Coupon>,
        times_redeemed: u32,
    },
    PromotionCode {
        code: Box<PromotionCode>,
        times_redeemed: u32,
    },
    /// A coupon deleted.
    CouponDeleted(CouponId),
    /// A promotional grant given to `customer`.
    Grant {
        customer: CustomerId,
        grant: PromotionalGrant,
    },
    GrantDeleted(GrantId),
    PaymentPlan(PaymentPlan),
    CheckoutSession(Box<CheckoutSession>),
    Sponsorship(Box<Sponsorship>),
    /// A payee as a request left it (sealed at rest as the payee is).
    Payee(Box<Payee>),
    /// A payout as its request was answered (as it was recorded, where the answer never went).
    Payout(Box<Payout>),
}
