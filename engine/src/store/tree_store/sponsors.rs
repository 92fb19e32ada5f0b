//! Sponsorships and sponsors' shares in sled (see [`crate::store::sponsors`]).

use super::ops::Op;
use super::tree_ids::TreeId;
use super::{TreeStore, encode};
use crate::domain::{AccountId, CustomerId, SponsorItem, Sponsorship, SponsorshipId};
use crate::store::{SponsorStore, StoreError, keys};

pub(super) fn sponsorship_ops(ops: &mut Vec<Op>, account: &AccountId, record: &Sponsorship) {
    let id = record.id.as_str();
    let beneficiary = record.beneficiary.as_str().as_bytes().to_vec();
    ops.push(Op::put(
        TreeId::Sponsorships,
        keys::owned(account, &record.beneficiary, id),
        encode(record),
    ));
    ops.push(Op::put(TreeId::SponsorshipOwners, keys::by_id(account, id), beneficiary.clone()));
    ops.push(Op::put(
        TreeId::SponsorSponsorships,
        keys::owned(account, &record.sponsor, id),
        beneficiary,
    ));
}

/// The share, under its sponsor, and the sponsor's schedule entry for the month's invoice.
pub(super) fn item_ops(ops: &mut Vec<Op>, account: &AccountId, item: &SponsorItem) {
    ops.push(Op::put(
        TreeId::SponsorItems,
        keys::owned(account, &item.sponsor, &item.id),
        encode(item),
    ));
    let sponsor = item.sponsor.as_str();
    ops.push(Op::put(
        TreeId::Schedule,
        keys::schedule(&item.scope, item.invoice_at, account, &item.sponsor, sponsor),
        Vec::new(),
    ));
}

/// The default, under its beneficiary, and the beneficiary's schedule entry for it.
pub(super) fn default_ops(ops: &mut Vec<Op>, account: &AccountId, item: &SponsorItem) {
    ops.push(Op::put(
        TreeId::SponsorDefaults,
        keys::owned(account, &item.beneficiary, &item.id),
        encode(item),
    ));
    let beneficiary = item.beneficiary.as_str();
    ops.push(Op::put(
        TreeId::Schedule,
        keys::schedule(&item.scope, item.invoice_at, account, &item.beneficiary, beneficiary),
        Vec::new(),
    ));
}

impl SponsorStore for TreeStore {
    fn sponsorship(
        &self,
        account: &AccountId,
        id: &SponsorshipId,
    ) -> Result<Option<Sponsorship>, StoreError> {
        self.owned_by_id(TreeId::SponsorshipOwners, TreeId::Sponsorships, account, id.as_str())
    }

    fn sponsorships(
        &self,
        account: &AccountId,
        beneficiary: &CustomerId,
    ) -> Result<Vec<Sponsorship>, StoreError> {
        self.scan_customer(TreeId::Sponsorships, account, beneficiary)
    }

    fn sponsorships_paid_by(
        &self,
        account: &AccountId,
        sponsor: &CustomerId,
    ) -> Result<Vec<Sponsorship>, StoreError> {
        let prefix = keys::customer_prefix(account, sponsor);
        let mut found = Vec::new();
        for item in self.tree(TreeId::SponsorSponsorships).scan_prefix(&prefix) {
            let (key, beneficiary) = item?;
            let beneficiary = std::str::from_utf8(&beneficiary)
                .ok()
                .and_then(CustomerId::parse)
                .ok_or_else(|| StoreError::Corrupt("a sponsorship's beneficiary".into()))?;
            let id = std::str::from_utf8(&key[prefix.len()..])
                .map_err(|_| StoreError::Corrupt("a sponsorship's key".into()))?;
            let record: Option<Sponsorship> =
                self.get(TreeId::Sponsorships, &keys::owned(account, &beneficiary, id))?;
            found.extend(record);
        }
        Ok(found)
    }

    fn sponsor_items(
        &self,
        account: &AccountId,
        sponsor: &CustomerId,
    ) -> Result<Vec<SponsorItem>, StoreError> {
        self.scan_customer(TreeId::SponsorItems, account, sponsor)
    }

    fn sponsor_defaults(
        &self,
        account: &AccountId,
        beneficiary: &CustomerId,
    ) -> Result<Vec<SponsorItem>, StoreError> {
        self.scan_customer(TreeId::SponsorDefaults, account, beneficiary)
    }
}
