//! Holding a charge for review: the gateway reported moving another amount than the charge's
//! (an M-Pesa callback whose `Amount` differs). Settling it either way would be wrong — `paid`
//! books money that did not arrive as charged, `failed` frees the client's key for a second
//! charge — so it stays `processing`, with the discrepancy on the charge for an operator, and no
//! later word from the gateway (a duplicate callback, the STK query) settles it.

use actix::{Context, Handler, Message};

use super::{ActorError, CustomerActor, Durably};
use crate::domain::{AmountReview, Cause, ChargeId, Event, EventKind};
use crate::store::Write;

#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<String>, ActorError>")]
pub struct HoldForReview {
    pub charge: ChargeId,
    pub review: AmountReview,
    pub cause: Cause,
}

impl Handler<HoldForReview> for CustomerActor {
    type Result = Result<Durably<String>, ActorError>;

    fn handle(&mut self, message: HoldForReview, _: &mut Context<Self>) -> Self::Result {
        self.accepting()?;
        let mut charge = self.owned_charge(&message.charge)?;
        let reported = message.review.reported_amount_minor;
        crate::metrics::global().count_held_for_review(&charge.gateway);
        tracing::error!(charge = %charge.id, gateway = %charge.gateway, reported_amount_minor = reported, charged_amount_minor = charge.amount.amount_minor, status = charge.status.as_str(), "the gateway reported another amount than the charge's: held for review");
        if charge.status.is_final() || charge.is_held_for_review() {
            // Settled before the report arrived (the STK query answered first), or already
            // held: its status stays, and the event's outcome keeps what was reported.
            let outcome = format!(
                "no change: charge {} is {} (the gateway reported {reported}, the charge is {})",
                charge.id,
                charge.status.as_str(),
                charge.amount.amount_minor
            );
            return Ok(Box::pin(async move { Ok(outcome) }));
        }
        charge.hold_for_review(message.review);
        let mut changes = self.changes();
        changes.push(Write::Charge(charge.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::ChargeHeldForReview,
            charge.id.as_str(),
            &message.cause,
        )));
        let durable = self.commit(changes)?;
        let outcome = format!(
            "charge {} held for review: the gateway reported {reported}, the charge is {}",
            charge.id, charge.amount.amount_minor
        );
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(outcome)
        }))
    }
}
