//! Ids: a type prefix and a ULID, so ids sort by creation time and a list is a range scan.
//! Ids made in the same millisecond still sort in creation order (monotonic generator).

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

fn generator() -> std::sync::MutexGuard<'static, ulid::Generator> {
    GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn next_ulid() -> ulid::Ulid {
    ulid_from(&mut generator())
}

fn ulid_from(generator: &mut ulid::Generator) -> ulid::Ulid {
    // Overflow needs 2^80 ids within one millisecond; a fresh random id is then still unique.
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
}

/// A new id: the prefix and a ULID that holds no Luhn-valid run of 13 to 19 digits. Clients send
/// ids back in request bodies, where such a run is refused as a card number
/// ([`super::card_number::looks_like_card_number`]); about one random ULID in a million and a
/// half holds one, and the next ULID from the generator differs in its last characters.
pub(super) fn next_id(prefix: &str) -> String {
    first_without_card_number(prefix, || next_ulid().to_string())
}

fn first_without_card_number(prefix: &str, mut ulids: impl FnMut() -> String) -> String {
    loop {
        let id = format!("{prefix}{}", ulids());
        if !super::card_number::holds_card_number(&id) {
            return id;
        }
    }
}

const ULID_LEN: usize = 26;

fn is_ulid(text: &str) -> bool {
    text.len() == ULID_LEN && ulid::Ulid::from_string(text).is_ok()
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> $name {
                $name(next_id($prefix))
            }

            /// Accepts only ids this engine could have made: the prefix and a ULID.
            pub fn parse(text: &str) -> Option<$name> {
                let suffix = text.strip_prefix($prefix)?;
                is_ulid(suffix).then(|| $name(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(CustomerId, "cus_");
prefixed_id!(PaymentMethodId, "pm_");
prefixed_id!(ChargeId, "ch_");
prefixed_id!(RefundId, "re_");
prefixed_id!(EventId, "evt_");
prefixed_id!(DisputeId, "dp_");
prefixed_id!(PlanId, "plan_");
prefixed_id!(GrantId, "grant_");
prefixed_id!(
    /// A promotion code's id, not the code customers type.
    PromotionCodeId,
    "promo_"
);
prefixed_id!(SubscriptionId, "sub_");
prefixed_id!(PaymentPlanId, "pp_");
prefixed_id!(SponsorshipId, "spons_");
prefixed_id!(StatementId, "stmt_");
prefixed_id!(InvoiceId, "in_");
prefixed_id!(InvoiceLineId, "il_");
prefixed_id!(TestClockId, "clock_");
prefixed_id!(CreditNoteId, "cn_");
prefixed_id!(ApiKeyId, "key_");
prefixed_id!(WebhookEndpointId, "we_");
prefixed_id!(
    /// A tutor, author or school the platform pays.
    PayeeId,
    "payee_"
);
prefixed_id!(
    /// A charge's share paid to a payee.
    TransferId,
    "tr_"
);
prefixed_id!(
    /// A posting of the books: a balance transaction in the API.
    TransactionId,
    "txn_"
);
prefixed_id!(
    /// Money paid out of a payee's balance to its destination.
    PayoutId,
    "po_"
);

impl TransferId {
    /// The transfer of charge `charge`: its id's ULID under the transfer's prefix. A charge has
    /// at most one transfer, and the books find a transfer's postings through its charge's (see
    /// `store::tree_store::ledger`).
    pub fn of_charge(charge: &ChargeId) -> TransferId {
        let ulid = &charge.as_str()[ChargeId::PREFIX.len()..];
        TransferId(format!("{}{ulid}", TransferId::PREFIX))
    }

    /// The charge its id names: the charge it was made for, or (a transfer made before its id
    /// was derived from its charge's) an id no charge has.
    pub fn named_charge(&self) -> ChargeId {
        ChargeId(format!("{}{}", ChargeId::PREFIX, &self.0[TransferId::PREFIX.len()..]))
    }
}

impl TransactionId {
    /// `count` new ids in a run: made under one hold of the generator, so no id this process
    /// makes sorts between the first and the last (the books keep a run under one entry).
    pub fn generate_run(count: usize) -> Vec<TransactionId> {
        let mut generator = generator();
        let mut ulids = || ulid_from(&mut generator).to_string();
        (0..count)
            .map(|_| TransactionId(first_without_card_number(Self::PREFIX, &mut ulids)))
            .collect()
    }
}

/// A checkout session's id: `cs_` and 128 random bits (written as a ULID's 26 characters), not
/// time-ordered: the id is all a buyer's link holds, so it must not be guessed from another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckoutSessionId(String);

impl CheckoutSessionId {
    pub const PREFIX: &'static str = "cs_";

    pub fn generate() -> CheckoutSessionId {
        CheckoutSessionId(first_without_card_number(Self::PREFIX, || {
            ulid::Ulid::from(rand::random::<u128>()).to_string()
        }))
    }

    pub fn parse(text: &str) -> Option<CheckoutSessionId> {
        let suffix = text.strip_prefix(Self::PREFIX)?;
        is_ulid(suffix).then(|| CheckoutSessionId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CheckoutSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An account configured by the operator has a name for its id (`acct_default`, `acct_school`);
/// one made through the admin API has `acct_` and a ULID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId(String);

impl AccountId {
    pub const DEFAULT: &'static str = "acct_default";

    /// `acct_` followed by 1..=64 ASCII letters, digits or underscores.
    pub fn parse(text: &str) -> Option<AccountId> {
        let name = text.strip_prefix("acct_")?;
        let valid = (1..=64).contains(&name.len())
            && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
        valid.then(|| AccountId(text.to_owned()))
    }

    /// A new account's id: `acct_` and a ULID, which a configured name may not collide with
    /// unless it copies one.
    pub fn generate() -> AccountId {
        AccountId(next_id("acct_"))
    }

    /// Not an account: the scope the admin key's Idempotency-Keys are kept under. No account
    /// has it, as every account's id begins `acct_`.
    pub fn admin_scope() -> AccountId {
        AccountId("admin".to_owned())
    }

    pub fn default_account() -> AccountId {
        AccountId(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order() {
        let ids: Vec<ChargeId> = (0..1000).map(|_| ChargeId::generate()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn no_id_made_elsewhere_falls_within_a_run() {
        let singles = std::thread::spawn(|| {
            (0..20_000).map(|_| TransactionId::generate()).collect::<Vec<_>>()
        });
        let runs: Vec<Vec<TransactionId>> =
            (0..5_000).map(|_| TransactionId::generate_run(3)).collect();
        let mut singles = singles.join().unwrap();
        singles.sort();
        for run in &runs {
            assert!(run.windows(2).all(|pair| pair[0] < pair[1]));
            let next = singles.partition_point(|id| *id < run[0]);
            let within = singles.get(next).is_some_and(|id| *id <= run[2]);
            assert!(!within, "{} fell within the run {run:?}", singles[next]);
        }
    }

    #[test]
    fn a_transfer_id_names_its_charge() {
        let charge = ChargeId::generate();
        let transfer = TransferId::of_charge(&charge);
        assert_eq!(TransferId::parse(transfer.as_str()), Some(transfer.clone()));
        assert_eq!(transfer.named_charge(), charge);
    }

    #[test]
    fn parse_checks_prefix_and_suffix() {
        let id = CustomerId::generate();
        assert_eq!(CustomerId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(ChargeId::parse(id.as_str()), None);
        assert_eq!(CustomerId::parse("cus_"), None);
        assert_eq!(CustomerId::parse("cus_../../etc/passwd"), None);
        assert_eq!(AccountId::parse("acct_school_1").unwrap().as_str(), "acct_school_1");
        assert_eq!(AccountId::parse("acct_"), None);
        assert_eq!(AccountId::parse("acct_a/b"), None);
    }

    #[test]
    fn an_id_never_holds_what_a_body_would_refuse_as_a_card_number() {
        // A valid ULID whose last 16 characters are a Luhn-valid card number.
        let mut candidates =
            ["01M92P4YBK4242424242424242", "01M92P4YBK4242424242424243"].into_iter();
        let id = first_without_card_number("ch_", || candidates.next().unwrap().to_owned());
        assert_eq!(id, "ch_01M92P4YBK4242424242424243");
        assert!(ChargeId::parse(&id).is_some());
    }
}
