//! What a customer may use now: the features of its subscriptions that are `trialing` or
//! `active`, and of those behind on a payment (`past_due`, `unpaid`) until their grace period
//! ends, of its one-time purchases until they expire, and the account's promotional grants to
//! it until they expire or are withdrawn.

use crate::config::BillingConfig;
use crate::domain::{PromotionalGrant, Purchase, Subscription, SubscriptionStatus};

const SECS_PER_DAY: i64 = 86_400;

/// One feature granted, and by what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub feature: String,
    /// The subscription (`sub_…`), the purchase's charge (`ch_…`) or the promotional grant
    /// (`grant_…`) that grants it.
    pub source: String,
    /// When the grant ends if nothing changes; `None`: while its source stays valid.
    pub expires_at: Option<i64>,
}

/// The grants of `subscriptions`, `purchases` and `promotional` grants at `now`, `features_of`
/// answering each subscription's plan features, sorted by feature then source.
pub fn grants<F: AsRef<[String]>>(
    subscriptions: &[Subscription],
    purchases: &[Purchase],
    promotional: &[PromotionalGrant],
    mut features_of: impl FnMut(&Subscription) -> F,
    now: i64,
    billing: &BillingConfig,
) -> Vec<Grant> {
    let mut grants: Vec<Grant> = subscriptions
        .iter()
        .filter(|subscription| subscription.access_withdrawn_until.is_none_or(|end| end <= now))
        .filter_map(|subscription| {
            let expires_at = match subscription.status {
                SubscriptionStatus::Trialing | SubscriptionStatus::Active => None,
                // `unpaid` too: the final action never cuts the grace short.
                SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
                    match grace_end(subscription, billing) {
                        Some(end) if now < end => Some(end),
                        _ => return None,
                    }
                }
                _ => return None,
            };
            Some((subscription, expires_at))
        })
        .flat_map(|(subscription, expires_at)| {
            let features = features_of(subscription);
            let source = subscription.id.to_string();
            features
                .as_ref()
                .iter()
                .map(|feature| Grant {
                    feature: feature.clone(),
                    source: source.clone(),
                    expires_at,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    grants.extend(purchases.iter().filter(|purchase| purchase.is_current(now)).map(|purchase| {
        Grant {
            feature: purchase.feature.clone(),
            source: purchase.charge.to_string(),
            expires_at: purchase.expires_at,
        }
    }));
    grants.extend(promotional.iter().filter(|grant| grant.is_current(now)).map(|grant| Grant {
        feature: grant.feature.clone(),
        source: grant.id.to_string(),
        expires_at: grant.expires_at,
    }));
    grants.sort_by(|a, b| (&a.feature, &a.source).cmp(&(&b.feature, &b.source)));
    grants
}

/// The end of a `past_due` subscription's grace: `billing.grace_days` after its first failed
/// payment, and never less than a day after its last scheduled retry. `None` when no failure
/// is on record (nothing to be lenient about).
pub fn grace_end(subscription: &Subscription, billing: &BillingConfig) -> Option<i64> {
    let dunning = subscription.dunning.as_ref()?;
    let grace = dunning.first_failed_at + i64::from(billing.grace_days) * SECS_PER_DAY;
    let last_retry = billing.dunning.retry_days.last().map(|days| i64::from(*days) * SECS_PER_DAY);
    let after_retries = last_retry.map(|offset| dunning.first_failed_at + offset + SECS_PER_DAY);
    Some(after_retries.map_or(grace, |after| after.max(grace)))
}
