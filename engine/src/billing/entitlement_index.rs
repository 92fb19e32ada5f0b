//! What each resident customer's entitlements are computed from, published by its actor, so
//! that `GET /v1/customers/{id}/entitlements` (asked on every page load of a platform) is
//! answered on the API's own thread: no message to the actor, no storage read.
//!
//! The actor publishes its subscriptions, purchases and promotional grants after every change of them, in the turn
//! that makes the change, and withdraws them when it stops; a customer without a published
//! entry (not resident, or on a test clock, whose "now" is its clock's) is answered by its actor.
//! An entry is tagged with the publishing actor's generation, so a stopping actor never removes
//! what its successor published.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use parking_lot::RwLock;

use super::entitlements::{Grant, GrantSources, grants};
use super::plan_features::PlanFeatures;
use crate::actor::CustomerKey;
use crate::config::BillingConfig;
use crate::domain::Subscription;
use crate::store::CustomerStore;

/// Shards of the index: readers of different customers rarely meet on one lock.
const SHARDS: usize = 64;

struct Entry {
    generation: u64,
    sources: Arc<GrantSources>,
}

pub struct EntitlementIndex {
    shards: Vec<RwLock<HashMap<CustomerKey, Entry>>>,
    hasher: std::collections::hash_map::RandomState,
    billing: Arc<BillingConfig>,
    plan_features: Arc<PlanFeatures>,
}

impl EntitlementIndex {
    pub fn new(billing: Arc<BillingConfig>, plan_features: Arc<PlanFeatures>) -> EntitlementIndex {
        EntitlementIndex {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: Default::default(),
            billing,
            plan_features,
        }
    }

    fn shard(&self, key: &CustomerKey) -> &RwLock<HashMap<CustomerKey, Entry>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// The actor of `key` (of `generation`) holds these sources now.
    pub fn publish(&self, key: &CustomerKey, generation: u64, sources: GrantSources) {
        let entry = Entry { generation, sources: Arc::new(sources) };
        self.shard(key).write().insert(key.clone(), entry);
    }

    /// The actor of `key` (of `generation`) is stopping: what it published goes, unless a
    /// successor published since.
    pub fn withdraw(&self, key: &CustomerKey, generation: u64) {
        let mut shard = self.shard(key).write();
        if shard.get(key).is_some_and(|entry| entry.generation == generation) {
            shard.remove(key);
        }
    }

    /// The grants of `key` at `now` from what its actor published; `None` when nothing is.
    pub fn grants(
        &self,
        store: &dyn CustomerStore,
        key: &CustomerKey,
        now: i64,
    ) -> Option<Vec<Grant>> {
        let sources = Arc::clone(&self.shard(key).read().get(key)?.sources);
        Some(self.compute(store, key, &sources, now))
    }

    /// The grants of `key` from `sources` at `now`, with the plans' features from memory.
    pub fn compute(
        &self,
        store: &dyn CustomerStore,
        key: &CustomerKey,
        sources: &GrantSources,
        now: i64,
    ) -> Vec<Grant> {
        // A plan that cannot be read grants nothing rather than failing the whole answer.
        let features_of = |subscription: &Subscription| match self.plan_features.get(
            store,
            &key.account,
            &subscription.plan,
        ) {
            Ok(features) => features,
            Err(error) => {
                tracing::error!(subscription = %subscription.id, %error, "plan unreadable for entitlements");
                Arc::from([])
            }
        };
        grants(sources, features_of, now, &self.billing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, ChargeId, CustomerId, Purchase};
    use crate::store::TreeStore;

    fn sources(feature: &str) -> GrantSources {
        let purchase =
            Purchase { charge: ChargeId::generate(), feature: feature.into(), expires_at: None };
        GrantSources {
            subscriptions: Vec::new(),
            payment_plans: Vec::new(),
            purchases: vec![purchase],
            promotional: Vec::new(),
        }
    }

    fn features(grants: Option<Vec<Grant>>) -> Option<Vec<String>> {
        grants.map(|grants| grants.into_iter().map(|grant| grant.feature).collect())
    }

    #[test]
    fn a_stopping_actor_never_withdraws_what_its_successor_published() {
        let directory = tempfile::tempdir().unwrap();
        let store = TreeStore::open(directory.path()).unwrap();
        let index = EntitlementIndex::new(Default::default(), Default::default());
        let key =
            CustomerKey { account: AccountId::default_account(), customer: CustomerId::generate() };
        assert_eq!(features(index.grants(&store, &key, 0)), None, "nothing published yet");

        index.publish(&key, 1, sources("course-a"));
        index.publish(&key, 2, sources("course-b"));
        index.withdraw(&key, 1);
        assert_eq!(features(index.grants(&store, &key, 0)), Some(vec!["course-b".into()]));
        index.withdraw(&key, 2);
        assert_eq!(features(index.grants(&store, &key, 0)), None);
    }
}
