//! Refunds of a customer's credit balance: money it holds with the platform (an over-payment
//! by bank transfer, a credit note, a downgrade's unused time) paid back out to it. There is no
//! card to give it back to, so it goes out as a refund of a bank-transfer charge does: to a
//! bank account or an M-Pesa phone through the payout adapter that pays it, under the refund's
//! id as the payment's idempotency key, or recorded as paid back by the platform itself.
//!
//! The amount leaves the balance when the refund is recorded, before anything is sent, so no
//! invoice can spend credit that is on its way out; a refund that fails puts it back.

use actix::{Context, Handler, ResponseActFuture, fut};

use super::bank_transfers::BANK_TRANSFER_GATEWAY;
use super::messages::{RefundBalance, RefundPayOut};
use super::refund_payouts::RefundChannel;
use super::refunds::StartedRefund;
use super::{ActorError, CustomerActor};
use crate::domain::money::currency_code;
use crate::domain::time::now_unix_secs;
use crate::domain::{Money, PaidOut, Refund, RefundId, RefundStatus};
use crate::store::{ChangeSet, Write};

impl Handler<RefundBalance> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Refund, ActorError>>;

    fn handle(&mut self, message: RefundBalance, _: &mut Context<Self>) -> Self::Result {
        if let Some(answer) = self.earlier_refund(message.idempotency.as_ref()) {
            return answer;
        }
        let cause = message.cause.clone();
        match self.begin_balance_refund(message) {
            Ok(started) => self.carry_out_refund(started, cause),
            Err(error) => Box::pin(fut::ready(Err(error))),
        }
    }
}

impl CustomerActor {
    /// Records a `pending` refund of the customer's credit, taking its amount from the balance
    /// in the same change set.
    fn begin_balance_refund(
        &mut self,
        message: RefundBalance,
    ) -> Result<StartedRefund, ActorError> {
        let customer = &self.accepting()?.customer;
        let held = customer.balance_minor.checked_neg().filter(|credit| *credit > 0);
        let (Some(credit), Some(currency)) = (held, customer.currency) else {
            return Err(ActorError::InsufficientBalance { available: 0 });
        };
        if let Some(asked) = message.currency.filter(|asked| *asked != currency) {
            return Err(ActorError::invalid(
                "currency_mismatch",
                Some("currency"),
                format!(
                    "the customer's balance is in {}, not {}",
                    currency_code(currency),
                    currency_code(asked)
                ),
            ));
        }
        let amount_minor = message.amount_minor.unwrap_or(credit);
        if amount_minor > credit {
            return Err(ActorError::InsufficientBalance { available: credit });
        }
        let id = RefundId::generate();
        let mut refund = Refund {
            id: id.clone(),
            charge: None,
            customer: self.key.customer.clone(),
            amount: Money { amount_minor, currency },
            status: RefundStatus::Pending,
            reason: message.reason,
            gateway: BANK_TRANSFER_GATEWAY.to_owned(),
            gateway_reference: None,
            failure_message: None,
            created: now_unix_secs(),
            idempotency_key: message.idempotency.as_ref().map(|ticket| ticket.key.clone()),
            credit_note: None,
            reverse_transfer: false,
            transfer_reversed_minor: 0,
            paid_out: None,
            conversion: None,
        };
        let channel = match message.pay_out {
            RefundPayOut::To(destination) => {
                let description = format!("Refund {id} of credit held by {}", self.key.customer);
                self.payout_channel(destination, description, &mut refund)?
            }
            RefundPayOut::SettledOutside => {
                refund.paid_out = Some(PaidOut::Outside);
                RefundChannel::Outside
            }
        };
        let mut changes = self.changes();
        let customer = &mut self.accepting()?.customer;
        customer.balance_minor += amount_minor;
        changes.push(Write::Customer(customer.clone()));
        let recorded =
            self.record_pending(changes, &refund, &message.cause, message.idempotency.as_ref())?;
        Ok(StartedRefund { refund, recorded, channel })
    }

    /// Puts a failed refund of credit back on the customer's balance, in `changes`.
    pub(super) fn return_to_balance(
        &mut self,
        changes: &mut ChangeSet,
        refund: &Refund,
    ) -> Result<(), ActorError> {
        let customer = &mut self.settling()?.customer;
        customer.balance_minor -= refund.amount.amount_minor;
        changes.push(Write::Customer(customer.clone()));
        Ok(())
    }
}
