//! Accounts (the tenants of one Kassa) and the API keys that act for them. A key is kept only as
//! its SHA-256 hash and a short prefix that lets a person tell keys apart in a list; the secret
//! itself is shown once, in the answer that made it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AccountId, ApiKeyId, Currency, Metadata, TaxBehavior};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub metadata: Metadata,
    pub created: i64,
    #[serde(default)]
    pub settings: AccountSettings,
}

/// What belongs to the tenant rather than to the engine: each unset one falls back to the
/// engine's config (`rules.seller_country`, `billing.seller`, UTC dates on receipts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettings {
    /// ISO 3166-1 alpha-2, upper case: where the account sells from, as its tax rule is told.
    pub country: Option<String>,
    /// IANA name: receipts show their dates in it.
    pub timezone: Option<String>,
    pub default_currency: Option<Currency>,
    /// A new plan's tax behaviour when it names none.
    pub tax_behavior: Option<TaxBehavior>,
    /// What a card statement shows for the account's charges.
    pub statement_descriptor: Option<String>,
    /// Who sells, as receipts print it.
    pub seller: Option<Seller>,
    /// Where customers pay bank transfers to.
    pub bank_transfer: Option<BankDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seller {
    pub name: String,
    /// One line: a request's text holds no control characters, newlines included.
    pub address: String,
    /// VAT or tax registration number; empty when there is none.
    pub tax_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankDetails {
    pub bank_name: String,
    pub account_holder: String,
    pub account_number: String,
    pub branch_code: String,
    pub swift: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyMode {
    /// Acts on everything the account owns.
    Secret,
    /// Acts only as its permissions allow: a service that only reads, or only charges.
    Restricted,
}

impl KeyMode {
    pub fn parse(text: &str) -> Option<KeyMode> {
        match text {
            "secret" => Some(KeyMode::Secret),
            "restricted" => Some(KeyMode::Restricted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Secret => "secret",
            KeyMode::Restricted => "restricted",
        }
    }

    /// The start of a key's secret, as Stripe's keys start: `sk_` secret, `rk_` restricted.
    pub fn secret_prefix(self) -> &'static str {
        match self {
            KeyMode::Secret => "sk_",
            KeyMode::Restricted => "rk_",
        }
    }
}

/// What a request does to a resource: a `GET` reads, every other method writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Access {
    Read,
    /// Writing includes reading.
    Write,
}

impl Access {
    pub fn parse(text: &str) -> Option<Access> {
        match text {
            "read" => Some(Access::Read),
            "write" => Some(Access::Write),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// The kinds of object a restricted key's permissions name, one per family of routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Resource {
    Customers,
    PaymentMethods,
    Charges,
    Refunds,
    Disputes,
    Events,
    Plans,
    Subscriptions,
    Invoices,
    CreditNotes,
    Entitlements,
    TestClocks,
    Plugins,
    Sandbox,
    AuditEvents,
    /// The key's own account and its settings (`/v1/account`).
    Account,
    /// Where the account's events are sent (`/v1/webhook_endpoints`).
    WebhookEndpoints,
    /// Coupons and their promotion codes.
    Coupons,
    PaymentPlans,
    /// Bank statements uploaded and their lines allocated.
    BankStatements,
    CheckoutSessions,
    Sponsorships,
    /// The books: the balance and the balance transactions.
    Balance,
    /// The tutors, authors and schools the platform pays.
    Payees,
    /// Money paid out to payees.
    Payouts,
    /// Revenue, subscription figures and payee statements.
    Reports,
}

impl Resource {
    pub const ALL: [Resource; 26] = [
        Resource::Customers,
        Resource::PaymentMethods,
        Resource::Charges,
        Resource::Refunds,
        Resource::Disputes,
        Resource::Events,
        Resource::Plans,
        Resource::Subscriptions,
        Resource::Invoices,
        Resource::CreditNotes,
        Resource::Entitlements,
        Resource::TestClocks,
        Resource::Plugins,
        Resource::Sandbox,
        Resource::AuditEvents,
        Resource::Account,
        Resource::WebhookEndpoints,
        Resource::Coupons,
        Resource::PaymentPlans,
        Resource::BankStatements,
        Resource::CheckoutSessions,
        Resource::Sponsorships,
        Resource::Balance,
        Resource::Payees,
        Resource::Payouts,
        Resource::Reports,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Customers => "customers",
            Resource::PaymentMethods => "payment_methods",
            Resource::Charges => "charges",
            Resource::Refunds => "refunds",
            Resource::Disputes => "disputes",
            Resource::Events => "events",
            Resource::Plans => "plans",
            Resource::Subscriptions => "subscriptions",
            Resource::Invoices => "invoices",
            Resource::CreditNotes => "credit_notes",
            Resource::Entitlements => "entitlements",
            Resource::TestClocks => "test_clocks",
            Resource::Plugins => "plugins",
            Resource::Sandbox => "sandbox",
            Resource::AuditEvents => "audit_events",
            Resource::Account => "account",
            Resource::WebhookEndpoints => "webhook_endpoints",
            Resource::Coupons => "coupons",
            Resource::PaymentPlans => "payment_plans",
            Resource::BankStatements => "bank_statements",
            Resource::CheckoutSessions => "checkout_sessions",
            Resource::Sponsorships => "sponsorships",
            Resource::Balance => "balance",
            Resource::Payees => "payees",
            Resource::Payouts => "payouts",
            Resource::Reports => "reports",
        }
    }

    pub fn parse(text: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|resource| resource.as_str() == text)
    }
}

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permissions {
    /// A secret key: everything.
    All,
    /// Every read, no write.
    ReadOnly,
    /// The named resources, each read or read and written; nothing else.
    PerResource(BTreeMap<Resource, Access>),
}

impl Permissions {
    pub fn allow(&self, resource: Resource, access: Access) -> bool {
        match self {
            Permissions::All => true,
            Permissions::ReadOnly => access == Access::Read,
            Permissions::PerResource(granted) => {
                granted.get(&resource).is_some_and(|granted| *granted >= access)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub account: AccountId,
    pub mode: KeyMode,
    pub permissions: Permissions,
    /// SHA-256 of the secret: what a request's key is looked up by.
    pub hash: [u8; 32],
    /// The secret's first characters, enough to tell keys apart and nowhere near enough to
    /// guess the rest.
    pub prefix: String,
    pub expires_at: Option<i64>,
    pub created: i64,
    /// When a request last bore the key, to the minute (see `api::auth`).
    pub last_used: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiKey {
    /// Whether a request at `now` may use the key.
    pub fn usable_at(&self, now: i64) -> Result<(), KeyRefusal> {
        if self.revoked_at.is_some() {
            return Err(KeyRefusal::Revoked);
        }
        match self.expires_at {
            Some(expires_at) if now >= expires_at => Err(KeyRefusal::Expired),
            _ => Ok(()),
        }
    }
}

/// Why a key that exists is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Revoked,
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(expires_at: Option<i64>, revoked_at: Option<i64>) -> ApiKey {
        ApiKey {
            id: ApiKeyId::generate(),
            account: AccountId::default_account(),
            mode: KeyMode::Secret,
            permissions: Permissions::All,
            hash: [0; 32],
            prefix: "sk_test_abcd".into(),
            expires_at,
            created: 100,
            last_used: None,
            revoked_at,
        }
    }

    #[test]
    fn a_key_expires_at_its_second_and_a_revoked_key_never_works() {
        assert_eq!(key(Some(200), None).usable_at(199), Ok(()));
        assert_eq!(key(Some(200), None).usable_at(200), Err(KeyRefusal::Expired));
        assert_eq!(key(None, Some(150)).usable_at(120), Err(KeyRefusal::Revoked));
        assert_eq!(key(None, None).usable_at(i64::MAX), Ok(()));
    }

    #[test]
    fn write_includes_read_and_unlisted_resources_are_refused() {
        let granted = Permissions::PerResource(BTreeMap::from([
            (Resource::Charges, Access::Write),
            (Resource::Customers, Access::Read),
        ]));
        assert!(granted.allow(Resource::Charges, Access::Read));
        assert!(granted.allow(Resource::Charges, Access::Write));
        assert!(granted.allow(Resource::Customers, Access::Read));
        assert!(!granted.allow(Resource::Customers, Access::Write));
        assert!(!granted.allow(Resource::Plans, Access::Read));
        assert!(Permissions::ReadOnly.allow(Resource::Plugins, Access::Read));
        assert!(!Permissions::ReadOnly.allow(Resource::Plugins, Access::Write));
    }

    #[test]
    fn every_resource_name_parses_back() {
        for resource in Resource::ALL {
            assert_eq!(Resource::parse(resource.as_str()), Some(resource));
        }
        assert_eq!(Resource::parse("accounts"), None);
    }
}
