//! The subscription a checkout session sells, as the message that starts it: the same whether
//! the buyer chose a way to pay on the page (a test card, M-Pesa, a bank transfer) or saved a
//! card on Stripe's page, whose webhook starts it.

use crate::actor::IdempotencyTicket;
use crate::actor::billing::messages::{CreateSubscription, TrialRequest};
use crate::coupons::{self, Purchase, Requested, ResolveError, Resolved};
use crate::domain::{Cause, CheckoutItems, CheckoutSession, PaymentMethodId, Plan};
use crate::store::CouponStore;

/// The session's coupon, resolved again at `now`: it may have run out since the session was
/// made.
pub fn session_coupon(
    store: &dyn CouponStore,
    session: &CheckoutSession,
    now: i64,
) -> Result<Option<Resolved>, ResolveError> {
    let Some(requested) = requested_again(session) else { return Ok(None) };
    let purchase = match &session.items {
        CheckoutItems::Plan { plan, .. } => Purchase::Plan(plan),
        _ => Purchase::LineItems,
    };
    let resolved =
        coupons::resolve(store, &session.account, &requested, session.currency, purchase, now)?;
    Ok(Some(resolved))
}

/// The session's coupon as it was asked for: by the promotion code it came through, else by
/// the coupon's id.
pub fn requested_again(session: &CheckoutSession) -> Option<Requested> {
    let applied = session.coupon.as_ref()?;
    Some(match &applied.promotion_code {
        Some(code) => Requested::PromotionCode(code.as_str().to_owned()),
        None => Requested::Coupon(applied.coupon.as_str().to_owned()),
    })
}

/// How the session's subscription is started: by the buyer on the page, or by the
/// processor's webhook once the buyer saved a card there (the buyer gone: its first payment is
/// made off-session, under a key derived from the session).
pub enum Started {
    OnThePage,
    ByWebhook(IdempotencyTicket),
}

/// What starts the session's subscription of `plan` (the session's own) with `payment_method`;
/// `None` for a session that sells no subscription.
pub fn start_message(
    session: &CheckoutSession,
    plan: Plan,
    payment_method: PaymentMethodId,
    coupon: Option<Resolved>,
    started: Started,
    cause: Cause,
) -> Option<CreateSubscription> {
    let (idempotency, off_session) = match started {
        Started::OnThePage => (None, false),
        Started::ByWebhook(ticket) => (Some(ticket), true),
    };
    let CheckoutItems::Plan { quantity, .. } = &session.items else { return None };
    Some(CreateSubscription {
        plan,
        quantity: *quantity,
        trial: TrialRequest::PlanDefault,
        billing_cycle_anchor: None,
        payment_method: Some(payment_method),
        collection_method: None,
        days_until_due: None,
        metadata: session.metadata.clone(),
        idempotency,
        cause,
        coupon,
        checkout_session: Some(session.id.clone()),
        off_session,
        transfer: session.transfer.clone(),
    })
}
