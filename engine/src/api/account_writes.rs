//! The writes a handler may make itself: the account-wide billing objects that belong to no
//! customer (plans, test clocks) and accounts themselves, so no customer's actor orders them. Each is one durable write,
//! followed by the idempotency record of the request that made it.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::error::ApiError;
use crate::account_directory::AccountDirectory;
use crate::actor::{IdempotencyTicket, Registry};
use crate::billing::scheduler::{self, ClockWork};
use crate::domain::{Account, AccountId, Event, Payee, Plan, TestClock};
use crate::store::{CustomerStore, Outcome, Store, StoreError};

pub struct AccountWrites {
    store: Arc<dyn Store>,
}

impl AccountWrites {
    pub fn new(store: Arc<dyn Store>) -> AccountWrites {
        AccountWrites { store }
    }

    /// Writes a new or changed plan and answers the request that did it.
    pub async fn save_plan(
        &self,
        account: &AccountId,
        plan: Plan,
        ticket: Option<IdempotencyTicket>,
    ) -> Result<Outcome, ApiError> {
        self.store.put_plan(account, &plan)?.wait().await?;
        self.answered(account, ticket, Outcome::Plan(plan)).await
    }

    /// Writes a new or changed payee and its request's answer, in one write.
    pub async fn save_payee(
        &self,
        payee: Payee,
        ticket: Option<IdempotencyTicket>,
    ) -> Result<Outcome, ApiError> {
        let outcome = Outcome::Payee(Box::new(payee.clone()));
        let record = ticket.map(|ticket| super::idempotency::completed(ticket, outcome.clone()));
        let answered = record.as_ref().map(|(key, record)| (key.as_str(), record));
        self.store.put_payee(&payee, answered)?.wait().await?;
        Ok(outcome)
    }

    /// Writes a new or changed account and lets the engine serve it as it now is; the request
    /// that did it is answered in the same write.
    pub async fn save_account(
        &self,
        account: Account,
        ticket: Option<IdempotencyTicket>,
        directory: &AccountDirectory,
        audit: Event,
    ) -> Result<Outcome, ApiError> {
        let outcome = Outcome::Account(account.clone());
        let record = ticket.map(|ticket| super::idempotency::completed(ticket, outcome.clone()));
        let answered = record.as_ref().map(|(key, record)| (key.as_str(), record));
        self.store.put_account(&account, answered, Some(&audit))?.wait().await?;
        directory.put(&account);
        Ok(outcome)
    }

    /// Writes a new test clock and answers the request that made it.
    pub async fn create_test_clock(
        &self,
        account: &AccountId,
        clock: TestClock,
        ticket: Option<IdempotencyTicket>,
    ) -> Result<Outcome, ApiError> {
        self.store.put_test_clock(account, &clock)?.wait().await?;
        self.answered(account, ticket, Outcome::TestClock(clock)).await
    }

    pub async fn delete_test_clock(
        &self,
        account: &AccountId,
        clock: &TestClock,
    ) -> Result<(), ApiError> {
        self.store.remove_test_clock(account, &clock.id)?.wait().await?;
        Ok(())
    }

    /// Marks the clock `advancing` durably, then moves it to its new time in the background:
    /// every customer on it is brought up to the new time by its own actor.
    pub async fn advance_test_clock(
        &self,
        registry: &Registry,
        work: ClockWork,
        account: &AccountId,
        clock: TestClock,
    ) -> Result<JoinHandle<Result<TestClock, StoreError>>, ApiError> {
        self.store.put_test_clock(account, &clock)?.wait().await?;
        let store: Arc<dyn CustomerStore> = self.store.clone();
        let (registry, account) = (registry.clone(), account.clone());
        Ok(tokio::spawn(scheduler::advance_clock(store, registry, work, account, clock)))
    }

    /// Records `outcome` as the answer of the request `ticket` came with, durably: no actor
    /// writes it with the effect, as no customer changed.
    pub async fn answered(
        &self,
        account: &AccountId,
        ticket: Option<IdempotencyTicket>,
        outcome: Outcome,
    ) -> Result<Outcome, ApiError> {
        let Some(ticket) = ticket else { return Ok(outcome) };
        let (key, record) = super::idempotency::completed(ticket, outcome.clone());
        self.store.put_idempotency(account, &key, &record)?.wait().await?;
        Ok(outcome)
    }
}
