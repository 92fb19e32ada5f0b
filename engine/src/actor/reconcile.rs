//! Recovery of one customer: every charge still `processing` and refund still `pending` is
//! settled by asking its gateway what became of the attempt (by the same gateway idempotency
//! key), never by charging or refunding again.

use actix::{Context, Handler, ResponseActFuture};
use kassa_gateways::AttemptKind;

use super::customer::settle_after;
use super::messages::Reconcile;
use super::settlement::{Settlement, retrieved};
use super::{ActorError, CustomerActor};
use crate::store::{DurableTicket, Unsettled};

/// Who settles: recorded as the cause of recovery's events.
const CAUSE: &str = "recovery";

impl Handler<Reconcile> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<usize, ActorError>>;

    fn handle(&mut self, message: Reconcile, _: &mut Context<Self>) -> Self::Result {
        let timeout = self.services.gateway_timeout;
        let lookups: Vec<_> = message
            .items
            .into_iter()
            .map(|item| {
                let (gateway_name, kind, key) = match &item {
                    Unsettled::Charge { charge, .. } => (
                        charge.gateway.clone(),
                        AttemptKind::Charge,
                        charge.gateway_idempotency_key().to_owned(),
                    ),
                    Unsettled::Refund { refund, .. } => (
                        refund.gateway.clone(),
                        AttemptKind::Refund,
                        refund.gateway_idempotency_key().to_owned(),
                    ),
                };
                let gateway = self.services.gateways.by_name(&gateway_name).cloned();
                async move {
                    let settlement = match gateway {
                        Ok(gateway) => retrieved(
                            tokio::time::timeout(timeout, gateway.retrieve(kind, &key)).await,
                        ),
                        Err(error) => Settlement::Unknown(error.to_string()),
                    };
                    (item, settlement)
                }
            })
            .collect();
        let call = async move { Ok(futures::future::join_all(lookups).await) };
        settle_after(self, call, |actor, answers| {
            let mut settled = 0;
            let mut last_commit: Option<DurableTicket> = None;
            for (item, settlement) in answers {
                let durable = match &item {
                    Unsettled::Charge { charge, .. } => {
                        actor.settle_charge(&charge.id, settlement, CAUSE)?.1
                    }
                    Unsettled::Refund { refund, .. } => {
                        actor.settle_refund(&refund.id, settlement, CAUSE)?.1
                    }
                };
                if let Some(durable) = durable {
                    settled += 1;
                    // Flushes cover every commit before them: the last ticket covers them all.
                    last_commit = Some(durable);
                }
            }
            Ok((settled, last_commit))
        })
    }
}
