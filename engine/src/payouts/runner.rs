//! The payout schedule's runner. At each instant of a payee's schedule (see [`super::schedule`])
//! every currency of its balance with at least its minimum available (one minor unit, in a
//! currency other than its default) is paid out whole, as of that instant; then the instant is
//! marked acted on. A payout spends the balance it pays, so an instant acted on twice (a stop
//! between a payout and the mark) pays nothing more.
//!
//! Real time: a loop every `billing.scheduler_interval_ms`, on the node holding the schedule's
//! claim, acts on each payee's latest instant not yet acted on, and takes up the payouts left
//! unsettled. A test clock: an advance acts on every instant of the clock's payees that it
//! passed, in time order, each as of itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Ask, PayoutError, Payouts, schedule};
use crate::cluster::{Claims, Work};
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, Payee, PayeeId, TestClock};
use crate::store::{StoreError, each_in_pages};

/// Payees read at a time.
const PAYEES_PAGE: usize = 100;

impl Payouts {
    /// Pays `payee` out for its schedule's instant `at`; answers how many payouts were made.
    async fn act_on(&self, payee: &Payee, at: i64) -> Result<usize, StoreError> {
        let mut made = 0;
        if payee.destination_failure.is_none() {
            // The schedule is read from payees as stored; a payout needs the destination.
            let Some(payee) = self.store.payee(&payee.account, &payee.id)? else { return Ok(0) };
            let payee = &payee;
            let balance = crate::ledger::balances::payee_balance(
                self.store.as_ref(),
                &payee.account,
                &payee.id,
                at,
            )?;
            for (currency, amounts) in balance {
                let minimum = match currency == payee.default_currency {
                    true => payee.payout_schedule.minimum_amount.max(1),
                    false => 1,
                };
                if amounts.available < minimum || !payee.destination.takes(currency) {
                    continue;
                }
                let ask =
                    Ask { amount_minor: None, currency, scheduled_for: Some(at), answered: None };
                match self.pay_out(payee, ask).await {
                    Ok(_) => made += 1,
                    // Spent meanwhile (a payout by hand): nothing left to pay.
                    Err(PayoutError::InsufficientBalance { .. }) => {}
                    Err(PayoutError::Refused(_, reason)) => {
                        tracing::warn!(payee = %payee.id, %reason, "a scheduled payout was refused");
                    }
                    Err(PayoutError::Store(error)) => return Err(error),
                }
            }
        }
        self.store.mark_payout_slot(&payee.account, &payee.id, at)?.wait().await?;
        Ok(made)
    }

    /// Where the payee's schedule was last acted on: its latest marked instant, or its creation.
    fn acted_until(&self, payee: &Payee) -> Result<i64, StoreError> {
        let marked = self.store.last_payout_slot(&payee.account, &payee.id)?;
        Ok(marked.unwrap_or(payee.created).max(payee.created))
    }

    /// Real time: acts on every payee's latest instant not yet acted on.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let now = now_unix_secs();
        let mut made = 0;
        for payee in self.store.scheduled_payees()? {
            if payee.test_clock.is_some() {
                continue;
            }
            let after = self.acted_until(&payee)?;
            if let Some(at) = schedule::latest(&payee.payout_schedule, after, now) {
                made += self.act_on(&payee, at).await?;
            }
        }
        Ok(made)
    }

    /// A test clock advanced to its frozen time: acts on every instant it passed of its
    /// payees' schedules, in time order.
    pub async fn run_clock(
        &self,
        account: &AccountId,
        clock: &TestClock,
    ) -> Result<usize, StoreError> {
        let mut due = Vec::new();
        let read = |after: Option<&PayeeId>| self.store.payees(account, PAYEES_PAGE, after);
        each_in_pages(
            read,
            |payee| payee.id.clone(),
            |payee| {
                if payee.test_clock.as_ref() == Some(&clock.id) {
                    let after = self.acted_until(&payee)?;
                    for at in schedule::instants(&payee.payout_schedule, after, clock.frozen_time) {
                        due.push((at, payee.clone()));
                    }
                }
                Ok::<_, StoreError>(())
            },
        )?;
        due.sort_by(|(one, a), (other, b)| one.cmp(other).then_with(|| a.id.cmp(&b.id)));
        let mut made = 0;
        for (at, payee) in due {
            made += self.act_on(&payee, at).await?;
        }
        Ok(made)
    }
}

/// Real time: the schedule every `interval`, and the unsettled payouts at most every
/// `settle_every`, on the node holding the schedule's claim.
pub async fn run_live(
    payouts: Arc<Payouts>,
    interval: Duration,
    settle_every: Duration,
    claims: Arc<Claims>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut settled_at: Option<Instant> = None;
    loop {
        ticks.tick().await;
        if !claims.holds(Work::Schedule) {
            continue;
        }
        if settled_at.is_none_or(|at| at.elapsed() >= settle_every) {
            settled_at = Some(Instant::now());
            match payouts.settle_unsettled().await {
                Ok(0) => {}
                Ok(settled) => tracing::info!(settled, "settled payouts left unsettled"),
                Err(error) => tracing::error!(%error, "unsettled payouts could not be taken up"),
            }
        }
        match payouts.run_due().await {
            Ok(0) => {}
            Ok(made) => tracing::info!(made, "made scheduled payouts"),
            Err(error) => tracing::error!(%error, "the payout schedule could not be run"),
        }
    }
}
