//! `POST /v1/credit_notes`, `GET /v1/credit_notes/{id}`, `GET /v1/credit_notes` (`invoice=`,
//! `customer=`): decided by the actor of the invoice's customer, which alone knows what is left
//! of the invoice and of the charge that paid it.

use serde::Deserialize;
use serde_json::Value;

use super::Reply;
use crate::actor::CustomerKey;
use crate::actor::billing::messages::CreateCreditNote;
use crate::actor::hosted_pages::PageFor;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, idempotency, validate, views};
use crate::billing::credit_notes::CreditAsk;
use crate::domain::{AccountId, CreditNoteId, CustomerId, InvoiceId, InvoiceLineId};
use crate::limits::CREDIT_NOTE_LINES_MAX;
use crate::store::{CreditNoteFilter, Outcome};

/// Stripe's reasons for a credit note.
const REASONS: [&str; 4] = ["duplicate", "fraudulent", "order_change", "product_unsatisfactory"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditNoteInput {
    invoice: String,
    lines: Option<Vec<LineInput>>,
    amount: Option<i64>,
    reason: Option<String>,
    refund_amount: Option<i64>,
    credit_amount: Option<i64>,
    out_of_band_amount: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineInput {
    line: String,
    amount: i64,
}

fn ask(lines: Option<Vec<LineInput>>, amount: Option<i64>) -> Result<CreditAsk, ApiError> {
    match (lines, amount) {
        (Some(_), Some(_)) => {
            Err(ApiError::validation("amount", "give either `lines` or `amount`, not both"))
        }
        (Some(lines), None) => {
            if lines.is_empty() || lines.len() > CREDIT_NOTE_LINES_MAX {
                return Err(ApiError::validation(
                    "lines",
                    format!("`lines` names 1 to {CREDIT_NOTE_LINES_MAX} invoice lines"),
                ));
            }
            let lines = lines
                .into_iter()
                .map(|line| {
                    let id = InvoiceLineId::parse(&line.line).ok_or_else(|| {
                        ApiError::validation(
                            "lines",
                            format!("`{}` is not an invoice line id", line.line),
                        )
                    })?;
                    let amount = validate::amount(line.amount).map_err(|_| {
                        ApiError::validation("lines", amount_rule("a line's amount"))
                    })?;
                    Ok((id, amount))
                })
                .collect::<Result<_, ApiError>>()?;
            Ok(CreditAsk::Lines(lines))
        }
        (None, Some(amount)) => Ok(CreditAsk::Total(validate::amount(amount)?)),
        (None, None) => Ok(CreditAsk::Rest),
    }
}

fn amount_rule(what: &str) -> String {
    format!("{what} is a positive whole number of the currency's minor unit")
}

/// A refund, credit or settled-outside amount: 0 or more.
fn part(param: &'static str, amount: Option<i64>) -> Result<Option<i64>, ApiError> {
    match amount {
        Some(0) => Ok(Some(0)),
        Some(amount) => validate::amount(amount)
            .map(Some)
            .map_err(|_| ApiError::validation(param, amount_rule(&format!("`{param}`")))),
        None => Ok(None),
    }
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreditNoteInput = request.json()?;
    let ask = ask(input.lines, input.amount)?;
    let refund_minor = part("refund_amount", input.refund_amount)?;
    let credit_minor = part("credit_amount", input.credit_amount)?;
    let out_of_band_minor = part("out_of_band_amount", input.out_of_band_amount)?;
    if let Some(reason) = &input.reason
        && !REASONS.contains(&reason.as_str())
    {
        return Err(ApiError::validation(
            "reason",
            format!("`reason` is one of {}", REASONS.join(", ")),
        ));
    }
    let not_found = || ApiError::not_found("invoice", &input.invoice);
    let invoice_id = InvoiceId::parse(&input.invoice).ok_or_else(not_found)?;
    let invoice = app.queries.invoice(account, &invoice_id)?.ok_or_else(not_found)?;
    let key = CustomerKey { account: account.clone(), customer: invoice.customer.clone() };
    // What an open invoice is due changes: a card page open for the old amount is closed first.
    if invoice.status.is_collectible() {
        let page_for = PageFor::Invoice(invoice.id.clone());
        super::hosted_pages::close_open(app, &key, &page_for, invoice.hosted_page.as_ref()).await?;
    }
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = CreateCreditNote {
            invoice: invoice_id,
            ask,
            refund_minor,
            credit_minor,
            out_of_band_minor,
            reason: input.reason,
            idempotency: ticket,
            cause: request.cause(),
        };
        let note = app.registry.send(&key, message).await??;
        Ok(Outcome::CreditNote(note))
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("credit_note", id);
    let id = CreditNoteId::parse(id).ok_or_else(not_found)?;
    let note = app.queries.credit_note(account, &id)?.ok_or_else(not_found)?;
    Ok(Reply::ok(billing_views::credit_note(&note)))
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (page, query) = PageRequest::parse_filtered(&request.query, &["invoice", "customer"])?;
    let filter = CreditNoteFilter {
        invoice: query
            .get("invoice")
            .map(|id| InvoiceId::parse(id).ok_or_else(|| ApiError::not_found("invoice", id)))
            .transpose()?,
        customer: query
            .get("customer")
            .map(|id| CustomerId::parse(id).ok_or_else(|| ApiError::not_found("customer", id)))
            .transpose()?,
    };
    let starting_after = match &page.starting_after {
        Some(id) => Some(CreditNoteId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a credit note id"))
        })?),
        None => None,
    };
    let found = app.queries.credit_notes(account, &filter, page.limit, starting_after.as_ref())?;
    let data: Vec<Value> = found.items.iter().map(billing_views::credit_note).collect();
    Ok(Reply::ok(views::list(data, found.has_more)))
}
