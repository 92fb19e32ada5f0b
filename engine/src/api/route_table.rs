//! Every route Kassa serves, written once: its method and path template, who may call it, and
//! how large its body may be. Admission, the body limit, the dispatcher ([`super::routes`]) and
//! the metrics' route label all read it here, and a test holds it against `openapi.json` both
//! ways, so the document and the server cannot drift apart. A new route is a variant, its row
//! in [`ROUTES`], and its arm in the dispatcher (the compiler asks for it).

use warp::http::Method;

use crate::limits::{BODY_BYTES_MAX, WEBHOOK_BODY_BYTES_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Readyz,
    OpenApi,
    GatewayWebhook,
    GatewayWebhookWithToken,
    CheckoutPage,
    PayCheckoutPage,
    CheckoutPageStatus,
    InvoicePage,
    PayInvoicePage,
    InvoicePageStatus,
    CreateCheckoutSession,
    RetrieveCheckoutSession,
    ExpireCheckoutSession,
    CreateCustomer,
    ListCustomers,
    RetrieveCustomer,
    UpdateCustomer,
    EraseCustomer,
    CustomerEntitlements,
    CustomerEntitlement,
    CustomerSubscriptions,
    CustomerPaymentPlans,
    CreatePaymentPlan,
    RetrievePaymentPlan,
    PayRemainingPaymentPlan,
    CancelPaymentPlan,
    CustomerSponsorships,
    CreateSponsorship,
    RetrieveSponsorship,
    EndSponsorship,
    UploadBankStatement,
    ListBankStatements,
    RetrieveBankStatement,
    AllocateBankStatementLine,
    CreateGrant,
    ListGrants,
    WithdrawGrant,
    AttachPaymentMethod,
    ListPaymentMethods,
    DetachPaymentMethod,
    CustomerCharges,
    CreatePlan,
    ListPlans,
    RetrievePlan,
    UpdatePlan,
    CreateCoupon,
    ListCoupons,
    RetrieveCoupon,
    DeleteCoupon,
    CreatePromotionCode,
    ListPromotionCodes,
    RetrievePromotionCode,
    UpdatePromotionCode,
    CreateSubscription,
    RetrieveSubscription,
    UpdateSubscription,
    CancelSubscription,
    ReactivateSubscription,
    PauseSubscription,
    ResumeSubscription,
    UpcomingInvoice,
    ListInvoices,
    RetrieveInvoice,
    InvoiceReceipt,
    PayInvoice,
    VoidInvoice,
    MarkInvoiceUncollectible,
    CreateCreditNote,
    ListCreditNotes,
    RetrieveCreditNote,
    CreateTestClock,
    RetrieveTestClock,
    DeleteTestClock,
    AdvanceTestClock,
    CreateCharge,
    ListCharges,
    RetrieveCharge,
    ChargeReceipt,
    CreateRefund,
    RetrieveRefund,
    ListEvents,
    RetrieveEvent,
    RetrieveDispute,
    SandboxLedger,
    ListPlugins,
    UploadPlugin,
    RollBackPlugin,
    CustomerAuditEvents,
    ListAuditEvents,
    RetrieveOwnAccount,
    UpdateOwnAccount,
    CreateAccount,
    ListAccounts,
    RetrieveAccount,
    UpdateAccount,
    CreateApiKey,
    ListApiKeys,
    UpdateApiKey,
    RevokeApiKey,
    CreateWebhookEndpoint,
    ListWebhookEndpoints,
    RetrieveWebhookEndpoint,
    UpdateWebhookEndpoint,
    DeleteWebhookEndpoint,
    RotateWebhookEndpointSecret,
    ListWebhookDeliveries,
    RedeliverEvent,
    RetrieveBalance,
    ListBalanceTransactions,
    CreatePayee,
    ListPayees,
    RetrievePayee,
    UpdatePayee,
    RetrievePayeeBalance,
    CreatePayout,
    RetrievePayout,
    ListPayeePayouts,
    RevenueReport,
    SubscriptionsReport,
    PayeeStatement,
}

/// Who may call a route; decided from the request's head, before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Anyone,
    /// The gateway the path names, as its adapter authenticates it (Stripe: the body's
    /// signature; Safaricom: the secret token in the path); the route exists only for the
    /// gateways that take webhooks on this engine.
    Gateway,
    /// A holder of one of the account's API keys, as far as the key's permissions go.
    ApiKey,
    /// The holder of the admin key (`accounts.admin_key`); with none set, the route does not
    /// exist.
    Admin,
}

/// How large a route's body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySize {
    Json,
    /// A gateway's event, as the gateway sends it.
    Webhook,
    /// A rule's component (`rules.upload_max_bytes`).
    Upload,
    /// A bank statement (`limits.statement_body_max`).
    Statement,
}

pub struct RouteSpec {
    pub route: Route,
    pub method: Method,
    pub template: &'static str,
    pub caller: Caller,
    pub body: BodySize,
}

const fn spec(
    route: Route,
    method: Method,
    template: &'static str,
    caller: Caller,
    body: BodySize,
) -> RouteSpec {
    RouteSpec { route, method, template, caller, body }
}

const fn keyed(route: Route, method: Method, template: &'static str) -> RouteSpec {
    spec(route, method, template, Caller::ApiKey, BodySize::Json)
}

const fn admin(route: Route, method: Method, template: &'static str) -> RouteSpec {
    spec(route, method, template, Caller::Admin, BodySize::Json)
}

use BodySize::{Statement, Upload, Webhook};
use Caller::{Anyone, Gateway};
use Route::*;

/// The table itself, one row per route.
pub const ROUTES: &[RouteSpec] = &[
    spec(Healthz, Method::GET, "/healthz", Anyone, BodySize::Json),
    spec(Readyz, Method::GET, "/readyz", Anyone, BodySize::Json),
    spec(OpenApi, Method::GET, "/openapi.json", Anyone, BodySize::Json),
    spec(GatewayWebhook, Method::POST, "/v1/webhooks/{gateway}", Gateway, Webhook),
    spec(GatewayWebhookWithToken, Method::POST, "/v1/webhooks/{gateway}/{token}", Gateway, Webhook),
    spec(CheckoutPage, Method::GET, "/checkout/{id}", Anyone, BodySize::Json),
    spec(PayCheckoutPage, Method::POST, "/checkout/{id}/pay", Anyone, BodySize::Json),
    spec(CheckoutPageStatus, Method::GET, "/checkout/{id}/status", Anyone, BodySize::Json),
    spec(InvoicePage, Method::GET, "/invoice/{token}", Anyone, BodySize::Json),
    spec(PayInvoicePage, Method::POST, "/invoice/{token}/pay", Anyone, BodySize::Json),
    spec(InvoicePageStatus, Method::GET, "/invoice/{token}/status", Anyone, BodySize::Json),
    keyed(CreateCheckoutSession, Method::POST, "/v1/checkout/sessions"),
    keyed(RetrieveCheckoutSession, Method::GET, "/v1/checkout/sessions/{id}"),
    keyed(ExpireCheckoutSession, Method::POST, "/v1/checkout/sessions/{id}/expire"),
    keyed(CreateCustomer, Method::POST, "/v1/customers"),
    keyed(ListCustomers, Method::GET, "/v1/customers"),
    keyed(RetrieveCustomer, Method::GET, "/v1/customers/{id}"),
    keyed(UpdateCustomer, Method::POST, "/v1/customers/{id}"),
    keyed(EraseCustomer, Method::DELETE, "/v1/customers/{id}"),
    keyed(CustomerEntitlements, Method::GET, "/v1/customers/{id}/entitlements"),
    keyed(CustomerEntitlement, Method::GET, "/v1/customers/{id}/entitlements/{feature}"),
    keyed(CustomerSubscriptions, Method::GET, "/v1/customers/{id}/subscriptions"),
    keyed(CustomerPaymentPlans, Method::GET, "/v1/customers/{id}/payment_plans"),
    keyed(CreatePaymentPlan, Method::POST, "/v1/payment_plans"),
    keyed(RetrievePaymentPlan, Method::GET, "/v1/payment_plans/{id}"),
    keyed(PayRemainingPaymentPlan, Method::POST, "/v1/payment_plans/{id}/pay_remaining"),
    keyed(CancelPaymentPlan, Method::POST, "/v1/payment_plans/{id}/cancel"),
    keyed(CustomerSponsorships, Method::GET, "/v1/customers/{id}/sponsorships"),
    keyed(CreateSponsorship, Method::POST, "/v1/sponsorships"),
    keyed(RetrieveSponsorship, Method::GET, "/v1/sponsorships/{id}"),
    keyed(EndSponsorship, Method::POST, "/v1/sponsorships/{id}/end"),
    spec(UploadBankStatement, Method::POST, "/v1/bank_statements", Caller::ApiKey, Statement),
    keyed(ListBankStatements, Method::GET, "/v1/bank_statements"),
    keyed(RetrieveBankStatement, Method::GET, "/v1/bank_statements/{id}"),
    keyed(
        AllocateBankStatementLine,
        Method::POST,
        "/v1/bank_statements/{id}/lines/{index}/allocate",
    ),
    keyed(CreateGrant, Method::POST, "/v1/customers/{id}/grants"),
    keyed(ListGrants, Method::GET, "/v1/customers/{id}/grants"),
    keyed(WithdrawGrant, Method::DELETE, "/v1/customers/{id}/grants/{grant_id}"),
    keyed(AttachPaymentMethod, Method::POST, "/v1/customers/{id}/payment_methods"),
    keyed(ListPaymentMethods, Method::GET, "/v1/customers/{id}/payment_methods"),
    keyed(DetachPaymentMethod, Method::DELETE, "/v1/payment_methods/{id}"),
    keyed(CustomerCharges, Method::GET, "/v1/customers/{id}/charges"),
    keyed(CreatePlan, Method::POST, "/v1/plans"),
    keyed(ListPlans, Method::GET, "/v1/plans"),
    keyed(RetrievePlan, Method::GET, "/v1/plans/{id}"),
    keyed(UpdatePlan, Method::POST, "/v1/plans/{id}"),
    keyed(CreateCoupon, Method::POST, "/v1/coupons"),
    keyed(ListCoupons, Method::GET, "/v1/coupons"),
    keyed(RetrieveCoupon, Method::GET, "/v1/coupons/{id}"),
    keyed(DeleteCoupon, Method::DELETE, "/v1/coupons/{id}"),
    keyed(CreatePromotionCode, Method::POST, "/v1/promotion_codes"),
    keyed(ListPromotionCodes, Method::GET, "/v1/promotion_codes"),
    keyed(RetrievePromotionCode, Method::GET, "/v1/promotion_codes/{id}"),
    keyed(UpdatePromotionCode, Method::POST, "/v1/promotion_codes/{id}"),
    keyed(CreateSubscription, Method::POST, "/v1/subscriptions"),
    keyed(RetrieveSubscription, Method::GET, "/v1/subscriptions/{id}"),
    keyed(UpdateSubscription, Method::POST, "/v1/subscriptions/{id}"),
    keyed(CancelSubscription, Method::POST, "/v1/subscriptions/{id}/cancel"),
    keyed(ReactivateSubscription, Method::POST, "/v1/subscriptions/{id}/reactivate"),
    keyed(PauseSubscription, Method::POST, "/v1/subscriptions/{id}/pause"),
    keyed(ResumeSubscription, Method::POST, "/v1/subscriptions/{id}/resume"),
    keyed(UpcomingInvoice, Method::GET, "/v1/subscriptions/{id}/upcoming_invoice"),
    keyed(ListInvoices, Method::GET, "/v1/invoices"),
    keyed(RetrieveInvoice, Method::GET, "/v1/invoices/{id}"),
    keyed(InvoiceReceipt, Method::GET, "/v1/invoices/{id}/receipt"),
    keyed(PayInvoice, Method::POST, "/v1/invoices/{id}/pay"),
    keyed(VoidInvoice, Method::POST, "/v1/invoices/{id}/void"),
    keyed(MarkInvoiceUncollectible, Method::POST, "/v1/invoices/{id}/mark_uncollectible"),
    keyed(CreateCreditNote, Method::POST, "/v1/credit_notes"),
    keyed(ListCreditNotes, Method::GET, "/v1/credit_notes"),
    keyed(RetrieveCreditNote, Method::GET, "/v1/credit_notes/{id}"),
    keyed(CreateTestClock, Method::POST, "/v1/test_clocks"),
    keyed(RetrieveTestClock, Method::GET, "/v1/test_clocks/{id}"),
    keyed(DeleteTestClock, Method::DELETE, "/v1/test_clocks/{id}"),
    keyed(AdvanceTestClock, Method::POST, "/v1/test_clocks/{id}/advance"),
    keyed(CreateCharge, Method::POST, "/v1/charges"),
    keyed(ListCharges, Method::GET, "/v1/charges"),
    keyed(RetrieveCharge, Method::GET, "/v1/charges/{id}"),
    keyed(ChargeReceipt, Method::GET, "/v1/charges/{id}/receipt"),
    keyed(CreateRefund, Method::POST, "/v1/refunds"),
    keyed(RetrieveRefund, Method::GET, "/v1/refunds/{id}"),
    keyed(ListEvents, Method::GET, "/v1/events"),
    keyed(RetrieveEvent, Method::GET, "/v1/events/{id}"),
    keyed(RedeliverEvent, Method::POST, "/v1/events/{id}/redeliver"),
    keyed(RetrieveDispute, Method::GET, "/v1/disputes/{id}"),
    keyed(RetrieveBalance, Method::GET, "/v1/balance"),
    keyed(ListBalanceTransactions, Method::GET, "/v1/balance_transactions"),
    keyed(CreatePayee, Method::POST, "/v1/payees"),
    keyed(ListPayees, Method::GET, "/v1/payees"),
    keyed(RetrievePayee, Method::GET, "/v1/payees/{id}"),
    keyed(UpdatePayee, Method::POST, "/v1/payees/{id}"),
    keyed(RetrievePayeeBalance, Method::GET, "/v1/payees/{id}/balance"),
    keyed(ListPayeePayouts, Method::GET, "/v1/payees/{id}/payouts"),
    keyed(CreatePayout, Method::POST, "/v1/payouts"),
    keyed(RetrievePayout, Method::GET, "/v1/payouts/{id}"),
    keyed(PayeeStatement, Method::GET, "/v1/payees/{id}/statement"),
    keyed(RevenueReport, Method::GET, "/v1/reports/revenue"),
    keyed(SubscriptionsReport, Method::GET, "/v1/reports/subscriptions"),
    keyed(SandboxLedger, Method::GET, "/v1/sandbox/ledger"),
    keyed(ListPlugins, Method::GET, "/v1/plugins"),
    spec(UploadPlugin, Method::PUT, "/v1/plugins/{kind}", Caller::ApiKey, Upload),
    keyed(RollBackPlugin, Method::POST, "/v1/plugins/{kind}/rollback"),
    keyed(CustomerAuditEvents, Method::GET, "/v1/customers/{id}/audit_events"),
    keyed(ListAuditEvents, Method::GET, "/v1/audit_events"),
    keyed(RetrieveOwnAccount, Method::GET, "/v1/account"),
    keyed(UpdateOwnAccount, Method::POST, "/v1/account"),
    keyed(CreateWebhookEndpoint, Method::POST, "/v1/webhook_endpoints"),
    keyed(ListWebhookEndpoints, Method::GET, "/v1/webhook_endpoints"),
    keyed(RetrieveWebhookEndpoint, Method::GET, "/v1/webhook_endpoints/{id}"),
    keyed(UpdateWebhookEndpoint, Method::POST, "/v1/webhook_endpoints/{id}"),
    keyed(DeleteWebhookEndpoint, Method::DELETE, "/v1/webhook_endpoints/{id}"),
    keyed(RotateWebhookEndpointSecret, Method::POST, "/v1/webhook_endpoints/{id}/rotate_secret"),
    keyed(ListWebhookDeliveries, Method::GET, "/v1/webhook_endpoints/{id}/deliveries"),
    admin(CreateAccount, Method::POST, "/v1/accounts"),
    admin(ListAccounts, Method::GET, "/v1/accounts"),
    admin(RetrieveAccount, Method::GET, "/v1/accounts/{id}"),
    admin(UpdateAccount, Method::POST, "/v1/accounts/{id}"),
    admin(CreateApiKey, Method::POST, "/v1/accounts/{id}/keys"),
    admin(ListApiKeys, Method::GET, "/v1/accounts/{id}/keys"),
    admin(UpdateApiKey, Method::POST, "/v1/accounts/{id}/keys/{key_id}"),
    admin(RevokeApiKey, Method::DELETE, "/v1/accounts/{id}/keys/{key_id}"),
];

/// What a request's method and path find in the table.
pub enum Found<'a> {
    /// The route, and the path's parameters in the template's order.
    Route(&'static RouteSpec, Vec<&'a str>),
    /// The path exists, with other methods: these.
    OtherMethods(Vec<&'static str>),
    Nothing,
}

impl Found<'_> {
    pub fn spec(&self) -> Option<&'static RouteSpec> {
        match self {
            Found::Route(spec, _) => Some(spec),
            Found::OtherMethods(_) | Found::Nothing => None,
        }
    }
}

pub fn find<'a>(method: &Method, segments: &[&'a str]) -> Found<'a> {
    let mut other_methods = Vec::new();
    for spec in ROUTES {
        let Some(params) = matches(spec.template, segments) else { continue };
        if spec.method == *method {
            return Found::Route(spec, params);
        }
        other_methods.push(spec.method.as_str());
    }
    match other_methods.is_empty() {
        true => Found::Nothing,
        false => Found::OtherMethods(other_methods),
    }
}

/// The path's parameters when `segments` fit `template` (`{name}` matches any one segment).
fn matches<'a>(template: &str, segments: &[&'a str]) -> Option<Vec<&'a str>> {
    let mut parts = template.split('/').filter(|part| !part.is_empty());
    let mut params = Vec::new();
    for segment in segments {
        let part = parts.next()?;
        if part.starts_with('{') {
            params.push(*segment);
        } else if part != *segment {
            return None;
        }
    }
    parts.next().is_none().then_some(params)
}

impl RouteSpec {
    pub fn body_limit(&self, upload_max_bytes: usize, statement_max_bytes: usize) -> usize {
        match self.body {
            BodySize::Json => BODY_BYTES_MAX,
            BodySize::Webhook => WEBHOOK_BODY_BYTES_MAX,
            BodySize::Upload => upload_max_bytes,
            BodySize::Statement => statement_max_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Served elsewhere: on its own listener (`metrics.listen`), never on the API's.
    const SERVED_APART: &[&str] = &["GET /metrics"];

    /// The document names each gateway's webhook path (`/v1/webhooks/stripe`); the table serves
    /// them all through one template (`/v1/webhooks/{gateway}`). Any other route's template is
    /// its documented path, parameter names included.
    #[test]
    fn the_table_and_openapi_json_name_the_same_routes() {
        let document: serde_json::Value =
            serde_json::from_str(include_str!("openapi.json")).expect("openapi.json parses");
        let mut documented = BTreeSet::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for method in ["get", "post", "put", "delete", "patch"] {
                if item.get(method).is_some() {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let is_webhook = |spec: &RouteSpec| spec.caller == Caller::Gateway;
        for spec in ROUTES {
            let documented_as = documented.iter().filter(|(method, path)| {
                let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
                *method == spec.method.as_str()
                    && match is_webhook(spec) {
                        true => matches(spec.template, &segments).is_some(),
                        false => path == spec.template,
                    }
            });
            assert!(documented_as.count() > 0, "served, not in openapi.json: {}", spec.template);
        }
        for (method, path) in &documented {
            if SERVED_APART.contains(&format!("{method} {path}").as_str()) {
                continue;
            }
            let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
            let method = Method::from_bytes(method.as_bytes()).expect("a method");
            let served = match find(&method, &segments) {
                Found::Route(spec, _) => is_webhook(spec) || spec.template == path,
                _ => false,
            };
            assert!(served, "in openapi.json, not served: {method} {path}");
        }
        let distinct: BTreeSet<(&str, &str)> =
            ROUTES.iter().map(|spec| (spec.method.as_str(), spec.template)).collect();
        assert_eq!(distinct.len(), ROUTES.len(), "each route once");
    }

    #[test]
    fn a_path_finds_its_route_its_parameters_or_the_methods_it_has() {
        let path = ["v1", "customers", "cus_1", "entitlements", "seats"];
        match find(&Method::GET, &path) {
            Found::Route(spec, params) => {
                assert_eq!(spec.route, Route::CustomerEntitlement);
                assert_eq!(params, ["cus_1", "seats"]);
            }
            _ => panic!("a route"),
        }
        match find(&Method::PATCH, &["v1", "customers", "cus_1"]) {
            Found::OtherMethods(methods) => assert_eq!(methods, ["GET", "POST", "DELETE"]),
            _ => panic!("other methods"),
        }
        assert!(matches!(find(&Method::GET, &["v1", "customers", "cus_1", "x"]), Found::Nothing));
        assert!(matches!(find(&Method::GET, &["v1"]), Found::Nothing));
    }
}
