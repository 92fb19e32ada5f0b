//! Recovery at start-up, before the API opens: every charge still `processing` and refund still
//! `pending` — a crash between recording and settling, or a gateway that timed out — is settled
//! by its customer's actor asking the gateway by the same idempotency key. Nothing is charged
//! again: an attempt the gateway never saw is failed and its Idempotency-Key freed for a retry.

use std::collections::HashMap;

use futures::StreamExt;

use crate::actor::messages::Reconcile;
use crate::actor::{ActorError, CustomerKey, Registry};
use crate::store::{CustomerStore, StoreError, Unsettled};

/// Customers reconciled at once: bounds the gateway lookups in flight during start-up.
const CUSTOMERS_IN_PARALLEL_MAX: usize = 64;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Charges and refunds found unsettled.
    pub found: usize,
    /// Of those, settled now; the rest stay unsettled (their gateway could not say).
    pub settled: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn run(
    store: &dyn CustomerStore,
    registry: &Registry,
) -> Result<RecoveryReport, RecoveryError> {
    run_older_than(store, registry, None).await
}

/// [`run`] for what was recorded at or before `cutoff` (Unix seconds) only: where other nodes
/// share the store, what is younger may still be in a live node's gateway call, and asking the
/// gateway about it now could fail an attempt the gateway is about to make.
pub async fn run_older_than(
    store: &dyn CustomerStore,
    registry: &Registry,
    cutoff: Option<i64>,
) -> Result<RecoveryReport, RecoveryError> {
    let mut unsettled = store.unsettled()?;
    if let Some(cutoff) = cutoff {
        unsettled.retain(|item| match item {
            Unsettled::Charge { charge, .. } => charge.created <= cutoff,
            Unsettled::Refund { refund, .. } => refund.created <= cutoff,
        });
    }
    let found = unsettled.len();
    let mut by_customer: HashMap<CustomerKey, Vec<Unsettled>> = HashMap::new();
    for item in unsettled {
        let key = match &item {
            Unsettled::Charge { account, charge } => {
                CustomerKey { account: account.clone(), customer: charge.customer.clone() }
            }
            Unsettled::Refund { account, refund } => {
                CustomerKey { account: account.clone(), customer: refund.customer.clone() }
            }
        };
        by_customer.entry(key).or_default().push(item);
    }
    let settled = futures::stream::iter(by_customer)
        .map(|(key, items)| async move {
            match registry.send(&key, Reconcile { items }).await.and_then(|answer| answer) {
                Ok(settled) => settled,
                Err(error) => {
                    log_failure(&key, &error);
                    0
                }
            }
        })
        .buffer_unordered(CUSTOMERS_IN_PARALLEL_MAX)
        .fold(0, |total, settled| async move { total + settled })
        .await;
    Ok(RecoveryReport { found, settled })
}

fn log_failure(key: &CustomerKey, error: &ActorError) {
    tracing::error!(account = %key.account, customer = %key.customer, %error, "recovery could not reconcile a customer");
}
