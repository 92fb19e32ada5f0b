//! The accounts and API keys part of the sled store.

use super::ops::Op;
use super::tree_ids::TreeId;
use super::{TreeStore, decode, encode};
use crate::domain::{Account, AccountId, ApiKey, Event};
use crate::store::{AccountStore, DurableTicket, IdempotencyRecord, StoreError, keys};

/// The idempotency record of the admin request that made a change, kept under the admin's own
/// scope.
fn answered_op(answered: Option<(&str, &IdempotencyRecord)>) -> Option<Op> {
    answered.map(|(key, record)| {
        let scope = AccountId::admin_scope();
        Op::put(TreeId::Idempotency, keys::idempotency(&scope, key), encode(record))
    })
}

impl AccountStore for TreeStore {
    fn api_key_account(&self, key_sha256: &[u8; 32]) -> Result<Option<AccountId>, StoreError> {
        let account = self.tree(TreeId::ApiKeys).get(key_sha256)?;
        Ok(account.and_then(|bytes| std::str::from_utf8(&bytes).ok().and_then(AccountId::parse)))
    }

    fn put_generated_api_key(
        &self,
        account: &AccountId,
        key_sha256: &[u8; 32],
    ) -> Result<DurableTicket, StoreError> {
        let key = key_sha256.to_vec();
        self.commit_ops(vec![Op::put(TreeId::ApiKeys, key, account.as_str().as_bytes().to_vec())])
    }

    fn has_generated_api_key(&self, account: &AccountId) -> Result<bool, StoreError> {
        for item in self.tree(TreeId::ApiKeys).iter() {
            if item?.1 == account.as_str().as_bytes() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.get(TreeId::Accounts, id.as_str().as_bytes())
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.tree(TreeId::Accounts).iter().map(|item| decode(&item?.1)).collect()
    }

    fn put_account(
        &self,
        account: &Account,
        answered: Option<(&str, &IdempotencyRecord)>,
        audit: Option<&Event>,
    ) -> Result<DurableTicket, StoreError> {
        let id = account.id.as_str().as_bytes().to_vec();
        let mut ops = vec![Op::put(TreeId::Accounts, id, encode(account))];
        ops.extend(answered_op(answered));
        if let Some(event) = audit {
            super::audit::account_event_ops(&mut ops, &account.id, event);
        }
        self.commit_ops(ops)
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.tree(TreeId::AccountKeys).iter().map(|item| decode(&item?.1)).collect()
    }

    fn put_api_key(
        &self,
        key: &ApiKey,
        answered: Option<(&str, &IdempotencyRecord)>,
        audit: Option<&Event>,
    ) -> Result<DurableTicket, StoreError> {
        let mut ops = vec![Op::put(
            TreeId::AccountKeys,
            keys::by_id(&key.account, key.id.as_str()),
            encode(key),
        )];
        ops.extend(answered_op(answered));
        if let Some(event) = audit {
            super::audit::account_event_ops(&mut ops, &key.account, event);
        }
        self.commit_ops(ops)
    }
}
