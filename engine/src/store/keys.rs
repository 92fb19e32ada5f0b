//! Key layout. Every key starts with the account, so accounts never see each other's data, and a
//! customer's records share the prefix `account/customer/`, so one customer's history is one
//! range scan. Ids are time-ordered, so that scan is also in creation order.
//!
//! Account ids are `acct_[A-Za-z0-9_]+` and object ids `prefix_ULID`: neither holds a `/`, so the
//! separator cannot be forged from inside an id.

use crate::domain::{AccountId, CustomerId, TestClockId};

pub const SEPARATOR: u8 = b'/';

fn join(parts: &[&str]) -> Vec<u8> {
    let mut key = Vec::with_capacity(parts.iter().map(|part| part.len() + 1).sum());
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            key.push(SEPARATOR);
        }
        key.extend_from_slice(part.as_bytes());
    }
    key
}

/// `account/customer`: the customer record.
pub fn customer(account: &AccountId, customer: &CustomerId) -> Vec<u8> {
    join(&[account.as_str(), customer.as_str()])
}

/// `account/customer/object`: a record owned by a customer.
pub fn owned(account: &AccountId, customer: &CustomerId, object_id: &str) -> Vec<u8> {
    join(&[account.as_str(), customer.as_str(), object_id])
}

/// `account/customer/`: the prefix of everything a customer owns in one tree.
pub fn customer_prefix(account: &AccountId, customer: &CustomerId) -> Vec<u8> {
    let mut prefix = self::customer(account, customer);
    prefix.push(SEPARATOR);
    prefix
}

/// `account/`: the prefix of everything an account has in a tree keyed by [`by_id`].
pub fn account_prefix(account: &AccountId) -> Vec<u8> {
    let mut prefix = account.as_str().as_bytes().to_vec();
    prefix.push(SEPARATOR);
    prefix
}

/// The account prefix (`account/`) a key starts with; the whole key when it has no separator.
pub fn account_prefix_of(key: &[u8]) -> &[u8] {
    let end = key.iter().position(|byte| *byte == SEPARATOR).map_or(key.len(), |at| at + 1);
    &key[..end]
}

/// A bound past every key that starts with `prefix`: keys are text, and no text byte is 0xff.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    [prefix, &[0xff]].concat()
}

/// `account/object`: an index entry from an object id to its owning customer.
pub fn by_id(account: &AccountId, object_id: &str) -> Vec<u8> {
    join(&[account.as_str(), object_id])
}

/// `account/coupon/holder`: a charge's or subscription's redemption of a coupon. Coupon ids
/// hold no `/`.
pub fn redemption(account: &AccountId, coupon: &str, holder: &str) -> Vec<u8> {
    join(&[account.as_str(), coupon, holder])
}

/// `account/coupon/`: the prefix of a coupon's redemptions.
pub fn redemptions_prefix(account: &AccountId, coupon: &str) -> Vec<u8> {
    let mut prefix = join(&[account.as_str(), coupon]);
    prefix.push(SEPARATOR);
    prefix
}

/// `gateway/id`: an object as a gateway names it (a PaymentIntent, a webhook event). Gateway
/// names hold no `/`; the id is last, so whatever it holds cannot collide.
pub fn gateway_object(gateway: &str, id: &str) -> Vec<u8> {
    join(&[gateway, id])
}

/// `account/idempotency-key`: the key is last, so whatever it holds cannot collide.
pub fn idempotency(account: &AccountId, key: &str) -> Vec<u8> {
    join(&[account.as_str(), key])
}

/// `account/kind`: one account's history of one rule kind.
pub fn plugin(account: &AccountId, kind: &str) -> Vec<u8> {
    join(&[account.as_str(), kind])
}

/// Splits `account/kind` back into its parts.
pub fn split_plugin(key: &[u8]) -> Option<(&str, &str)> {
    std::str::from_utf8(key).ok()?.split_once(SEPARATOR as char)
}

/// The schedule scope of real time; a test clock's scope is its id (`clock_…`).
pub const LIVE_SCOPE: &str = "live";

/// The schedule scope of what lives by `test_clock`: the clock's, or real time's.
pub fn scope_of(test_clock: Option<&TestClockId>) -> &str {
    test_clock.map_or(LIVE_SCOPE, TestClockId::as_str)
}

/// `scope/due/account/customer/object` (a subscription, a payment plan, a bank transfer's
/// charge): one entry of the durable schedule. `due` is
/// written as 16 hex digits of the instant offset by 2^63, so keys sort by instant (negative
/// ones too) and one scope's entries up to an instant are one range scan.
pub fn schedule(
    scope: &str,
    due: i64,
    account: &AccountId,
    customer: &CustomerId,
    object: &str,
) -> Vec<u8> {
    join(&[scope, &schedule_instant(due), account.as_str(), customer.as_str(), object])
}

/// `scope/`: every entry of one scope.
pub fn schedule_scope(scope: &str) -> Vec<u8> {
    join(&[scope, ""])
}

/// The first key of `scope` after every entry due at or before `due`.
pub fn schedule_after(scope: &str, due: i64) -> Vec<u8> {
    let mut key = join(&[scope, &schedule_instant(due)]);
    key.push(SEPARATOR + 1);
    key
}

fn schedule_instant(due: i64) -> String {
    format!("{:016x}", (due as u64) ^ (1 << 63))
}

/// Splits a schedule key into `(due, account, customer, object)`.
pub fn split_schedule(key: &[u8]) -> Option<(i64, &str, &str, &str)> {
    let text = std::str::from_utf8(key).ok()?;
    let mut parts = text.splitn(5, SEPARATOR as char);
    let _scope = parts.next()?;
    let due = u64::from_str_radix(parts.next()?, 16).ok()? ^ (1 << 63);
    Some((due as i64, parts.next()?, parts.next()?, parts.next()?))
}

/// Splits `account/customer/object` back into its parts.
pub fn split_owned(key: &[u8]) -> Option<(&str, &str, &str)> {
    let text = std::str::from_utf8(key).ok()?;
    let mut parts = text.splitn(3, SEPARATOR as char);
    Some((parts.next()?, parts.next()?, parts.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_account_is_never_a_prefix_of_another() {
        let customer = CustomerId::generate();
        let short = AccountId::parse("acct_a").unwrap();
        let long = AccountId::parse("acct_ab").unwrap();
        assert!(!owned(&long, &customer, "ch_x").starts_with(&customer_prefix(&short, &customer)));
    }

    #[test]
    fn schedule_keys_sort_by_instant_and_split_back() {
        let account = AccountId::parse("acct_a").unwrap();
        let customer = CustomerId::generate();
        let key = |due| schedule("live", due, &account, &customer, "sub_1");
        assert!(key(-5) < key(0) && key(0) < key(1) && key(1) < key(1_700_000_000));
        assert!(key(10) < schedule_after("live", 10) && schedule_after("live", 10) < key(11));
        assert_eq!(split_schedule(&key(-7)), Some((-7, "acct_a", customer.as_str(), "sub_1")));
    }

    #[test]
    fn owned_keys_split_back() {
        let account = AccountId::parse("acct_a").unwrap();
        let customer = CustomerId::generate();
        let key = owned(&account, &customer, "ch_1");
        assert_eq!(split_owned(&key), Some(("acct_a", customer.as_str(), "ch_1")));
    }
}
