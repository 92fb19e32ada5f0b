//! The dispatcher: each route of [`super::route_table`] to its handler. Everything under `/v1`
//! but the webhooks needs an API key, which [`super::admission`] checked before the body was
//! read.

use super::App;
use super::admission::Admission;
use super::error::ApiError;
use super::handlers::{
    Reply, account_settings, accounts, audit_events, balance, bank_statements, charges,
    checkout_page, checkout_sessions, coupons, credit_notes, customers, disputes, events, grants,
    health, invoice_page, invoices, payees, payment_methods, payment_plans, payouts, plans,
    plugins, receipts, refunds, reports, sandbox, sponsorships, subscriptions, test_clocks,
    webhook_endpoints, webhooks,
};
use super::request::ApiRequest;
use super::route_table::{self, Found, Route};
use crate::actor::billing::messages::InvoiceAction;

pub async fn dispatch(
    app: &App,
    request: &ApiRequest,
    admission: &Admission,
) -> Result<Reply, ApiError> {
    let segments = request.segments();
    let (route, params) = match route_table::find(&request.method, &segments) {
        Found::Route(spec, params) => (spec.route, params),
        found => return Err(unrouted(request, &segments, &found)),
    };
    // The table's parameters, in its template's order.
    let id = || params[0];
    let account = || {
        admission.account().ok_or_else(|| {
            ApiError::internal(format!("{} was admitted without an account", request.path))
        })
    };
    match route {
        Route::Healthz => Ok(health::healthz()),
        Route::Readyz => Ok(health::readyz(app)),
        Route::OpenApi => Ok(health::openapi()),
        Route::GatewayWebhook | Route::GatewayWebhookWithToken => {
            webhooks::receive(app, request, id()).await
        }
        Route::CheckoutPage => checkout_page::show(app, id()).await,
        Route::PayCheckoutPage => checkout_page::pay(app, request, id()).await,
        Route::CheckoutPageStatus => checkout_page::status(app, id()).await,
        Route::InvoicePage => invoice_page::show(app, id()).await,
        Route::PayInvoicePage => invoice_page::pay(app, request, id()).await,
        Route::InvoicePageStatus => invoice_page::status(app, id()).await,
        Route::CreateCheckoutSession => checkout_sessions::create(app, request, account()?).await,
        Route::RetrieveCheckoutSession => checkout_sessions::retrieve(app, account()?, id()).await,
        Route::ExpireCheckoutSession => {
            checkout_sessions::expire(app, request, account()?, id()).await
        }
        Route::CreateCustomer => customers::create(app, request, account()?).await,
        Route::ListCustomers => customers::list(app, request, account()?).await,
        Route::RetrieveCustomer => customers::retrieve(app, account()?, id()).await,
        Route::UpdateCustomer => customers::update(app, request, account()?, id()).await,
        Route::EraseCustomer => customers::erase(app, request, account()?, id()).await,
        Route::CustomerEntitlements => customers::entitlements(app, account()?, id(), None).await,
        Route::CustomerEntitlement => {
            customers::entitlements(app, account()?, id(), Some(params[1])).await
        }
        Route::CustomerSubscriptions => {
            subscriptions::list_for_customer(app, request, account()?, id()).await
        }
        Route::CustomerPaymentPlans => {
            payment_plans::list_for_customer(app, request, account()?, id()).await
        }
        Route::CreatePaymentPlan => payment_plans::create(app, request, account()?).await,
        Route::RetrievePaymentPlan => payment_plans::retrieve(app, account()?, id()).await,
        Route::PayRemainingPaymentPlan => {
            payment_plans::pay_remaining(app, request, account()?, id()).await
        }
        Route::CancelPaymentPlan => payment_plans::cancel(app, request, account()?, id()).await,
        Route::CustomerSponsorships => {
            sponsorships::list_for_customer(app, request, account()?, id()).await
        }
        Route::CreateSponsorship => sponsorships::create(app, request, account()?).await,
        Route::RetrieveSponsorship => sponsorships::retrieve(app, account()?, id()).await,
        Route::EndSponsorship => sponsorships::end(app, request, account()?, id()).await,
        Route::UploadBankStatement => bank_statements::upload(app, request, account()?).await,
        Route::ListBankStatements => bank_statements::list(app, request, account()?).await,
        Route::RetrieveBankStatement => bank_statements::retrieve(app, account()?, id()).await,
        Route::AllocateBankStatementLine => {
            bank_statements::allocate(app, request, account()?, id(), params[1]).await
        }
        Route::CreateGrant => grants::create(app, request, account()?, id()).await,
        Route::ListGrants => grants::list(app, request, account()?, id()).await,
        Route::WithdrawGrant => grants::withdraw(app, request, account()?, id(), params[1]).await,
        Route::AttachPaymentMethod => payment_methods::attach(app, request, account()?, id()).await,
        Route::ListPaymentMethods => payment_methods::list(app, request, account()?, id()).await,
        Route::DetachPaymentMethod => payment_methods::detach(app, request, account()?, id()).await,
        Route::CustomerCharges => charges::list_for_customer(app, request, account()?, id()).await,
        Route::CreatePlan => plans::create(app, request, account()?).await,
        Route::ListPlans => plans::list(app, request, account()?).await,
        Route::RetrievePlan => plans::retrieve(app, account()?, id()).await,
        Route::UpdatePlan => plans::update(app, request, account()?, id()).await,
        Route::CreateCoupon => coupons::create_coupon(app, request, account()?).await,
        Route::ListCoupons => coupons::list_coupons(app, request, account()?).await,
        Route::RetrieveCoupon => coupons::retrieve_coupon(app, account()?, id()).await,
        Route::DeleteCoupon => coupons::delete_coupon(app, request, account()?, id()).await,
        Route::CreatePromotionCode => {
            coupons::create_promotion_code(app, request, account()?).await
        }
        Route::ListPromotionCodes => coupons::list_promotion_codes(app, request, account()?).await,
        Route::RetrievePromotionCode => {
            coupons::retrieve_promotion_code(app, account()?, id()).await
        }
        Route::UpdatePromotionCode => {
            coupons::update_promotion_code(app, request, account()?, id()).await
        }
        Route::CreateSubscription => subscriptions::create(app, request, account()?).await,
        Route::RetrieveSubscription => subscriptions::retrieve(app, account()?, id()).await,
        Route::UpdateSubscription => subscriptions::update(app, request, account()?, id()).await,
        Route::CancelSubscription => subscriptions::cancel(app, request, account()?, id()).await,
        Route::ReactivateSubscription => {
            subscriptions::reactivate(app, request, account()?, id()).await
        }
        Route::PauseSubscription => subscriptions::pause(app, request, account()?, id()).await,
        Route::ResumeSubscription => subscriptions::resume(app, request, account()?, id()).await,
        Route::UpcomingInvoice => {
            subscriptions::upcoming_invoice(app, request, account()?, id()).await
        }
        Route::ListInvoices => invoices::list(app, request, account()?).await,
        Route::RetrieveInvoice => invoices::retrieve(app, account()?, id()).await,
        Route::InvoiceReceipt => receipts::invoice(app, account()?, id()).await,
        Route::PayInvoice => {
            invoices::act(app, request, account()?, id(), InvoiceAction::Pay).await
        }
        Route::VoidInvoice => {
            invoices::act(app, request, account()?, id(), InvoiceAction::Void).await
        }
        Route::MarkInvoiceUncollectible => {
            let action = InvoiceAction::MarkUncollectible;
            invoices::act(app, request, account()?, id(), action).await
        }
        Route::CreateCreditNote => credit_notes::create(app, request, account()?).await,
        Route::ListCreditNotes => credit_notes::list(app, request, account()?).await,
        Route::RetrieveCreditNote => credit_notes::retrieve(app, account()?, id()).await,
        Route::CreateTestClock => test_clocks::create(app, request, account()?).await,
        Route::RetrieveTestClock => test_clocks::retrieve(app, account()?, id()).await,
        Route::DeleteTestClock => test_clocks::delete(app, account()?, id()).await,
        Route::AdvanceTestClock => test_clocks::advance(app, request, account()?, id()).await,
        Route::CreateCharge => charges::create(app, request, account()?).await,
        Route::ListCharges => charges::list(app, request, account()?).await,
        Route::RetrieveCharge => charges::retrieve(app, account()?, id()).await,
        Route::ChargeReceipt => receipts::charge(app, account()?, id()).await,
        Route::CreateRefund => refunds::create(app, request, account()?).await,
        Route::RetrieveRefund => refunds::retrieve(app, account()?, id()).await,
        Route::ListEvents => events::list(app, request, account()?).await,
        Route::RetrieveEvent => events::retrieve(app, account()?, id()),
        Route::RedeliverEvent => events::redeliver(app, request, account()?, id()).await,
        Route::CreateWebhookEndpoint => webhook_endpoints::create(app, request, account()?).await,
        Route::ListWebhookEndpoints => webhook_endpoints::list(app, request, account()?).await,
        Route::RetrieveWebhookEndpoint => webhook_endpoints::retrieve(app, account()?, id()).await,
        Route::UpdateWebhookEndpoint => {
            webhook_endpoints::update(app, request, account()?, id()).await
        }
        Route::DeleteWebhookEndpoint => webhook_endpoints::delete(app, account()?, id()).await,
        Route::RotateWebhookEndpointSecret => {
            webhook_endpoints::rotate_secret(app, request, account()?, id()).await
        }
        Route::ListWebhookDeliveries => {
            webhook_endpoints::deliveries(app, request, account()?, id()).await
        }
        Route::RetrieveDispute => disputes::retrieve(app, account()?, id()).await,
        Route::RetrieveBalance => balance::retrieve(app, account()?).await,
        Route::ListBalanceTransactions => balance::list(app, request, account()?).await,
        Route::CreatePayee => payees::create(app, request, account()?).await,
        Route::ListPayees => payees::list(app, request, account()?).await,
        Route::RetrievePayee => payees::retrieve(app, account()?, id()).await,
        Route::UpdatePayee => payees::update(app, request, account()?, id()).await,
        Route::RetrievePayeeBalance => balance::retrieve_for_payee(app, account()?, id()).await,
        Route::ListPayeePayouts => payouts::list_for_payee(app, request, account()?, id()).await,
        Route::CreatePayout => payouts::create(app, request, account()?).await,
        Route::RetrievePayout => payouts::retrieve(app, account()?, id()).await,
        Route::RevenueReport => reports::revenue_report(app, request, account()?).await,
        Route::SubscriptionsReport => reports::subscriptions_report(app, request, account()?).await,
        Route::PayeeStatement => reports::payee_statement(app, request, account()?, id()).await,
        Route::SandboxLedger => sandbox::ledger(app, request, account()?).await,
        Route::ListPlugins => plugins::list(app, account()?).await,
        Route::UploadPlugin => plugins::upload(app, request, account()?, id()).await,
        Route::RollBackPlugin => plugins::roll_back(app, request, account()?, id()).await,
        Route::CustomerAuditEvents => {
            audit_events::list_for_customer(app, request, account()?, id()).await
        }
        Route::ListAuditEvents => audit_events::list(app, request, account()?).await,
        Route::RetrieveOwnAccount => account_settings::retrieve_own(app, account()?).await,
        Route::UpdateOwnAccount => account_settings::update_own(app, request, account()?).await,
        // Admission let these through only with the admin key.
        Route::CreateAccount => accounts::create(app, request).await,
        Route::ListAccounts => accounts::list(app, request).await,
        Route::RetrieveAccount => accounts::retrieve(app, id()).await,
        Route::UpdateAccount => account_settings::update(app, request, id()).await,
        Route::CreateApiKey => accounts::create_key(app, request, id()).await,
        Route::ListApiKeys => accounts::list_keys(app, request, id()).await,
        Route::UpdateApiKey => accounts::update_key(app, request, id(), params[1]).await,
        Route::RevokeApiKey => accounts::revoke_key(app, request, id(), params[1]).await,
    }
}

/// A request no route takes: 405 where the path has other methods, else 404. Admission lets
/// through only webhook paths a gateway serves; their 405 never repeats a path token.
fn unrouted(request: &ApiRequest, segments: &[&str], found: &Found<'_>) -> ApiError {
    let method = request.method.as_str();
    match (found, segments) {
        (Found::OtherMethods(_), _) => {
            ApiError::method_not_allowed(method, shown_path(&request.path, segments))
        }
        (_, ["v1", "webhooks", ..]) => ApiError::webhook_not_found(),
        _ => ApiError::route_not_found(method, &request.path),
    }
}

/// The path as logs and error messages show it: a webhook path may hold its gateway's secret
/// token, and an invoice page's path its token, whether or not it matched a route, so they show
/// as their templates.
pub fn shown_path<'a>(path: &'a str, segments: &[&str]) -> &'a str {
    match segments {
        ["v1", "webhooks", _, _, ..] => "/v1/webhooks/{gateway}/{token}",
        // An invoice page's token is the page's only credential: kept out of logs.
        ["invoice", _] => "/invoice/{token}",
        ["invoice", _, "pay"] => "/invoice/{token}/pay",
        ["invoice", _, "status"] => "/invoice/{token}/status",
        _ => path,
    }
}

/// The route template a request matched, for metrics and logs: bounded, unlike raw paths.
pub fn route_label(found: &Found<'_>) -> &'static str {
    found.spec().map_or("unmatched", |spec| spec.template)
}
