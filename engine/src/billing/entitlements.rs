//! What a customer may use now: the features of its subscriptions that are `trialing` or
//! `active`, and of those behind on a payment (`past_due`, `unpaid`) until their grace period
//! ends, of its payment plans while they are paid up (or within the grace of a failed
//! instalment), of its one-time purchases until they expire, and the account's promotional
//! grants to it until they expire or are withdrawn.

use crate::config::BillingConfig;
use crate::domain::{
    Dunning, PaymentPlan, PaymentPlanStatus, PromotionalGrant, Purchase, Subscription,
    SubscriptionStatus,
};

/// What one customer's grants are computed from.
pub struct GrantSources {
    pub subscriptions: Vec<Subscription>,
    pub payment_plans: Vec<PaymentPlan>,
    pub purchases: Vec<Purchase>,
    pub promotional: Vec<PromotionalGrant>,
}

const SECS_PER_DAY: i64 = 86_400;

/// One feature granted, and by what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub feature: String,
    /// The subscription (`sub_…`), the payment plan (`pp_…`), the purchase's charge (`ch_…`)
    /// or the promotional grant (`grant_…`) that grants it.
    pub source: String,
    /// When the grant ends if nothing changes; `None`: while its source stays valid.
    pub expires_at: Option<i64>,
}

/// The grants of `sources` at `now`, `features_of` answering each subscription's plan
/// features, sorted by feature then source.
pub fn grants<F: AsRef<[String]>>(
    sources: &GrantSources,
    mut features_of: impl FnMut(&Subscription) -> F,
    now: i64,
    billing: &BillingConfig,
) -> Vec<Grant> {
    let GrantSources { subscriptions, payment_plans, purchases, promotional } = sources;
    let mut grants: Vec<Grant> = subscriptions
        .iter()
        .filter(|subscription| subscription.access_withdrawn_until.is_none_or(|end| end <= now))
        .filter_map(|subscription| {
            let expires_at = match subscription.status {
                SubscriptionStatus::Trialing | SubscriptionStatus::Active => None,
                // `unpaid` too: the final action never cuts the grace short.
                SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
                    match subscription.dunning.as_ref().map(|dunning| grace_end(dunning, billing)) {
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
    for plan in payment_plans {
        let expires_at = match plan.status {
            PaymentPlanStatus::Active | PaymentPlanStatus::Paid => None,
            PaymentPlanStatus::PastDue => {
                match plan.dunning.as_ref().map(|dunning| grace_end(dunning, billing)) {
                    Some(end) if now < end => Some(end),
                    _ => continue,
                }
            }
            PaymentPlanStatus::Canceled => continue,
        };
        grants.extend(plan.grants.iter().map(|feature| Grant {
            feature: feature.clone(),
            source: plan.id.to_string(),
            expires_at,
        }));
    }
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

/// The end of the grace of a failed payment (a `past_due` subscription's or payment plan's):
/// `billing.grace_days` after the first failure, and never less than a day after the last
/// scheduled retry.
pub fn grace_end(dunning: &Dunning, billing: &BillingConfig) -> i64 {
    let grace = dunning.first_failed_at + i64::from(billing.grace_days) * SECS_PER_DAY;
    let last_retry = billing.dunning.retry_days.last().map(|days| i64::from(*days) * SECS_PER_DAY);
    let after_retries = last_retry.map(|offset| dunning.first_failed_at + offset + SECS_PER_DAY);
    after_retries.map_or(grace, |after| after.max(grace))
}
