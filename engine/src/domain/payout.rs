//! A payout: money paid out of a payee's available balance to its destination, through one
//! payout adapter, in one or more parts (a destination's per-transaction limit splits it), each
//! sent once under its own idempotency key.

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, PayeeId, PayoutId};
use super::money::Currency;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub id: PayoutId,
    pub account: AccountId,
    pub payee: PayeeId,
    pub amount_minor: i64,
    pub currency: Currency,
    /// The adapter that sends it: `sandbox`, `stripe`, `mpesa`.
    pub method: String,
    pub parts: Vec<PayoutPart>,
    /// The payout schedule's instant that made it; `None` for one asked for by hand.
    pub scheduled_for: Option<i64>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// When the last part was paid.
    pub arrival_date: Option<i64>,
    /// On the payee's test clock when it has one.
    pub created: i64,
}

/// One payment of a payout, under its own idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutPart {
    /// The payout's id for a payout sent whole; `po_…-2` for its second part.
    pub key: String,
    pub amount_minor: i64,
    pub status: PartStatus,
    /// The adapter's reference, once it gave one.
    pub reference: Option<String>,
    /// Of a paid part, what came back since (a Stripe transfer reversed in part): the payee's
    /// again. A part returned whole is `Returned` instead.
    #[serde(default)]
    pub reversed_minor: i64,
}

impl PayoutPart {
    /// What of this part went back to the payee's balance.
    pub fn returned_minor(&self) -> i64 {
        match self.status {
            PartStatus::Failed | PartStatus::Returned => self.amount_minor,
            PartStatus::Paid => self.reversed_minor,
            PartStatus::Pending | PartStatus::InTransit => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartStatus {
    /// Recorded, its funds in transit, not yet known to have reached the adapter.
    Pending,
    /// Sent: accepted by the adapter, or its answer lost; the status query settles it.
    InTransit,
    Paid,
    Failed,
    /// Paid, then sent back: the money is the payee's again.
    Returned,
}

impl PartStatus {
    pub fn settled(self) -> bool {
        matches!(self, PartStatus::Paid | PartStatus::Failed | PartStatus::Returned)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutStatus {
    Pending,
    InTransit,
    Paid,
    Failed,
}

impl PayoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::InTransit => "in_transit",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
        }
    }
}

impl Payout {
    /// The payout's parts for `amount_minor` under `limit` per payment: as few as can carry
    /// it, the same size but for the last.
    pub fn split(id: &PayoutId, amount_minor: i64, limit: Option<i64>) -> Vec<PayoutPart> {
        let limit = limit.filter(|limit| *limit > 0).unwrap_or(amount_minor).max(1);
        let count = (amount_minor + limit - 1) / limit;
        (0..count.max(1))
            .map(|index| PayoutPart {
                key: match count {
                    1 => id.as_str().to_owned(),
                    _ => format!("{}-{}", id.as_str(), index + 1),
                },
                amount_minor: (amount_minor - index * limit).min(limit),
                status: PartStatus::Pending,
                reference: None,
                reversed_minor: 0,
            })
            .collect()
    }

    /// As a whole: failed once every part settled and one failed or was returned (what failed
    /// went back to the payee), paid once every part was paid, in transit while a part was
    /// sent and is not settled, pending before.
    pub fn status(&self) -> PayoutStatus {
        let all = |status: PartStatus| self.parts.iter().all(|part| part.status == status);
        if self.parts.iter().all(|part| part.status.settled()) {
            return match all(PartStatus::Paid) {
                true => PayoutStatus::Paid,
                false => PayoutStatus::Failed,
            };
        }
        match all(PartStatus::Pending) {
            true => PayoutStatus::Pending,
            false => PayoutStatus::InTransit,
        }
    }

    /// What went back to the payee's balance: its failed and returned parts, and what came
    /// back of the paid ones.
    pub fn returned_minor(&self) -> i64 {
        self.parts.iter().map(PayoutPart::returned_minor).sum()
    }

    pub fn settled(&self) -> bool {
        self.parts.iter().all(|part| part.status.settled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payout_over_the_limit_is_split_into_parts_that_add_up() {
        let id = PayoutId::generate();
        let parts = Payout::split(&id, 60_000_000, Some(25_000_000));
        let amounts: Vec<i64> = parts.iter().map(|part| part.amount_minor).collect();
        assert_eq!(amounts, [25_000_000, 25_000_000, 10_000_000]);
        assert_eq!(parts[2].key, format!("{id}-3"));
        let whole = Payout::split(&id, 25_000_000, Some(25_000_000));
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].key, id.as_str(), "a payout sent whole is keyed by its id");
        assert_eq!(Payout::split(&id, 7, None).len(), 1);
    }
}
