//! `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/{id}`,
//! `POST /v1/checkout/sessions/{id}/expire`: sessions a platform opens for its buyers, who pay
//! them on the session's page ([`super::checkout_page`]).
//!
//! What a session sells is priced here, when it is made, as a charge from line items is: the
//! page shows exactly what its charge will take. A session with no `customer` gets one of its
//! own (with `customer_email`), since the session, its payments and their keys belong to a
//! customer's actor. A buyer with no address is taxed where the seller is until they choose
//! their country on the page.

use std::sync::Arc;

use serde::Deserialize;

use super::charges::{self, LineItemInput, Pricing, Sold};
use super::{Reply, customers, split};
use crate::actor::CustomerKey;
use crate::actor::checkout::{ExpireCheckoutSession, OpenCheckoutSession};
use crate::actor::hosted_pages::PageFor;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, idempotency, validate};
use crate::coupons::{self, Purchase, Requested, Resolved};
use crate::domain::checkout::{
    EXPIRES_AFTER_DEFAULT_SECS, EXPIRES_AFTER_MAX_SECS, EXPIRES_AFTER_MIN_SECS,
};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, CartLine, CheckoutItems, CheckoutMethod, CheckoutMode, CheckoutSession,
    CheckoutSessionId, CheckoutStatus, CouponOff, Currency, Customer, Metadata, Money, TestClockId,
};
use crate::limits::URL_LEN_MAX;
use crate::rules::Cart;
use crate::rules::types::LineItem;
use crate::store::Outcome;
use kassa_gateways::{Gateway, PaymentMethodType};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInput {
    mode: String,
    customer: Option<String>,
    customer_email: Option<String>,
    line_items: Option<Vec<LineItemInput>>,
    amount: Option<i64>,
    currency: Option<String>,
    plan: Option<String>,
    quantity: Option<u32>,
    coupon: Option<String>,
    promotion_code: Option<String>,
    allow_promotion_codes: Option<bool>,
    payment_method_types: Option<Vec<String>>,
    success_url: String,
    cancel_url: String,
    expires_at: Option<i64>,
    metadata: Option<Metadata>,
    transfer: Option<split::TransferInput>,
    application_fee_amount: Option<i64>,
}

/// Expiring takes no fields; an empty object is accepted as no body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireInput {}

/// What the request asks to sell, checked before anything is made.
pub(super) enum Selling {
    Amount(Money),
    Cart(Cart),
    Plan(crate::domain::Plan, u32),
}

/// A page buyers are sent to: absolute http(s), short, and nothing that could leave an HTML
/// attribute or a `Location` header.
fn redirect_url(param: &'static str, url: String) -> Result<String, ApiError> {
    let well_formed = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && url.len() <= URL_LEN_MAX
        && url.bytes().all(|byte| byte.is_ascii_graphic() && !b"\"'<>`\\".contains(&byte));
    match well_formed {
        true => Ok(url),
        false => Err(ApiError::validation(
            param,
            format!(
                "`{param}` is an absolute http(s) URL of at most {URL_LEN_MAX} characters, \
                 without spaces or quotes"
            ),
        )),
    }
}

fn selling(
    app: &App,
    account: &AccountId,
    input: &mut CreateInput,
) -> Result<(CheckoutMode, Selling), ApiError> {
    let mode = CheckoutMode::parse(&input.mode)
        .ok_or_else(|| ApiError::validation("mode", "`mode` is payment or subscription"))?;
    let currency = input.currency.as_deref().map(validate::currency).transpose()?;
    match mode {
        CheckoutMode::Payment => {
            if input.plan.is_some() || input.quantity.is_some() {
                return Err(ApiError::validation(
                    "plan",
                    "`plan` and `quantity` are for mode subscription",
                ));
            }
            let currency = currency.ok_or_else(|| {
                ApiError::validation("currency", "`currency` is required in mode payment")
            })?;
            let selling =
                match charges::amount_or_cart(input.amount, input.line_items.take(), currency)? {
                    Sold::Amount(amount_minor) => {
                        if input.coupon.is_some() || input.promotion_code.is_some() {
                            return Err(ApiError::validation(
                                "coupon",
                                "a coupon applies to `line_items`, not to a fixed `amount`",
                            ));
                        }
                        Selling::Amount(Money { amount_minor, currency })
                    }
                    Sold::Cart(cart) => Selling::Cart(cart),
                };
            Ok((mode, selling))
        }
        CheckoutMode::Subscription => {
            if input.amount.is_some() || input.line_items.is_some() {
                return Err(ApiError::validation(
                    "amount",
                    "`amount` and `line_items` are for mode payment; a subscription sells its `plan`",
                ));
            }
            let plan_id = input.plan.as_deref().ok_or_else(|| {
                ApiError::validation("plan", "`plan` is required in mode subscription")
            })?;
            let plan = super::plans::find(app, account, plan_id)?;
            if !plan.active {
                return Err(ApiError::validation("plan", format!("plan {plan_id} is archived")));
            }
            if let Some(currency) = currency.filter(|currency| *currency != plan.currency) {
                return Err(ApiError::validation(
                    "currency",
                    format!(
                        "plan {plan_id} bills in {}, not {}",
                        currency_code(plan.currency),
                        currency_code(currency)
                    ),
                ));
            }
            let quantity = super::subscriptions::quantity(input.quantity)?;
            Ok((mode, Selling::Plan(plan, quantity)))
        }
    }
}

fn currency_code(currency: Currency) -> String {
    crate::domain::money::currency_code(currency)
}

/// How a page takes cards: from the sandbox's test cards, or on the card gateway's own hosted
/// page (Stripe Checkout).
pub(super) enum Cards {
    Sandbox,
    Hosted(Arc<dyn Gateway>),
    None,
}

pub(super) fn cards(app: &App) -> Cards {
    match app.gateways.gateway_for_new(PaymentMethodType::Card) {
        Some(gateway) if gateway.name() == "sandbox" => Cards::Sandbox,
        Some(gateway) if gateway.name() == kassa_gateways::stripe::NAME => {
            Cards::Hosted(Arc::clone(gateway))
        }
        _ => Cards::None,
    }
}

/// The ways to pay the account can take for a page in `currency`: a card where the sandbox or
/// Stripe takes cards (Stripe Checkout takes a payment, or saves the card of a subscription),
/// M-Pesa where its gateway is on and the amount is in shillings, a bank transfer where the
/// account has bank details. A subscription bought by M-Pesa or bank transfer is collected the
/// same way at each renewal.
pub(super) fn available_methods(
    app: &App,
    account: &AccountId,
    currency: Currency,
) -> Vec<CheckoutMethod> {
    let card = !matches!(cards(app), Cards::None);
    let mpesa = currency.code() == "KES"
        && app.gateways.gateway_for_new(PaymentMethodType::Mpesa).is_some();
    let bank = app.accounts.settings(account).bank_transfer.is_some();
    [
        (CheckoutMethod::Card, card),
        (CheckoutMethod::Mpesa, mpesa),
        (CheckoutMethod::BankTransfer, bank),
    ]
    .into_iter()
    .filter_map(|(method, available)| available.then_some(method))
    .collect()
}

/// The methods asked for, each one the account can take for this session; by default all of
/// those. None at all is refused: a session nobody can pay is no use.
fn offered_methods(
    asked: Option<Vec<String>>,
    available: &[CheckoutMethod],
) -> Result<Vec<CheckoutMethod>, ApiError> {
    let param = "payment_method_types";
    let methods = match asked {
        None => available.to_vec(),
        Some(asked) => {
            let mut methods = Vec::new();
            for text in asked {
                let method = CheckoutMethod::parse(&text).ok_or_else(|| {
                    ApiError::validation(param, format!("`{text}` is card, mpesa or bank_transfer"))
                })?;
                if !available.contains(&method) {
                    return Err(ApiError::validation(
                        param,
                        format!("this session cannot be paid by {text} on this account"),
                    ));
                }
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
            methods
        }
    };
    if methods.is_empty() {
        return Err(ApiError::invalid(
            "checkout_unpayable",
            "no way to pay this session: the account takes no card, M-Pesa or bank transfer \
             for it (configure a gateway, or bank details in the account's settings)",
        )
        .with_param(param));
    }
    Ok(methods)
}

/// "Now" on a test clock (its frozen time), or the real time without one.
pub(super) fn clock_now(
    app: &App,
    account: &AccountId,
    clock: Option<&TestClockId>,
) -> Result<i64, ApiError> {
    match clock {
        Some(clock) => Ok(app
            .queries
            .test_clock(account, clock)?
            .map_or_else(now_unix_secs, |clock| clock.frozen_time)),
        None => Ok(now_unix_secs()),
    }
}

/// When a session made at `now` expires: as asked, 30 minutes to 7 days on, else in 24 hours.
fn expiry(asked: Option<i64>, now: i64) -> Result<i64, ApiError> {
    match asked {
        None => Ok(now + EXPIRES_AFTER_DEFAULT_SECS),
        Some(at) if (now + EXPIRES_AFTER_MIN_SECS..=now + EXPIRES_AFTER_MAX_SECS).contains(&at) => {
            Ok(at)
        }
        Some(at) => Err(ApiError::validation(
            "expires_at",
            format!("`expires_at` {at} is not between 30 minutes and 7 days from now ({now})"),
        )),
    }
}

/// The discount a coupon gives on a plan's first period, as its invoice will: half-up on a
/// share, never more than the price.
fn plan_discount(off: CouponOff, subtotal: i64) -> i64 {
    let off = match off {
        CouponOff::PercentBps(bps) => crate::billing::invoicing::divide_half_up(
            i128::from(subtotal) * i128::from(bps),
            10_000,
        ),
        CouponOff::Amount(money) => money.amount_minor,
    };
    off.clamp(0, subtotal)
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let mut input: CreateInput = request.json()?;
    let (mode, selling) = selling(app, account, &mut input)?;
    let success_url = redirect_url("success_url", input.success_url)?;
    let cancel_url = redirect_url("cancel_url", input.cancel_url)?;
    let requested = validate::coupon_request(input.coupon, input.promotion_code)?;
    let metadata = validate::metadata(input.metadata)?;
    let split = split::parse(input.transfer.take(), input.application_fee_amount)?;
    let currency = match &selling {
        Selling::Amount(money) => money.currency,
        Selling::Cart(cart) => cart.currency,
        Selling::Plan(plan, _) => plan.currency,
    };
    let methods =
        offered_methods(input.payment_method_types, &available_methods(app, account, currency))?;
    // Everything is checked before a buyer without a `customer` is given one.
    let named = match (&input.customer, &input.customer_email) {
        (Some(id), None) => Some(customers::find(app, account, id)?),
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "customer_email",
                "give `customer` or `customer_email`, not both",
            ));
        }
        (None, _) => None,
    };
    let email = validate::email(input.customer_email)?;
    let now = match &named {
        Some(customer) => clock_now(app, account, customer.test_clock.as_ref())?,
        None => now_unix_secs(),
    };
    let expires_at = expiry(input.expires_at, now)?;
    if let Some(requested) = &requested {
        let purchase = match &selling {
            Selling::Plan(plan, _) => Purchase::Plan(&plan.id),
            _ => Purchase::LineItems,
        };
        coupons::resolve(app.coupon_store.as_ref(), account, requested, currency, purchase, now)?;
    }
    let answer = idempotency::run(app, account, request, |ticket| async move {
        // Priced first: a guest is saved only for a session that can be made.
        let buyer = named.unwrap_or_else(|| customers::new_customer(email));
        let tax_country = tax_country(app, account, &buyer, &selling);
        let taxed = buyer.taxed_in(tax_country.as_deref());
        let price = priced(app, account, &taxed, selling, requested.as_ref()).await?;
        // Checked against what the session takes: a payee's share of each of its payments.
        let transfer = match split {
            Some(split) => {
                let priced = Money { amount_minor: price.total_minor.max(1), currency };
                Some(Box::new(split.terms(app, account, priced)?))
            }
            None => None,
        };
        let customer = match app.queries.customer(account, &buyer.id)? {
            Some(customer) => customer,
            None => app.registry.create_customer(account, buyer, None, &request.cause()).await?,
        };
        let id = CheckoutSessionId::generate();
        let session = CheckoutSession {
            url: format!("{}/checkout/{id}", app.public_url),
            id,
            account: account.clone(),
            customer: customer.id.clone(),
            mode,
            status: CheckoutStatus::Open,
            items: price.items,
            currency,
            amount_subtotal_minor: price.subtotal_minor,
            amount_total_minor: price.total_minor,
            coupon: price.coupon.as_ref().map(Resolved::applied),
            allow_promotion_codes: input.allow_promotion_codes.unwrap_or(false),
            payment_method_types: methods,
            success_url,
            cancel_url,
            expires_at,
            metadata,
            charge: None,
            subscription: None,
            test_clock: customer.test_clock.clone(),
            created: now,
            completed_at: None,
            attempts: 0,
            hosted_page: None,
            hosted_pages_closed: 0,
            transfer,
            tax_country,
        };
        let key = CustomerKey { account: account.clone(), customer: customer.id };
        let message = OpenCheckoutSession {
            session,
            coupon: price.coupon,
            idempotency: ticket,
            cause: request.cause(),
        };
        let session = app.registry.send(&key, message).await??.await?;
        Ok(Outcome::CheckoutSession(Box::new(session)))
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// The country a session's tax is first worked out for when its buyer has no address on
/// record: where the seller is, until the buyer chooses their own on the page. A fixed amount
/// is not taxed, so it needs none.
fn tax_country(
    app: &App,
    account: &AccountId,
    buyer: &Customer,
    selling: &Selling,
) -> Option<String> {
    let taxed = matches!(selling, Selling::Cart(_) | Selling::Plan(..));
    (taxed && buyer.address.is_none()).then(|| app.rules.seller_country(account))
}

/// What a session comes to.
pub(super) struct SessionPrice {
    pub(super) items: CheckoutItems,
    pub(super) subtotal_minor: i64,
    /// Due today.
    pub(super) total_minor: i64,
    /// The coupon it redeems, resolved and checked: the session holds it while open.
    pub(super) coupon: Option<Resolved>,
}

/// Prices what a session sells, with the coupon it names.
pub(super) async fn priced(
    app: &App,
    account: &AccountId,
    customer: &Customer,
    selling: Selling,
    requested: Option<&Requested>,
) -> Result<SessionPrice, ApiError> {
    match selling {
        Selling::Amount(money) => Ok(SessionPrice {
            items: CheckoutItems::Amount,
            subtotal_minor: money.amount_minor,
            total_minor: money.amount_minor,
            coupon: None,
        }),
        Selling::Cart(cart) => {
            let currency = cart.currency;
            let lines = cart
                .lines
                .iter()
                .map(|line| CartLine {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_amount_minor: line.unit_amount_minor,
                })
                .collect();
            let pricing = Pricing::Cart(cart, requested.cloned());
            let priced = charges::price(app, account, customer, currency, pricing).await?;
            let breakdown = priced
                .breakdown
                .ok_or_else(|| ApiError::internal("line items priced without a breakdown"))?;
            Ok(SessionPrice {
                subtotal_minor: breakdown.subtotal_minor,
                total_minor: priced.amount.amount_minor,
                items: CheckoutItems::Priced { cart: lines, breakdown },
                coupon: priced.coupon,
            })
        }
        Selling::Plan(plan, quantity) => {
            let subtotal = plan.amount_minor.saturating_mul(i64::from(quantity));
            let coupon = match requested {
                Some(requested) => Some(super::subscriptions::plan_coupon(
                    app,
                    account,
                    &customer.id,
                    &plan,
                    quantity,
                    requested,
                )?),
                None => None,
            };
            let discount =
                coupon.as_ref().map_or(0, |resolved| plan_discount(resolved.coupon.off, subtotal));
            let total = if plan.trial_days > 0 { 0 } else { subtotal - discount };
            let items = CheckoutItems::Plan {
                plan: plan.id.clone(),
                quantity,
                trial_days: plan.trial_days,
                discount_minor: discount,
            };
            Ok(SessionPrice { items, subtotal_minor: subtotal, total_minor: total, coupon })
        }
    }
}

/// What an open session sells, to price again (with a promotion code typed on its page).
pub(super) fn selling_again(app: &App, session: &CheckoutSession) -> Result<Selling, ApiError> {
    Ok(match &session.items {
        CheckoutItems::Amount => Selling::Amount(Money {
            amount_minor: session.amount_subtotal_minor,
            currency: session.currency,
        }),
        CheckoutItems::Priced { cart, .. } => Selling::Cart(Cart {
            lines: cart
                .iter()
                .map(|line| LineItem {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_amount_minor: line.unit_amount_minor,
                })
                .collect(),
            currency: session.currency,
            coupons: Vec::new(),
        }),
        CheckoutItems::Plan { plan, quantity, .. } => {
            Selling::Plan(super::plans::find(app, &session.account, plan.as_str())?, *quantity)
        }
    })
}

/// The account's checkout session with this id, or a 404.
pub(super) fn find(app: &App, account: &AccountId, id: &str) -> Result<CheckoutSession, ApiError> {
    let not_found = || ApiError::not_found("checkout_session", id);
    let id = CheckoutSessionId::parse(id).ok_or_else(not_found)?;
    app.queries
        .checkout_session(&id)?
        .filter(|session| &session.account == account)
        .ok_or_else(not_found)
}

/// The session's "now": its customer's test clock's time when it has one.
pub(super) fn session_now(app: &App, session: &CheckoutSession) -> Result<i64, ApiError> {
    clock_now(app, &session.account, session.test_clock.as_ref())
}

/// The session as the API shows it now.
pub(super) fn view(app: &App, session: &CheckoutSession) -> Result<serde_json::Value, ApiError> {
    let now = session_now(app, session)?;
    let status = app.queries.checkout_status(session, now)?;
    Ok(billing_views::checkout_session(session, status))
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let session = find(app, account, id)?;
    Ok(Reply::ok(view(app, &session)?))
}

pub async fn expire(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    if !request.body.is_empty() {
        let _: ExpireInput = request.json()?;
    }
    let session = find(app, account, id)?;
    let key = CustomerKey { account: account.clone(), customer: session.customer.clone() };
    let page_for = PageFor::CheckoutSession(session.id.clone());
    super::hosted_pages::close_open(app, &key, &page_for, session.hosted_page.as_ref()).await?;
    let message = ExpireCheckoutSession { id: session.id, cause: request.cause() };
    let session = app.registry.send(&key, message).await??.await?;
    Ok(Reply::ok(view(app, &session)?))
}
