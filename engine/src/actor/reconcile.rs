//! Recovery of one customer: every charge still `processing` and refund still `pending` is
//! settled by asking its gateway what became of the attempt (by the same gateway idempotency
//! key), never by charging or refunding again. Also used while running, for outcomes a gateway
//! left unknown (a timeout): those are asked about again, at doubling intervals, until settled.

use std::future::Future;
use std::time::Duration;

use actix::{Context, Handler, ResponseActFuture};
use kassa_gateways::AttemptKind;

use super::customer::settle_after;
use super::messages::Reconcile;
use super::settlement::{Settlement, contained, retrieved};
use super::{ActorError, CustomerActor};
use crate::domain::{Cause, RefundStatus};
use crate::store::{DurableTicket, Unsettled};

/// Who settles: recorded as the cause of recovery's events.
fn cause() -> Cause {
    Cause::system("recovery")
}

impl Handler<Reconcile> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<usize, ActorError>>;

    fn handle(&mut self, message: Reconcile, _: &mut Context<Self>) -> Self::Result {
        let first_retry = self.services.reconcile_after;
        self.reconcile(message.items, first_retry)
    }
}

fn is_bank_transfer(item: &Unsettled) -> bool {
    matches!(item, Unsettled::Charge { charge, .. } if charge.bank_transfer.is_some())
}

impl CustomerActor {
    /// Asks the gateway about each item and settles what it answers; what it cannot answer is
    /// asked about again after `retry_after`. Resolves to the number settled now.
    pub(super) fn reconcile(
        &mut self,
        items: Vec<Unsettled>,
        retry_after: Duration,
    ) -> ResponseActFuture<Self, Result<usize, ActorError>> {
        // A charge held for review is not asked about: the gateway's answer would not be
        // applied (see `actor::review`), and asking again forever would only load the gateway.
        // Nor is a bank transfer: no gateway knows of it; statements settle it.
        let lookups: Vec<_> = items
            .into_iter()
            .map(|item| self.as_recorded_now(item))
            .filter(|item| !is_held_for_review(item) && !is_bank_transfer(item))
            .map(|item| self.look_up(item))
            .collect();
        let call = async move { Ok(futures::future::join_all(lookups).await) };
        settle_after(self, call, move |actor, answers, ctx| {
            let mut settled = 0;
            let mut last_commit: Option<DurableTicket> = None;
            for (item, settlement) in answers {
                let result = match &item {
                    Unsettled::Charge { charge, .. } => actor
                        .settle_charge(&charge.id, settlement, &cause())
                        .map(|(charge, durable)| {
                            (durable, !charge.status.is_final() && !charge.is_held_for_review())
                        }),
                    Unsettled::Refund { refund, .. } => actor
                        .settle_refund(&refund.id, settlement, &cause())
                        .map(|(refund, durable)| (durable, refund.status == RefundStatus::Pending)),
                };
                // One item's failure must not leave the others unsettled or unscheduled.
                let (durable, still_unsettled) = result.unwrap_or_else(|error| {
                    tracing::error!(object = item.object_id(), %error, "settling failed");
                    (None, true)
                });
                if still_unsettled {
                    actor.ask_again_later(ctx, item, retry_after);
                }
                if let Some(durable) = durable {
                    // A commit may only note progress (a reference, `requires_action`).
                    settled += usize::from(!still_unsettled);
                    // Flushes cover every commit before them: the last ticket covers them all.
                    last_commit = Some(durable);
                }
            }
            Ok((settled, last_commit))
        })
    }

    /// What the gateway knows of one attempt, by its gateway idempotency key.
    fn look_up(&self, item: Unsettled) -> impl Future<Output = (Unsettled, Settlement)> + 'static {
        let timeout = self.services.gateway_timeout;
        if let Unsettled::Refund { refund, .. } = &item
            && let Some(paid_out) = &refund.paid_out
        {
            let status = super::refund_payouts::paid_out_status(&self.services, refund, paid_out);
            return futures::future::Either::Left(async move { (item, status.await) });
        }
        let (gateway_name, kind, key) = match &item {
            Unsettled::Charge { charge, .. } => {
                (&charge.gateway, AttemptKind::Charge, charge.gateway_idempotency_key().to_owned())
            }
            Unsettled::Refund { refund, .. } => {
                (&refund.gateway, AttemptKind::Refund, refund.gateway_idempotency_key().to_owned())
            }
        };
        let gateway = self.services.gateways.by_name(gateway_name).cloned();
        futures::future::Either::Right(async move {
            let settlement = match gateway {
                Ok(gateway) => {
                    let lookup = async move { gateway.retrieve(kind, &key).await };
                    retrieved(contained(timeout, lookup).await)
                }
                Err(error) => Settlement::Unknown(error.to_string()),
            };
            (item, settlement)
        })
    }

    /// The charge as the store holds it now. An item asked about again while running was taken
    /// when the charge was first sent; a failover since then recorded (durably, before calling
    /// it) the gateway the charge moved to, and only that one can say what happened — the first
    /// gateway never charged and would answer "nothing", failing a charge another gateway made.
    fn as_recorded_now(&self, item: Unsettled) -> Unsettled {
        let Unsettled::Charge { account, charge } = item else {
            return item;
        };
        match self.services.store.charge(&account, &charge.id) {
            Ok(Some(now)) => Unsettled::Charge { account, charge: now },
            // Settling reads the store again and reports what is wrong; ask as first recorded.
            Ok(None) | Err(_) => Unsettled::Charge { account, charge },
        }
    }
}

fn is_held_for_review(item: &Unsettled) -> bool {
    match item {
        Unsettled::Charge { charge, .. } => charge.is_held_for_review(),
        Unsettled::Refund { .. } => false,
    }
}
