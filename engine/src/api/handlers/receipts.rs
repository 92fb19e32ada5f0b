//! `GET /v1/invoices/{id}/receipt`, `GET /v1/charges/{id}/receipt`: the printable receipt of a
//! paid invoice or a succeeded charge, as an HTML page. Read from the store like the other
//! GETs (a receipt changes nothing, so no actor is asked); laid out by `billing::receipt`.

use jiff::tz::TimeZone;

use super::Reply;
use crate::api::App;
use crate::api::error::ApiError;
use crate::billing::receipt::{self, ChargeReceipt, InvoiceReceipt, Issuer};
use crate::config::SellerConfig;
use crate::domain::{
    AccountId, Charge, ChargeId, ChargeStatus, InvoiceId, InvoiceStatus, PaymentMethod,
};

pub async fn invoice(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("invoice", id);
    let invoice_id = InvoiceId::parse(id).ok_or_else(not_found)?;
    let invoice = app.queries.invoice(account, &invoice_id)?.ok_or_else(not_found)?;
    if invoice.status != InvoiceStatus::Paid {
        return Err(ApiError::invalid(
            "invoice_not_paid",
            format!(
                "invoice {id} is {}: a receipt is given only for a paid invoice",
                invoice.status.as_str()
            ),
        ));
    }
    let customer = app.queries.customer(account, &invoice.customer)?;
    // The invoice's latest charge paid it, unless nothing had to be charged at all.
    let charge = match &invoice.charge {
        Some(charge) => app
            .queries
            .charge(account, charge)?
            .filter(|charge| charge.status == ChargeStatus::Succeeded),
        None => None,
    };
    let payment_method = match &charge {
        Some(charge) => payment_method(app, account, charge)?,
        None => None,
    };
    let page = receipt::invoice_page(
        &InvoiceReceipt {
            invoice: &invoice,
            customer: customer.as_ref(),
            charge: charge.as_ref(),
            payment_method: payment_method.as_ref(),
            reverse_charge: invoice.reverse_charge,
        },
        &issuer(app, account).as_issuer(),
    );
    Ok(Reply::html(page))
}

pub async fn charge(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("charge", id);
    let charge_id = ChargeId::parse(id).ok_or_else(not_found)?;
    let charge = app.queries.charge(account, &charge_id)?.ok_or_else(not_found)?;
    if charge.status != ChargeStatus::Succeeded {
        return Err(ApiError::invalid(
            "charge_not_succeeded",
            format!(
                "charge {id} is {}: a receipt is given only for a succeeded charge",
                charge.status.as_str()
            ),
        ));
    }
    let customer = app.queries.customer(account, &charge.customer)?;
    let payment_method = payment_method(app, account, &charge)?;
    let invoice = match &charge.invoice {
        Some(invoice) => app.queries.invoice(account, invoice)?,
        None => None,
    };
    let page = receipt::charge_page(
        &ChargeReceipt {
            charge: &charge,
            customer: customer.as_ref(),
            payment_method: payment_method.as_ref(),
            invoice_number: invoice.as_ref().and_then(|invoice| invoice.number.as_deref()),
        },
        &issuer(app, account).as_issuer(),
    );
    Ok(Reply::html(page))
}

/// The account's seller details and time zone, each else the engine's (`billing.seller`, UTC).
struct AccountIssuer {
    seller: SellerConfig,
    zone: TimeZone,
}

impl AccountIssuer {
    fn as_issuer(&self) -> Issuer<'_> {
        Issuer { seller: &self.seller, zone: &self.zone }
    }
}

fn issuer(app: &App, account: &AccountId) -> AccountIssuer {
    let settings = app.accounts.settings(account);
    let seller = match &settings.seller {
        Some(seller) => SellerConfig {
            name: seller.name.clone(),
            address: seller.address.clone(),
            tax_id: seller.tax_id.clone(),
        },
        None => app.seller.clone(),
    };
    // The setting was checked to be a zone when it was made; one the bundled database has
    // since dropped falls back to UTC rather than failing the receipt.
    let zone = settings.timezone.as_deref().and_then(|zone| TimeZone::get(zone).ok());
    AccountIssuer { seller, zone: zone.unwrap_or(TimeZone::UTC) }
}

/// The payment method the charge was made with, while the customer still has it (a detached
/// one is no longer kept, and its receipt says so).
fn payment_method(
    app: &App,
    account: &AccountId,
    charge: &Charge,
) -> Result<Option<PaymentMethod>, ApiError> {
    let methods = app.queries.payment_methods(account, &charge.customer)?;
    Ok(methods.into_iter().find(|method| method.id == charge.payment_method))
}
