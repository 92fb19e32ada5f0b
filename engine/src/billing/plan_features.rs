//! The features each plan grants, kept in memory for entitlements: a platform asks what a
//! customer may use on every page load, and that answer must not wait on storage.
//!
//! A plan's features can change (`POST /v1/plans/{id}`), so the cache is filled from the store
//! on a miss and the plan's entry is dropped after every write of the plan. A fill that read
//! the store before a write must not land after that write's drop: each write bumps a
//! generation, and a fill lands only if no write came between its read and its insert.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::domain::{AccountId, PlanId};
use crate::store::{CustomerStore, StoreError};

type Features = Arc<[String]>;

#[derive(Default)]
pub struct PlanFeatures {
    inner: RwLock<Cache>,
}

#[derive(Default)]
struct Cache {
    by_plan: HashMap<(AccountId, PlanId), Features>,
    generation: u64,
}

impl PlanFeatures {
    /// The features `plan` grants; empty for a plan that does not exist.
    pub fn get(
        &self,
        store: &dyn CustomerStore,
        account: &AccountId,
        plan: &PlanId,
    ) -> Result<Features, StoreError> {
        let key = (account.clone(), plan.clone());
        let generation = {
            let cache = self.inner.read();
            if let Some(features) = cache.by_plan.get(&key) {
                return Ok(Arc::clone(features));
            }
            cache.generation
        };
        let features: Features = match store.plan(account, plan)? {
            Some(plan) => plan.features.into(),
            None => Arc::from([]),
        };
        let mut cache = self.inner.write();
        if cache.generation == generation {
            cache.by_plan.insert(key, Arc::clone(&features));
        }
        Ok(features)
    }

    /// After `plan` is written (made or changed) in the store: the next read reads it again.
    pub fn written(&self, account: &AccountId, plan: &PlanId) {
        let mut cache = self.inner.write();
        cache.generation += 1;
        cache.by_plan.remove(&(account.clone(), plan.clone()));
    }
}
