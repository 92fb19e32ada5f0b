//! The accounts this engine serves and their settings: the configured ones and those the admin
//! API has made since. What must look across accounts reads them here (the webhook applier
//! looks for a charge by its id in each), and what depends on an account's settings (its tax
//! rule's seller country, its receipts) reads them here too, so an account made or changed a
//! moment ago is seen at once, without a store read per use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::{Account, AccountId, AccountSettings};

#[derive(Debug, Clone, Default)]
pub struct AccountDirectory(Arc<RwLock<Directory>>);

#[derive(Debug, Default)]
struct Directory {
    /// In the order they became known.
    ids: Vec<AccountId>,
    settings: HashMap<AccountId, Arc<AccountSettings>>,
}

impl AccountDirectory {
    pub fn new(accounts: Vec<Account>) -> AccountDirectory {
        let directory = AccountDirectory::default();
        for account in accounts {
            directory.put(&account);
        }
        directory
    }

    /// Adds an account, or shows its new settings.
    pub fn put(&self, account: &Account) {
        let mut directory = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !directory.settings.contains_key(&account.id) {
            directory.ids.push(account.id.clone());
        }
        directory.settings.insert(account.id.clone(), Arc::new(account.settings.clone()));
    }

    /// Adds an account that has no record (the inbox's default one), with no settings.
    pub fn add(&self, account: AccountId) {
        let mut directory = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !directory.settings.contains_key(&account) {
            directory.ids.push(account.clone());
            directory.settings.insert(account, Arc::default());
        }
    }

    pub fn all(&self) -> Vec<AccountId> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).ids.clone()
    }

    /// The account's settings; none set for an account the engine does not know.
    pub fn settings(&self, account: &AccountId) -> Arc<AccountSettings> {
        let directory = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        directory.settings.get(account).cloned().unwrap_or_default()
    }
}
