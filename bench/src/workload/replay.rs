//! `replay`: idempotent retries. The setup makes charges with keys; the load re-sends those exact
//! requests (same key, same body), and each must be answered 200 with `Idempotent-Replayed: true`
//! without charging again. Keys are taken in turn, not at random, so that with more keys than
//! connections two retries of one key are never in flight together (a client retries after its
//! first attempt ended) and each key is retried equally often.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::SmallRng;

use super::{KIND_REPLAY, Planned, expect_success};
use crate::client::Answer;
use crate::target::RequestSpec;

/// A charge the setup made, as it was sent.
#[derive(Debug, Clone)]
pub struct ReplayedCharge {
    pub body: String,
    pub idempotency_key: String,
}

pub struct ReplayWorkload {
    charges: Vec<ReplayedCharge>,
    next: AtomicUsize,
}

impl ReplayWorkload {
    pub fn new(charges: Vec<ReplayedCharge>) -> Self {
        assert!(!charges.is_empty(), "a replay workload needs charges to replay");
        Self { charges, next: AtomicUsize::new(0) }
    }

    pub fn plan(&self, _rng: &mut SmallRng) -> Planned {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let charge = &self.charges[turn % self.charges.len()];
        Planned::call(
            KIND_REPLAY,
            RequestSpec::post("/v1/charges", charge.body.clone(), charge.idempotency_key.clone()),
        )
    }
}

pub fn judge(answer: &Answer) -> Result<(), String> {
    expect_success(answer)?;
    match answer.replayed {
        true => Ok(()),
        false => Err("not_replayed".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn keys_are_replayed_in_turn() {
        let charges = (0..3)
            .map(|index| ReplayedCharge { body: "{}".into(), idempotency_key: format!("k{index}") })
            .collect();
        let workload = ReplayWorkload::new(charges);
        let mut rng = SmallRng::seed_from_u64(1);
        let keys: Vec<_> =
            (0..4).map(|_| workload.plan(&mut rng).spec.idempotency_key.unwrap()).collect();
        assert_eq!(keys, ["k0", "k1", "k2", "k0"]);
    }
}
