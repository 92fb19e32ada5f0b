//! `POST /v1/charges`, `GET /v1/charges/{id}`, `GET /v1/charges`, `GET /v1/customers/{id}/charges`.
//!
//! A charge from `line_items` is priced and taxed here, before the customer's actor sees it,
//! not inside the actor's turn: its price depends on the request, the customer's country and
//! tax ids and the account's rules, none of which the actor's order protects, and a rule call
//! (up to `rules.call_timeout_ms`) made in the turn would hold every other request of the
//! customer, and of the customers sharing its actor thread, behind it. The actor receives the
//! priced amount and its breakdown and records them with the charge in one change set. The
//! idempotency check is made here too ([`crate::api::idempotency`]); the actor writes the key's
//! record in the same change set as the charge.

use serde::Deserialize;

use super::Reply;
use super::{customers, split};
use crate::actor::CustomerKey;
use crate::actor::messages::CreateCharge;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, views};
use crate::coupons::{self, Purchase, Requested, Resolved};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, Breakdown, ChargeId, Currency, Customer, CustomerId, FeatureGrant, Metadata, Money,
    PaymentMethodId,
};
use crate::domain::{ChargeStatus, InvoiceId};
use crate::rules::Cart;
use crate::rules::types::{LineItem, PricingCoupon};
use crate::store::{ChargeFilter, Outcome, StoreError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChargeInput {
    customer: String,
    amount: Option<i64>,
    line_items: Option<Vec<LineItemInput>>,
    coupon: Option<String>,
    promotion_code: Option<String>,
    currency: String,
    payment_method: Option<String>,
    description: Option<String>,
    metadata: Option<Metadata>,
    grants: Option<Vec<GrantInput>>,
    transfer: Option<split::TransferInput>,
    application_fee_amount: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantInput {
    feature: String,
    duration_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LineItemInput {
    sku: String,
    quantity: u32,
    unit_amount: i64,
}

/// What a request sells: a fixed amount (minor units), or a cart for the account's rules.
pub(super) enum Sold {
    Amount(i64),
    Cart(Cart),
}

/// The request's `amount` or its `line_items`, exactly one of them, checked.
pub(super) fn amount_or_cart(
    amount: Option<i64>,
    line_items: Option<Vec<LineItemInput>>,
    currency: Currency,
) -> Result<Sold, ApiError> {
    match (amount, line_items) {
        (Some(amount), None) => Ok(Sold::Amount(validate::amount(amount)?)),
        (None, Some(lines)) => Ok(Sold::Cart(Cart {
            lines: validate::line_items(lines.into_iter().map(|line| LineItem {
                sku: line.sku,
                quantity: line.quantity,
                unit_amount_minor: line.unit_amount,
            }))?,
            currency,
            coupons: Vec::new(),
        })),
        (Some(_), Some(_)) => {
            Err(ApiError::validation("amount", "give either `amount` or `line_items`, not both"))
        }
        (None, None) => Err(ApiError::validation(
            "amount",
            "give `amount` (in the currency's minor unit) or `line_items` to price",
        )),
    }
}

/// What is charged: a fixed amount, or a cart the account's rules price and tax, with the
/// coupon the request names.
pub(super) enum Pricing {
    Amount(i64),
    Cart(Cart, Option<Requested>),
}

struct ParsedCharge {
    customer: String,
    currency: Currency,
    pricing: Pricing,
    payment_method: Option<String>,
    description: Option<String>,
    metadata: Metadata,
    grants: Vec<FeatureGrant>,
    split: Option<split::Split>,
}

fn parse(request: &ApiRequest) -> Result<ParsedCharge, ApiError> {
    let input: ChargeInput = request.json()?;
    let currency = validate::currency(&input.currency)?;
    let requested = validate::coupon_request(input.coupon, input.promotion_code)?;
    let pricing = match amount_or_cart(input.amount, input.line_items, currency)? {
        Sold::Amount(amount) => {
            if let Some(requested) = &requested {
                let param = match requested {
                    Requested::Coupon(_) => "coupon",
                    Requested::PromotionCode(_) => "promotion_code",
                };
                return Err(ApiError::validation(
                    param,
                    "a coupon applies to `line_items`, not to a fixed `amount`",
                ));
            }
            Pricing::Amount(amount)
        }
        Sold::Cart(cart) => Pricing::Cart(cart, requested),
    };
    let split = split::parse(input.transfer, input.application_fee_amount)?;
    Ok(ParsedCharge {
        split,
        customer: input.customer,
        currency,
        pricing,
        payment_method: input.payment_method,
        description: validate::text("description", input.description)?,
        metadata: validate::metadata(input.metadata)?,
        grants: validate::grants(
            input
                .grants
                .unwrap_or_default()
                .into_iter()
                .map(|grant| (grant.feature, grant.duration_days))
                .collect(),
        )?,
    })
}

/// What a charge comes to: its amount, the breakdown when the account's rules priced it, and
/// the coupon it redeems.
pub(super) struct Priced {
    pub(super) amount: Money,
    pub(super) breakdown: Option<Box<Breakdown>>,
    pub(super) coupon: Option<Resolved>,
}

impl Priced {
    /// A plain amount: nothing for the rules to price, no coupon.
    fn of_amount(amount_minor: i64, currency: Currency) -> Priced {
        Priced { amount: Money { amount_minor, currency }, breakdown: None, coupon: None }
    }
}

/// Prices the charge; a coupon or promotion code is resolved and checked first, and handed to
/// the pricing rule as a structured discount.
pub(super) async fn price(
    app: &App,
    account: &AccountId,
    customer: &Customer,
    currency: Currency,
    pricing: Pricing,
) -> Result<Priced, ApiError> {
    let (mut cart, requested) = match pricing {
        Pricing::Amount(amount_minor) => return Ok(Priced::of_amount(amount_minor, currency)),
        Pricing::Cart(cart, requested) => (cart, requested),
    };
    let now = now_unix_secs();
    let coupon = match &requested {
        Some(requested) => {
            let store = app.coupon_store.as_ref();
            let resolved =
                coupons::resolve(store, account, requested, currency, Purchase::LineItems, now)?;
            cart.coupons
                .push(PricingCoupon { id: resolved.coupon.id.clone(), off: resolved.coupon.off });
            Some(resolved)
        }
        None => None,
    };
    let breakdown = app.rules.quote(account, customer, cart, now).await?;
    if let Some(resolved) = &coupon {
        let subtotal = Money { amount_minor: breakdown.subtotal_minor, currency };
        resolved.check_restrictions(subtotal, || has_paid(app, account, &customer.id))?;
    }
    let amount_minor = validate::priced_total(breakdown.total_minor)?;
    Ok(Priced {
        amount: Money { amount_minor, currency },
        breakdown: Some(Box::new(breakdown)),
        coupon,
    })
}

/// Whether the customer ever paid the account: a succeeded charge, however long ago.
pub(super) fn has_paid(
    app: &App,
    account: &AccountId,
    customer: &CustomerId,
) -> Result<bool, StoreError> {
    app.queries.any_charge(account, customer, |charge| charge.status == ChargeStatus::Succeeded)
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let charge = parse(request)?;
    let customer = CustomerId::parse(&charge.customer)
        .ok_or_else(|| ApiError::not_found("customer", &charge.customer))?;
    let payment_method = match &charge.payment_method {
        Some(id) => Some(
            PaymentMethodId::parse(id).ok_or_else(|| ApiError::not_found("payment_method", id))?,
        ),
        None => None,
    };
    let key = CustomerKey { account: account.clone(), customer };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        // Priced under the key's claim: a replay answers from its record without running the
        // rules again, and two requests with one key never both price.
        let priced = match charge.pricing {
            // A plain amount needs nothing of the customer here: its actor finds it (or the
            // charge is answered 404) and refuses an erased one.
            Pricing::Amount(amount_minor) => Priced::of_amount(amount_minor, charge.currency),
            pricing => {
                let customer = customers::find(app, account, key.customer.as_str())?;
                price(app, account, &customer, charge.currency, pricing).await?
            }
        };
        let transfer = match charge.split {
            Some(split) => Some(Box::new(split.resolve(app, account, priced.amount)?)),
            None => None,
        };
        let message = CreateCharge {
            transfer,
            amount: priced.amount,
            breakdown: priced.breakdown,
            coupon: priced.coupon,
            payment_method,
            description: charge.description,
            metadata: charge.metadata,
            idempotency: ticket,
            cause: request.cause(),
            invoice: None,
            off_session: false,
            grants: charge.grants,
            checkout_session: None,
        };
        let charge = app.registry.send(&key, message).await??;
        Ok(Outcome::Charge(charge))
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("charge", id);
    let id = ChargeId::parse(id).ok_or_else(not_found)?;
    let charge = app.queries.charge(account, &id)?.ok_or_else(not_found)?;
    Ok(Reply::ok(views::charge(&charge)))
}

pub async fn list_for_customer(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let customer = customers::find(app, account, customer_id)?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(ChargeId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a charge id"))
        })?),
        None => None,
    };
    let found = app.queries.charges(account, &customer.id, page.limit, starting_after.as_ref())?;
    Ok(Reply::ok(views::list(found.items.iter().map(views::charge).collect(), found.has_more)))
}

/// `GET /v1/charges`: the account's charges, newest first (`customer=`, `invoice=`, `status=`).
pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (page, query) =
        PageRequest::parse_filtered(&request.query, &["customer", "invoice", "status"])?;
    let filter = ChargeFilter {
        customer: query
            .get("customer")
            .map(|id| CustomerId::parse(id).ok_or_else(|| ApiError::not_found("customer", id)))
            .transpose()?,
        invoice: query
            .get("invoice")
            .map(|id| InvoiceId::parse(id).ok_or_else(|| ApiError::not_found("invoice", id)))
            .transpose()?,
        status: query
            .get("status")
            .map(|status| {
                ChargeStatus::parse(status).ok_or_else(|| {
                    ApiError::validation(
                        "status",
                        "`status` is processing, requires_action, succeeded or failed",
                    )
                })
            })
            .transpose()?,
    };
    let starting_after = match &page.starting_after {
        Some(id) => Some(ChargeId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a charge id"))
        })?),
        None => None,
    };
    let found =
        app.queries.account_charges(account, &filter, page.limit, starting_after.as_ref())?;
    Ok(Reply::ok(views::list(found.items.iter().map(views::charge).collect(), found.has_more)))
}
