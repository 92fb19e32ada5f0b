//! Work that belongs to no request, where several nodes share one database: the billing
//! schedule, outgoing webhook deliveries, the reconciliation of charges and refunds left
//! unsettled and the gateway events left unapplied are each claimed by one node at a time (see
//! [`crate::store::Durable::claim`]). A node renews its claims every third of
//! `cluster.lease_ms`; one that stops renewing (killed, cut off from the database) loses them to
//! another node within the lease. On sled the one process holds every claim.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::actor::Registry;
use crate::store::Store;
use crate::webhooks::Inbox;

/// A kind of work one node at a time does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Renewals, trial ends, retries, expiries: the billing schedule's due entries.
    Schedule,
    /// Handing outgoing events to the platform's endpoints.
    Deliveries,
    /// Settling charges and refunds that stayed unsettled past every gateway call's time
    /// limit: those of a node that stopped mid-call.
    Reconciliation,
    /// Applying the gateway events that stayed unapplied as long: those a node that stopped
    /// had taken in (each node applies what it takes in).
    Inbox,
}

impl Work {
    const ALL: [Work; 4] = [Work::Schedule, Work::Deliveries, Work::Reconciliation, Work::Inbox];

    fn name(self) -> &'static str {
        match self {
            Work::Schedule => "schedule",
            Work::Deliveries => "deliveries",
            Work::Reconciliation => "reconciliation",
            Work::Inbox => "inbox",
        }
    }
}

/// This node's claims, as last renewed.
pub struct Claims {
    node: String,
    lease: Duration,
    held: [AtomicBool; Work::ALL.len()],
}

impl Claims {
    /// Claims what it can now, so that start-up knows what is this node's to do.
    pub fn take(store: &dyn Store, lease: Duration) -> Arc<Claims> {
        let node = format!("node_{}", ulid::Ulid::new());
        let claims = Arc::new(Claims { node, lease, held: Default::default() });
        claims.renew(store);
        tracing::info!(node = %claims.node, held = ?claims.held_now(), "took this node's claims");
        claims
    }

    pub fn holds(&self, work: Work) -> bool {
        self.held[work as usize].load(Ordering::SeqCst)
    }

    fn held_now(&self) -> Vec<&'static str> {
        Work::ALL.into_iter().filter(|work| self.holds(*work)).map(Work::name).collect()
    }

    /// Renews what this node holds and takes what lapsed; answers the work newly taken.
    fn renew(&self, store: &dyn Store) -> Vec<Work> {
        let mut taken = Vec::new();
        for work in Work::ALL {
            let holds = match store.claim(work.name(), &self.node, self.lease) {
                Ok(holds) => holds,
                Err(error) => {
                    // Unrenewed, a claim lapses at the database when the lease does; stop the
                    // work before another node may take it.
                    tracing::warn!(%error, work = work.name(), "cannot renew a claim");
                    false
                }
            };
            let held = self.held[work as usize].swap(holds, Ordering::SeqCst);
            if holds && !held {
                taken.push(work);
            }
            if held && !holds {
                tracing::warn!(work = work.name(), node = %self.node, "lost a claim");
            }
        }
        taken
    }

    /// Lets go of every claim at a graceful stop, so another node takes them at once.
    pub fn release(&self, store: &dyn Store) {
        for work in Work::ALL {
            self.held[work as usize].store(false, Ordering::SeqCst);
        }
        if let Err(error) = store.release_claims(&self.node) {
            tracing::warn!(%error, "cannot release this node's claims; they lapse with the lease");
        }
    }
}

/// What a node that stopped may have left half done, for the node holding its claim to finish.
pub struct Leftovers {
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    pub inbox: Arc<Inbox>,
    /// How long a live node takes at most to settle a charge or apply a gateway event: every
    /// gateway call's time limit, with room. What stayed undone longer, a stopped node left.
    pub done_within: Duration,
}

/// Renews the claims until the engine stops; on a shared database, finishes what stopped nodes
/// left for the claims this node holds.
pub async fn run(claims: Arc<Claims>, leftovers: Leftovers) {
    let Leftovers { store, registry, inbox, done_within } = leftovers;
    let mut ticks = tokio::time::interval(claims.lease / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let renewing = Arc::clone(&claims);
        let store_now = Arc::clone(&store);
        // The store's calls block; the renewal must not wait behind the runtime's other work.
        let taken = tokio::task::spawn_blocking(move || renewing.renew(store_now.as_ref()))
            .await
            .unwrap_or_default();
        if !taken.is_empty() {
            tracing::info!(node = %claims.node, taken = ?taken, "took over lapsed claims");
        }
        if !store.shared() {
            continue;
        }
        let cutoff = crate::domain::time::now_unix_secs()
            - i64::try_from(done_within.as_secs()).unwrap_or(i64::MAX);
        if claims.holds(Work::Reconciliation) {
            match crate::recovery::run_older_than(store.as_ref(), &registry, Some(cutoff)).await {
                Ok(report) if report.found > 0 => {
                    tracing::info!(
                        found = report.found,
                        settled = report.settled,
                        "settled what a stopped node left unsettled"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "cannot read what is unsettled"),
            }
        }
        if claims.holds(Work::Inbox) {
            match inbox.take_left(cutoff) {
                Ok(0) => {}
                Ok(taken) => tracing::info!(taken, "applying gateway events a stopped node left"),
                Err(error) => tracing::error!(%error, "cannot read the gateway events left"),
            }
        }
    }
}
