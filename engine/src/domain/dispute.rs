//! A dispute (chargeback) the card network opened on a charge, as its gateway reports it.

use serde::{Deserialize, Serialize};

use super::{ChargeId, CustomerId, DisputeId, Money};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: DisputeId,
    pub charge: ChargeId,
    pub customer: CustomerId,
    pub amount: Money,
    /// The gateway's reason (`fraudulent`, `product_not_received`, …).
    pub reason: String,
    /// The gateway's status (`needs_response`, `under_review`, `won`, `lost`, …).
    pub status: String,
    pub gateway: String,
    /// The gateway's dispute id (`du_…` at Stripe).
    pub gateway_reference: String,
    pub created: i64,
    /// The gateway time of the event that last changed it: an older event never undoes it.
    pub updated_by_event_at: i64,
    /// What the gateway charges for the dispute, as its last event said (less what it gave
    /// back, if it gives a won dispute's fee back).
    #[serde(default)]
    pub fee_minor: i64,
    /// What the gateway took from the balance for it, in the minor units of the currency the
    /// books carry its charge in (another than the dispute's where the gateway settled the
    /// charge into another: see [`crate::domain::Charge::booked`]), as its latest event listed
    /// it; `None` until one did (booked at the charge's rate meanwhile).
    #[serde(default)]
    pub withdrawn_minor: Option<i64>,
    /// What it put back, for a dispute won; as `withdrawn_minor`.
    #[serde(default)]
    pub reinstated_minor: Option<i64>,
}

/// What an event about a dispute listed of the money its gateway moved, in the minor units of
/// the currency the books carry its charge in (see [`Dispute::withdrawn_minor`]); `None` where
/// it listed nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListedMoney {
    pub fee_minor: Option<i64>,
    pub withdrawn_minor: Option<i64>,
    pub reinstated_minor: Option<i64>,
}

impl Dispute {
    /// Stripe's statuses after which a dispute changes no more.
    pub fn is_closed(&self) -> bool {
        matches!(self.status.as_str(), "won" | "lost" | "warning_closed" | "charge_refunded")
    }

    /// The money went back to the cardholder for good.
    pub fn is_lost(&self) -> bool {
        self.status == "lost"
    }

    /// The gateway put the money back for good.
    pub fn is_won(&self) -> bool {
        self.status == "won"
    }

    /// Whether an event created at `event_at`, saying the status the dispute has, lists money
    /// it does not hold yet: a withdrawal, a reinstatement or a fee other than it holds (Stripe
    /// lists a withdrawal on `charge.dispute.funds_withdrawn` too, after the event that opened
    /// the dispute, and a reinstatement on `charge.dispute.funds_reinstated`).
    pub fn lists_new_money(&self, event_at: i64, status: &str, listed: &ListedMoney) -> bool {
        let news = |listed: Option<i64>, held: Option<i64>| listed.is_some() && listed != held;
        event_at >= self.updated_by_event_at
            && status == self.status
            && (news(listed.withdrawn_minor, self.withdrawn_minor)
                || news(listed.reinstated_minor, self.reinstated_minor)
                || news(listed.fee_minor, Some(self.fee_minor)))
    }

    /// Takes what an event listed of the money; what it did not list stays as it was.
    pub fn take_money(&mut self, listed: &ListedMoney) {
        self.fee_minor = listed.fee_minor.unwrap_or(self.fee_minor);
        self.withdrawn_minor = listed.withdrawn_minor.or(self.withdrawn_minor);
        self.reinstated_minor = listed.reinstated_minor.or(self.reinstated_minor);
    }

    /// Whether an event created at `event_at` saying `status` moves the dispute forward.
    pub fn accepts(&self, event_at: i64, status: &str) -> bool {
        if event_at < self.updated_by_event_at || status == self.status {
            return false;
        }
        // Same second: only a move to a closed status is certainly forward.
        event_at > self.updated_by_event_at
            || matches!(status, "won" | "lost" | "warning_closed" | "charge_refunded")
    }
}
