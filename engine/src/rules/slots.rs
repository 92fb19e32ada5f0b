//! Rule-call slots: at most `rules.concurrent_calls_max` evaluations at once (each may hold a
//! pooled instance), and at most `rules.account_concurrent_calls_max` of them of one account. An
//! account takes its own slot first: one whose rules are slow or hostile waits behind its own
//! calls, and can never hold every slot while the other accounts' charges wait.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::RulesError;
use crate::domain::AccountId;

pub struct CallSlots {
    all: Arc<Semaphore>,
    /// One per account that has made a rule call: accounts come from the config (and the
    /// default account), so this is as bounded as that list.
    per_account: Mutex<HashMap<AccountId, Arc<Semaphore>>>,
    account_max: usize,
}

/// Held while a call runs; dropping it frees both slots.
pub struct Slot {
    _account: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

impl CallSlots {
    pub fn new(all_max: u32, account_max: u32) -> CallSlots {
        CallSlots {
            all: Arc::new(Semaphore::new(all_max as usize)),
            per_account: Mutex::default(),
            account_max: account_max.min(all_max) as usize,
        }
    }

    pub async fn acquire(&self, account: &AccountId) -> Result<Slot, RulesError> {
        let closed = |_| RulesError("the rules host is shutting down".to_owned());
        let own = Arc::clone(
            self.per_account
                .lock()
                .entry(account.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.account_max))),
        );
        let account = own.acquire_owned().await.map_err(closed)?;
        let all = Arc::clone(&self.all).acquire_owned().await.map_err(closed)?;
        Ok(Slot { _account: account, _all: all })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_account_cannot_take_every_slot() {
        let slots = CallSlots::new(4, 2);
        let (a, b) = (AccountId::parse("acct_a").unwrap(), AccountId::parse("acct_b").unwrap());
        let held = [slots.acquire(&b).await.unwrap(), slots.acquire(&b).await.unwrap()];
        let third = tokio::time::timeout(Duration::from_millis(50), slots.acquire(&b)).await;
        assert!(third.is_err(), "b waits for its own slots");
        let other = tokio::time::timeout(Duration::from_millis(50), slots.acquire(&a)).await;
        assert!(other.is_ok(), "a still finds a slot");
        drop(held);
        assert!(slots.acquire(&b).await.is_ok(), "a freed slot is b's again");
    }
}
