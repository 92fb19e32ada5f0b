//! `charge`, `charge-hot` and the ceiling's load: a new charge for a random customer, with a
//! random amount and a unique key. The customer count alone makes the difference between spread
//! load (1 000 actors) and contention (10 actors).

use rand::Rng;
use rand::rngs::SmallRng;

use super::{KIND_CHARGE, KeySource, Planned, charge_body};
use crate::target::RequestSpec;

/// Amounts are drawn from this range (minor units), like the charges of a small platform.
pub const AMOUNT_MINOR_RANGE: std::ops::Range<u64> = 100..10_000;

pub struct ChargeWorkload {
    path: &'static str,
    customers: Vec<String>,
    keys: KeySource,
    /// The payee each charge is split with, when it is.
    payee: Option<String>,
}

/// A split charge's share, in basis points, and what the platform keeps of it: under the
/// smallest share of [`AMOUNT_MINOR_RANGE`].
const SPLIT_SHARE_BPS: u32 = 7_000;
const SPLIT_FEE_MINOR: u64 = 20;

impl ChargeWorkload {
    pub fn new(path: &'static str, customers: Vec<String>) -> Self {
        assert!(!customers.is_empty(), "a charge workload needs customers");
        Self { path, customers, keys: KeySource::new("charge"), payee: None }
    }

    /// Charges split with `payee`: 70 % of each, less a fee the platform keeps.
    pub fn split(path: &'static str, customers: Vec<String>, payee: String) -> Self {
        Self { keys: KeySource::new("split"), payee: Some(payee), ..Self::new(path, customers) }
    }

    /// The ceiling's load: same request shape, made-up customer ids of the engine's length.
    pub fn ceiling(path: &'static str, customers: usize) -> Self {
        let ids = (0..customers.max(1)).map(|index| format!("cus_01JBENCH{index:018}")).collect();
        Self::new(path, ids)
    }

    pub fn plan(&self, rng: &mut SmallRng) -> Planned {
        let customer = &self.customers[rng.random_range(0..self.customers.len())];
        let mut body = charge_body(customer, rng.random_range(AMOUNT_MINOR_RANGE));
        if let Some(payee) = &self.payee {
            body.pop();
            body.push_str(&format!(
                r#","transfer":{{"payee":"{payee}","percent_bps":{SPLIT_SHARE_BPS}}},"application_fee_amount":{SPLIT_FEE_MINOR}}}"#
            ));
        }
        Planned::call(KIND_CHARGE, RequestSpec::post(self.path, body, self.keys.next_key()))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn ceiling_ids_have_the_engine_id_length() {
        let workload = ChargeWorkload::ceiling("/charge", 3);
        // `cus_` and a 26-character ULID, like the engine's.
        assert!(workload.customers.iter().all(|id| id.len() == 4 + 26));
        let planned = workload.plan(&mut SmallRng::seed_from_u64(1));
        assert_eq!(planned.spec.path, "/charge");
        assert!(planned.spec.idempotency_key.is_some());
    }
}
