//! One file per resource; each handler parses and checks its input, then hands the state change
//! to the customer's actor (or reads the store) and says what to answer.

pub mod account_settings;
pub mod accounts;
pub mod audit_events;
pub mod balance;
pub mod bank_statements;
pub mod charges;
pub mod checkout_page;
pub mod checkout_sessions;
pub mod coupons;
pub mod credit_notes;
pub mod customers;
pub mod disputes;
pub mod events;
pub mod grants;
pub mod health;
mod hosted_pages;
pub mod invoice_page;
pub mod invoices;
pub mod payees;
pub mod payment_methods;
pub mod payment_plans;
pub mod payouts;
pub mod plans;
pub mod plugins;
pub mod receipts;
pub mod refunds;
pub mod reports;
pub mod sandbox;
pub mod split;
pub mod sponsorships;
pub mod subscriptions;
pub mod test_clocks;
pub mod webhook_endpoints;
pub mod webhooks;

use serde::Serialize;
use warp::http::StatusCode;

use super::idempotency::Answer;
use super::views;

/// What a handler answers: a status and a JSON body (or, for metrics, text; for receipts, a
/// page).
pub struct Reply {
    pub status: StatusCode,
    pub body: Body,
    /// Answered from an earlier request with the same Idempotency-Key.
    pub replayed: bool,
}

pub enum Body {
    /// Encoded already: a handler's view borrows the record it shows.
    Json(Vec<u8>),
    Text(String),
    /// A whole HTML document, served with a policy that lets nothing on it run.
    Html(String),
    /// A page served with its own Content-Security-Policy (a checkout page).
    Page {
        html: String,
        policy: String,
    },
    /// `303 See Other` to this location.
    Redirect(String),
    /// A report as CSV (asked for with `Accept: text/csv`).
    Csv(String),
}

impl Body {
    pub fn json(body: &impl Serialize) -> Body {
        Body::Json(views::to_json(body))
    }
}

impl Reply {
    pub fn ok(body: impl Serialize) -> Reply {
        Reply { status: StatusCode::OK, body: Body::json(&body), replayed: false }
    }

    pub fn html(page: String) -> Reply {
        Reply { status: StatusCode::OK, body: Body::Html(page), replayed: false }
    }

    pub fn page(status: StatusCode, html: String, policy: String) -> Reply {
        Reply { status, body: Body::Page { html, policy }, replayed: false }
    }

    pub fn see_other(location: String) -> Reply {
        Reply { status: StatusCode::SEE_OTHER, body: Body::Redirect(location), replayed: false }
    }

    pub fn answer(answer: Answer) -> Reply {
        let (status, body) = views::outcome(&answer.outcome);
        Reply { status, body: Body::Json(body), replayed: answer.replayed }
    }
}
