//! `GET /checkout/{id}`, `POST /checkout/{id}/pay`, `GET /checkout/{id}/status`: the buyer's
//! side of a checkout session, reached with no API key (the session's 128 random bits are the
//! credential). A payment is the customer's actor's to make: it refuses a second one while one
//! is under way or after one succeeded, so two tabs submitting at once charge once.
//!
//! The pay form answers `303 See Other` back to the page (or an error page), so a reload never
//! submits twice; the page of a completed session sends the buyer on to `success_url`.

use serde::Deserialize;
use serde_json::json;

use super::checkout_sessions::Cards;
use super::hosted_pages::{self, Pages};
use super::payment_methods::{self, NewMethod};
use super::{Reply, checkout_sessions};
use crate::actor::CustomerKey;
use crate::actor::billing::messages::{ActOnInvoice, InvoiceAction};
use crate::actor::checkout::CountCheckoutAttempt;
use crate::actor::hosted_pages::PageFor;
use crate::actor::messages::CreateCharge;
use crate::api::App;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::checkout::countries;
use crate::checkout::page::{self, Bill, Offer, Payment, SANDBOX_CARDS, Seller};
use crate::checkout::subscription::{Started, requested_again, start_message};
use crate::coupons::{Requested, Resolved};
use crate::domain::{
    AccountId, Cause, Charge, ChargeStatus, CheckoutItems, CheckoutMethod, CheckoutMode,
    CheckoutSession, CheckoutSessionId, CheckoutStatus, CollectionMethod, CustomerId, Invoice,
    InvoiceStatus, Money, PaymentMethod, PaymentMethodKind, Subscription,
};
use crate::store::Outcome;
use kassa_gateways::mpesa::normalize_phone;
use kassa_gateways::{CustomerRef, Gateway, HostedFor, HostedPaymentRequest, HostedTake};

/// How long a processor's hosted page stays open: Stripe's bounds (30 minutes to 24 hours),
/// with a margin.
const HOSTED_PAGE_MIN_SECS: i64 = 31 * 60;
pub(super) const HOSTED_PAGE_MAX_SECS: i64 = 23 * 3600;

#[derive(Deserialize)]
pub(super) struct PayForm {
    pub(super) method: String,
    pub(super) card: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) code: Option<String>,
    pub(super) country: Option<String>,
}

/// The session, and its status and latest charge as of now.
struct Current {
    session: CheckoutSession,
    status: CheckoutStatus,
    /// The first invoice of the subscription the session started, once it has one.
    invoice: Option<Invoice>,
    charge: Option<Charge>,
}

fn load(app: &App, id: &str) -> Result<Option<Current>, ApiError> {
    let Some(id) = CheckoutSessionId::parse(id) else { return Ok(None) };
    let Some(session) = app.queries.checkout_session(&id)? else { return Ok(None) };
    let now = checkout_sessions::session_now(app, &session)?;
    let status = app.queries.checkout_status(&session, now)?;
    let invoice = first_invoice(app, &session)?;
    // The session's latest payment: its own charge, or its subscription's first invoice's.
    let charge = session.charge.clone().or_else(|| invoice.as_ref()?.charge.clone());
    let charge = match charge {
        Some(charge) => app.queries.charge(&session.account, &charge)?,
        None => None,
    };
    Ok(Some(Current { session, status, invoice, charge }))
}

fn first_invoice(app: &App, session: &CheckoutSession) -> Result<Option<Invoice>, ApiError> {
    let Some(subscription) = &session.subscription else { return Ok(None) };
    let subscription = app.queries.subscription(&session.account, subscription)?;
    let Some(invoice) = subscription.and_then(|subscription| subscription.latest_invoice) else {
        return Ok(None);
    };
    Ok(app.queries.invoice(&session.account, &invoice)?)
}

pub(super) fn not_found() -> Reply {
    let page = page::notice(
        "Checkout not found",
        "This checkout link is not valid. Ask the seller for a new one.",
        None,
    );
    Reply::page(warp::http::StatusCode::NOT_FOUND, page, page::policy(None))
}

pub async fn show(app: &App, id: &str) -> Result<Reply, ApiError> {
    let Some(current) = load(app, id)? else { return Ok(not_found()) };
    Ok(render(app, &current, None))
}

fn render(app: &App, current: &Current, error: Option<&str>) -> Reply {
    let session = &current.session;
    let policy = page::policy(Some(&session.success_url));
    let ok = warp::http::StatusCode::OK;
    match current.status {
        CheckoutStatus::Complete => Reply::see_other(session.success_location()),
        CheckoutStatus::Expired => Reply::page(
            warp::http::StatusCode::GONE,
            page::notice(
                "Checkout expired",
                "This checkout has expired. Nothing was charged.",
                Some((&session.cancel_url, "Return to the seller")),
            ),
            policy,
        ),
        CheckoutStatus::Open => {
            let payment = payment_shown(current.charge.as_ref());
            let seller = seller_name(app, &session.account);
            let plan_name = plan_name(app, session);
            let path = format!("/checkout/{}", session.id);
            let offer = Offer {
                path: &path,
                methods: &session.payment_method_types,
                hosted_card: matches!(checkout_sessions::cards(app), Cards::Hosted(_)),
                promotion_code: session.allow_promotion_codes && session.coupon.is_none(),
                // Chosen before anything is paid: a started subscription's invoice is taxed.
                country: session.tax_country.as_deref().filter(|_| current.invoice.is_none()),
                cancel: Some(&session.cancel_url),
            };
            // Once the subscription has its first invoice, that is what is paid, tax and all.
            let bill = match &current.invoice {
                Some(invoice) => super::invoice_page::bill(invoice),
                None => Bill::of_session(session, plan_name.as_deref()),
            };
            let html = page::open(&bill, &offer, &Seller { name: &seller }, &payment, error);
            let status = if error.is_some() { warp::http::StatusCode::BAD_REQUEST } else { ok };
            Reply::page(status, html, policy)
        }
    }
}

/// What a page says of its latest charge: under way (an M-Pesa prompt, a bank transfer
/// awaited), failed (why), or nothing yet.
pub(super) fn payment_shown(charge: Option<&Charge>) -> Payment<'_> {
    match charge {
        Some(charge) if charge.status == ChargeStatus::Processing => match &charge.bank_transfer {
            Some(transfer) => {
                Payment::BankTransfer { transfer, amount_minor: charge.amount.amount_minor }
            }
            None => Payment::Mpesa,
        },
        Some(charge) if charge.status == ChargeStatus::Failed => Payment::Choose {
            failure: charge.failure.as_ref().map(|failure| failure.message.as_str()),
        },
        _ => Payment::Choose { failure: None },
    }
}

/// Who is paid: the account's seller, else the engine's (`billing.seller`).
pub(super) fn seller_name(app: &App, account: &AccountId) -> String {
    let settings = app.accounts.settings(account);
    match &settings.seller {
        Some(seller) => seller.name.clone(),
        None if !app.seller.name.is_empty() => app.seller.name.clone(),
        None => "the seller".to_owned(),
    }
}

fn plan_name(app: &App, session: &CheckoutSession) -> Option<String> {
    let CheckoutItems::Plan { plan, .. } = &session.items else { return None };
    app.queries.plan(&session.account, plan).ok().flatten().map(|plan| plan.name)
}

/// `GET /checkout/{id}/status`: what the page's script follows. Nothing personal: the
/// session's status and its payment's.
pub async fn status(app: &App, id: &str) -> Result<Reply, ApiError> {
    let Some(current) = load(app, id)? else {
        return Err(ApiError::not_found("checkout_session", id));
    };
    let payment = current.charge.as_ref().map(|charge| charge.status.as_str());
    Ok(Reply::ok(json!({ "status": current.status.as_str(), "payment": payment })))
}

pub async fn pay(app: &App, request: &ApiRequest, id: &str) -> Result<Reply, ApiError> {
    let Some(current) = load(app, id)? else { return Ok(not_found()) };
    if current.status != CheckoutStatus::Open {
        return Ok(render(app, &current, None));
    }
    let back = Reply::see_other(format!("/checkout/{}", current.session.id));
    match attempt(app, request, &current.session).await {
        Ok(Some(hosted)) => Ok(Reply::page(
            warp::http::StatusCode::OK,
            page::hand_off(&hosted),
            page::policy(Some(&current.session.success_url)),
        )),
        Ok(None) => Ok(back),
        Err(error) => {
            // The session as it now stands: another tab may have paid or started a payment.
            let Some(current) = load(app, id)? else { return Ok(not_found()) };
            if current.status != CheckoutStatus::Open
                || current
                    .charge
                    .as_ref()
                    .is_some_and(|charge| charge.status == ChargeStatus::Processing)
            {
                return Ok(back);
            }
            Ok(render(app, &current, Some(&error.message)))
        }
    }
}

/// One submission of the page's form; answers the processor's page to send the buyer to, when
/// a card is paid there.
async fn attempt(
    app: &App,
    request: &ApiRequest,
    session: &CheckoutSession,
) -> Result<Option<String>, ApiError> {
    let form: PayForm = serde_urlencoded::from_bytes(&request.body).map_err(|_| {
        ApiError::validation("method", "the form was not understood: reload the page")
    })?;
    let key = CustomerKey { account: session.account.clone(), customer: session.customer.clone() };
    let cause = request.cause();
    let chosen = match form.method.as_str() {
        "promotion_code" => {
            let code = form.code.unwrap_or_default();
            apply_promotion_code(app, session, &key, code.trim(), cause).await?;
            return Ok(None);
        }
        "country" => {
            let country = form.country.unwrap_or_default();
            choose_country(app, session, &key, country.trim(), cause).await?;
            return Ok(None);
        }
        other => CheckoutMethod::parse(other)
            .filter(|method| session.payment_method_types.contains(method))
            .ok_or_else(|| ApiError::validation("method", "choose one of the ways to pay shown"))?,
    };
    if chosen == CheckoutMethod::Card
        && let Cards::Hosted(gateway) = checkout_sessions::cards(app)
    {
        return Ok(Some(hosted_card(app, session, &key, gateway.as_ref(), cause).await?));
    }
    let page_for = PageFor::CheckoutSession(session.id.clone());
    hosted_pages::close_open(app, &key, &page_for, session.hosted_page.as_ref()).await?;
    let counted = CountCheckoutAttempt { id: session.id.clone(), cause: cause.clone() };
    app.registry.send(&key, counted).await??.await?;
    let method = page_method(app, &key, chosen, form.card, form.phone, cause.clone()).await?;
    match session.mode {
        CheckoutMode::Payment => charge(app, session, &key, &method, cause).await?,
        CheckoutMode::Subscription => subscribe(app, session, &key, &method, cause).await?,
    }
    Ok(None)
}

/// A Stripe Checkout page for the session's card payment (or, for a subscription, the card
/// alone): the session's one open page, shared by every tab, which takes one payment. Stripe's
/// webhook records it (`webhooks::apply`), or starts the subscription with the card saved; the
/// buyer comes back to this session's page.
async fn hosted_card(
    app: &App,
    session: &CheckoutSession,
    key: &CustomerKey,
    gateway: &dyn Gateway,
    cause: Cause,
) -> Result<String, ApiError> {
    if session.hosted_page.is_none() {
        let counted = CountCheckoutAttempt { id: session.id.clone(), cause };
        app.registry.send(key, counted).await??.await?;
    }
    // A subscription's payments are Kassa's to make: its page only saves the card.
    let take = match session.mode {
        CheckoutMode::Payment => HostedTake::Payment { amount_minor: session.amount_total_minor },
        CheckoutMode::Subscription => HostedTake::Setup,
    };
    let now = checkout_sessions::session_now(app, session)?;
    let request = HostedPaymentRequest {
        pays: HostedFor::CheckoutSession(session.id.to_string()),
        idempotency_key: String::new(),
        customer: hosted_customer(app, &session.account, &session.customer)?,
        take,
        currency: session.currency,
        description: format!("{} ({})", seller_name(app, &session.account), session.id),
        return_url: format!("{}/checkout/{}", app.public_url, session.id),
        expires_at: session
            .expires_at
            .clamp(now + HOSTED_PAGE_MIN_SECS, now + HOSTED_PAGE_MAX_SECS),
    };
    let pages = Pages {
        page_for: PageFor::CheckoutSession(session.id.clone()),
        open: session.hosted_page.as_ref(),
        closed: session.hosted_pages_closed,
    };
    let key_base = format!("kassa_checkout_{}", session.id);
    hosted_pages::card_page(app, key, pages, gateway, request, &key_base).await
}

/// The customer as a processor's hosted page is made for, named as charges name it to the
/// gateway: one Stripe customer per Kassa customer.
pub(super) fn hosted_customer(
    app: &App,
    account: &AccountId,
    customer: &CustomerId,
) -> Result<CustomerRef, ApiError> {
    let record = app
        .queries
        .customer(account, customer)?
        .ok_or_else(|| ApiError::not_found("customer", customer.as_str()))?;
    Ok(CustomerRef { id: format!("{account}/{customer}"), email: record.email, name: record.name })
}

/// The payment method a page's form asks for, attached to the customer, or the one it has
/// already: a buyer who tries the same card or phone again (or a tab submitted twice) does not
/// fill the customer's payment methods.
pub(super) async fn page_method(
    app: &App,
    key: &CustomerKey,
    chosen: CheckoutMethod,
    card: Option<String>,
    phone: Option<String>,
    cause: Cause,
) -> Result<PaymentMethod, ApiError> {
    let wanted = match new_method(chosen, card, phone)? {
        NewMethod::Mpesa { phone } => {
            NewMethod::Mpesa { phone: normalize_phone(&phone).unwrap_or(phone) }
        }
        other => other,
    };
    let held = app.queries.payment_methods(&key.account, &key.customer)?;
    let same = held.into_iter().find(|method| match &wanted {
        NewMethod::Card { token } => {
            method.kind == PaymentMethodKind::Card && &method.token == token
        }
        NewMethod::Mpesa { phone } => {
            method.kind == PaymentMethodKind::Mpesa && &method.token == phone
        }
        NewMethod::BankTransfer => method.kind == PaymentMethodKind::BankTransfer,
    });
    match same {
        Some(method) => Ok(method),
        None => payment_methods::attach_new(app, key, wanted, None, cause).await,
    }
}

/// The payment method a page's form asks for: one of the sandbox's test cards listed (never a
/// card number), an M-Pesa phone, or a bank transfer.
fn new_method(
    chosen: CheckoutMethod,
    card: Option<String>,
    phone: Option<String>,
) -> Result<NewMethod, ApiError> {
    Ok(match chosen {
        CheckoutMethod::Card => {
            let token = card.unwrap_or_default();
            if !SANDBOX_CARDS.iter().any(|(known, _)| *known == token) {
                return Err(ApiError::validation("card", "choose one of the test cards shown"));
            }
            NewMethod::Card { token }
        }
        CheckoutMethod::Mpesa => NewMethod::Mpesa { phone: phone.unwrap_or_default() },
        CheckoutMethod::BankTransfer => NewMethod::BankTransfer,
    })
}

/// The session's coupon, resolved again now: it may have run out since the session was made.
fn coupon(app: &App, session: &CheckoutSession) -> Result<Option<Resolved>, ApiError> {
    let now = checkout_sessions::session_now(app, session)?;
    Ok(crate::checkout::subscription::session_coupon(app.coupon_store.as_ref(), session, now)?)
}

async fn charge(
    app: &App,
    session: &CheckoutSession,
    key: &CustomerKey,
    method: &PaymentMethod,
    cause: Cause,
) -> Result<(), ApiError> {
    let message = CreateCharge {
        amount: Money { amount_minor: session.amount_total_minor, currency: session.currency },
        breakdown: session.breakdown().cloned().map(Box::new),
        payment_method: Some(method.id.clone()),
        description: None,
        metadata: session.metadata.clone(),
        idempotency: None,
        cause,
        invoice: None,
        off_session: false,
        grants: Vec::new(),
        coupon: coupon(app, session)?,
        checkout_session: Some(session.id.clone()),
        transfer: session.transfer_of(session.amount_total_minor),
    };
    app.registry.send(key, message).await??;
    Ok(())
}

/// Starts the session's subscription with the buyer's payment method: a card's or a bank
/// transfer's first payment is made as the subscription is created; a subscription bought by
/// M-Pesa is billed by invoice, which is then paid by an STK prompt. Once started, a further
/// attempt (its first payment failed) pays its open invoice with the method chosen now.
async fn subscribe(
    app: &App,
    session: &CheckoutSession,
    key: &CustomerKey,
    method: &PaymentMethod,
    cause: Cause,
) -> Result<(), ApiError> {
    let started = match &session.subscription {
        Some(id) => app.queries.subscription(&session.account, id)?,
        None => None,
    };
    let subscription = match started {
        Some(subscription) => subscription,
        None => {
            let subscription = start_subscription(app, session, key, method, cause.clone()).await?;
            if subscription.collection_method == CollectionMethod::ChargeAutomatically {
                return Ok(());
            }
            subscription
        }
    };
    let invoice = match &subscription.latest_invoice {
        Some(invoice) => app.queries.invoice(&session.account, invoice)?,
        None => None,
    };
    let invoice = invoice
        .filter(|invoice| invoice.status == InvoiceStatus::Open && !invoice.payment_pending)
        .ok_or_else(|| {
            ApiError::invalid(
                "checkout_session_payment_under_way",
                "this checkout's payment is under way or done",
            )
        })?;
    let message = ActOnInvoice {
        id: invoice.id,
        action: InvoiceAction::Pay,
        payment_method: Some(method.id.clone()),
        idempotency: None,
        cause,
    };
    app.registry.send(key, message).await??;
    Ok(())
}

/// The session's subscription, made now with `method`; a declined first payment leaves it
/// `incomplete` and the session open.
async fn start_subscription(
    app: &App,
    session: &CheckoutSession,
    key: &CustomerKey,
    method: &PaymentMethod,
    cause: Cause,
) -> Result<Subscription, ApiError> {
    let CheckoutItems::Plan { plan, .. } = &session.items else {
        return Err(ApiError::internal("a subscription session without a plan"));
    };
    let plan = super::plans::find(app, &session.account, plan.as_str())?;
    let coupon = coupon(app, session)?;
    let method = method.id.clone();
    let message = start_message(session, plan, method, coupon, Started::OnThePage, cause)
        .ok_or_else(|| ApiError::internal("a subscription session without a plan"))?;
    match app.registry.send(key, message).await?? {
        Outcome::Subscription(subscription) => Ok(subscription),
        Outcome::SubscriptionDeclined { subscription, .. } => Ok(*subscription),
        other => Err(ApiError::internal(format!("a subscription was answered with {other:?}"))),
    }
}

/// A promotion code typed on the page: the session is priced again with it.
async fn apply_promotion_code(
    app: &App,
    session: &CheckoutSession,
    key: &CustomerKey,
    code: &str,
    cause: Cause,
) -> Result<(), ApiError> {
    if !session.allow_promotion_codes || session.coupon.is_some() {
        return Err(ApiError::validation("code", "this checkout takes no promotion code"));
    }
    let requested = Requested::PromotionCode(code.to_owned());
    let country = session.tax_country.clone();
    reprice(app, session, key, Some(requested), country, cause).await
}

/// The buyer's country chosen on the page: the session is taxed for it from now on, and the
/// customer gets it when they pay.
async fn choose_country(
    app: &App,
    session: &CheckoutSession,
    key: &CustomerKey,
    code: &str,
    cause: Cause,
) -> Result<(), ApiError> {
    if session.tax_country.is_none() {
        return Err(ApiError::validation("country", "this checkout asks for no country"));
    }
    let code = code.to_ascii_uppercase();
    if countries::name(&code).is_none() {
        return Err(ApiError::validation("country", "choose your country from the list"));
    }
    let requested = requested_again(session);
    reprice(app, session, key, requested, Some(code), cause).await
}

/// Prices the session again, with `requested` for its coupon and `country` for its tax, and
/// keeps the new price.
async fn reprice(
    app: &App,
    session: &CheckoutSession,
    key: &CustomerKey,
    requested: Option<Requested>,
    country: Option<String>,
    cause: Cause,
) -> Result<(), ApiError> {
    let customer = app
        .queries
        .customer(&session.account, &session.customer)?
        .ok_or_else(|| ApiError::not_found("customer", session.customer.as_str()))?;
    let buyer = customer.taxed_in(country.as_deref());
    let selling = checkout_sessions::selling_again(app, session)?;
    let price =
        checkout_sessions::priced(app, &session.account, &buyer, selling, requested.as_ref())
            .await?;
    let message = crate::actor::checkout::RepriceCheckoutSession {
        id: session.id.clone(),
        items: price.items,
        amount_subtotal_minor: price.subtotal_minor,
        amount_total_minor: price.total_minor,
        coupon: price.coupon,
        tax_country: country,
        cause,
    };
    app.registry.send(key, message).await??.await?;
    Ok(())
}
