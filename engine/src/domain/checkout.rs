//! Checkout sessions: a hosted page that takes one payment, or starts one subscription, from a
//! buyer the platform sends there. The session belongs to a customer and is changed only in
//! that customer's actor, so however many tabs submit it, one payment is under way at a time
//! and a completed session is never paid again.

use serde::{Deserialize, Serialize};

use super::{
    AccountId, AppliedCoupon, Breakdown, ChargeId, CheckoutSessionId, Currency, CustomerId,
    Metadata, PlanId, SubscriptionId, TestClockId,
};

/// A session lives 24 hours unless its creator says otherwise, at least 30 minutes (a buyer
/// needs time to pay) and at most a week.
pub const EXPIRES_AFTER_DEFAULT_SECS: i64 = 24 * 3600;
pub const EXPIRES_AFTER_MIN_SECS: i64 = 30 * 60;
pub const EXPIRES_AFTER_MAX_SECS: i64 = 7 * 24 * 3600;
/// The placeholder a `success_url` may hold for the session's id.
pub const SESSION_ID_PLACEHOLDER: &str = "{CHECKOUT_SESSION_ID}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutMode {
    /// One charge.
    Payment,
    /// A subscription to a plan, its first invoice paid (or its trial begun) on the page.
    Subscription,
}

impl CheckoutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutMode::Payment => "payment",
            CheckoutMode::Subscription => "subscription",
        }
    }

    pub fn parse(text: &str) -> Option<CheckoutMode> {
        match text {
            "payment" => Some(CheckoutMode::Payment),
            "subscription" => Some(CheckoutMode::Subscription),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutStatus {
    Open,
    Complete,
    Expired,
}

impl CheckoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutStatus::Open => "open",
            CheckoutStatus::Complete => "complete",
            CheckoutStatus::Expired => "expired",
        }
    }
}

/// A way to pay a session offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutMethod {
    Card,
    Mpesa,
    BankTransfer,
}

impl CheckoutMethod {
    pub const ALL: [CheckoutMethod; 3] =
        [CheckoutMethod::Card, CheckoutMethod::Mpesa, CheckoutMethod::BankTransfer];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutMethod::Card => "card",
            CheckoutMethod::Mpesa => "mpesa",
            CheckoutMethod::BankTransfer => "bank_transfer",
        }
    }

    pub fn parse(text: &str) -> Option<CheckoutMethod> {
        CheckoutMethod::ALL.into_iter().find(|method| method.as_str() == text)
    }
}

/// What the session sells, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutItems {
    /// A fixed amount (`amount`, `currency`).
    Amount,
    /// Line items, priced and taxed by the account's rules when the session was made: the
    /// charge takes exactly this breakdown. The cart is kept to price again with a promotion
    /// code typed on the page.
    Priced { cart: Vec<CartLine>, breakdown: Box<Breakdown> },
    /// A plan, `quantity` seats: the subscription's own invoice prices and taxes it.
    Plan {
        plan: PlanId,
        quantity: u32,
        trial_days: u32,
        /// What the coupon takes off the first period, before tax.
        discount_minor: i64,
    },
}

/// A line item as the session was asked to sell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub sku: String,
    pub quantity: u32,
    pub unit_amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSession {
    pub id: CheckoutSessionId,
    pub account: AccountId,
    pub customer: CustomerId,
    pub mode: CheckoutMode,
    pub status: CheckoutStatus,
    pub items: CheckoutItems,
    pub currency: Currency,
    /// Before discounts and tax.
    pub amount_subtotal_minor: i64,
    /// Due today: what the charge takes (0 for a subscription starting with a trial).
    pub amount_total_minor: i64,
    pub coupon: Option<AppliedCoupon>,
    pub allow_promotion_codes: bool,
    pub payment_method_types: Vec<CheckoutMethod>,
    pub success_url: String,
    pub cancel_url: String,
    /// The page's address, as buyers reach it (`server.public_url`).
    pub url: String,
    pub expires_at: i64,
    pub metadata: Metadata,
    /// The latest charge made to pay it (a failed one may be followed by another).
    pub charge: Option<ChargeId>,
    /// The subscription it started (subscription mode).
    pub subscription: Option<SubscriptionId>,
    pub test_clock: Option<TestClockId>,
    pub created: i64,
    pub completed_at: Option<i64>,
    /// Payments tried through its page, failed ones included (see
    /// [`crate::limits::CHECKOUT_ATTEMPTS_MAX`]).
    #[serde(default)]
    pub attempts: u32,
    /// The processor's page its card is being taken on (Stripe Checkout), while one is open,
    /// and how many were closed before (so that a new one gets a key of its own).
    #[serde(default)]
    pub hosted_page: Option<HostedPage>,
    #[serde(default)]
    pub hosted_pages_closed: u32,
    /// The payee's share of its payment (or of each payment of the subscription it starts).
    #[serde(default)]
    pub transfer: Option<Box<super::TransferTerms>>,
    /// The country its tax is worked out for while its customer has none on record: the
    /// seller's until the buyer chooses theirs on the page. It becomes the customer's country
    /// when they pay, so what they are billed later is taxed as this was.
    #[serde(default)]
    pub tax_country: Option<String>,
}

impl CheckoutSession {
    /// The transfer its payment of `paid_minor` makes, if it splits its payments.
    pub fn transfer_of(&self, paid_minor: i64) -> Option<Box<super::ChargeTransfer>> {
        let terms = self.transfer.as_ref()?;
        terms.for_payment(paid_minor).map(Box::new)
    }
}

/// A processor's hosted page opened for a session's or an invoice's card: closed before it is
/// paid another way, so the two can never both take money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedPage {
    pub gateway: String,
    /// The processor's id of the page (a Stripe Checkout Session's `cs_…`).
    pub reference: String,
    /// When the processor stops taking payments on it (real time, Unix seconds).
    pub expires_at: i64,
    /// Where the buyer pays on it: every tab is sent there while it is open.
    #[serde(default)]
    pub url: String,
}

impl HostedPage {
    /// Whether it has expired by `now` (real time): a card then needs a new page.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }
}

impl CheckoutSession {
    /// When it stops taking payments: its expiry, or its open card page's at the processor
    /// when that is later (Stripe's pages last at least 30 minutes), so that an expired session
    /// has no page left that could take money.
    pub fn payable_until(&self) -> i64 {
        let page = self.hosted_page.as_ref().map_or(i64::MIN, |page| page.expires_at);
        self.expires_at.max(page)
    }

    /// `success_url` with the placeholder replaced by the session's id.
    pub fn success_location(&self) -> String {
        self.success_url.replace(SESSION_ID_PLACEHOLDER, self.id.as_str())
    }

    /// The schedule's scope: a session on a test clock expires on that clock's time.
    pub fn schedule_scope(&self) -> String {
        crate::store::keys::scope_of(self.test_clock.as_ref()).to_owned()
    }

    /// Discounts and tax as the page and the API show them.
    pub fn breakdown(&self) -> Option<&Breakdown> {
        match &self.items {
            CheckoutItems::Priced { breakdown, .. } => Some(breakdown),
            _ => None,
        }
    }

    pub fn discount_minor(&self) -> i64 {
        match &self.items {
            CheckoutItems::Amount => 0,
            CheckoutItems::Priced { breakdown, .. } => {
                breakdown.discounts.iter().map(|discount| discount.amount_minor).sum()
            }
            CheckoutItems::Plan { discount_minor, .. } => *discount_minor,
        }
    }
}
