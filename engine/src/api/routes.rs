//! The route table: method and path to handler. Everything under `/v1` needs an API key, which
//! [`super::admission`] checked before the body was read.

use warp::http::Method;

use super::App;
use super::admission::Admission;
use super::error::ApiError;
use super::handlers::{
    Reply, charges, credit_notes, customers, disputes, events, health, invoices, payment_methods,
    plans, plugins, receipts, refunds, sandbox, subscriptions, test_clocks, webhooks,
};
use super::request::ApiRequest;
use crate::actor::billing::messages::InvoiceAction;

pub async fn dispatch(
    app: &App,
    request: &ApiRequest,
    admission: &Admission,
) -> Result<Reply, ApiError> {
    let segments = request.segments();
    let method = &request.method;
    match (method, segments.as_slice()) {
        (&Method::GET, ["healthz"]) => Ok(health::healthz()),
        (&Method::GET, ["readyz"]) => Ok(health::readyz(app)),
        (&Method::GET, ["openapi.json"]) => Ok(health::openapi()),
        // Authenticated by its secret path token, not an API key.
        (&Method::POST, ["v1", "webhooks", "mpesa", token]) => {
            webhooks::mpesa(app, request, token).await
        }
        // Authenticated by its `Stripe-Signature`.
        (&Method::POST, ["v1", "webhooks", "stripe"]) => webhooks::stripe(app, request).await,
        // Webhook routes never take an API key: anything else under them is a plain 404.
        (_, ["v1", "webhooks", ..]) => Err(ApiError::webhook_not_found()),
        (_, ["v1", rest @ ..]) => {
            let account = admission.account().ok_or_else(|| {
                ApiError::internal(format!("{} was admitted without an account", request.path))
            })?;
            match (method, rest) {
                (&Method::POST, ["customers"]) => customers::create(app, request, account).await,
                (&Method::GET, ["customers"]) => customers::list(app, request, account).await,
                (&Method::GET, ["customers", id]) => customers::retrieve(app, account, id).await,
                (&Method::POST, ["customers", id]) => {
                    customers::update(app, request, account, id).await
                }
                (&Method::GET, ["customers", id, "entitlements"]) => {
                    customers::entitlements(app, account, id, None).await
                }
                (&Method::GET, ["customers", id, "entitlements", feature]) => {
                    customers::entitlements(app, account, id, Some(feature)).await
                }
                (&Method::GET, ["customers", id, "subscriptions"]) => {
                    subscriptions::list_for_customer(app, request, account, id).await
                }
                (&Method::POST, ["plans"]) => plans::create(app, request, account).await,
                (&Method::GET, ["plans"]) => plans::list(app, request, account).await,
                (&Method::GET, ["plans", id]) => plans::retrieve(app, account, id).await,
                (&Method::POST, ["plans", id]) => plans::update(app, request, account, id).await,
                (&Method::POST, ["subscriptions"]) => {
                    subscriptions::create(app, request, account).await
                }
                (&Method::GET, ["subscriptions", id]) => {
                    subscriptions::retrieve(app, account, id).await
                }
                (&Method::POST, ["subscriptions", id]) => {
                    subscriptions::update(app, request, account, id).await
                }
                (&Method::POST, ["subscriptions", id, "cancel"]) => {
                    subscriptions::cancel(app, request, account, id).await
                }
                (&Method::POST, ["subscriptions", id, "reactivate"]) => {
                    subscriptions::reactivate(app, request, account, id).await
                }
                (&Method::POST, ["subscriptions", id, "pause"]) => {
                    subscriptions::pause(app, request, account, id).await
                }
                (&Method::POST, ["subscriptions", id, "resume"]) => {
                    subscriptions::resume(app, request, account, id).await
                }
                (&Method::GET, ["subscriptions", id, "upcoming_invoice"]) => {
                    subscriptions::upcoming_invoice(app, request, account, id).await
                }
                (&Method::GET, ["invoices"]) => invoices::list(app, request, account).await,
                (&Method::GET, ["invoices", id]) => invoices::retrieve(app, account, id).await,
                (&Method::GET, ["invoices", id, "receipt"]) => {
                    receipts::invoice(app, account, id).await
                }
                (&Method::POST, ["invoices", id, "pay"]) => {
                    invoices::act(app, request, account, id, InvoiceAction::Pay).await
                }
                (&Method::POST, ["invoices", id, "void"]) => {
                    invoices::act(app, request, account, id, InvoiceAction::Void).await
                }
                (&Method::POST, ["invoices", id, "mark_uncollectible"]) => {
                    let action = InvoiceAction::MarkUncollectible;
                    invoices::act(app, request, account, id, action).await
                }
                (&Method::POST, ["credit_notes"]) => {
                    credit_notes::create(app, request, account).await
                }
                (&Method::GET, ["credit_notes"]) => credit_notes::list(app, request, account).await,
                (&Method::GET, ["credit_notes", id]) => {
                    credit_notes::retrieve(app, account, id).await
                }
                (&Method::POST, ["test_clocks"]) => {
                    test_clocks::create(app, request, account).await
                }
                (&Method::GET, ["test_clocks", id]) => {
                    test_clocks::retrieve(app, account, id).await
                }
                (&Method::DELETE, ["test_clocks", id]) => {
                    test_clocks::delete(app, account, id).await
                }
                (&Method::POST, ["test_clocks", id, "advance"]) => {
                    test_clocks::advance(app, request, account, id).await
                }
                (&Method::POST, ["customers", id, "payment_methods"]) => {
                    payment_methods::attach(app, request, account, id).await
                }
                (&Method::GET, ["customers", id, "payment_methods"]) => {
                    payment_methods::list(app, request, account, id).await
                }
                (&Method::GET, ["customers", id, "charges"]) => {
                    charges::list_for_customer(app, request, account, id).await
                }
                (&Method::DELETE, ["payment_methods", id]) => {
                    payment_methods::detach(app, request, account, id).await
                }
                (&Method::POST, ["charges"]) => charges::create(app, request, account).await,
                (&Method::GET, ["charges"]) => charges::list(app, request, account).await,
                (&Method::GET, ["charges", id]) => charges::retrieve(app, account, id).await,
                (&Method::GET, ["charges", id, "receipt"]) => {
                    receipts::charge(app, account, id).await
                }
                (&Method::POST, ["refunds"]) => refunds::create(app, request, account).await,
                (&Method::GET, ["refunds", id]) => refunds::retrieve(app, account, id).await,
                (&Method::GET, ["events"]) => events::list(app, request, account).await,
                (&Method::GET, ["disputes", id]) => disputes::retrieve(app, account, id).await,
                (&Method::GET, ["sandbox", "ledger"]) => {
                    sandbox::ledger(app, request, account).await
                }
                (&Method::GET, ["plugins"]) => plugins::list(app, account).await,
                (&Method::PUT, ["plugins", kind]) => {
                    plugins::upload(app, request, account, kind).await
                }
                (&Method::POST, ["plugins", kind, "rollback"]) => {
                    plugins::roll_back(app, request, account, kind).await
                }
                (_, path) if is_v1_route(path) => {
                    Err(ApiError::method_not_allowed(method.as_str(), &request.path))
                }
                _ => Err(ApiError::route_not_found(method.as_str(), &request.path)),
            }
        }
        (_, ["healthz" | "readyz" | "openapi.json"]) => {
            Err(ApiError::method_not_allowed(method.as_str(), &request.path))
        }
        _ => Err(ApiError::route_not_found(method.as_str(), &request.path)),
    }
}

/// Paths that exist under `/v1` with some method.
fn is_v1_route(path: &[&str]) -> bool {
    matches!(
        path,
        ["customers"]
            | ["customers", _]
            | ["customers", _, "payment_methods" | "charges" | "subscriptions" | "entitlements"]
            | ["customers", _, "entitlements", _]
            | ["plans"]
            | ["plans", _]
            | ["subscriptions"]
            | ["subscriptions", _]
            | [
                "subscriptions",
                _,
                "cancel" | "reactivate" | "pause" | "resume" | "upcoming_invoice"
            ]
            | ["invoices"]
            | ["invoices", _]
            | ["invoices", _, "pay" | "void" | "mark_uncollectible" | "receipt"]
            | ["credit_notes"]
            | ["credit_notes", _]
            | ["test_clocks"]
            | ["test_clocks", _]
            | ["test_clocks", _, "advance"]
            | ["payment_methods", _]
            | ["charges"]
            | ["charges", _]
            | ["charges", _, "receipt"]
            | ["refunds"]
            | ["refunds", _]
            | ["events"]
            | ["disputes", _]
            | ["sandbox", "ledger"]
            | ["plugins"]
            | ["plugins", _]
            | ["plugins", _, "rollback"]
    )
}

/// The route template a request matched, for metrics: bounded, unlike raw paths.
pub fn route_label(segments: &[&str]) -> &'static str {
    match segments {
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        ["openapi.json"] => "/openapi.json",
        ["v1", "customers"] => "/v1/customers",
        ["v1", "customers", _] => "/v1/customers/{id}",
        ["v1", "customers", _, "payment_methods"] => "/v1/customers/{id}/payment_methods",
        ["v1", "customers", _, "charges"] => "/v1/customers/{id}/charges",
        ["v1", "customers", _, "subscriptions"] => "/v1/customers/{id}/subscriptions",
        ["v1", "customers", _, "entitlements"] => "/v1/customers/{id}/entitlements",
        ["v1", "customers", _, "entitlements", _] => "/v1/customers/{id}/entitlements/{feature}",
        ["v1", "plans"] => "/v1/plans",
        ["v1", "plans", _] => "/v1/plans/{id}",
        ["v1", "subscriptions"] => "/v1/subscriptions",
        ["v1", "subscriptions", _] => "/v1/subscriptions/{id}",
        ["v1", "subscriptions", _, "cancel"] => "/v1/subscriptions/{id}/cancel",
        ["v1", "subscriptions", _, "reactivate"] => "/v1/subscriptions/{id}/reactivate",
        ["v1", "subscriptions", _, "pause"] => "/v1/subscriptions/{id}/pause",
        ["v1", "subscriptions", _, "resume"] => "/v1/subscriptions/{id}/resume",
        ["v1", "subscriptions", _, "upcoming_invoice"] => "/v1/subscriptions/{id}/upcoming_invoice",
        ["v1", "invoices"] => "/v1/invoices",
        ["v1", "invoices", _] => "/v1/invoices/{id}",
        ["v1", "invoices", _, "pay"] => "/v1/invoices/{id}/pay",
        ["v1", "invoices", _, "void"] => "/v1/invoices/{id}/void",
        ["v1", "invoices", _, "mark_uncollectible"] => "/v1/invoices/{id}/mark_uncollectible",
        ["v1", "invoices", _, "receipt"] => "/v1/invoices/{id}/receipt",
        ["v1", "credit_notes"] => "/v1/credit_notes",
        ["v1", "credit_notes", _] => "/v1/credit_notes/{id}",
        ["v1", "test_clocks"] => "/v1/test_clocks",
        ["v1", "test_clocks", _] => "/v1/test_clocks/{id}",
        ["v1", "test_clocks", _, "advance"] => "/v1/test_clocks/{id}/advance",
        ["v1", "payment_methods", _] => "/v1/payment_methods/{id}",
        ["v1", "charges"] => "/v1/charges",
        ["v1", "charges", _] => "/v1/charges/{id}",
        ["v1", "charges", _, "receipt"] => "/v1/charges/{id}/receipt",
        ["v1", "refunds"] => "/v1/refunds",
        ["v1", "refunds", _] => "/v1/refunds/{id}",
        ["v1", "events"] => "/v1/events",
        ["v1", "disputes", _] => "/v1/disputes/{id}",
        ["v1", "webhooks", "stripe"] => "/v1/webhooks/stripe",
        ["v1", "sandbox", "ledger"] => "/v1/sandbox/ledger",
        ["v1", "plugins"] => "/v1/plugins",
        ["v1", "plugins", _] => "/v1/plugins/{kind}",
        ["v1", "plugins", _, "rollback"] => "/v1/plugins/{kind}/rollback",
        ["v1", "webhooks", "mpesa", _] => "/v1/webhooks/mpesa/{token}",
        _ => "unmatched",
    }
}
