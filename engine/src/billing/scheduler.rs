//! The durable schedule's runner. Every subscription's and payment plan's next due instant is an
//! entry of the schedule, written with it (see `Write::Subscription`, `Write::PaymentPlan`);
//! this turns the entries that are due into [`RunDue`] messages to the owning customers' actors.
//!
//! Real time: a loop every `billing.scheduler_interval_ms` runs what is due by now, so a
//! renewal due while the engine was down runs at its next start. A test clock: an advance runs
//! what falls due up to its target in time order, one instant at a time (every subscription due
//! at an instant, concurrently, before any due later), through the same messages.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::actor::billing::messages::{Ran, ResumeCollection, RunDue};
use crate::actor::{CustomerKey, Registry};
use crate::archival::{self, Archival};
use crate::cluster::{Claims, Work};
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, TestClock, TestClockStatus};
use crate::limits::{RENEWALS_IN_FLIGHT_MAX, SCHEDULE_BATCH_MAX};
use crate::payouts::Payouts;
use crate::store::{CustomerStore, DueEntry, Scheduled, StoreError, keys};

/// How a run walks the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Everything due by `up_to`, as of `up_to` (real time).
    AllAtOnce,
    /// One instant at a time, each as of itself (a test clock).
    ByInstant,
}

/// Runs what is due in `scope` up to `up_to`; answers how many entries ran.
async fn run_scope(
    store: &Arc<dyn CustomerStore>,
    registry: &Registry,
    scope: &str,
    up_to: i64,
    order: Order,
) -> Result<usize, StoreError> {
    // An object whose step failed or could not move on is left for the next run: it must not
    // hold the others back, nor be asked again and again in this one.
    let mut held: HashSet<Scheduled> = HashSet::new();
    let mut ran = 0;
    loop {
        let fetched = store.due(scope, up_to, SCHEDULE_BATCH_MAX + held.len())?;
        let entries: Vec<DueEntry> =
            fetched.into_iter().filter(|entry| !held.contains(&entry.object)).collect();
        let Some(first) = entries.first() else { return Ok(ran) };
        let instant = first.due;
        let (batch, at): (Vec<DueEntry>, i64) = match order {
            Order::AllAtOnce => (entries, up_to),
            Order::ByInstant => {
                (entries.into_iter().take_while(|entry| entry.due == instant).collect(), instant)
            }
        };
        let results: Vec<(DueEntry, Result<Ran, String>)> = futures::stream::iter(batch)
            .map(|entry| async move {
                let key = CustomerKey {
                    account: entry.account.clone(),
                    customer: entry.customer.clone(),
                };
                let message = RunDue { object: entry.object.clone(), at };
                let answer = registry.send(&key, message).await.and_then(|answer| answer);
                (entry, answer.map_err(|error| error.to_string()))
            })
            .buffer_unordered(RENEWALS_IN_FLIGHT_MAX)
            .collect()
            .await;
        for (entry, answer) in results {
            match answer {
                Ok(done) if done.next_due != Some(entry.due) => {
                    ran += 1;
                    // A step moves its entry with the subscription's own write; an entry at which
                    // nothing ran names nothing due.
                    if !done.steps {
                        store.remove_due(scope, &entry)?;
                    }
                }
                Ok(_) => {
                    held.insert(entry.object);
                }
                Err(error) => {
                    tracing::error!(object = entry.object.as_str(), customer = %entry.customer, %error, "a due step failed; it is tried again on the next run");
                    held.insert(entry.object);
                }
            }
        }
    }
}

/// Real time: runs what is due every `interval`, forever, and makes again the invoice payment
/// attempts whose charge never reached the processor.
pub async fn run_live(
    store: Arc<dyn CustomerStore>,
    registry: Registry,
    interval: Duration,
    claims: Arc<Claims>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Where nodes share the store, the node holding the schedule's claim runs it.
        if !claims.holds(Work::Schedule) {
            continue;
        }
        if let Err(error) = resume_collections(&store, &registry).await {
            tracing::error!(%error, "invoices waiting for a payment attempt could not be read");
        }
        match run_scope(&store, &registry, keys::LIVE_SCOPE, now_unix_secs(), Order::AllAtOnce)
            .await
        {
            Ok(0) => {}
            Ok(ran) => tracing::info!(ran, "ran due renewals"),
            Err(error) => tracing::error!(%error, "the billing schedule could not be read"),
        }
    }
}

/// What a test clock's advance runs after its customers' schedules.
#[derive(Clone)]
pub struct ClockWork {
    pub payouts: Arc<Payouts>,
    pub archival: Arc<Archival>,
}

/// A test clock's advance: runs everything due on it up to its (already moved) frozen time,
/// then marks it ready.
pub async fn advance_clock(
    store: Arc<dyn CustomerStore>,
    registry: Registry,
    work: ClockWork,
    account: AccountId,
    clock: TestClock,
) -> Result<TestClock, StoreError> {
    debug_assert_eq!(clock.status, TestClockStatus::Advancing);
    let ran = run_scope(&store, &registry, clock.id.as_str(), clock.frozen_time, Order::ByInstant)
        .await?;
    // The clock's payees are paid out as of each instant of their schedules it passed.
    let paid = work.payouts.run_clock(&account, &clock).await?;
    let archived = archival::run_clock(work.archival, clock.id.clone()).await?.total();
    tracing::info!(clock = %clock.id, ran, paid, archived, frozen_time = clock.frozen_time, "test clock advanced");
    // Deleted meanwhile: nothing to mark.
    let Some(mut current) = store.test_clock(&account, &clock.id)? else { return Ok(clock) };
    if current.frozen_time == clock.frozen_time {
        current.status = TestClockStatus::Ready;
        store.put_test_clock(&account, &current)?.wait().await?;
    }
    Ok(current)
}

/// Makes every invoice payment attempt that was decided and has no charge recorded (a stop
/// came between, or its charge provably never reached the processor). The attempt's
/// Idempotency-Key makes it happen once, however often this asks.
async fn resume_collections(
    store: &Arc<dyn CustomerStore>,
    registry: &Registry,
) -> Result<(), StoreError> {
    let collecting = store.collecting_invoices()?;
    futures::stream::iter(collecting)
        .for_each_concurrent(RENEWALS_IN_FLIGHT_MAX, |(account, customer, invoice)| async move {
            let key = CustomerKey { account, customer };
            let message = ResumeCollection { invoice: invoice.clone() };
            if let Err(error) = registry.send(&key, message).await.and_then(|answer| answer) {
                tracing::warn!(%invoice, %error, "an invoice's payment attempt failed to start");
            }
        })
        .await;
    Ok(())
}

/// At start-up: resumes invoice payment attempts decided before the stop whose charges were
/// never recorded, and finishes advances the stop interrupted.
pub async fn resume(
    store: Arc<dyn CustomerStore>,
    registry: Registry,
    work: ClockWork,
) -> Result<(), StoreError> {
    resume_collections(&store, &registry).await?;
    for (account, clock) in store.advancing_test_clocks()? {
        let (store, registry, work) = (Arc::clone(&store), registry.clone(), work.clone());
        tokio::spawn(advance_clock(store, registry, work, account, clock));
    }
    Ok(())
}
