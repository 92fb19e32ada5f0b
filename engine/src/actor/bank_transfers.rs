//! Bank transfers (EFT) in the customer's actor. A charge paid by a `bank_transfer` payment
//! method asks no gateway: it is recorded `processing` with a reference of its own and the
//! account's bank details, and waits for the money to show on an uploaded statement, until it
//! expires (`billing.bank_transfer.expiry_days`) through the schedule. The customer's permanent
//! reference pays its open invoices.
//!
//! Each statement line is applied here in one change set with its record under the line's
//! identity ([`Write::BankLine`]), so a line is applied once however often the statement is
//! uploaded, and a recall (a debit returning a credit) finds what to reverse.

use actix::{Context, Handler, Message, ResponseActFuture, WrapFuture};

use super::billing::renewals::Step;
use super::charges::processing_charge;
use super::messages::CreateCharge;
use super::settlement::Settlement;
use super::{ActorError, CustomerActor};
use crate::domain::{
    BankDetails, BankLineRecord, BankTransfer, Cause, Charge, ChargeId, ChargeStatus, Currency,
    CustomerId, Event, EventKind, Failure, InvoiceStatus, LineOutcome, PaymentMethod,
    PaymentMethodKind, ReferenceTarget, bank_reference,
};
use crate::limits::{BANK_CREDITS_SCAN_MAX, UNPAID_SCAN_MAX};
use crate::store::{ChangeSet, DurableTicket, InvoiceFilter, Scheduled, StoreError, Write, keys};

/// The name a bank-transfer charge shows as its gateway: no processor is asked about it.
pub const BANK_TRANSFER_GATEWAY: &str = "bank_transfer";
const SECS_PER_DAY: i64 = 86_400;
/// Fresh references tried before giving up (each collides with another of the account's with a
/// chance of about one in 2^45).
const REFERENCE_TRIES: usize = 8;

/// `POST /v1/bank_statements` (or an allocation): statement lines for this customer, in file
/// order. Answers what each did.
#[derive(Clone, Message)]
#[rtype(result = "Result<Vec<LineApplied>, ActorError>")]
pub struct ApplyBankLines {
    pub lines: Vec<BankLineInput>,
    pub cause: Cause,
}

#[derive(Debug, Clone)]
pub struct BankLineInput {
    pub identity: String,
    pub booked_at: i64,
    /// Signed: negative is money out (a recall).
    pub amount_minor: i64,
    pub currency: Currency,
    pub target: ReferenceTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineApplied {
    pub outcome: LineOutcome,
    pub charge: Option<ChargeId>,
    pub customer: CustomerId,
    /// The open invoices the customer's reference paid, oldest first.
    pub invoices_paid: Vec<crate::domain::InvoiceId>,
}

impl CustomerActor {
    /// The account's bank details, which a bank transfer needs.
    pub(super) fn bank_details(&self) -> Result<BankDetails, ActorError> {
        self.services.accounts.settings(&self.key.account).bank_transfer.clone().ok_or_else(|| {
            ActorError::invalid(
                "bank_transfer_unavailable",
                Some("type"),
                "the account has no bank details: set `settings.bank_transfer` \
                 (POST /v1/account) first",
            )
        })
    }

    /// A reference no charge or customer of the account has.
    fn unused_reference(&self) -> Result<String, ActorError> {
        for _ in 0..REFERENCE_TRIES {
            let reference = bank_reference::generate();
            if self.services.store.bank_reference(&self.key.account, &reference)?.is_none() {
                return Ok(reference);
            }
        }
        Err(ActorError::Store(StoreError::Storage("no unused bank-transfer reference".into())))
    }

    /// The customer's permanent reference, given now (in `changes`) if it has none.
    pub(super) fn permanent_reference(
        &mut self,
        changes: &mut ChangeSet,
    ) -> Result<String, ActorError> {
        let state = self.living()?;
        if let Some(reference) = &state.customer.bank_transfer_reference {
            return Ok(reference.clone());
        }
        let reference = self.unused_reference()?;
        let state = self.accepting()?;
        state.customer.bank_transfer_reference = Some(reference.clone());
        let target = ReferenceTarget { customer: state.customer.id.clone(), charge: None };
        changes.push(Write::Customer(state.customer.clone()));
        changes.push(Write::BankReference { reference: reference.clone(), target });
        Ok(reference)
    }

    /// The payment method a charge would use, when it is a bank transfer.
    pub(super) fn bank_transfer_method(&self, message: &CreateCharge) -> Option<PaymentMethod> {
        let state = self.state.as_ref().ok()?;
        let method = state.charging_method(message.payment_method.as_ref()).ok()?;
        (method.kind == PaymentMethodKind::BankTransfer).then_some(method)
    }

    /// Records a charge paid by bank transfer: `processing`, with its own reference, the
    /// account's bank details and when it expires; its expiry is put on the schedule.
    pub(super) fn begin_bank_transfer(
        &mut self,
        mut message: CreateCharge,
        method: PaymentMethod,
    ) -> Result<(Charge, DurableTicket), ActorError> {
        let bank = self.bank_details()?;
        let now = self.billing_now()?;
        let reference = self.unused_reference()?;
        self.living()?;
        let scope = self.schedule_scope();
        let expiry_days = i64::from(self.services.billing.bank_transfer.expiry_days);
        let transfer = BankTransfer {
            reference: reference.clone(),
            bank,
            amount_received_minor: 0,
            expires_at: now + expiry_days * SECS_PER_DAY,
        };
        let mut charge = processing_charge(
            &mut message,
            self.key.customer.clone(),
            method.id,
            BANK_TRANSFER_GATEWAY,
        );
        charge.bank_transfer = Some(Box::new(transfer.clone()));
        let target =
            ReferenceTarget { customer: charge.customer.clone(), charge: Some(charge.id.clone()) };
        let mut changes = self.changes();
        changes.push(Write::BankReference { reference, target });
        changes.push(Write::Due {
            scope,
            due: transfer.expires_at,
            object: Scheduled::Charge(charge.id.clone()),
        });
        let recorded = self.record_new_charge(changes, &charge, &message)?;
        tracing::info!(charge = %charge.id, expires_at = transfer.expires_at, "bank transfer awaited");
        Ok((charge, recorded))
    }

    /// The schedule's step for a bank transfer: unpaid at its expiry, the charge fails.
    pub(crate) fn bank_transfer_due_step(
        &mut self,
        id: &ChargeId,
        at: i64,
    ) -> Result<Step, ActorError> {
        let Some(charge) = self.services.store.charge(&self.key.account, id)? else {
            return Ok(Step::Nothing);
        };
        let Some(expires_at) = bank_transfer_due(&charge) else { return Ok(Step::Nothing) };
        if expires_at > at {
            return Ok(Step::Nothing);
        }
        let (_, durable) =
            self.settle_loaded(self.changes(), charge, expired(), &Cause::system("bank_transfer"))?;
        Ok(Step::Done { durable: durable.unwrap_or_else(|| self.written()), collect: None })
    }

    /// One statement line for this customer, in one change set with its record.
    fn apply_bank_line(
        &mut self,
        line: &BankLineInput,
        cause: &Cause,
    ) -> Result<(LineApplied, Option<DurableTicket>), ActorError> {
        let store = &self.services.store;
        let seen = store.bank_line(&self.key.account, &line.identity)?;
        // An unmatched line is recorded by its statement; allocating it applies it here.
        if seen.is_some_and(|seen| seen.outcome != LineOutcome::Unmatched) {
            return Ok((self.line_applied(LineOutcome::Duplicate, line), None));
        }
        if line.amount_minor < 0 {
            return self.reverse_credit(line);
        }
        let charge = match &line.target.charge {
            Some(id) => store.charge(&self.key.account, id)?,
            None => None,
        };
        match charge {
            Some(charge) if charge.bank_transfer.is_some() => {
                self.credit_charge(line, charge, cause)
            }
            _ => self.credit_customer(line),
        }
    }

    fn line_applied(&self, outcome: LineOutcome, line: &BankLineInput) -> LineApplied {
        LineApplied {
            outcome,
            charge: line.target.charge.clone(),
            customer: self.key.customer.clone(),
            invoices_paid: Vec::new(),
        }
    }

    fn record(
        line: &BankLineInput,
        outcome: LineOutcome,
        customer: &CustomerId,
        charge: Option<&ChargeId>,
    ) -> BankLineRecord {
        BankLineRecord {
            outcome,
            amount_minor: line.amount_minor,
            currency: line.currency,
            booked_at: line.booked_at,
            customer: Some(customer.clone()),
            charge: charge.cloned(),
            invoices_paid: Vec::new(),
            credited_minor: 0,
            reversed: false,
        }
    }

    /// Credits `amount` to the customer's balance in `changes`; `false` (nothing done) when the
    /// customer bills in another currency.
    fn credit_balance(
        &mut self,
        changes: &mut ChangeSet,
        amount_minor: i64,
        currency: Currency,
    ) -> Result<bool, ActorError> {
        let state = self.settling()?;
        let customer = &mut state.customer;
        if customer.currency.is_some_and(|billed_in| billed_in != currency) {
            return Ok(false);
        }
        if amount_minor != 0 {
            customer.currency = Some(currency);
            customer.balance_minor -= amount_minor;
            changes.push(Write::Customer(customer.clone()));
        }
        Ok(true)
    }

    /// Money under a charge's reference: the exact amount settles it, less leaves it
    /// `processing` with what arrived, more settles it and credits the rest; after its expiry
    /// (by the booking date) the money goes to the customer's balance.
    fn credit_charge(
        &mut self,
        line: &BankLineInput,
        mut charge: Charge,
        cause: &Cause,
    ) -> Result<(LineApplied, Option<DurableTicket>), ActorError> {
        if line.currency != charge.amount.currency {
            return Ok((self.line_applied(LineOutcome::Unmatched, line), None));
        }
        let customer = self.key.customer.clone();
        let mut changes = self.changes();
        let transfer = charge.bank_transfer.as_mut().expect("a bank-transfer charge");
        let late = charge.status == ChargeStatus::Failed
            || (charge.status == ChargeStatus::Processing && line.booked_at >= transfer.expires_at);
        if late || charge.status == ChargeStatus::Succeeded {
            let outcome = if late { LineOutcome::Late } else { LineOutcome::Overpaid };
            if !self.credit_balance(&mut changes, line.amount_minor, line.currency)? {
                return Ok((self.line_applied(LineOutcome::Unmatched, line), None));
            }
            let mut record = Self::record(line, outcome, &customer, Some(&charge.id));
            record.credited_minor = line.amount_minor;
            changes.push(Write::BankLine { identity: line.identity.clone(), record });
            let durable = match charge.status {
                // Booked after its expiry while the schedule has not failed it yet.
                ChargeStatus::Processing => {
                    self.settle_loaded(changes, charge, expired(), cause)?.1
                }
                _ => Some(self.commit(changes)?),
            };
            return Ok((self.line_applied(outcome, line), durable));
        }
        transfer.amount_received_minor += line.amount_minor;
        let excess = transfer.amount_received_minor - charge.amount.amount_minor;
        let reference = transfer.reference.clone();
        let outcome = match excess {
            ..0 => LineOutcome::Partial,
            0 => LineOutcome::Settled,
            _ => LineOutcome::Overpaid,
        };
        let mut record = Self::record(line, outcome, &customer, Some(&charge.id));
        if excess > 0 {
            if !self.credit_balance(&mut changes, excess, line.currency)? {
                return Ok((self.line_applied(LineOutcome::Unmatched, line), None));
            }
            record.credited_minor = excess;
        }
        changes.push(Write::BankLine { identity: line.identity.clone(), record });
        let durable = if outcome == LineOutcome::Partial {
            changes.push(Write::Charge(charge));
            Some(self.commit(changes)?)
        } else {
            self.settle_loaded(
                changes,
                charge,
                Settlement::Succeeded { reference, fee_minor: 0, conversion: None },
                cause,
            )?
            .1
        };
        Ok((self.line_applied(outcome, line), durable))
    }

    /// Money under the customer's permanent reference: its open invoices in that currency are
    /// paid at once, oldest first (ending their dunning), while it covers them; the rest goes
    /// to its balance. Invoices with a payment under way are left to it.
    fn credit_customer(
        &mut self,
        line: &BankLineInput,
    ) -> Result<(LineApplied, Option<DurableTicket>), ActorError> {
        let state = self.settling()?;
        // Money for an erased customer, or in another currency than it bills in, is the
        // platform's to allocate by hand.
        let billed_elsewhere =
            state.customer.currency.is_some_and(|billed_in| billed_in != line.currency);
        if state.customer.deleted || billed_elsewhere {
            return Ok((self.line_applied(LineOutcome::Unmatched, line), None));
        }
        let customer = state.customer.id.clone();
        let now = self.settlement_now();
        let filter = InvoiceFilter {
            customer: Some(customer.clone()),
            subscription: None,
            status: Some(InvoiceStatus::Open),
        };
        let open =
            self.services.store.invoices(&self.key.account, &filter, UNPAID_SCAN_MAX, None)?;
        let mut paying = Vec::new();
        let mut left = line.amount_minor;
        for invoice in open.items.into_iter().rev() {
            let due = invoice.amount_due_minor - invoice.amount_paid_minor;
            let payable = invoice.currency == line.currency
                && !invoice.payment_pending
                && !invoice.collecting
                && due > 0;
            if !payable {
                continue;
            }
            if due > left {
                break;
            }
            left -= due;
            paying.push((invoice, due));
        }
        let mut changes = self.changes();
        let mut record = Self::record(line, LineOutcome::Settled, &customer, None);
        // Paid in one change set: the dunning that moves on from one must not land on another.
        self.paid_together = paying.iter().map(|(invoice, _)| invoice.id.clone()).collect();
        let settled = self.pay_by_credit(&mut changes, paying, now, &mut record);
        self.paid_together.clear();
        settled?;
        self.credit_balance(&mut changes, left, line.currency)?;
        record.credited_minor = left;
        let invoices_paid = record.invoices_paid.iter().map(|(id, _)| id.clone()).collect();
        changes.push(Write::BankLine { identity: line.identity.clone(), record });
        let durable = self.commit(changes)?;
        let applied =
            LineApplied { invoices_paid, ..self.line_applied(LineOutcome::Settled, line) };
        Ok((applied, Some(durable)))
    }

    /// Marks `paying` paid by a bank credit, in `changes`, ending their dunning.
    fn pay_by_credit(
        &mut self,
        changes: &mut ChangeSet,
        paying: Vec<(crate::domain::Invoice, i64)>,
        now: i64,
        record: &mut BankLineRecord,
    ) -> Result<(), ActorError> {
        for (mut invoice, due) in paying {
            invoice.amount_paid_minor += due;
            self.invoice_settled_by_credit(changes, &mut invoice, now)?;
            record.invoices_paid.push((invoice.id.clone(), due));
            changes.push(Write::Invoice(invoice));
        }
        Ok(())
    }

    /// A debit under a reference that returns a credit applied before (same amount, not yet
    /// reversed: a recalled EFT): what it paid is open again — a charge waits for its money
    /// once more (its expiry re-armed) and its invoice reopens; invoices a customer's reference
    /// paid reopen and their dunning resumes; credit it left on the balance is taken back.
    /// Any other debit is only listed.
    fn reverse_credit(
        &mut self,
        line: &BankLineInput,
    ) -> Result<(LineApplied, Option<DurableTicket>), ActorError> {
        let store = &self.services.store;
        let credits =
            store.bank_credits(&self.key.account, &self.key.customer, BANK_CREDITS_SCAN_MAX)?;
        let returned = credits
            .into_iter()
            .filter(|(_, record)| {
                record.outcome.applied()
                    && !record.reversed
                    && record.amount_minor == -line.amount_minor
                    && record.currency == line.currency
                    && record.charge == line.target.charge
            })
            .max_by_key(|(_, record)| record.booked_at);
        let Some((identity, mut credit)) = returned else {
            return Ok((self.line_applied(LineOutcome::Debit, line), None));
        };
        let now = self.settlement_now();
        let mut changes = self.changes();
        credit.reversed = true;
        let state = self.settling()?;
        state.customer.balance_minor += credit.credited_minor;
        changes.push(Write::Customer(state.customer.clone()));
        if let Some(id) = &credit.charge {
            self.reopen_charge(&mut changes, id, -line.amount_minor - credit.credited_minor, now)?;
        }
        for (invoice, paid) in &credit.invoices_paid {
            self.reopen_invoice(&mut changes, invoice, *paid)?;
        }
        changes.push(Write::BankLine { identity, record: credit });
        let customer = self.key.customer.clone();
        let record =
            Self::record(line, LineOutcome::Reversed, &customer, line.target.charge.as_ref());
        changes.push(Write::BankLine { identity: line.identity.clone(), record });
        let durable = self.commit(changes)?;
        Ok((self.line_applied(LineOutcome::Reversed, line), Some(durable)))
    }

    /// A charge whose money (`returned`, beyond what went to the balance) was recalled: what
    /// arrived is less again, and a charge it had settled waits for its money once more.
    fn reopen_charge(
        &mut self,
        changes: &mut ChangeSet,
        id: &ChargeId,
        returned: i64,
        now: i64,
    ) -> Result<(), ActorError> {
        let Some(mut charge) = self.services.store.charge(&self.key.account, id)? else {
            return Ok(());
        };
        let expiry_days = i64::from(self.services.billing.bank_transfer.expiry_days);
        let scope = self.schedule_scope();
        let Some(transfer) = charge.bank_transfer.as_mut() else { return Ok(()) };
        transfer.amount_received_minor = (transfer.amount_received_minor - returned).max(0);
        if charge.status == ChargeStatus::Succeeded
            && transfer.amount_received_minor < charge.amount.amount_minor
        {
            transfer.expires_at = transfer.expires_at.max(now + expiry_days * SECS_PER_DAY);
            changes.push(Write::Due {
                scope,
                due: transfer.expires_at,
                object: Scheduled::Charge(charge.id.clone()),
            });
            charge.status = ChargeStatus::Processing;
            changes.push(Write::Event(
                Event::new(
                    EventKind::ChargeProcessing,
                    charge.id.as_str(),
                    &Cause::system("bank_transfer"),
                )
                .status(Some(ChargeStatus::Succeeded.as_str()), charge.status.as_str()),
            ));
            if let Some(invoice) = &charge.invoice
                && let Some(mut reopened) =
                    self.services.store.invoice(&self.key.account, invoice)?
                && reopened.status == InvoiceStatus::Paid
            {
                reopened.status = InvoiceStatus::Open;
                reopened.amount_paid_minor = 0;
                reopened.paid_at = None;
                reopened.payment_pending = true;
                changes.push(Write::Invoice(reopened));
            }
        }
        changes.push(Write::Charge(charge));
        Ok(())
    }

    /// An invoice a recalled credit had paid `paid` of: open again, its dunning resumed as
    /// after a failed payment.
    fn reopen_invoice(
        &mut self,
        changes: &mut ChangeSet,
        id: &crate::domain::InvoiceId,
        paid: i64,
    ) -> Result<(), ActorError> {
        let Some(mut invoice) = self.services.store.invoice(&self.key.account, id)? else {
            return Ok(());
        };
        if invoice.status != InvoiceStatus::Paid {
            return Ok(());
        }
        invoice.status = InvoiceStatus::Open;
        invoice.amount_paid_minor = (invoice.amount_paid_minor - paid).max(0);
        invoice.paid_at = None;
        self.invoice_payment_returned(changes, &mut invoice)?;
        changes.push(Write::Invoice(invoice));
        Ok(())
    }

    /// The schedule scope of this customer: its test clock's, or real time's.
    pub(crate) fn schedule_scope(&self) -> String {
        let clock = self.state.as_ref().ok().and_then(|state| state.customer.test_clock.as_ref());
        keys::scope_of(clock).to_owned()
    }
}

/// When a charge's bank transfer expires, while it is still awaited.
pub(crate) fn bank_transfer_due(charge: &Charge) -> Option<i64> {
    let transfer = charge.bank_transfer.as_ref()?;
    (charge.status == ChargeStatus::Processing).then_some(transfer.expires_at)
}

fn expired() -> Settlement {
    Settlement::Failed(Failure {
        code: "bank_transfer_expired".into(),
        message: "no bank transfer under the charge's reference arrived before it expired".into(),
    })
}

impl Handler<ApplyBankLines> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Vec<LineApplied>, ActorError>>;

    fn handle(&mut self, message: ApplyBankLines, _: &mut Context<Self>) -> Self::Result {
        let mut applied = Vec::with_capacity(message.lines.len());
        let mut last: Option<DurableTicket> = None;
        for line in &message.lines {
            match self.apply_bank_line(line, &message.cause) {
                Ok((outcome, durable)) => {
                    applied.push(outcome);
                    last = durable.or(last);
                }
                Err(error) => return Box::pin(futures::future::ready(Err(error)).into_actor(self)),
            }
        }
        Box::pin(
            async move {
                // Flushes cover every commit before them: the last ticket covers them all.
                if let Some(durable) = last {
                    durable.wait().await?;
                }
                Ok(applied)
            }
            .into_actor(self),
        )
    }
}
