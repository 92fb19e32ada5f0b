//! Sponsorships in their beneficiary's actor: created and ended here, and used here, in the
//! change set of each invoice they pay a share of. That change set also writes the share down
//! for the sponsor ([`SponsorItem`]), so the sponsor's monthly invoice
//! ([`super::sponsor_invoices`]) can never miss a share nor bill one twice. A credit note or a
//! void of the beneficiary's invoice gives the sponsor its part back (a negative share) and
//! restores the cap by as much.
//!
//! A share the sponsor did not pay by the end of its grace comes back here, and the
//! sponsorship's `on_default` decides: `bill_beneficiary` invoices it to the beneficiary,
//! `revoke` withdraws the subscription's features for the rest of its period, both ending the
//! sponsorship; `absorb` leaves the beneficiary as it is (the platform carries the loss).

use actix::{Context, Handler, ResponseActFuture, WrapFuture, fut};

use super::invoices::InvoiceSpec;
use super::messages::{CreateSponsorship, EndSponsorship};
use super::renewals::{Step, collection};
use crate::actor::{ActorError, CustomerActor};
use crate::billing::invoicing::{DraftAmount, DraftLine, divide_half_up};
use crate::billing::lines::date;
use crate::domain::sponsorship::month_after;
use crate::domain::{
    BillingReason, Cause, Event, EventKind, Invoice, OnDefault, SponsorItem, SponsorShare,
    Sponsorship, SponsorshipId, SponsorshipStatus, Subscription, SubscriptionStatus,
};
use crate::store::{ChangeSet, DurableTicket, Outcome, Write};

impl CustomerActor {
    pub(crate) fn sponsorship(&self, id: &SponsorshipId) -> Result<Sponsorship, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        state
            .sponsorships
            .iter()
            .find(|sponsorship| &sponsorship.id == id)
            .cloned()
            .ok_or_else(|| ActorError::NotFound { kind: "sponsorship", id: id.to_string() })
    }

    /// Records `record` in memory and in `changes`.
    fn put_sponsorship(
        &mut self,
        changes: &mut ChangeSet,
        record: Sponsorship,
    ) -> Result<(), ActorError> {
        let state = self.settling()?;
        match state.sponsorships.iter_mut().find(|old| old.id == record.id) {
            Some(old) => *old = record.clone(),
            None => state.sponsorships.push(record.clone()),
        }
        changes.push(Write::Sponsorship(Box::new(record)));
        Ok(())
    }

    /// The sponsorships that pay a share of `subscription`'s invoice for `reason`, for a period
    /// starting at `period_start`, oldest first: the order they take their shares in. A fixed
    /// amount is paid once per period, on the period's invoice; a percentage of every invoice,
    /// prorations included.
    pub(super) fn sponsors_of(
        &self,
        subscription: &crate::domain::SubscriptionId,
        reason: BillingReason,
        period_start: i64,
    ) -> Result<Vec<&Sponsorship>, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        // A sponsor's unpaid share billed to the family is not another sponsor's to pay.
        if reason == BillingReason::Sponsorship {
            return Ok(Vec::new());
        }
        let period_invoice =
            matches!(reason, BillingReason::SubscriptionCreate | BillingReason::SubscriptionCycle);
        Ok(state
            .sponsorships
            .iter()
            .filter(|sponsorship| sponsorship.covers(subscription, period_start))
            .filter(|sponsorship| {
                period_invoice || matches!(sponsorship.share, SponsorShare::Percent { .. })
            })
            .collect())
    }

    fn create_sponsorship(
        &mut self,
        message: &CreateSponsorship,
    ) -> Result<(Sponsorship, DurableTicket), ActorError> {
        let now = self.billing_now()?;
        let state = self.living()?;
        let test_clock = state.customer.test_clock.clone();
        if message.sponsor_clock != test_clock {
            return Err(ActorError::invalid(
                "validation_error",
                Some("sponsor"),
                "the sponsor and the beneficiary must be on the same clock (the same test clock, \
                 or none)",
            ));
        }
        let live = |status: SubscriptionStatus| !status.is_terminal();
        let subscription = match &message.subscription {
            Some(id) => {
                state.subscriptions.iter().find(|subscription| &subscription.id == id).ok_or_else(
                    || {
                        ActorError::invalid(
                            "validation_error",
                            Some("subscription"),
                            format!("subscription {id} is not the beneficiary's"),
                        )
                    },
                )?
            }
            None => {
                let mut running = state.subscriptions.iter().filter(|sub| live(sub.status));
                match (running.next(), running.next()) {
                    (Some(only), None) => only,
                    (None, _) => {
                        return Err(ActorError::invalid(
                            "validation_error",
                            Some("subscription"),
                            "the beneficiary has no running subscription to sponsor",
                        ));
                    }
                    (Some(_), Some(_)) => {
                        return Err(ActorError::invalid(
                            "validation_error",
                            Some("subscription"),
                            "the beneficiary has several running subscriptions: name one",
                        ));
                    }
                }
            }
        };
        if !live(subscription.status) {
            return Err(ActorError::invalid(
                "validation_error",
                Some("subscription"),
                format!("subscription {} has ended", subscription.id),
            ));
        }
        let subscription = subscription.clone();
        let plan = self.plan(&subscription.plan)?;
        if let SponsorShare::PerPeriod { amount_minor } = message.share {
            let period_price = plan.amount_minor.saturating_mul(i64::from(subscription.quantity));
            if amount_minor > period_price {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("amount_per_period"),
                    format!(
                        "a share of {amount_minor} per period is more than the invoice: the \
                         subscription's period costs {period_price}"
                    ),
                ));
            }
        }
        let starts_at = message.starts_at.unwrap_or(now);
        if message.ends_at.is_some_and(|end| end <= starts_at) {
            return Err(ActorError::invalid(
                "validation_error",
                Some("ends_at"),
                "`ends_at` must be after `starts_at`",
            ));
        }
        let sponsorship = Sponsorship {
            id: SponsorshipId::generate(),
            sponsor: message.sponsor.clone(),
            beneficiary: self.key.customer.clone(),
            subscription: subscription.id.clone(),
            currency: plan.currency,
            share: message.share,
            cap_minor: message.cap_minor,
            used_minor: 0,
            starts_at,
            ends_at: message.ends_at,
            ended_at: None,
            on_default: message.on_default,
            test_clock,
            created: now,
        };
        let mut changes = self.changes();
        changes.push(Write::Event(Event::new(
            EventKind::SponsorshipCreated,
            sponsorship.id.as_str(),
            &message.cause,
        )));
        if let Some(ticket) = &message.idempotency {
            let outcome = Outcome::Sponsorship(Box::new(sponsorship.clone()));
            changes.push(Write::idempotency_completed(&ticket.key, ticket.fingerprint, outcome));
        }
        self.put_sponsorship(&mut changes, sponsorship.clone())?;
        let durable = self.commit(changes)?;
        tracing::info!(sponsorship = %sponsorship.id, sponsor = %sponsorship.sponsor, "sponsorship created");
        Ok((sponsorship, durable))
    }

    /// Ends it now: invoices for periods starting from now are the beneficiary's alone. One
    /// already ended is answered as it stands.
    fn end_sponsorship(
        &mut self,
        message: &EndSponsorship,
    ) -> Result<(Sponsorship, DurableTicket), ActorError> {
        let now = self.billing_now()?;
        let mut sponsorship = self.sponsorship(&message.id)?;
        let mut changes = self.changes();
        if sponsorship.status(now) != SponsorshipStatus::Ended {
            self.end_at(&mut changes, &mut sponsorship, now, &message.cause)?;
        }
        if let Some(ticket) = &message.idempotency {
            let outcome = Outcome::Sponsorship(Box::new(sponsorship.clone()));
            changes.push(Write::idempotency_completed(&ticket.key, ticket.fingerprint, outcome));
        }
        Ok((sponsorship, self.commit(changes)?))
    }

    /// Ends `sponsorship` at `at` (or at its own end, if earlier), in `changes`: invoices for
    /// periods starting from then are the beneficiary's alone.
    fn end_at(
        &mut self,
        changes: &mut ChangeSet,
        sponsorship: &mut Sponsorship,
        at: i64,
        cause: &Cause,
    ) -> Result<(), ActorError> {
        sponsorship.ended_at = Some(at);
        sponsorship.ends_at = Some(sponsorship.ends_at.map_or(at, |end| end.min(at)));
        changes.push(Write::Event(Event::new(
            EventKind::SponsorshipUpdated,
            sponsorship.id.as_str(),
            cause,
        )));
        self.put_sponsorship(changes, sponsorship.clone())
    }

    /// The earliest share a sponsor did not pay, due at or before `at`, acted on as its
    /// sponsorship's `on_default` says, in one change set with its removal.
    pub(super) fn act_on_sponsor_default(&mut self, at: i64) -> Result<Step, ActorError> {
        let store = &self.services.store;
        let defaults = store.sponsor_defaults(&self.key.account, &self.key.customer)?;
        let Some(unpaid) = defaults
            .into_iter()
            .filter(|item| item.invoice_at <= at)
            .min_by_key(|item| item.invoice_at)
        else {
            return Ok(Step::Nothing);
        };
        let mut changes = self.changes();
        changes.push(Write::RemoveSponsorDefault { id: unpaid.id.clone() });
        let mut sponsorship = self.sponsorship(&unpaid.sponsorship)?;
        let mut subscription = self.subscription(&sponsorship.subscription)?;
        let mut collect = None;
        if sponsorship.on_default != OnDefault::Absorb && sponsorship.ended_at.is_none() {
            self.end_at(&mut changes, &mut sponsorship, at, &Cause::system("billing"))?;
        }
        match sponsorship.on_default {
            OnDefault::Absorb => {}
            OnDefault::Revoke => {
                let until = subscription.current_period_end;
                let withdrawn = subscription.access_withdrawn_until.map_or(until, |u| u.max(until));
                subscription.access_withdrawn_until = Some(withdrawn);
                changes.push(Write::Event(Event::new(
                    EventKind::SubscriptionUpdated,
                    subscription.id.as_str(),
                    &Cause::system("billing"),
                )));
                self.put_subscription(&mut changes, subscription)?;
            }
            OnDefault::BillBeneficiary => {
                let plan = self.plan(&subscription.plan)?;
                let line = DraftLine {
                    description: unpaid.description.clone(),
                    plan: Some(plan.id.clone()),
                    quantity: 1,
                    period_start: unpaid.period_start,
                    period_end: unpaid.period_end,
                    amount: DraftAmount::Fixed {
                        amount_minor: unpaid.amount_minor,
                        sku: plan.sku.clone(),
                        rule: None,
                        discount: None,
                    },
                };
                let spec = InvoiceSpec {
                    reason: BillingReason::Sponsorship,
                    tax_behavior: unpaid.tax_behavior,
                    lines: vec![line],
                    period_start: at,
                    period_end: at,
                    now: at,
                };
                let invoice = self.issue_invoice(&mut changes, &mut subscription, spec)?;
                let payment_method = subscription.payment_method.clone();
                self.put_subscription(&mut changes, subscription)?;
                collect = collection(Some(invoice), payment_method);
            }
        }
        tracing::warn!(sponsorship = %sponsorship.id, on_default = sponsorship.on_default.as_str(), amount = unpaid.amount_minor, "sponsor's share unpaid");
        Ok(Step::Done { durable: self.commit(changes)?, collect })
    }

    /// In the change set that issued `invoice`: each sponsor's share of it is counted against
    /// its sponsorship and written down for the sponsor's invoice of the month.
    pub(super) fn record_sponsor_shares(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &Invoice,
        subscription: &Subscription,
    ) -> Result<(), ActorError> {
        if invoice.sponsor_lines().next().is_none() {
            return Ok(());
        }
        let sku = self.plan(&subscription.plan)?.sku;
        for line in invoice.sponsor_lines() {
            let Some(id) = &line.sponsored_by else { continue };
            let sponsorship = self.sponsorship(id)?;
            let item =
                sponsor_item(&sponsorship, invoice, -line.amount_minor, &sku, invoice.created);
            self.count_share(changes, sponsorship, item)?;
        }
        Ok(())
    }

    /// `invoice` gave back `given_back` of the `own_total` the customer itself was billed (tax
    /// included): each sponsor gets back the same share of its part, and its cap as much. A
    /// void gives everything back (`given_back == own_total`). `invoice` is changed; the caller
    /// writes it.
    pub(super) fn return_sponsor_shares(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &mut Invoice,
        given_back: i64,
        own_total: i64,
    ) -> Result<(), ActorError> {
        let sku = match &invoice.subscription {
            Some(id) if invoice.sponsor_lines().next().is_some() => {
                self.plan(&self.subscription(id)?.plan)?.sku
            }
            _ => return Ok(()),
        };
        let snapshot = invoice.clone();
        let now = self.settlement_now();
        for line in invoice.lines.iter_mut() {
            let Some(id) = line.sponsored_by.clone() else { continue };
            let paid = -line.amount_minor;
            let left = paid - line.sponsor_returned_minor;
            let back = match given_back >= own_total {
                true => left,
                false => divide_half_up(
                    i128::from(paid) * i128::from(given_back.max(0)),
                    i128::from(own_total.max(1)),
                )
                .min(left),
            };
            if back <= 0 {
                continue;
            }
            line.sponsor_returned_minor += back;
            let sponsorship = self.sponsorship(&id)?;
            let item = sponsor_item(&sponsorship, &snapshot, -back, &sku, now);
            self.count_share(changes, sponsorship, item)?;
        }
        Ok(())
    }

    /// Counts `item` (a share taken, or given back when negative) against its sponsorship and
    /// writes it down for the sponsor's invoice.
    fn count_share(
        &mut self,
        changes: &mut ChangeSet,
        mut sponsorship: Sponsorship,
        item: SponsorItem,
    ) -> Result<(), ActorError> {
        sponsorship.used_minor += item.amount_minor;
        changes.push(Write::SponsorItem(Box::new(item)));
        changes.push(Write::Event(Event::new(
            EventKind::SponsorshipUpdated,
            sponsorship.id.as_str(),
            &Cause::system("billing"),
        )));
        self.put_sponsorship(changes, sponsorship)
    }
}

/// The share `amount_minor` (negative: given back) of `invoice` that `sponsorship`'s sponsor
/// owes, accrued at `at`: on the sponsor's invoice for `at`'s month.
fn sponsor_item(
    sponsorship: &Sponsorship,
    invoice: &Invoice,
    amount_minor: i64,
    sku: &str,
    at: i64,
) -> SponsorItem {
    let number = invoice.number.as_deref().unwrap_or(invoice.id.as_str());
    let what = match amount_minor < 0 {
        true => "given back on",
        false => "share of",
    };
    SponsorItem {
        id: SponsorItem::new_id(),
        sponsorship: sponsorship.id.clone(),
        sponsor: sponsorship.sponsor.clone(),
        beneficiary: sponsorship.beneficiary.clone(),
        beneficiary_invoice: invoice.id.clone(),
        description: format!(
            "Sponsorship {}: {what} invoice {number} of {} ({} – {})",
            sponsorship.id,
            sponsorship.beneficiary,
            date(invoice.period_start),
            date(invoice.period_end)
        ),
        amount_minor,
        currency: invoice.currency,
        tax_behavior: invoice.tax_behavior,
        sku: sku.to_owned(),
        plan: invoice.period_line().and_then(|line| line.plan.clone()),
        period_start: invoice.period_start,
        period_end: invoice.period_end,
        accrued_at: at,
        invoice_at: month_after(at),
        scope: sponsorship.schedule_scope().to_owned(),
    }
}

/// Answers a sponsorship request: a replay with what its key first answered, else `decide`'s
/// sponsorship once durable.
fn answer(
    actor: &mut CustomerActor,
    idempotency: Option<&crate::actor::IdempotencyTicket>,
    decide: impl FnOnce(&mut CustomerActor) -> Result<(Sponsorship, DurableTicket), ActorError>,
) -> ResponseActFuture<CustomerActor, Result<Outcome, ActorError>> {
    match actor.earlier_outcome(idempotency) {
        Ok(None) => {}
        Ok(Some(outcome @ Outcome::Sponsorship(_))) => {
            return Box::pin(actor.once_durable(outcome).into_actor(actor));
        }
        Ok(Some(_)) => return Box::pin(fut::ready(Err(ActorError::IdempotencyReused))),
        Err(error) => return Box::pin(fut::ready(Err(error))),
    }
    match decide(actor) {
        Ok((sponsorship, durable)) => Box::pin(
            async move {
                durable.wait().await?;
                Ok(Outcome::Sponsorship(Box::new(sponsorship)))
            }
            .into_actor(actor),
        ),
        Err(error) => Box::pin(fut::ready(Err(error))),
    }
}

impl Handler<CreateSponsorship> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: CreateSponsorship, _: &mut Context<Self>) -> Self::Result {
        answer(self, message.idempotency.as_ref(), |actor| actor.create_sponsorship(&message))
    }
}

impl Handler<EndSponsorship> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: EndSponsorship, _: &mut Context<Self>) -> Self::Result {
        answer(self, message.idempotency.as_ref(), |actor| actor.end_sponsorship(&message))
    }
}
