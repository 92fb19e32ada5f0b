//! What each route does to which resource, for restricted keys: a `GET` reads, anything else
//! writes. Written as one match over every route, so a new route cannot be left out.

use warp::http::Method;

use super::route_table::{Route, RouteSpec};
use crate::domain::{Access, Resource};

/// The resource an account's route acts on; `None` for the routes no account key reaches
/// (health, the document, the gateways' webhooks, the admin routes).
pub fn resource(route: Route) -> Option<Resource> {
    use Route::*;
    let resource = match route {
        Healthz | Readyz | OpenApi | GatewayWebhook | GatewayWebhookWithToken => return None,
        // A buyer's pages: the session's random id is all they need.
        CheckoutPage | PayCheckoutPage | CheckoutPageStatus | InvoicePage | PayInvoicePage
        | InvoicePageStatus => return None,
        CreateCheckoutSession | RetrieveCheckoutSession | ExpireCheckoutSession => {
            Resource::CheckoutSessions
        }
        CreateAccount | ListAccounts | RetrieveAccount | UpdateAccount | CreateApiKey
        | ListApiKeys | UpdateApiKey | RevokeApiKey => return None,
        RetrieveOwnAccount | UpdateOwnAccount => Resource::Account,
        CreateCustomer | ListCustomers | RetrieveCustomer | UpdateCustomer | EraseCustomer => {
            Resource::Customers
        }
        CustomerEntitlements | CustomerEntitlement | CreateGrant | ListGrants | WithdrawGrant => {
            Resource::Entitlements
        }
        CustomerSubscriptions => Resource::Subscriptions,
        CustomerPaymentPlans
        | CreatePaymentPlan
        | RetrievePaymentPlan
        | PayRemainingPaymentPlan
        | CancelPaymentPlan => Resource::PaymentPlans,
        CustomerSponsorships | CreateSponsorship | RetrieveSponsorship | EndSponsorship => {
            Resource::Sponsorships
        }
        AttachPaymentMethod | ListPaymentMethods | DetachPaymentMethod => Resource::PaymentMethods,
        CustomerCharges | CreateCharge | ListCharges | RetrieveCharge | ChargeReceipt => {
            Resource::Charges
        }
        CreatePlan | ListPlans | RetrievePlan | UpdatePlan => Resource::Plans,
        CreateCoupon
        | ListCoupons
        | RetrieveCoupon
        | DeleteCoupon
        | CreatePromotionCode
        | ListPromotionCodes
        | RetrievePromotionCode
        | UpdatePromotionCode => Resource::Coupons,
        CreateSubscription
        | RetrieveSubscription
        | UpdateSubscription
        | CancelSubscription
        | ReactivateSubscription
        | PauseSubscription
        | ResumeSubscription => Resource::Subscriptions,
        UpcomingInvoice
        | ListInvoices
        | RetrieveInvoice
        | InvoiceReceipt
        | PayInvoice
        | VoidInvoice
        | MarkInvoiceUncollectible => Resource::Invoices,
        CreateCreditNote | ListCreditNotes | RetrieveCreditNote => Resource::CreditNotes,
        CreateTestClock | RetrieveTestClock | DeleteTestClock | AdvanceTestClock => {
            Resource::TestClocks
        }
        CreateRefund | RetrieveRefund => Resource::Refunds,
        ListEvents | RetrieveEvent | RedeliverEvent => Resource::Events,
        CreateWebhookEndpoint
        | ListWebhookEndpoints
        | RetrieveWebhookEndpoint
        | UpdateWebhookEndpoint
        | DeleteWebhookEndpoint
        | RotateWebhookEndpointSecret
        | ListWebhookDeliveries => Resource::WebhookEndpoints,
        RetrieveDispute => Resource::Disputes,
        RetrieveBalance | ListBalanceTransactions | RetrievePayeeBalance => Resource::Balance,
        CreatePayee | ListPayees | RetrievePayee | UpdatePayee => Resource::Payees,
        CreatePayout | RetrievePayout | ListPayeePayouts => Resource::Payouts,
        RevenueReport | SubscriptionsReport | PayeeStatement => Resource::Reports,
        SandboxLedger => Resource::Sandbox,
        ListPlugins | UploadPlugin | RollBackPlugin => Resource::Plugins,
        CustomerAuditEvents | ListAuditEvents => Resource::AuditEvents,
        UploadBankStatement
        | ListBankStatements
        | RetrieveBankStatement
        | AllocateBankStatementLine => Resource::BankStatements,
    };
    Some(resource)
}

pub fn access(spec: &RouteSpec) -> Access {
    match spec.method == Method::GET {
        true => Access::Read,
        false => Access::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::route_table::{Caller, ROUTES};

    #[test]
    fn every_account_route_names_a_resource_and_no_other_does() {
        for spec in ROUTES {
            assert_eq!(
                resource(spec.route).is_some(),
                spec.caller == Caller::ApiKey,
                "{} {}",
                spec.method,
                spec.template
            );
        }
    }
}
