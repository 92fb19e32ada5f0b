//! Kassa's domain: the records a payment engine keeps, independent of HTTP, storage and gateways.

pub mod account;
pub mod bank_reference;
pub mod bank_transfer;
pub mod breakdown;
pub mod card_number;
pub mod charge;
pub mod checkout;
pub mod coupon;
pub mod credit_note;
pub mod customer;
pub mod dispute;
pub mod event;
pub mod gateway_event;
pub mod grant;
pub mod ids;
pub mod invoice;
pub mod ledger;
pub mod money;
pub mod outgoing_event;
pub mod payee;
pub mod payment_method;
pub mod payment_plan;
pub mod payout;
pub mod plan;
pub mod plugin;
pub mod purchase;
pub mod refund;
pub mod revenue;
pub mod sealed;
pub mod sponsorship;
pub mod subscription;
pub mod test_clock;
pub mod time;
pub mod transfer;
pub mod webhook_endpoint;

pub use account::{
    Access, Account, AccountSettings, ApiKey, BankDetails, KeyMode, KeyRefusal, Permissions,
    Resource, Seller,
};
pub use bank_transfer::{
    BankLineRecord, BankStatement, BankTransfer, LineOutcome, ReferenceTarget, StatementLine,
};
pub use breakdown::{Breakdown, Discount, PricedLine, RuleEvaluation, TaxLine};
pub use charge::{
    AmountReview, Charge, ChargeStatus, ClientSecret, Conversion, Failure, NextAction,
};
pub use checkout::{
    CartLine, CheckoutItems, CheckoutMethod, CheckoutMode, CheckoutSession, CheckoutStatus,
    HostedPage,
};
pub use coupon::{
    AppliedCoupon, Coupon, CouponDuration, CouponId, CouponOff, InvoiceDiscount, LineDiscount,
    NotRedeemable, PromotionCode, Redemption, SubscriptionDiscount,
};
pub use credit_note::{CreditNote, CreditNoteLine};
pub use customer::{Address, Customer, Metadata, TaxId};
pub use dispute::{Dispute, ListedMoney};
pub use event::{Actor, Cause, Event, EventKind};
pub use gateway_event::{Applied, GatewayEvent, NewGatewayEvent};
pub use grant::PromotionalGrant;
pub use ids::{
    AccountId, ApiKeyId, ChargeId, CheckoutSessionId, CreditNoteId, CustomerId, DisputeId, EventId,
    GrantId, InvoiceId, InvoiceLineId, PayeeId, PaymentMethodId, PaymentPlanId, PayoutId, PlanId,
    PromotionCodeId, RefundId, SponsorshipId, StatementId, SubscriptionId, TestClockId,
    TransactionId, TransferId, WebhookEndpointId,
};
pub use invoice::{BillingReason, Invoice, InvoiceLine, InvoiceStatus};
pub use ledger::{LedgerAccount, LedgerBalance, Leg, Posting, PostingKind};
pub use money::{Currency, Money};
pub use outgoing_event::{NewOutgoingEvent, OutgoingEvent};
pub use payee::{Destination, DestinationFailure, Payee, PayoutInterval, PayoutSchedule};
pub use payment_method::{CardDisplay, PaymentMethod, PaymentMethodKind};
pub use payment_plan::{Instalment, InstalmentStatus, PaymentPlan, PaymentPlanStatus};
pub use payout::{PartStatus, Payout, PayoutPart, PayoutStatus};
pub use plan::{Plan, TaxBehavior};
pub use plugin::{
    KindListing, PluginHistory, PluginKind, PluginRef, PluginSource, PluginVersion, VersionListing,
};
pub use purchase::{FeatureGrant, Purchase};
pub use refund::{PaidOut, Refund, RefundReason, RefundStatus};
pub use revenue::Revenue;
pub use sealed::Sealed;
pub use sponsorship::{OnDefault, SponsorItem, SponsorShare, Sponsorship, SponsorshipStatus};
pub use subscription::{
    CollectionMethod, Dunning, PendingLine, PendingUpdate, Subscription, SubscriptionStatus,
};
pub use test_clock::{TestClock, TestClockStatus};
pub use transfer::{ChargeTransfer, TransferTerms};
pub use webhook_endpoint::{
    Attempt, Delivery, DeliveryStatus, EndpointStatus, RetiringSecret, WebhookEndpoint,
};
