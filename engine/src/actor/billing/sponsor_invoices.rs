//! A sponsor's invoice: at the start of each month, one invoice of every share its
//! beneficiaries' invoices gave it in the month before (and every share given back), however
//! many beneficiaries there are — a fund pays one bill a month. It is taxed for the sponsor (the
//! tax per payer), paid by hand (`send_invoice`) and due in 30 days, as funds pay on terms.
//!
//! The shares are written by the beneficiaries' actors; this one only reads them and removes
//! those it invoiced, in the change set of the invoice, so each is billed exactly once.
//!
//! An overdue one is reminded (`invoice.overdue`) on its due date and the days after it that
//! `billing.dunning.retry_days` names, as a subscription's is. An invoice still unpaid when the
//! sponsor's grace ends (`billing.grace_days` after its due
//! date) defaults: each share on it goes to its beneficiary's actor to be acted on as its
//! sponsorship's `on_default` says ([`super::sponsorships`]), and the shares the beneficiaries
//! are billed for instead are taken off it by a credit note.

use super::invoices::apply_balance;
use super::renewals::Step;
use crate::actor::{ActorError, CustomerActor};
use crate::billing::invoicing::{
    DraftAmount, DraftLine, InvoiceHeader, InvoiceInput, price_invoice,
};
use crate::domain::{
    BillingReason, Cause, CollectionMethod, Currency, Event, EventKind, Invoice, InvoiceLineId,
    InvoiceStatus, OnDefault, SponsorItem, TaxBehavior,
};
use crate::store::{ChangeSet, InvoiceFilter, Scheduled, Write};

/// Days a sponsor's invoice gives before it is due.
const SPONSOR_INVOICE_DAYS_DUE: i64 = 30;

/// Open sponsor's invoices looked at for a default at once, at most.
const OPEN_SPONSOR_INVOICES_MAX: usize = 1_000;

impl CustomerActor {
    /// The customer's earliest sponsorship step due at or before `at`: as a sponsor, a month's
    /// invoice or a default; as a beneficiary, a default to act on.
    pub(crate) fn sponsorship_due_step(&mut self, at: i64) -> Result<Step, ActorError> {
        if let Step::Done { durable, collect } = self.invoice_sponsor_month(at)? {
            return Ok(Step::Done { durable, collect });
        }
        let open = self.open_sponsor_invoices()?;
        if let Some(invoice) =
            open.iter().find(|invoice| reminder_at(invoice).is_some_and(|due| due <= at))
        {
            return self.remind_sponsor(invoice.clone());
        }
        if let Some(invoice) =
            open.into_iter().find(|invoice| self.default_at(invoice).is_some_and(|due| due <= at))
        {
            return self.default_sponsor_invoice(invoice, at);
        }
        self.act_on_sponsor_default(at)
    }

    /// An overdue sponsor's invoice reminded (`invoice.overdue`), on the days after its due
    /// date that `billing.dunning.retry_days` names, as an overdue invoice of a subscription is.
    fn remind_sponsor(&mut self, mut invoice: Invoice) -> Result<Step, ActorError> {
        let Some(due) = invoice.due_date else { return Ok(Step::Nothing) };
        let offsets = &self.services.billing.dunning.retry_days;
        let next = offsets
            .get(invoice.reminders_sent as usize)
            .map(|days| due + i64::from(*days) * 86_400);
        invoice.reminders_sent += 1;
        invoice.next_reminder_at = next;
        let mut changes = self.changes();
        changes.push(Write::Event(Event::new(
            EventKind::InvoiceOverdue,
            invoice.id.as_str(),
            &Cause::system("billing"),
        )));
        if let Some(next) = next {
            let object = Scheduled::Sponsor(self.key.customer.clone());
            changes.push(Write::Due { scope: self.schedule_scope(), due: next, object });
        }
        tracing::info!(invoice = %invoice.id, reminder = invoice.reminders_sent, next = ?next, "overdue sponsor's invoice reminded");
        changes.push(Write::Invoice(invoice));
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }

    /// When the customer's next sponsorship step is due.
    pub(crate) fn sponsorship_next_due(&self) -> Result<Option<i64>, ActorError> {
        let store = &self.services.store;
        let items = store.sponsor_items(&self.key.account, &self.key.customer)?;
        let defaults = store.sponsor_defaults(&self.key.account, &self.key.customer)?;
        let open = self.open_sponsor_invoices()?;
        Ok(items
            .iter()
            .chain(&defaults)
            .map(|item| item.invoice_at)
            .chain(open.iter().filter_map(|invoice| self.default_at(invoice)))
            .chain(open.iter().filter_map(reminder_at))
            .min())
    }

    fn open_sponsor_invoices(&self) -> Result<Vec<Invoice>, ActorError> {
        let filter = InvoiceFilter {
            customer: Some(self.key.customer.clone()),
            subscription: None,
            status: Some(InvoiceStatus::Open),
        };
        let open = self.services.store.invoices(
            &self.key.account,
            &filter,
            OPEN_SPONSOR_INVOICES_MAX,
            None,
        )?;
        Ok(open
            .items
            .into_iter()
            .filter(|invoice| invoice.billing_reason == BillingReason::Sponsorship)
            .collect())
    }

    /// A sponsor's invoice whose payment failed (a transfer that expired, a declined card) may
    /// default again: its default is put back on the schedule (at once, when past).
    pub(super) fn sponsor_invoice_after_payment(
        &self,
        changes: &mut ChangeSet,
        invoice: &Invoice,
        payment: super::dunning::Payment,
    ) {
        if invoice.billing_reason != BillingReason::Sponsorship
            || !matches!(payment, super::dunning::Payment::Failed { .. })
        {
            return;
        }
        if let Some(due) = self.default_at(invoice) {
            let due = due.max(self.settlement_now());
            let object = Scheduled::Sponsor(self.key.customer.clone());
            changes.push(Write::Due { scope: self.schedule_scope(), due, object });
        }
    }

    /// When an open sponsor's invoice defaults: at the end of the grace after its due date. One
    /// being paid (a bank transfer awaited, an M-Pesa prompt) does not default under it.
    fn default_at(&self, invoice: &Invoice) -> Option<i64> {
        let paying = invoice.payment_pending || invoice.collecting;
        if invoice.sponsor_defaulted_at.is_some() || invoice.status != InvoiceStatus::Open || paying
        {
            return None;
        }
        let grace = i64::from(self.services.billing.grace_days) * 86_400;
        invoice.due_date.map(|due| due + grace)
    }

    /// Invoices the earliest month of shares due at or before `at`, if any.
    fn invoice_sponsor_month(&mut self, at: i64) -> Result<Step, ActorError> {
        let items = self.services.store.sponsor_items(&self.key.account, &self.key.customer)?;
        let Some(month_end) = items.iter().map(|item| item.invoice_at).min() else {
            return Ok(Step::Nothing);
        };
        if month_end > at {
            return Ok(Step::Nothing);
        }
        let month: Vec<SponsorItem> =
            items.into_iter().filter(|item| item.invoice_at == month_end).collect();
        let mut changes = self.changes();
        let mut groups: Vec<((Currency, TaxBehavior), Vec<SponsorItem>)> = Vec::new();
        for item in month {
            changes.push(Write::RemoveSponsorItem { id: item.id.clone() });
            let key = (item.currency, item.tax_behavior);
            match groups.iter_mut().find(|(group, _)| *group == key) {
                Some((_, group)) => group.push(item),
                None => groups.push((key, vec![item])),
            }
        }
        for ((currency, tax_behavior), items) in groups {
            self.issue_sponsor_invoice(&mut changes, currency, tax_behavior, &items, month_end)?;
        }
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }

    /// `invoice` is unpaid at the end of its grace: each share on it goes to its beneficiary
    /// to be acted on, and those billed to the beneficiaries instead are credited off it.
    fn default_sponsor_invoice(
        &mut self,
        mut invoice: Invoice,
        at: i64,
    ) -> Result<Step, ActorError> {
        let mut changes = self.changes();
        let mut billed_instead: Vec<InvoiceLineId> = Vec::new();
        let scope = self.schedule_scope();
        for line in invoice.lines.iter().filter(|line| line.amount_minor > 0) {
            let (Some(beneficiary), Some(paid_for), Some(sponsorship)) =
                (&line.beneficiary, &line.beneficiary_invoice, &line.sponsorship)
            else {
                continue;
            };
            let Some(record) = self.services.store.sponsorship(&self.key.account, sponsorship)?
            else {
                continue;
            };
            if record.on_default == OnDefault::BillBeneficiary {
                billed_instead.push(line.id.clone());
            }
            let number = invoice.number.as_deref().unwrap_or(invoice.id.as_str());
            changes.push(Write::SponsorDefault(Box::new(SponsorItem {
                id: SponsorItem::new_id(),
                sponsorship: sponsorship.clone(),
                sponsor: self.key.customer.clone(),
                beneficiary: beneficiary.clone(),
                beneficiary_invoice: paid_for.clone(),
                description: format!(
                    "Sponsorship {sponsorship}: share of invoice {paid_for} its sponsor did not pay \
                     (invoice {number})"
                ),
                amount_minor: line.amount_minor,
                currency: invoice.currency,
                tax_behavior: invoice.tax_behavior,
                sku: String::new(),
                plan: line.plan.clone(),
                period_start: line.period_start,
                period_end: line.period_end,
                accrued_at: at,
                invoice_at: at,
                scope: scope.clone(),
            })));
        }
        invoice.sponsor_defaulted_at = Some(at);
        self.credit_open_lines(&mut changes, &mut invoice, &billed_instead, at)?;
        if invoice.status == InvoiceStatus::Open && invoice.amount_due_minor == 0 {
            self.invoice_settled_by_credit(&mut changes, &mut invoice, at)?;
        }
        tracing::warn!(invoice = %invoice.id, billed_instead = billed_instead.len(), "sponsor's invoice defaulted");
        changes.push(Write::Invoice(invoice));
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }

    fn issue_sponsor_invoice(
        &mut self,
        changes: &mut ChangeSet,
        currency: Currency,
        tax_behavior: TaxBehavior,
        items: &[SponsorItem],
        month_end: i64,
    ) -> Result<(), ActorError> {
        let lines: Vec<DraftLine> = items
            .iter()
            .map(|item| DraftLine {
                description: item.description.clone(),
                plan: item.plan.clone(),
                quantity: 1,
                period_start: item.period_start,
                period_end: item.period_end,
                amount: DraftAmount::Fixed {
                    amount_minor: item.amount_minor,
                    sku: item.sku.clone(),
                    rule: None,
                    discount: None,
                },
            })
            .collect();
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let mut totals = price_invoice(
            &self.turn_rules(),
            InvoiceInput {
                account: &self.key.account,
                customer: &state.customer,
                currency,
                tax_behavior,
                lines,
                discount: None,
                sponsors: Vec::new(),
                now: month_end,
            },
        )?;
        // Shares are not prorations: they name whose invoice they are a share of.
        for (line, item) in totals.lines.iter_mut().zip(items) {
            line.proration = false;
            line.beneficiary = Some(item.beneficiary.clone());
            line.beneficiary_invoice = Some(item.beneficiary_invoice.clone());
            line.sponsorship = Some(item.sponsorship.clone());
        }
        totals.proration_rule = None;
        let (balance_applied_minor, amount_due_minor) =
            apply_balance(totals.total_minor, state.customer.balance_minor);
        let month_start = crate::billing::periods::add_months(month_end, -1);
        let mut draft = totals.into_draft(InvoiceHeader {
            customer: self.key.customer.clone(),
            subscription: None,
            payment_plan: None,
            billing_reason: BillingReason::Sponsorship,
            currency,
            tax_behavior,
            collection_method: CollectionMethod::SendInvoice,
            due_date: Some(month_end + SPONSOR_INVOICE_DAYS_DUE * 86_400),
            balance_applied_minor,
            amount_due_minor,
            period_start: month_start,
            period_end: month_end,
            created: month_end,
            discount: None,
        });
        draft.next_reminder_at = draft.due_date;
        let invoice = self.finalize_invoice(changes, draft, false)?;
        let object = Scheduled::Sponsor(self.key.customer.clone());
        for due in [reminder_at(&invoice), self.default_at(&invoice)].into_iter().flatten() {
            let (scope, object) = (self.schedule_scope(), object.clone());
            changes.push(Write::Due { scope, due, object });
        }
        tracing::info!(invoice = %invoice.id, shares = items.len(), total = invoice.total_minor, "sponsor invoiced");
        Ok(())
    }
}

/// When an open sponsor's invoice is next reminded, unless a payment of it is under way.
fn reminder_at(invoice: &Invoice) -> Option<i64> {
    let paying = invoice.payment_pending || invoice.collecting;
    (invoice.status == InvoiceStatus::Open && !paying).then_some(invoice.next_reminder_at)?
}
