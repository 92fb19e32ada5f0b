//! Sponsorships and the shares their sponsors owe, as the store keeps them: a sponsorship under
//! its beneficiary (whose actor changes it), found by id and listed for its sponsor too; the
//! shares under their sponsor, each with a schedule entry for the sponsor's monthly invoice.

use super::{Durable, StoreError};
use crate::domain::{AccountId, CustomerId, SponsorItem, Sponsorship, SponsorshipId};

pub trait SponsorStore: Durable {
    fn sponsorship(
        &self,
        account: &AccountId,
        id: &SponsorshipId,
    ) -> Result<Option<Sponsorship>, StoreError>;
    /// The sponsorships of which `beneficiary` is the beneficiary, oldest first.
    fn sponsorships(
        &self,
        account: &AccountId,
        beneficiary: &CustomerId,
    ) -> Result<Vec<Sponsorship>, StoreError>;
    /// The sponsorships `sponsor` pays for, oldest first.
    fn sponsorships_paid_by(
        &self,
        account: &AccountId,
        sponsor: &CustomerId,
    ) -> Result<Vec<Sponsorship>, StoreError>;
    /// The shares `sponsor` owes that are not yet on an invoice, oldest first.
    fn sponsor_items(
        &self,
        account: &AccountId,
        sponsor: &CustomerId,
    ) -> Result<Vec<SponsorItem>, StoreError>;
    /// The shares `beneficiary`'s sponsors did not pay, not yet acted on, oldest first.
    fn sponsor_defaults(
        &self,
        account: &AccountId,
        beneficiary: &CustomerId,
    ) -> Result<Vec<SponsorItem>, StoreError>;
}
