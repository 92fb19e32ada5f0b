//! Bank transfers in sled: references (`account/REFERENCE` → what it pays), the outcome of each
//! statement line under its identity (`account/identity`), written in the change set of what
//! the line did, and the uploaded statements (`account/stmt_…`), the account's own.

use super::billing::{newest_first, page};
use super::ops::Op;
use super::tree_ids::TreeId;
use super::{TreeStore, decode, encode};
use crate::domain::{
    AccountId, BankLineRecord, BankStatement, CustomerId, ReferenceTarget, StatementId,
};
use crate::store::{DurableTicket, Page, StatementStore, StoreError, keys};

pub(super) fn reference_op(account: &AccountId, reference: &str, target: &ReferenceTarget) -> Op {
    Op::put(TreeId::BankReferences, keys::by_id(account, reference), encode(target))
}

/// A line's record, and the customer's credit index when it credited the customer.
pub(super) fn line_ops(
    ops: &mut Vec<Op>,
    account: &AccountId,
    identity: &str,
    record: &BankLineRecord,
) {
    ops.push(Op::put(TreeId::BankLines, keys::by_id(account, identity), encode(record)));
    if let Some(customer) = record.customer.as_ref().filter(|_| record.outcome.applied()) {
        let key = keys::owned(account, customer, identity);
        ops.push(Op::put(TreeId::BankCredits, key, encode(record)));
    }
}

impl TreeStore {
    pub(super) fn read_bank_reference(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> Result<Option<ReferenceTarget>, StoreError> {
        match self.tree(TreeId::BankReferences).get(keys::by_id(account, reference))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn customer_bank_credits(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        limit: usize,
    ) -> Result<Vec<(String, BankLineRecord)>, StoreError> {
        let tree = self.tree(TreeId::BankCredits);
        let mut credits = Vec::new();
        for item in tree.scan_prefix(keys::customer_prefix(account, customer)).take(limit) {
            let (key, value) = item?;
            let corrupt = || StoreError::Corrupt("bank credit key".into());
            let (_, _, identity) = keys::split_owned(&key).ok_or_else(corrupt)?;
            credits.push((identity.to_owned(), decode(&value)?));
        }
        Ok(credits)
    }

    pub(super) fn read_bank_line(
        &self,
        account: &AccountId,
        identity: &str,
    ) -> Result<Option<BankLineRecord>, StoreError> {
        match self.tree(TreeId::BankLines).get(keys::by_id(account, identity))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

impl StatementStore for TreeStore {
    fn put_statement(
        &self,
        account: &AccountId,
        statement: &BankStatement,
        lines: &[(String, BankLineRecord)],
    ) -> Result<DurableTicket, StoreError> {
        let key = keys::by_id(account, statement.id.as_str());
        let mut ops = vec![Op::put(TreeId::BankStatements, key, encode(statement))];
        for (identity, record) in lines {
            line_ops(&mut ops, account, identity, record);
        }
        self.commit_ops(ops)
    }

    fn statement(
        &self,
        account: &AccountId,
        id: &StatementId,
    ) -> Result<Option<BankStatement>, StoreError> {
        match self.tree(TreeId::BankStatements).get(keys::by_id(account, id.as_str()))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn statements(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&StatementId>,
    ) -> Result<Page<BankStatement>, StoreError> {
        let starting_after = starting_after.map(|id| keys::by_id(account, id.as_str()));
        let tree = self.tree(TreeId::BankStatements);
        let found = newest_first(tree, keys::account_prefix(account), starting_after)
            .map(|item| decode(&item?.1).map(Some));
        page(found, limit)
    }
}
