//! Rate limits (`limits.rate.*`): a token bucket per API key, one per account (shared by its
//! keys) and one per gateway's webhook route, each refilled at its rate with a burst of two
//! seconds of it. They are checked from the headers, before the body is read and before the
//! Idempotency-Key is looked at, so a 429 does nothing and leaves the key free for the retry.
//!
//! Buckets are kept only for keys that authenticated, accounts and gateways: a finite set, so
//! the maps need no sweeping.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::ApiError;
use crate::config::RateLimitsConfig;
use crate::domain::AccountId;
use crate::limits::RATE_LIMIT_BURST_SECS;

/// Which budget ran out, as the 429's message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    ApiKey,
    Account,
    Webhooks,
}

impl Budget {
    fn describe(self) -> &'static str {
        match self {
            Budget::ApiKey => "this API key",
            Budget::Account => "this account",
            Budget::Webhooks => "this webhook route",
        }
    }
}

pub struct RateLimits {
    per_key: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    per_account: Option<DefaultKeyedRateLimiter<AccountId>>,
    webhooks: Option<DefaultKeyedRateLimiter<&'static str>>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(config: &RateLimitsConfig) -> RateLimits {
        RateLimits {
            per_key: limiter(config.per_key_rps),
            per_account: limiter(config.per_account_rps),
            webhooks: limiter(config.webhooks_rps),
            clock: DefaultClock::default(),
        }
    }

    /// Takes a token from the key's bucket, then from its account's.
    pub fn check_api_key(&self, key_hash: &[u8; 32], account: &AccountId) -> Result<(), ApiError> {
        self.take(self.per_key.as_ref(), key_hash, Budget::ApiKey)?;
        self.take(self.per_account.as_ref(), account, Budget::Account)
    }

    /// Takes a token from the bucket of `gateway`'s webhook route.
    pub fn check_webhook(&self, gateway: &'static str) -> Result<(), ApiError> {
        self.take(self.webhooks.as_ref(), &gateway, Budget::Webhooks)
    }

    fn take<K: Clone + Hash + Eq>(
        &self,
        limiter: Option<&DefaultKeyedRateLimiter<K>>,
        key: &K,
        budget: Budget,
    ) -> Result<(), ApiError> {
        let Some(limiter) = limiter else { return Ok(()) };
        limiter.check_key(key).map_err(|refused| {
            let wait = refused.wait_time_from(self.clock.now());
            ApiError::rate_limited(budget.describe(), retry_after_secs(wait))
        })
    }
}

/// A bucket refilled at `rps` a second holding two seconds of it; `None` (no limit) for 0.
fn limiter<K: Clone + Hash + Eq>(rps: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(rps)?;
    let burst = NonZeroU32::new(rps.saturating_mul(RATE_LIMIT_BURST_SECS)).unwrap_or(rate);
    Some(DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

/// `Retry-After` is whole seconds: the wait rounded up, and at least 1 (0 would invite a retry
/// that is refused again at once). A bucket refills a token in at most a second, so the wait
/// is short; the cap only keeps the type small.
fn retry_after_secs(wait: Duration) -> u16 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u16::try_from(secs.max(1)).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(per_key_rps: u32, per_account_rps: u32, webhooks_rps: u32) -> RateLimitsConfig {
        RateLimitsConfig { per_key_rps, per_account_rps, webhooks_rps }
    }

    #[test]
    fn a_bucket_holds_two_seconds_of_its_rate() {
        let limits = RateLimits::new(&config(5, 0, 0));
        let account = AccountId::default_account();
        let key = [1u8; 32];
        for taken in 0..10 {
            assert!(limits.check_api_key(&key, &account).is_ok(), "token {taken} of the burst");
        }
        let refused = limits.check_api_key(&key, &account).unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (429, "rate_limited"));
        assert_eq!(refused.retry_after_secs, Some(1));
        assert!(limits.check_api_key(&[2u8; 32], &account).is_ok(), "another key has its own");
    }

    #[test]
    fn an_accounts_keys_share_its_bucket() {
        let limits = RateLimits::new(&config(0, 1, 0));
        let account = AccountId::default_account();
        assert!(limits.check_api_key(&[1u8; 32], &account).is_ok());
        assert!(limits.check_api_key(&[2u8; 32], &account).is_ok());
        let refused = limits.check_api_key(&[3u8; 32], &account).unwrap_err();
        assert!(refused.message.contains("this account"), "{}", refused.message);
        let other = AccountId::parse("acct_other").unwrap();
        assert!(limits.check_api_key(&[3u8; 32], &other).is_ok(), "another account has its own");
    }

    #[test]
    fn zero_is_no_limit_and_webhooks_have_their_own_budget() {
        let limits = RateLimits::new(&config(0, 0, 1));
        let account = AccountId::default_account();
        for _ in 0..1_000 {
            assert!(limits.check_api_key(&[1u8; 32], &account).is_ok());
        }
        assert!(limits.check_webhook("stripe").is_ok());
        assert!(limits.check_webhook("stripe").is_ok());
        assert!(limits.check_webhook("stripe").is_err());
        assert!(limits.check_webhook("mpesa").is_ok(), "each gateway's route has its own bucket");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
