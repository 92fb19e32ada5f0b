//! Card payments on a Kassa checkout page, taken by Stripe Checkout: a Checkout Session in
//! payment mode for the Kassa customer's own Stripe customer, saving the card for off-session
//! payments later (`setup_future_usage`), never a Stripe subscription or price (Kassa bills).
//! Its PaymentIntent carries the id of the Kassa checkout session (or invoice) it pays, so the
//! `payment_intent.succeeded` webhook names it ([`super::webhooks`]). A subscription's session
//! is in setup mode: the card alone is saved (its SetupIntent tagged the same way, named by
//! `setup_intent.succeeded`), and Kassa makes the subscription's payments with it.

use std::collections::HashMap;

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionPaymentIntentDataSetupFutureUsage,
    CreateCheckoutSessionSetupIntentData, ExpireCheckoutSession, ProductData,
    RetrieveCheckoutSession,
};
use stripe_shared::{CheckoutSessionMode, CheckoutSessionStatus};

use super::StripeCallError;
use super::transformers::{self, stripe_currency};
use super::{StripeGateway, amount_to_stripe};
use crate::{
    GatewayError, HostedClosed, HostedFor, HostedPayment, HostedPaymentRequest, HostedTake,
};

/// The PaymentIntent metadata keys naming the Kassa checkout session, or invoice, it pays.
pub const METADATA_CHECKOUT_SESSION: &str = "kassa_checkout_session";
pub const METADATA_INVOICE: &str = "kassa_invoice";

/// The metadata key and value that name what a payment pays.
fn tag_of(pays: &HostedFor) -> (&'static str, &str) {
    match pays {
        HostedFor::CheckoutSession(id) => (METADATA_CHECKOUT_SESSION, id),
        HostedFor::Invoice(id) => (METADATA_INVOICE, id),
    }
}

/// What a PaymentIntent's metadata says it pays, if Kassa opened its page.
pub(super) fn hosted_for(metadata: &HashMap<String, String>) -> Option<HostedFor> {
    if let Some(session) = metadata.get(METADATA_CHECKOUT_SESSION) {
        return Some(HostedFor::CheckoutSession(session.clone()));
    }
    metadata.get(METADATA_INVOICE).map(|invoice| HostedFor::Invoice(invoice.clone()))
}

impl StripeGateway {
    pub(super) async fn create_checkout_session(
        &self,
        request: &HostedPaymentRequest,
    ) -> Result<HostedPayment, GatewayError> {
        let customer = self.stripe_customer(&request.customer).await?;
        let (key, pays) = tag_of(&request.pays);
        let tag = HashMap::from([(key.to_owned(), pays.to_owned())]);
        let create = CreateCheckoutSession::new()
            .customer(customer)
            .client_reference_id(pays)
            .metadata(tag.clone())
            .success_url(request.return_url.as_str())
            .cancel_url(request.return_url.as_str())
            .expires_at(request.expires_at);
        let create = match request.take {
            HostedTake::Payment { amount_minor } => {
                let amount = amount_to_stripe(amount_minor, request.currency)
                    .map_err(|error| GatewayError::InvalidRequest(error.to_string()))?;
                let mut price =
                    CreateCheckoutSessionLineItemsPriceData::new(stripe_currency(request.currency));
                price.unit_amount = Some(amount);
                price.product_data = Some(ProductData::new(request.description.as_str()));
                let mut line = CreateCheckoutSessionLineItems::new();
                line.price_data = Some(price);
                line.quantity = Some(1);
                let mut intent = CreateCheckoutSessionPaymentIntentData::new();
                intent.setup_future_usage =
                    Some(CreateCheckoutSessionPaymentIntentDataSetupFutureUsage::OffSession);
                intent.metadata = Some(tag);
                create
                    .mode(CheckoutSessionMode::Payment)
                    .line_items(vec![line])
                    .payment_intent_data(intent)
            }
            HostedTake::Setup => {
                let mut setup = CreateCheckoutSessionSetupIntentData::new();
                setup.description = Some(request.description.clone());
                setup.metadata = Some(tag);
                create
                    .mode(CheckoutSessionMode::Setup)
                    .currency(stripe_currency(request.currency))
                    .setup_intent_data(setup)
            }
        };
        let session = self
            .send(&create, Some(&request.idempotency_key))
            .await
            .map_err(transformers::customer_error)?;
        let url = session.url.ok_or_else(|| {
            GatewayError::Ambiguous("Stripe's Checkout Session came without a url".into())
        })?;
        Ok(HostedPayment {
            reference: session.id.as_str().to_owned(),
            url,
            expires_at: session.expires_at,
        })
    }

    /// Expires the Checkout Session `reference` so that it takes nothing more. Stripe refuses
    /// to expire one that is complete (paid, or its card saved) or already expired: its status
    /// then says which.
    pub(super) async fn expire_checkout_session(
        &self,
        reference: &str,
    ) -> Result<HostedClosed, GatewayError> {
        match self.send(&ExpireCheckoutSession::new(reference), None).await {
            Ok(_) => return Ok(HostedClosed::Closed),
            Err(StripeCallError::Answered { status: 400, .. }) => {}
            Err(other) => return Err(transformers::lookup_error(other)),
        }
        let session = self
            .send(&RetrieveCheckoutSession::new(reference), None)
            .await
            .map_err(transformers::lookup_error)?;
        match session.status {
            Some(CheckoutSessionStatus::Complete) => Ok(HostedClosed::Paid),
            Some(CheckoutSessionStatus::Expired) => Ok(HostedClosed::Closed),
            status => Err(GatewayError::Ambiguous(format!(
                "Stripe would not expire Checkout Session {reference}, which is {status:?}"
            ))),
        }
    }
}
