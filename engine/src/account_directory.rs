//! The accounts this engine serves: the configured ones and those the admin API has made since.
//! What must look across accounts reads them here (the webhook applier looks for a charge by its
//! id in each), so an account made a moment ago is seen at once.

use std::sync::{Arc, RwLock};

use crate::domain::AccountId;

#[derive(Debug, Clone, Default)]
pub struct AccountDirectory(Arc<RwLock<Vec<AccountId>>>);

impl AccountDirectory {
    pub fn new(accounts: Vec<AccountId>) -> AccountDirectory {
        AccountDirectory(Arc::new(RwLock::new(accounts)))
    }

    pub fn add(&self, account: AccountId) {
        let mut accounts = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }

    pub fn all(&self) -> Vec<AccountId> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}
