//! The upcoming invoice: what the next renewal, or a change at an instant, would make. It runs
//! the same code as the renewal and the change on a copy of the subscription, and is never
//! stored, so it shows the lines and amounts the real invoice then has.

use actix::{Context, Handler, ResponseActFuture, fut};

use super::invoices::InvoiceSpec;
use super::messages::{PreviewInvoice, ProrationBehavior};
use super::subscriptions::canceled;
use crate::actor::{ActorError, CustomerActor};
use crate::billing::lines::{pending_line, plan_line};
use crate::domain::{BillingReason, Invoice, SubscriptionStatus};

impl CustomerActor {
    pub(super) fn preview(&self, message: &PreviewInvoice) -> Result<Invoice, ActorError> {
        let now = match message.at {
            Some(at) => at,
            None => self.billing_now()?,
        };
        let mut subscription = self.subscription(&message.id)?;
        if subscription.status.is_terminal() {
            return Err(canceled(&subscription));
        }
        if let Some(change) = &message.change {
            if now < subscription.current_period_start || now > subscription.current_period_end {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("proration_date"),
                    "`proration_date` must fall within the current period",
                ));
            }
            let old_plan = self.plan(&subscription.plan)?;
            let new_plan = change.plan.clone().unwrap_or_else(|| old_plan.clone());
            let quantity = change.quantity.unwrap_or(subscription.quantity);
            self.check_plan_for(&subscription, &new_plan)?;
            if subscription.status != SubscriptionStatus::Trialing
                && new_plan.interval != subscription.interval
            {
                // A new interval is invoiced at once: that invoice is what the change makes.
                let mut copy = subscription.clone();
                let old = &old_plan;
                let (lines, end, _credited) =
                    self.interval_change_lines(&mut copy, old, &new_plan, quantity, now)?;
                return self.draft_invoice(
                    &copy,
                    InvoiceSpec {
                        reason: BillingReason::SubscriptionUpdate,
                        tax_behavior: new_plan.tax_behavior,
                        lines,
                        period_start: now,
                        period_end: end,
                        now,
                    },
                );
            }
            if subscription.status != SubscriptionStatus::Trialing {
                let (lines, _credited) =
                    self.proration_lines(&subscription, &old_plan, &new_plan, quantity, now)?;
                match change.proration_behavior {
                    ProrationBehavior::None => {}
                    ProrationBehavior::CreateProrations => subscription.pending_lines.extend(lines),
                    ProrationBehavior::AlwaysInvoice => {
                        let mut pending = subscription.pending_lines.clone();
                        pending.extend(lines);
                        subscription.plan = new_plan.id.clone();
                        return self.draft_invoice(
                            &subscription,
                            InvoiceSpec {
                                reason: BillingReason::SubscriptionUpdate,
                                tax_behavior: new_plan.tax_behavior,
                                lines: pending.iter().map(pending_line).collect(),
                                period_start: now,
                                period_end: subscription.current_period_end,
                                now,
                            },
                        );
                    }
                }
            }
            subscription.plan = new_plan.id.clone();
            subscription.quantity = quantity;
        }
        let plan = self.plan(&subscription.plan)?;
        let (start, end) = match subscription.status {
            SubscriptionStatus::Trialing => {
                let start = subscription.trial_end.unwrap_or(subscription.current_period_end);
                let anchor = subscription.billing_cycle_anchor;
                (start, subscription.interval.next_boundary_after(anchor, start))
            }
            _ => (subscription.current_period_end, subscription.following_period_end()),
        };
        let mut lines: Vec<_> = subscription.pending_lines.iter().map(pending_line).collect();
        lines.push(plan_line(&plan, subscription.quantity, start, end));
        self.draft_invoice(
            &subscription,
            InvoiceSpec {
                reason: BillingReason::SubscriptionCycle,
                tax_behavior: plan.tax_behavior,
                lines,
                period_start: start,
                period_end: end,
                now: start,
            },
        )
    }
}

impl Handler<PreviewInvoice> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Invoice, ActorError>>;

    fn handle(&mut self, message: PreviewInvoice, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, _| {
            let previewed = actor.accepting().map(drop).and_then(|()| actor.preview(&message));
            Box::pin(fut::ready(previewed))
        })
    }
}
