//! `mixed`: what a platform's backend does all day. Out of 100 requests, 60 charges, 10 refunds
//! (of a charge this run made and has not refunded yet), 20 reads of a known charge and 10 lists
//! of a customer's charges. Until there is a charge to refund or read, a charge is sent instead.

use std::collections::VecDeque;

use parking_lot::Mutex;
use rand::Rng;
use rand::rngs::SmallRng;

use super::charge::AMOUNT_MINOR_RANGE;
use super::{
    KIND_CHARGE, KIND_LIST_CHARGES, KIND_READ_CHARGE, KIND_REFUND, KeySource, Planned, charge_body,
    created_id, expect_success,
};
use crate::client::Answer;
use crate::limits::KNOWN_CHARGES_MAX;
use crate::target::RequestSpec;

/// Cumulative shares out of 100: charges, refunds, reads; the rest are lists.
const CHARGE_SHARE_END: u32 = 60;
const REFUND_SHARE_END: u32 = 70;
const READ_SHARE_END: u32 = 90;

/// Charges this run made: each can be refunded once and read any number of times. Bounded: the
/// oldest ids are forgotten past `KNOWN_CHARGES_MAX`.
#[derive(Default)]
pub struct KnownCharges {
    refundable: Mutex<VecDeque<String>>,
    readable: Mutex<VecDeque<String>>,
}

impl KnownCharges {
    pub fn add(&self, id: String) {
        push_bounded(&mut self.readable.lock(), id.clone());
        push_bounded(&mut self.refundable.lock(), id);
    }

    fn take_refundable(&self) -> Option<String> {
        self.refundable.lock().pop_front()
    }

    fn any_readable(&self, rng: &mut SmallRng) -> Option<String> {
        let readable = self.readable.lock();
        match readable.is_empty() {
            true => None,
            false => Some(readable[rng.random_range(0..readable.len())].clone()),
        }
    }
}

fn push_bounded(ids: &mut VecDeque<String>, id: String) {
    if ids.len() == KNOWN_CHARGES_MAX {
        ids.pop_front();
    }
    ids.push_back(id);
}

pub struct MixedWorkload {
    customers: Vec<String>,
    keys: KeySource,
    known: KnownCharges,
}

impl MixedWorkload {
    /// `known` holds the charges the setup made, so reads and refunds have targets at once.
    pub fn new(customers: Vec<String>, known: KnownCharges) -> Self {
        assert!(!customers.is_empty(), "a mixed workload needs customers");
        Self { customers, keys: KeySource::new("mixed"), known }
    }

    pub fn plan(&self, rng: &mut SmallRng) -> Planned {
        let roll = rng.random_range(0..100);
        let planned = match roll {
            _ if roll < CHARGE_SHARE_END => None,
            _ if roll < REFUND_SHARE_END => {
                self.known.take_refundable().map(|charge| self.refund(&charge))
            }
            _ if roll < READ_SHARE_END => self.known.any_readable(rng).map(|charge| {
                Planned::call(KIND_READ_CHARGE, RequestSpec::get(format!("/v1/charges/{charge}")))
            }),
            _ => Some(Planned::call(
                KIND_LIST_CHARGES,
                RequestSpec::get(format!("/v1/customers/{}/charges", self.customer(rng))),
            )),
        };
        planned.unwrap_or_else(|| self.charge(rng))
    }

    pub fn judge(&self, planned: &Planned, answer: &Answer) -> Result<(), String> {
        expect_success(answer)?;
        if planned.kind == KIND_CHARGE {
            let id = created_id(&answer.body).ok_or_else(|| "charge_without_id".to_owned())?;
            self.known.add(id);
        }
        Ok(())
    }

    fn customer(&self, rng: &mut SmallRng) -> &str {
        &self.customers[rng.random_range(0..self.customers.len())]
    }

    fn charge(&self, rng: &mut SmallRng) -> Planned {
        let body = charge_body(self.customer(rng), rng.random_range(AMOUNT_MINOR_RANGE));
        Planned::call(KIND_CHARGE, RequestSpec::post("/v1/charges", body, self.keys.next_key()))
    }

    fn refund(&self, charge: &str) -> Planned {
        let body = format!(r#"{{"charge":"{charge}"}}"#);
        Planned::call(KIND_REFUND, RequestSpec::post("/v1/refunds", body, self.keys.next_key()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_mix_follows_its_shares_once_charges_are_known() {
        let known = KnownCharges::default();
        for index in 0..10_000 {
            known.add(format!("ch_{index}"));
        }
        let workload = MixedWorkload::new(vec!["cus_1".into()], known);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = BTreeMap::new();
        for _ in 0..10_000 {
            *counts.entry(workload.plan(&mut rng).kind).or_insert(0u32) += 1;
        }
        let share = |kind| counts[kind] as f64 / 10_000.0;
        assert!((share(KIND_CHARGE) - 0.6).abs() < 0.03);
        assert!((share(KIND_REFUND) - 0.1).abs() < 0.02);
        assert!((share(KIND_READ_CHARGE) - 0.2).abs() < 0.02);
        assert!((share(KIND_LIST_CHARGES) - 0.1).abs() < 0.02);
    }

    #[test]
    fn without_known_charges_refunds_and_reads_become_charges() {
        let workload = MixedWorkload::new(vec!["cus_1".into()], KnownCharges::default());
        let mut rng = SmallRng::seed_from_u64(7);
        let kinds: Vec<_> = (0..200).map(|_| workload.plan(&mut rng).kind).collect();
        assert!(kinds.iter().all(|kind| *kind == KIND_CHARGE || *kind == KIND_LIST_CHARGES));
    }

    #[test]
    fn a_charge_is_refunded_at_most_once() {
        let known = KnownCharges::default();
        known.add("ch_1".into());
        assert_eq!(known.take_refundable().as_deref(), Some("ch_1"));
        assert_eq!(known.take_refundable(), None);
    }
}
