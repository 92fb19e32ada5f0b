//! Archival (`storage.archive_after_days`): records closed for longer than that move out of the
//! live trees into the archive files (see [`crate::store::archive`]), where they still read by
//! id (`archived: true`) and count in reports, exports and the ledger's check. Closed means:
//! an invoice paid or void (since it was paid or voided), a charge with nothing left to refund
//! and no dispute (failed, since it was made; refunded in full, since its last refund), and an
//! outgoing event delivered to every endpoint that took it (since it was created).
//!
//! A customer on a test clock is judged at its clock's time, so a test advances the clock past
//! the age instead of waiting; the live engine passes once at start and every
//! [`ARCHIVE_INTERVAL`] on the node holding the schedule's claim, and after each test clock's
//! advance for that clock's customers.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cluster::{Claims, Work};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, Charge, ChargeId, ChargeStatus, CustomerId, Invoice, InvoiceStatus, RefundStatus,
    TestClockId,
};
use crate::ledger::accrual;
use crate::limits::ARCHIVE_INTERVAL;
use crate::store::{Archivable, ArchivedRecord, CustomerStore, StoreError};

/// Records handed to the store to move at once: a few blocks' worth.
const BATCH: usize = 1024;
const DAY: i64 = 86_400;

/// Which customers' records a pass looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every record, each at its customer's time (its test clock's, or now).
    All,
    /// Only the customers on this clock, at its time.
    Clock(TestClockId),
}

/// What a pass moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Archived {
    pub invoices: usize,
    pub charges: usize,
    pub events: usize,
}

impl Archived {
    pub fn total(&self) -> usize {
        self.invoices + self.charges + self.events
    }
}

pub struct Archival {
    store: Arc<dyn CustomerStore>,
    /// `None`: archival is off.
    after_days: Option<u32>,
}

impl Archival {
    pub fn new(store: Arc<dyn CustomerStore>, after_days: Option<u32>) -> Archival {
        Archival { store, after_days }
    }

    /// Moves every record of `scope` closed for longer than the configured age, as of `now` for
    /// customers on no test clock; nothing when archival is off.
    pub fn pass(&self, scope: &Scope, now: i64) -> Result<Archived, StoreError> {
        let Some(days) = self.after_days else { return Ok(Archived::default()) };
        let mut pass = Pass {
            store: self.store.as_ref(),
            scope,
            now,
            age: i64::from(days) * DAY,
            customer: None,
            batch: Vec::new(),
            moved: Archived::default(),
        };
        self.store.each_archivable(&mut |record| pass.consider(record))?;
        pass.flush()?;
        Ok(pass.moved)
    }
}

/// One pass's state: the customer it last looked up, and the records waiting to move.
struct Pass<'a> {
    store: &'a dyn CustomerStore,
    scope: &'a Scope,
    now: i64,
    age: i64,
    /// The customer last looked up (records come grouped by customer): its time, and its
    /// refunds' times per charge.
    customer: Option<CustomerTime>,
    batch: Vec<Archivable>,
    moved: Archived,
}

struct CustomerTime {
    account: AccountId,
    customer: CustomerId,
    /// Its clock's time, its time now, or `None` when the scope leaves it out.
    now: Option<i64>,
    /// When each charge's last succeeded refund was made.
    refunded_at: HashMap<ChargeId, i64>,
}

impl Pass<'_> {
    fn consider(&mut self, record: Archivable) -> Result<(), StoreError> {
        // What may be closed is found from the record alone; its customer's time (and, for a
        // refunded charge, its refunds) is read only then.
        let age = match &record.record {
            ArchivedRecord::Invoice(invoice) => match invoice_closed_at(invoice) {
                Some(at) => {
                    self.customer(&record.account, &invoice.customer)?.now.map(|now| now - at)
                }
                None => None,
            },
            ArchivedRecord::Charge(charge) if may_be_closed(charge) => {
                let customer = self.customer(&record.account, &charge.customer)?;
                let refunded_at = customer.refunded_at.get(&charge.id).copied();
                customer.now.zip(charge_closed_at(charge, refunded_at)).map(|(now, at)| now - at)
            }
            ArchivedRecord::Charge(_) => None,
            // Events are kept in real time; a clock's pass leaves them to the live ones.
            ArchivedRecord::Event(event) => {
                (*self.scope == Scope::All).then_some(self.now - event.created)
            }
        };
        if age.is_some_and(|age| age >= self.age) {
            self.batch.push(record);
            if self.batch.len() >= BATCH {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn customer(
        &mut self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<&CustomerTime, StoreError> {
        let known = self
            .customer
            .as_ref()
            .is_some_and(|known| known.account == *account && known.customer == *customer);
        if !known {
            let clock = self.store.customer_test_clock(account, customer)?;
            let now = match (self.scope, &clock) {
                (Scope::Clock(wanted), Some(clock)) if clock != wanted => None,
                (Scope::Clock(_), None) => None,
                (_, Some(clock)) => {
                    self.store.test_clock(account, clock)?.map(|clock| clock.frozen_time)
                }
                (Scope::All, None) => Some(self.now),
            };
            let mut refunded_at = HashMap::new();
            if now.is_some() {
                for refund in self.store.refunds(account, customer)? {
                    if let (RefundStatus::Succeeded, Some(charge)) = (refund.status, refund.charge)
                    {
                        let at = refunded_at.entry(charge).or_insert(refund.created);
                        *at = (*at).max(refund.created);
                    }
                }
            }
            self.customer = Some(CustomerTime {
                account: account.clone(),
                customer: customer.clone(),
                now,
                refunded_at,
            });
        }
        Ok(self.customer.as_ref().expect("set above"))
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let (moved, _durable) = self.store.archive(&self.batch)?;
        for (record, moved) in self.batch.drain(..).zip(moved) {
            let counter = match record.record {
                ArchivedRecord::Invoice(_) => &mut self.moved.invoices,
                ArchivedRecord::Charge(_) => &mut self.moved.charges,
                ArchivedRecord::Event(_) => &mut self.moved.events,
            };
            *counter += usize::from(moved);
        }
        Ok(())
    }
}

/// When a paid or void invoice closed; `None` while it may still change.
fn invoice_closed_at(invoice: &Invoice) -> Option<i64> {
    // Revenue still to be recognized is posted as the invoice is written again.
    if invoice.collecting || invoice.payment_pending || accrual::next_recognition(invoice).is_some()
    {
        return None;
    }
    match invoice.status {
        InvoiceStatus::Paid => invoice.paid_at,
        InvoiceStatus::Void => invoice.voided_at,
        InvoiceStatus::Draft | InvoiceStatus::Open | InvoiceStatus::Uncollectible => None,
    }
}

/// Whether a charge has nothing left to refund and no dispute: failed, or refunded in full.
fn may_be_closed(charge: &Charge) -> bool {
    let nothing_left = match charge.status {
        ChargeStatus::Failed => true,
        ChargeStatus::Succeeded => charge.amount_refunded_minor >= charge.amount.amount_minor,
        ChargeStatus::Processing | ChargeStatus::RequiresAction => false,
    };
    nothing_left && charge.dispute.is_none() && charge.review.is_none()
}

/// When a charge [`may_be_closed`] closed: a failed one when it was made, a refunded one at its
/// last refund.
fn charge_closed_at(charge: &Charge, last_refund_at: Option<i64>) -> Option<i64> {
    match charge.status {
        ChargeStatus::Failed => Some(charge.created),
        _ => last_refund_at,
    }
}

/// Real time: a pass at start and every [`ARCHIVE_INTERVAL`], on the node holding the
/// schedule's claim.
pub async fn run_live(archival: Arc<Archival>, claims: Arc<Claims>) {
    if archival.after_days.is_none() {
        return;
    }
    let mut ticks = tokio::time::interval(ARCHIVE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !claims.holds(Work::Schedule) {
            continue;
        }
        let archival = Arc::clone(&archival);
        let pass = tokio::task::spawn_blocking(move || archival.pass(&Scope::All, now_unix_secs()));
        match pass.await {
            Ok(Ok(moved)) if moved.total() == 0 => {}
            Ok(Ok(moved)) => tracing::info!(
                invoices = moved.invoices,
                charges = moved.charges,
                events = moved.events,
                "archived closed records"
            ),
            Ok(Err(error)) => tracing::error!(%error, "archival failed"),
            Err(error) => tracing::error!(%error, "archival stopped"),
        }
    }
}

/// A test clock's advance: its customers' records, at its time.
pub async fn run_clock(
    archival: Arc<Archival>,
    clock: TestClockId,
) -> Result<Archived, StoreError> {
    let now = now_unix_secs();
    tokio::task::spawn_blocking(move || archival.pass(&Scope::Clock(clock), now))
        .await
        .map_err(|error| StoreError::Storage(format!("archival stopped: {error}")))?
}
