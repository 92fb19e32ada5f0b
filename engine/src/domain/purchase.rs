//! One-time purchases: features a charge grants once it succeeds (a single course, a learning
//! path), for a number of days or for good, withdrawn when the charge is refunded in full or a
//! dispute on it is lost.

use serde::{Deserialize, Serialize};

use super::ChargeId;

const SECS_PER_DAY: i64 = 86_400;

/// What a charge grants when it succeeds, as the platform asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureGrant {
    pub feature: String,
    /// `None`: for good (while the charge stands).
    pub duration_days: Option<u32>,
}

/// A feature a succeeded charge grants the customer, kept on the customer so that entitlements
/// are answered from the actor's memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub charge: ChargeId,
    pub feature: String,
    /// `None`: until the charge is refunded in full or lost in a dispute.
    pub expires_at: Option<i64>,
}

impl Purchase {
    /// The purchases a charge's `grants` make when it succeeds at `succeeded_at`.
    pub fn granted(charge: &ChargeId, grants: &[FeatureGrant], succeeded_at: i64) -> Vec<Purchase> {
        grants
            .iter()
            .map(|grant| Purchase {
                charge: charge.clone(),
                feature: grant.feature.clone(),
                expires_at: grant
                    .duration_days
                    .map(|days| succeeded_at + i64::from(days) * SECS_PER_DAY),
            })
            .collect()
    }

    pub fn is_current(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_for_days_ends_to_the_second() {
        let charge = ChargeId::generate();
        let grants = [
            FeatureGrant { feature: "course-101".into(), duration_days: Some(30) },
            FeatureGrant { feature: "certificate".into(), duration_days: None },
        ];
        let purchases = Purchase::granted(&charge, &grants, 1_000);
        assert_eq!(purchases[0].expires_at, Some(1_000 + 30 * 86_400));
        assert!(purchases[0].is_current(1_000 + 30 * 86_400 - 1));
        assert!(!purchases[0].is_current(1_000 + 30 * 86_400));
        assert_eq!(purchases[1].expires_at, None);
        assert!(purchases[1].is_current(i64::MAX));
    }
}
