//! Payouts: money out of a payee's available balance to its destination.
//!
//! A payout is decided on the payee's balance as the books hold it, and recorded with the
//! posting that moves its amount from the payee into transit before anything is sent: the
//! store refuses the record if a posting moved the payee's balance since (see
//! [`PayoutChange::decided_on`]), so two payouts never spend one balance, on one node or
//! several. Each part is then sent once under its own key through the payout adapter that pays
//! the destination. An outcome the adapter did not give (a timeout, a 5xx) leaves the part in
//! transit until [`Payouts::settle_unsettled`] asks the adapter's status query: paying again
//! could pay twice. A part that arrived leaves transit through the gateway's clearing account;
//! one that failed goes back to the payee's available balance, and the destination is flagged
//! until it is changed.
//!
//! [`schedule`] says when each payee's schedule pays; [`runner`] acts on it, in real time or
//! as a test clock advances.

pub mod runner;
pub mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kassa_gateways::GatewayError;
use kassa_gateways::payouts::{PayoutAdapter, PayoutDestination, PayoutOutcome, PayoutRequest};
use serde_json::json;

use crate::api::payee_views;
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, Currency, Destination, DestinationFailure, LedgerAccount, NewOutgoingEvent,
    PartStatus, Payee, PayeeId, Payout, PayoutId, PayoutStatus,
};
use crate::events_out::OutboxSignal;
use crate::ledger::balances::payee_balance;
use crate::ledger::postings;
use crate::store::{IdempotencyRecord, Outcome, PayoutChange, Store, StoreError, Write};

/// Times a payout is decided again when the payee's balance moved while it was decided.
const DECIDE_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    /// More was asked than is available (or nothing is).
    #[error("{currency} {available} is available to pay out")]
    InsufficientBalance { available: i64, currency: String },
    /// The destination cannot take the payout: the field is named.
    #[error("{1}")]
    Refused(&'static str, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a request (or the schedule) asks for.
pub struct Ask {
    /// `None`: everything available.
    pub amount_minor: Option<i64>,
    pub currency: Currency,
    /// The schedule's instant, for a payout it makes; the balance is taken as of then.
    pub scheduled_for: Option<i64>,
    /// The request's Idempotency-Key (its keyed hash) and fingerprint.
    pub answered: Option<(String, [u8; 32])>,
}

/// Each payee's lock, by account and payee.
type PayeeLocks = HashMap<(AccountId, PayeeId), Arc<tokio::sync::Mutex<()>>>;

pub struct Payouts {
    store: Arc<dyn Store>,
    adapters: Vec<Arc<dyn PayoutAdapter>>,
    outbox: Arc<OutboxSignal>,
    /// One payout of a payee decided and sent at a time on this node.
    payees: Mutex<PayeeLocks>,
}

impl Payouts {
    pub fn new(
        store: Arc<dyn Store>,
        adapters: Vec<Arc<dyn PayoutAdapter>>,
        outbox: Arc<OutboxSignal>,
    ) -> Payouts {
        Payouts { store, adapters, outbox, payees: Mutex::default() }
    }

    fn payee_lock(&self, account: &AccountId, payee: &PayeeId) -> Arc<tokio::sync::Mutex<()>> {
        let mut payees = self.payees.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(payees.entry((account.clone(), payee.clone())).or_default())
    }

    /// The adapter that pays `destination`: a live one that does, else the sandbox.
    fn adapter_for(&self, destination: &PayoutDestination) -> Option<&Arc<dyn PayoutAdapter>> {
        let live = self.adapters.iter().find(|adapter| {
            adapter.method() != kassa_gateways::sandbox::NAME && adapter.pays_to(destination)
        });
        live.or_else(|| self.adapters.iter().find(|adapter| adapter.pays_to(destination)))
    }

    /// The time as the payee's schedule sees it: its test clock's, where it has one.
    pub fn now_for(&self, payee: &Payee) -> Result<i64, StoreError> {
        let Some(clock) = &payee.test_clock else { return Ok(now_unix_secs()) };
        match self.store.test_clock(&payee.account, clock)? {
            Some(clock) => Ok(clock.frozen_time),
            None => Ok(now_unix_secs()),
        }
    }

    /// Decides, records and sends a payout to `payee`; answers it as it stands after the send.
    pub async fn pay_out(&self, payee: &Payee, ask: Ask) -> Result<Payout, PayoutError> {
        if let Some(failure) = &payee.destination_failure {
            return Err(PayoutError::Refused(
                "payee",
                format!(
                    "payout {} to payee {}'s destination failed ({}): change the destination first",
                    failure.payout, payee.id, failure.code
                ),
            ));
        }
        let lock = self.payee_lock(&payee.account, &payee.id);
        let _one_at_a_time = lock.lock().await;
        let destination = destination(&payee.destination);
        let adapter = self.adapter_for(&destination).ok_or_else(|| {
            PayoutError::Refused(
                "payee",
                format!("no payout adapter pays a {} destination", payee.destination.kind()),
            )
        })?;
        let mut payout = None;
        for _ in 0..DECIDE_ATTEMPTS {
            let decided = self.decide(payee, adapter.as_ref(), &destination, &ask)?;
            match self.store.commit_payout(decided.clone()) {
                Ok(ticket) => {
                    ticket.wait().await?;
                    payout = Some(decided.payout);
                    break;
                }
                // The balance moved meanwhile (another node's payout, a refund's reversal):
                // decided again on the balance as it is now.
                Err(StoreError::Conflict(_)) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        let Some(payout) = payout else {
            return Err(StoreError::Conflict(format!(
                "payee {}'s balance kept moving while a payout was decided",
                payee.id
            ))
            .into());
        };
        self.outbox.wake();
        let sent = self.send(payout, adapter.as_ref(), &destination, payee, false).await?;
        if let Some((key, fingerprint)) = &ask.answered {
            let answer = answered(key, *fingerprint, &sent);
            let mut change = PayoutChange::new(sent.clone());
            change.answered = Some(answer);
            self.store.commit_payout(change)?.wait().await?;
        }
        Ok(sent)
    }

    /// The payout `ask` makes of the payee's balance now, with the posting that takes its
    /// amount into transit and the totals the decision rests on.
    fn decide(
        &self,
        payee: &Payee,
        adapter: &dyn PayoutAdapter,
        destination: &PayoutDestination,
        ask: &Ask,
    ) -> Result<PayoutChange, PayoutError> {
        let (account, currency) = (&payee.account, ask.currency);
        let now = self.now_for(payee)?;
        let held_by = LedgerAccount::Payee { payee: payee.id.clone() };
        let decided_on = self.store.ledger_balance(account, &held_by, currency)?;
        let as_of = ask.scheduled_for.unwrap_or(now);
        let balance = payee_balance(self.store.as_ref(), account, &payee.id, as_of)?;
        let available = balance.get(&currency).map_or(0, |amounts| amounts.available);
        let amount_minor = match ask.amount_minor {
            Some(amount) => amount,
            None => adapter.payable(destination, currency, available),
        };
        if amount_minor <= 0 || amount_minor > available {
            return Err(PayoutError::InsufficientBalance {
                available: available.max(0),
                currency: crate::domain::money::currency_code(currency),
            });
        }
        let id = PayoutId::generate();
        let limit = adapter.transaction_max(destination, currency);
        let payout = Payout {
            id: id.clone(),
            account: account.clone(),
            payee: payee.id.clone(),
            amount_minor,
            currency,
            method: adapter.method().to_owned(),
            parts: Payout::split(&id, amount_minor, limit),
            scheduled_for: ask.scheduled_for,
            failure_code: None,
            failure_message: None,
            arrival_date: None,
            created: now,
        };
        adapter
            .check_payout(&request(&payout, &payout.parts[0], destination))
            .map_err(|error| PayoutError::Refused("amount", error.to_string()))?;
        let mut change = PayoutChange::new(payout.clone());
        change.postings.extend(postings::payout_made(&payout));
        change.decided_on = Some(decided_on);
        change.events.push(self.event(&payout, "payout.created")?);
        if let Some((key, fingerprint)) = &ask.answered {
            change.answered = Some(answered(key, *fingerprint, &payout));
        }
        Ok(change)
    }

    /// Sends each unsettled part, or (`recovering`: a part may have been sent before a stop)
    /// asks the adapter what became of it first; records each outcome as it comes.
    async fn send(
        &self,
        mut payout: Payout,
        adapter: &dyn PayoutAdapter,
        destination: &PayoutDestination,
        payee: &Payee,
        recovering: bool,
    ) -> Result<Payout, StoreError> {
        for index in 0..payout.parts.len() {
            let part = &payout.parts[index];
            if part.status.settled() {
                continue;
            }
            let sent = request(&payout, part, destination);
            let asked_first = recovering || part.status == PartStatus::InTransit;
            let outcome = match asked_first {
                true => match adapter.payout_status(&sent).await {
                    Ok(Some(outcome)) => Ok(outcome),
                    Ok(None) => adapter.pay(&sent).await,
                    Err(error) => Err(error),
                },
                false => adapter.pay(&sent).await,
            };
            // Still in transit, as recorded: nothing to write.
            let unchanged = matches!(
                &outcome,
                Ok(PayoutOutcome::InTransit { .. })
                    | Err(GatewayError::Ambiguous(_) | GatewayError::NotAttempted(_))
            );
            if unchanged && payout.parts[index].status == PartStatus::InTransit {
                continue;
            }
            payout = self.record(payout, index, outcome, payee).await?;
        }
        Ok(payout)
    }

    /// Records what became of part `index`, with the postings and events it makes.
    async fn record(
        &self,
        mut payout: Payout,
        index: usize,
        outcome: Result<PayoutOutcome, GatewayError>,
        payee: &Payee,
    ) -> Result<Payout, StoreError> {
        let before = payout.status();
        let returned_before = payout.returned_minor();
        let at = self.now_for(payee)?;
        let amount = payout.parts[index].amount_minor;
        let mut change = PayoutChange::new(payout.clone());
        let part = &mut payout.parts[index];
        match outcome {
            Ok(PayoutOutcome::Paid { reference }) => {
                arrived(&mut payout, index, reference, &mut change, at);
            }
            // A part came back, the rest stayed paid: what came back since is the payee's
            // again. A total at or below what is recorded is an old or repeated report.
            Ok(PayoutOutcome::PartlyReturned { reference, returned_minor }) => {
                if part.status == PartStatus::Paid && returned_minor <= part.reversed_minor {
                    return Ok(payout);
                }
                if part.status != PartStatus::Paid {
                    arrived(&mut payout, index, reference, &mut change, at);
                }
                let part = &mut payout.parts[index];
                let total = returned_minor.clamp(0, amount);
                let back = total - part.reversed_minor;
                if back > 0 {
                    part.reversed_minor = total;
                    change.postings.extend(postings::payout_returned(&payout, back, at));
                }
            }
            Ok(PayoutOutcome::InTransit { reference }) => {
                part.status = PartStatus::InTransit;
                part.reference = Some(reference);
            }
            // Sent back after it was paid: from the clearing account it reached, less what
            // came back of it before.
            Ok(PayoutOutcome::Returned { code, message }) if part.status == PartStatus::Paid => {
                part.status = PartStatus::Returned;
                let back = amount - part.reversed_minor;
                change.postings.extend(postings::payout_returned(&payout, back, at));
                self.flag(&mut payout, &mut change, at, code, message);
            }
            // Returned before it was known paid: it never left transit in the books.
            Ok(
                PayoutOutcome::Failed { code, message } | PayoutOutcome::Returned { code, message },
            ) => {
                part.status = PartStatus::Failed;
                self.failed(&mut payout, &mut change, amount, at, code, message);
            }
            // Refused before it was acted on: nothing moved, and it never will as asked.
            Err(GatewayError::InvalidRequest(message)) => {
                part.status = PartStatus::Failed;
                let code = "could_not_process".to_owned();
                self.failed(&mut payout, &mut change, amount, at, code, message);
            }
            // Never reached the adapter: sent again on the next pass.
            Err(GatewayError::NotAttempted(message)) => {
                tracing::warn!(payout = %payout.id, %message, "a payout could not be sent; it is tried again");
                return Ok(payout);
            }
            // Unknown: in transit until the status query says.
            Err(error) => {
                tracing::warn!(payout = %payout.id, %error, "a payout's outcome is unknown; its status is asked later");
                part.status = PartStatus::InTransit;
            }
        }
        let after = payout.status();
        // When it arrived: a part coming back later does not move it.
        if after == PayoutStatus::Paid && before != PayoutStatus::Paid {
            payout.arrival_date = Some(at);
        }
        let kind = match after {
            _ if after == before => {
                (payout.returned_minor() != returned_before).then_some("payout.updated")
            }
            PayoutStatus::Paid => Some("payout.paid"),
            PayoutStatus::Failed => Some("payout.failed"),
            PayoutStatus::Pending | PayoutStatus::InTransit => Some("payout.updated"),
        };
        if let Some(kind) = kind {
            change.events.push(self.event(&payout, kind)?);
        }
        change.payout = payout.clone();
        self.store.commit_payout(change)?.wait().await?;
        if kind.is_some() {
            self.outbox.wake();
        }
        Ok(payout)
    }

    /// A part failed: its amount back to the payee, the payout and the destination marked.
    fn failed(
        &self,
        payout: &mut Payout,
        change: &mut PayoutChange,
        amount: i64,
        at: i64,
        code: String,
        message: String,
    ) {
        change.postings.extend(postings::payout_failed(payout, amount, at));
        self.flag(payout, change, at, code, message);
    }

    /// Marks the payout and its destination with why money came back.
    fn flag(
        &self,
        payout: &mut Payout,
        change: &mut PayoutChange,
        at: i64,
        code: String,
        message: String,
    ) {
        change.flag = Some(DestinationFailure {
            payout: payout.id.clone(),
            code: code.clone(),
            message: message.clone(),
            at,
        });
        payout.failure_code = Some(code);
        payout.failure_message = Some(message);
    }

    /// Of `accounts`, the one whose payout the part's key (`po_…`, `po_…-2`) names: for an
    /// adapter's event that does not say (a Stripe transfer's).
    pub fn account_of_key(
        &self,
        accounts: &[AccountId],
        key: &str,
    ) -> Result<Option<AccountId>, StoreError> {
        let Some(id) = PayoutId::parse(payout_id_of(key)) else { return Ok(None) };
        for account in accounts {
            if self.store.payout(account, &id)?.is_some() {
                return Ok(Some(account.clone()));
            }
        }
        Ok(None)
    }

    /// Records what became of the part sent as `key` (a result the adapter posted back);
    /// answers the payout as it stands after, or `None` when no payout of the account has it.
    pub async fn record_result(
        &self,
        account: &AccountId,
        key: &str,
        outcome: PayoutOutcome,
    ) -> Result<Option<Payout>, StoreError> {
        let Some(id) = PayoutId::parse(payout_id_of(key)) else { return Ok(None) };
        let Some(found) = self.store.payout(account, &id)? else { return Ok(None) };
        let lock = self.payee_lock(account, &found.payee);
        let _one_at_a_time = lock.lock().await;
        // Read again under the lock: a sender may have recorded the part meanwhile.
        let Some(payout) = self.store.payout(account, &id)? else { return Ok(None) };
        let Some(index) = payout.parts.iter().position(|part| part.key == key) else {
            return Ok(None);
        };
        // Settled stays settled (a repeated or contradicting result changes nothing), but for a
        // paid part sent back, whole or in part.
        let part = payout.parts[index].status;
        let returned = matches!(
            outcome,
            PayoutOutcome::Returned { .. } | PayoutOutcome::PartlyReturned { .. }
        );
        if part.settled() && !(part == PartStatus::Paid && returned) {
            return Ok(Some(payout));
        }
        let Some(payee) = self.store.payee(account, &payout.payee)? else { return Ok(None) };
        self.record(payout, index, Ok(outcome), &payee).await.map(Some)
    }

    /// Takes up every payout not settled: sent again where the adapter never received it,
    /// settled where its status query now knows. Payouts being sent on this node are left to
    /// their sender.
    pub async fn settle_unsettled(&self) -> Result<usize, StoreError> {
        let mut settled = 0;
        for payout in self.store.unsettled_payouts()? {
            let lock = self.payee_lock(&payout.account, &payout.payee);
            let Ok(_held) = lock.try_lock() else { continue };
            // Read again under the lock: its sender may have finished it since the list.
            let Some(payout) = self.store.payout(&payout.account, &payout.id)? else { continue };
            if payout.settled() {
                continue;
            }
            let Some(payee) = self.store.payee(&payout.account, &payout.payee)? else { continue };
            let destination = destination(&payee.destination);
            let Some(adapter) = self.adapters.iter().find(|found| found.method() == payout.method)
            else {
                tracing::warn!(payout = %payout.id, method = %payout.method, "no adapter sends this payout's method");
                continue;
            };
            let sent = self.send(payout, adapter.as_ref(), &destination, &payee, true).await?;
            settled += usize::from(sent.settled());
        }
        Ok(settled)
    }

    /// An outgoing event about `payout`, as the API shows it now.
    fn event(&self, payout: &Payout, kind: &str) -> Result<NewOutgoingEvent, StoreError> {
        let version = self.store.object_version(&payout.account, payout.id.as_str())? + 1;
        let mut object = payee_views::payout(payout);
        object["version"] = json!(version);
        let data = json!({ "object": object });
        Ok(NewOutgoingEvent::new(&payout.account, None, kind, payout.id.as_str(), version, &data))
    }
}

/// The payout a part's key belongs to: `po_…` for a payout sent whole, `po_…-2` for a part.
fn payout_id_of(key: &str) -> &str {
    key.split_once('-').map_or(key, |(id, _)| id)
}

/// Part `index` of `payout` arrived as `reference`: its amount leaves transit.
fn arrived(
    payout: &mut Payout,
    index: usize,
    reference: String,
    change: &mut PayoutChange,
    at: i64,
) {
    let part = &mut payout.parts[index];
    part.status = PartStatus::Paid;
    part.reference = Some(reference);
    let amount = part.amount_minor;
    change.postings.extend(postings::payout_arrived(payout, amount, at));
}

/// The request that sends `part` of `payout`.
fn request(
    payout: &Payout,
    part: &crate::domain::PayoutPart,
    destination: &PayoutDestination,
) -> PayoutRequest {
    PayoutRequest {
        idempotency_key: part.key.clone(),
        account: payout.account.as_str().to_owned(),
        amount_minor: part.amount_minor,
        currency: payout.currency,
        destination: destination.clone(),
        description: format!("Payout {}", payout.id),
    }
}

/// Where a payee's (or a refund's) destination is paid, as the payout adapters take it.
pub fn destination(destination: &Destination) -> PayoutDestination {
    match destination {
        Destination::BankAccount { account_holder, bank_code, account_number } => {
            PayoutDestination::BankAccount {
                account_holder: account_holder.clone(),
                bank_code: bank_code.clone(),
                account_number: account_number.clone(),
            }
        }
        Destination::Mpesa { phone } => PayoutDestination::Mpesa { phone: phone.clone() },
        Destination::Stripe { account } => PayoutDestination::Stripe { account: account.clone() },
    }
}

fn answered(key: &str, fingerprint: [u8; 32], payout: &Payout) -> (String, IdempotencyRecord) {
    let outcome = Outcome::Payout(Box::new(payout.clone()));
    let Write::Idempotency { key, record } =
        Write::idempotency_completed(key, fingerprint, outcome)
    else {
        unreachable!("idempotency_completed makes an idempotency write");
    };
    (key, record)
}
