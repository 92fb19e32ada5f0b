//! A dispute's postings. When it opens, what the gateway withdrew (with the fee it charges)
//! leaves the platform's balance, and on a split charge the payee's share of the disputed
//! amount is held back; when it is won, what the gateway put back returns and the share is
//! released. Then, on every event about it, what its postings hold is brought up to what the
//! dispute says now: the fee, and what the gateway holds back (withdrawn, less reinstated once
//! won). Each amount is as the gateway's events listed it, in the currency the books carry the
//! charge in, or else at the charge's rate (see [`Charge::booked`]); so a later event listing
//! what an earlier one did not (Stripe lists a withdrawal on `charge.dispute.funds_withdrawn`
//! as well as on the event that opened the dispute, and a reinstatement on
//! `charge.dispute.funds_reinstated`) corrects it with an adjustment.

use crate::domain::{
    AccountId, Charge, ChargeTransfer, Dispute, Event, EventKind, LedgerAccount, Money, Posting,
};
use crate::ledger::postings;
use crate::store::{ChangeSet, CustomerStore, PostingFilter, StoreError, each_in_pages};

/// A dispute's postings read at a time.
const POSTINGS_PAGE: usize = 100;

pub(super) fn postings_of(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    event: &Event,
) -> Result<Vec<Posting>, StoreError> {
    let Some(dispute) = super::dispute(changes, store, &event.object_id)? else {
        return Ok(Vec::new());
    };
    let (account, at) = (&changes.account, event.created);
    let booked = Booked::read(changes, store, dispute)?;
    let dispute = &booked.dispute;
    let stored = dispute_postings(store, account, dispute)?;
    let won_now = event.after.as_deref() == Some("won") && event.before.as_deref() != Some("won");
    let mut posted = Vec::new();
    if event.kind == EventKind::DisputeOpened {
        posted.extend(postings::dispute_opened(account, &booked.withdrawn(), at));
        if let Some((charge, transfer)) = &booked.split {
            posted.extend(postings::dispute_hold(account, dispute, charge, transfer, at));
        }
    }
    if won_now {
        posted.extend(postings::dispute_won(account, &booked.reinstated(), at));
        if let Some((_, transfer)) = &booked.split {
            let payee = LedgerAccount::Payee { payee: transfer.payee.clone() };
            let held =
                -stored.iter().chain(&posted).map(|posting| posting.net_for(&payee)).sum::<i64>();
            posted.extend(postings::dispute_hold_released(account, dispute, transfer, held, at));
        }
    }
    let fee_posted: i64 = stored.iter().chain(&posted).map(|posting| posting.fee_minor).sum();
    posted.extend(postings::dispute_fee_moved(account, &booked.withdrawn(), fee_posted, at));
    // Corrected from the next event on; a dispute that opened before the books began (no
    // postings yet) is left out of them.
    if !stored.is_empty() {
        let clearing = LedgerAccount::Clearing { gateway: dispute.gateway.clone() };
        let held_back: i64 = stored
            .iter()
            .chain(&posted)
            .map(|posting| posting.net_for(&clearing) - posting.fee_minor)
            .sum();
        posted.extend(postings::dispute_withdrawal_moved(
            account,
            &booked.held_back(),
            held_back,
            at,
        ));
    }
    Ok(posted)
}

/// A dispute with what it moved as the books carry its charge, and the charge's transfer where
/// the charge was split.
struct Booked {
    dispute: Dispute,
    /// The disputed amount at the charge's rate, in the currency the books carry it in.
    at_rate: Money,
    split: Option<(Charge, ChargeTransfer)>,
}

impl Booked {
    fn read(
        changes: &ChangeSet,
        store: &dyn CustomerStore,
        dispute: Dispute,
    ) -> Result<Booked, StoreError> {
        let charge = super::charge(changes, store, dispute.charge.as_str())?;
        let at_rate = charge
            .as_ref()
            .map_or(dispute.amount, |charge| charge.booked(dispute.amount.amount_minor));
        let split = charge.and_then(|charge| Some((charge.clone(), *charge.transfer?)));
        Ok(Booked { dispute, at_rate, split })
    }

    /// The dispute as what the gateway withdrew for it.
    fn withdrawn(&self) -> Dispute {
        self.moved(self.dispute.withdrawn_minor.unwrap_or(self.at_rate.amount_minor))
    }

    /// The dispute as what the gateway put back for it, won.
    fn reinstated(&self) -> Dispute {
        self.moved(self.dispute.reinstated_minor.unwrap_or(self.at_rate.amount_minor))
    }

    /// The dispute as what the gateway holds back for it: what it withdrew, less what it put
    /// back once the dispute was won.
    fn held_back(&self) -> Dispute {
        let withdrawn = self.withdrawn().amount.amount_minor;
        let reinstated =
            if self.dispute.is_won() { self.reinstated().amount.amount_minor } else { 0 };
        self.moved(withdrawn - reinstated)
    }

    fn moved(&self, amount_minor: i64) -> Dispute {
        Dispute { amount: Money { amount_minor, ..self.at_rate }, ..self.dispute.clone() }
    }
}

/// Every posting the dispute made so far, as the store holds them.
fn dispute_postings(
    store: &dyn CustomerStore,
    account: &AccountId,
    dispute: &Dispute,
) -> Result<Vec<Posting>, StoreError> {
    let filter =
        PostingFilter { source: Some(dispute.id.as_str().to_owned()), ..Default::default() };
    let mut found = Vec::new();
    each_in_pages(
        |after| store.postings(account, &filter, POSTINGS_PAGE, after),
        |posting| posting.id.clone(),
        |posting| {
            found.push(posting);
            Ok::<(), StoreError>(())
        },
    )?;
    Ok(found)
}
