//! What a gateway's webhook reports about a customer's charge beyond its settlement: refunds
//! made outside Kassa (in the Stripe dashboard) and disputes. Each handler is idempotent and
//! forward-only, so an event applied twice (after a crash) or out of order changes nothing more.

use actix::{Context, Handler, Message};

use super::{ActorError, CustomerActor, Durably};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    Cause, Charge, ChargeId, ChargeStatus, Conversion, Dispute, DisputeId, Event, EventKind,
    ListedMoney, Money, Refund, RefundId, RefundReason, RefundStatus,
};
use crate::store::Write;

/// One refund as the gateway lists it on a charge.
#[derive(Debug, Clone)]
pub struct GatewayRefund {
    pub reference: String,
    pub amount_minor: i64,
    /// The Kassa refund id the refund was tagged with, when Kassa made it.
    pub kassa_id: Option<String>,
    pub reason: Option<RefundReason>,
    /// What it took from the balance the charge was settled into, where that is in another
    /// currency and the gateway said (see [`crate::domain::Refund::booked`]).
    pub conversion: Option<Conversion>,
}

/// `charge.refunded`: the gateway's refunds of a charge. Those Kassa did not make become Kassa
/// refunds (`succeeded`), counted against the charge; those it made are left to its own flow.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<String>, ActorError>")]
pub struct RecordGatewayRefunds {
    pub charge: ChargeId,
    /// The refunds, when the event lists them; else only `amount_refunded_minor` is known.
    pub refunds: Option<Vec<GatewayRefund>>,
    /// The gateway's total refunded on the charge.
    pub amount_refunded_minor: i64,
    pub cause: Cause,
}

/// `charge.dispute.*`: a dispute opened on a charge, or its progress.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<String>, ActorError>")]
pub struct RecordDispute {
    pub charge: ChargeId,
    pub reference: String,
    pub amount_minor: i64,
    /// What the gateway charges for the dispute, took from and put back into the balance the
    /// books carry the charge in, where the event lists it.
    pub money: ListedMoney,
    pub reason: String,
    pub status: String,
    /// The gateway time of the event: orders events about the dispute.
    pub event_at: i64,
    pub cause: Cause,
}

/// A refund the gateway made that Kassa has no record of.
struct UnrecordedRefund {
    /// The gateway's refund id, when the event lists refunds one by one.
    reference: Option<String>,
    amount_minor: i64,
    reason: Option<RefundReason>,
    conversion: Option<Conversion>,
}

fn no_change(outcome: String) -> Result<Durably<String>, ActorError> {
    Ok(Box::pin(async move { Ok(outcome) }))
}

impl CustomerActor {
    pub(super) fn owned_charge(&self, id: &ChargeId) -> Result<Charge, ActorError> {
        let not_found = || ActorError::NotFound { kind: "charge", id: id.to_string() };
        let charge = self.services.store.charge(&self.key.account, id)?.ok_or_else(not_found)?;
        if charge.customer != self.key.customer {
            return Err(not_found());
        }
        Ok(charge)
    }

    /// The gateway's refunds of `charge` that Kassa has not recorded.
    fn unrecorded_refunds(
        &mut self,
        charge: &Charge,
        message: &RecordGatewayRefunds,
    ) -> Result<Vec<UnrecordedRefund>, ActorError> {
        let known: Vec<Refund> = self
            .services
            .store
            .refunds(&self.key.account, &self.key.customer)?
            .into_iter()
            .filter(|refund| refund.charge.as_ref() == Some(&charge.id))
            .collect();
        let made_by_kassa = |refund: &GatewayRefund| {
            known.iter().any(|own| {
                refund.kassa_id.as_deref() == Some(own.id.as_str())
                    || own.gateway_reference.as_deref() == Some(refund.reference.as_str())
            })
        };
        Ok(match &message.refunds {
            Some(listed) => listed
                .iter()
                .filter(|refund| !made_by_kassa(refund))
                .map(|refund| UnrecordedRefund {
                    reference: Some(refund.reference.clone()),
                    amount_minor: refund.amount_minor,
                    reason: refund.reason,
                    conversion: refund.conversion,
                })
                .collect(),
            None => {
                // Only the total is known: what it holds beyond Kassa's own refunds (settled and
                // under way) was refunded elsewhere.
                let pending = self.accepting()?.refunds_pending.get(&charge.id).copied();
                let accounted = charge.amount_refunded_minor + pending.unwrap_or(0);
                let beyond = message.amount_refunded_minor - accounted;
                match beyond > 0 {
                    true => {
                        vec![UnrecordedRefund {
                            reference: None,
                            amount_minor: beyond,
                            reason: None,
                            conversion: None,
                        }]
                    }
                    false => Vec::new(),
                }
            }
        })
    }
}

impl Handler<RecordGatewayRefunds> for CustomerActor {
    type Result = Result<Durably<String>, ActorError>;

    fn handle(&mut self, message: RecordGatewayRefunds, _: &mut Context<Self>) -> Self::Result {
        self.accepting()?;
        let mut charge = self.owned_charge(&message.charge)?;
        if charge.status != ChargeStatus::Succeeded {
            return no_change(format!(
                "no change: charge {} is {}",
                charge.id,
                charge.status.as_str()
            ));
        }
        let found = self.unrecorded_refunds(&charge, &message)?;
        if found.is_empty() {
            return no_change(format!("no change: charge {}'s refunds are recorded", charge.id));
        }
        let mut changes = self.changes();
        let mut recorded = Vec::new();
        let mut credited: Option<(RefundId, i64)> = None;
        for UnrecordedRefund { reference, amount_minor: reported, reason, conversion } in found {
            let amount_minor = reported.min(charge.refundable_minor());
            if amount_minor < reported {
                // Stripe's word is what moved; Kassa cannot count more than the charge.
                tracing::error!(charge = %charge.id, ?reference, reported, counted = amount_minor, "the gateway refunded more than Kassa counts as left of the charge");
            }
            if amount_minor <= 0 {
                continue;
            }
            // A refund made at the gateway gives the payee's share back with it.
            let transfer_reversed_minor = charge.record_refund(amount_minor, true);
            // Taken in part, the conversion is Stripe's for the amount it reported: kept only
            // where it is the amount counted.
            let conversion = conversion.filter(|_| amount_minor == reported);
            let refund = Refund {
                paid_out: None,
                conversion,
                id: RefundId::generate(),
                charge: Some(charge.id.clone()),
                customer: charge.customer.clone(),
                amount: Money { amount_minor, currency: charge.amount.currency },
                status: RefundStatus::Succeeded,
                reason,
                gateway: charge.gateway.clone(),
                gateway_reference: reference,
                failure_message: None,
                created: now_unix_secs(),
                idempotency_key: None,
                credit_note: None,
                reverse_transfer: true,
                transfer_reversed_minor,
            };
            credited = Some((refund.id.clone(), credited.map_or(0, |(_, sum)| sum) + amount_minor));
            changes.push(Write::Event(Event::new(
                EventKind::RefundSucceeded,
                refund.id.as_str(),
                &message.cause,
            )));
            recorded.push(refund.id.to_string());
            changes.push(Write::Refund(refund));
        }
        if recorded.is_empty() {
            return no_change(format!("no change: nothing left of charge {} to refund", charge.id));
        }
        // One credit note for what this event refunded, if the charge paid an invoice.
        if let Some((last_refund, amount_minor)) = &credited {
            self.credit_note_for_refund(&mut changes, &charge, last_refund, *amount_minor)?;
        }
        if charge.is_fully_refunded() {
            self.withdraw_access(&mut changes, &charge)?;
        }
        changes.push(Write::Charge(charge.clone()));
        let durable = self.commit(changes)?;
        let outcome = format!(
            "charge {}: refunds made at the gateway recorded as {}",
            charge.id,
            recorded.join(", ")
        );
        tracing::info!(charge = %charge.id, refunds = ?recorded, "refunds made at the gateway recorded");
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(outcome)
        }))
    }
}

impl Handler<RecordDispute> for CustomerActor {
    type Result = Result<Durably<String>, ActorError>;

    fn handle(&mut self, message: RecordDispute, _: &mut Context<Self>) -> Self::Result {
        self.accepting()?;
        let mut charge = self.owned_charge(&message.charge)?;
        let store = &self.services.store;
        let existing = match &charge.dispute {
            Some(id) => store.dispute(&self.key.account, id)?,
            None => None,
        };
        let mut changes = self.changes();
        let (dispute, kind) = match existing {
            Some(dispute) if dispute.gateway_reference != message.reference => {
                tracing::error!(charge = %charge.id, dispute = %dispute.id, other = %message.reference, "a second dispute on one charge");
                return no_change(format!(
                    "no change: charge {} already carries dispute {}",
                    charge.id, dispute.id
                ));
            }
            Some(dispute)
                if !dispute.accepts(message.event_at, &message.status)
                    && !dispute.lists_new_money(
                        message.event_at,
                        &message.status,
                        &message.money,
                    ) =>
            {
                return no_change(format!(
                    "no change: dispute {} is {} as of a later or equal event",
                    dispute.id, dispute.status
                ));
            }
            Some(mut dispute) => {
                // Only a move to a closed status closes it: money listed later updates it.
                let closes = message.status != dispute.status;
                dispute.status = message.status;
                dispute.reason = message.reason;
                dispute.amount.amount_minor = message.amount_minor;
                dispute.take_money(&message.money);
                dispute.updated_by_event_at = message.event_at;
                let kind = match closes && dispute.is_closed() {
                    true => EventKind::DisputeClosed,
                    false => EventKind::DisputeUpdated,
                };
                (dispute, kind)
            }
            None => {
                let dispute = Dispute {
                    id: DisputeId::generate(),
                    charge: charge.id.clone(),
                    customer: charge.customer.clone(),
                    amount: Money {
                        amount_minor: message.amount_minor,
                        currency: charge.amount.currency,
                    },
                    reason: message.reason,
                    status: message.status,
                    gateway: charge.gateway.clone(),
                    gateway_reference: message.reference,
                    created: now_unix_secs(),
                    updated_by_event_at: message.event_at,
                    fee_minor: message.money.fee_minor.unwrap_or(0),
                    withdrawn_minor: message.money.withdrawn_minor,
                    reinstated_minor: message.money.reinstated_minor,
                };
                charge.dispute = Some(dispute.id.clone());
                changes.push(Write::Charge(charge.clone()));
                (dispute, EventKind::DisputeOpened)
            }
        };
        changes.push(Write::Event(Event::new(kind, dispute.id.as_str(), &message.cause)));
        if dispute.is_lost() {
            self.withdraw_access(&mut changes, &charge)?;
        }
        let outcome =
            format!("dispute {} on charge {} is {}", dispute.id, charge.id, dispute.status);
        tracing::info!(dispute = %dispute.id, charge = %charge.id, status = %dispute.status, "dispute recorded");
        changes.push(Write::Dispute(dispute));
        let durable = self.commit(changes)?;
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(outcome)
        }))
    }
}
