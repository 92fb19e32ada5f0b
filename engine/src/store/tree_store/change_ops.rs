//! A change set as the sled store writes it: its records' puts and removals, with every index
//! derived from them here so that no caller can forget one.

use super::ops::Op;
use super::tree_ids::TreeId;
use super::{audit, bank, billing, coupons, encode, sponsors};
use crate::domain::{Charge, NewOutgoingEvent, RefundStatus};
use crate::store::{ChangeSet, Write, keys};

/// The puts and removals a change set makes: its records and the indexes derived from them, so
/// callers cannot forget an index.
pub(super) fn ops_of(changes: ChangeSet) -> Vec<Op> {
    let ChangeSet { account, customer, writes, decided_at: _, test_clock: _ } = changes;
    let (account, customer) = (&account, &customer);
    let owner = || customer.as_str().as_bytes().to_vec();
    let mut ops = Vec::with_capacity(writes.len() * 2);
    for write in writes {
        match write {
            Write::Customer(record) => {
                debug_assert_eq!(&record.id, customer);
                ops.push(Op::put(
                    TreeId::Customers,
                    keys::customer(account, customer),
                    encode(&record),
                ));
            }
            Write::PaymentMethod(method) => {
                let id = method.id.as_str();
                ops.push(Op::put(
                    TreeId::PaymentMethods,
                    keys::owned(account, customer, id),
                    encode(&method),
                ));
                ops.push(Op::put(TreeId::PaymentMethodOwners, keys::by_id(account, id), owner()));
            }
            Write::ForgetCustomerKey => {
                ops.push(Op::remove(TreeId::CustomerKeys, keys::customer(account, customer)));
            }
            Write::RemovePaymentMethod(id) => {
                ops.push(Op::remove(
                    TreeId::PaymentMethods,
                    keys::owned(account, customer, id.as_str()),
                ));
                ops.push(Op::remove(
                    TreeId::PaymentMethodOwners,
                    keys::by_id(account, id.as_str()),
                ));
            }
            Write::NewCharge(charge) => {
                let key = keys::owned(account, customer, charge.id.as_str());
                ops.push(Op::put(
                    TreeId::ChargeOwners,
                    keys::by_id(account, charge.id.as_str()),
                    owner(),
                ));
                charge_ops(&mut ops, key, &charge);
            }
            Write::Charge(charge) => {
                charge_ops(&mut ops, keys::owned(account, customer, charge.id.as_str()), &charge);
            }
            Write::Refund(refund) => {
                let key = keys::owned(account, customer, refund.id.as_str());
                ops.push(Op::put(TreeId::Refunds, key.clone(), encode(&refund)));
                ops.push(Op::put(
                    TreeId::RefundOwners,
                    keys::by_id(account, refund.id.as_str()),
                    owner(),
                ));
                ops.push(unsettled(key, refund.status == RefundStatus::Pending));
            }
            Write::ChargeReference { gateway, reference, charge } => {
                ops.push(Op::put(
                    TreeId::ChargeReferences,
                    keys::gateway_object(&gateway, &reference),
                    keys::owned(account, customer, charge.as_str()),
                ));
            }
            Write::Dispute(dispute) => {
                let id = dispute.id.as_str();
                ops.push(Op::put(
                    TreeId::Disputes,
                    keys::owned(account, customer, id),
                    encode(&dispute),
                ));
                ops.push(Op::put(TreeId::DisputeOwners, keys::by_id(account, id), owner()));
            }
            Write::Subscription { record, due_before } => {
                billing::subscription_ops(&mut ops, account, customer, &record, due_before);
            }
            Write::PaymentPlan { record, due_before } => {
                billing::payment_plan_ops(&mut ops, account, customer, &record, due_before);
            }
            Write::Invoice(invoice) => billing::invoice_ops(&mut ops, account, customer, &invoice),
            Write::CreditNote(note) => billing::credit_note_ops(&mut ops, account, customer, &note),
            Write::Event(event) => audit::event_ops(&mut ops, account, customer, &event),
            Write::Outgoing(_) | Write::Posting(_) => {
                unreachable!("taken out of the set before: see `commit`")
            }
            Write::Idempotency { key, record } => {
                ops.push(Op::put(
                    TreeId::Idempotency,
                    keys::idempotency(account, &key),
                    encode(&record),
                ));
            }
            Write::Redemption(redemption) => {
                coupons::redemption_ops(&mut ops, account, &redemption);
            }
            Write::BankReference { reference, target } => {
                ops.push(bank::reference_op(account, &reference, &target));
            }
            Write::BankLine { identity, record } => {
                bank::line_ops(&mut ops, account, &identity, &record);
            }
            Write::Due { scope, due, object } => {
                let key = keys::schedule(&scope, due, account, customer, object.as_str());
                ops.push(Op::put(TreeId::Schedule, key, Vec::new()));
            }
            Write::RemoveRedemption { coupon, holder } => {
                ops.push(coupons::remove_redemption_op(account, &coupon, &holder));
            }
            Write::CheckoutSession(session) => {
                let key = session.id.as_str().as_bytes().to_vec();
                ops.push(Op::put(TreeId::CheckoutSessions, key, encode(&*session)));
            }
            Write::Sponsorship(record) => sponsors::sponsorship_ops(&mut ops, account, &record),
            Write::SponsorItem(item) => sponsors::item_ops(&mut ops, account, &item),
            Write::RemoveSponsorItem { id } => {
                ops.push(Op::remove(TreeId::SponsorItems, keys::owned(account, customer, &id)));
            }
            Write::SponsorDefault(item) => sponsors::default_ops(&mut ops, account, &item),
            Write::RemoveSponsorDefault { id } => {
                ops.push(Op::remove(TreeId::SponsorDefaults, keys::owned(account, customer, &id)));
            }
            Write::RemoveIdempotency { key } => {
                ops.push(Op::remove(TreeId::Idempotency, keys::idempotency(account, &key)));
            }
        }
    }
    ops
}

/// The set's outgoing events, taken out: they get their ids holding the write order.
pub(super) fn take_outgoing(changes: &mut ChangeSet) -> Vec<NewOutgoingEvent> {
    let mut outgoing = Vec::new();
    changes.writes.retain_mut(|write| match write {
        Write::Outgoing(event) => {
            outgoing.push(event.clone());
            false
        }
        _ => true,
    });
    outgoing
}

/// A charge's record, breakdown included, and its place in the unsettled index.
fn charge_ops(ops: &mut Vec<Op>, key: Vec<u8>, charge: &Charge) {
    ops.push(Op::put(TreeId::Charges, key.clone(), encode(charge)));
    // `requires_action` too: recovery asks whether the customer finished it.
    ops.push(unsettled(key, !charge.status.is_final()));
}

fn unsettled(key: Vec<u8>, is_unsettled: bool) -> Op {
    match is_unsettled {
        true => Op::put(TreeId::Unsettled, key, Vec::new()),
        false => Op::remove(TreeId::Unsettled, key),
    }
}
