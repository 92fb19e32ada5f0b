//! The books in the store, on both backends: postings move running totals that `verify`
//! recomputes, and a payout decided on a payee's balance that moved since is refused.

use super::*;

pub(super) async fn the_books_keep_running_totals_and_verify_names_the_first_difference(
    backend: Backend,
) {
    use crate::domain::{Account, LedgerAccount, LedgerBalance};
    use crate::ledger::accrual::Accrued;
    use crate::ledger::{postings, sale, verify::verify};
    use crate::store::{AccountStore, LedgerStore};
    let store = backend.open();
    let tenant = Account {
        id: account(),
        name: "books".into(),
        metadata: Default::default(),
        created: 1,
        settings: Default::default(),
    };
    store.put_account(&tenant, None, None).unwrap();
    store.begin_books(0).unwrap();
    let customer = customer();
    let paid = |key: &str| Charge {
        status: ChargeStatus::Succeeded,
        idempotency_key: Some(key.into()),
        ..charge(&customer.id)
    };
    for charge in [paid("key-1"), paid("key-2")] {
        let money = postings::charge_succeeded(&account(), &charge, 10).unwrap();
        let accrued = sale::posting(&account(), &charge, Accrued::default(), 10).unwrap();
        let changes = ChangeSet::new(&account(), &customer.id)
            .with(Write::Customer(customer.clone()))
            .with(Write::NewCharge(charge))
            .with(Write::Posting(Box::new(money)))
            .with(Write::Posting(Box::new(accrued)));
        commit(&store, changes).await;
    }
    let totals = store.ledger_totals(&account()).unwrap();
    let platform = totals.iter().find(|kept| kept.account == LedgerAccount::Platform).unwrap();
    assert_eq!(platform.balance, LedgerBalance { debits_minor: 0, credits_minor: 1_000 });
    let verified = verify(&store).unwrap();
    // The clearing account and the platform's; collected and recognized revenue.
    let counted = (verified.postings, verified.totals, verified.charges, verified.sales);
    assert_eq!(counted, (4, 4, 2, 2));

    // A total changed behind the postings' back.
    let key = ledger::totals_key(&account(), &LedgerAccount::Platform, platform.currency);
    let doctored = crate::store::LedgerTotals {
        balance: LedgerBalance { debits_minor: 0, credits_minor: 1_001 },
        ..platform.clone()
    };
    let put = |totals: &crate::store::LedgerTotals| {
        let op = Op::put(TreeId::LedgerBalances, key.clone(), encode(totals));
        store.append_and_apply(&store.write_order().unwrap(), &[op]).unwrap();
    };
    put(&doctored);
    let difference = verify(&store).unwrap_err().to_string();
    assert!(difference.contains("platform usd"), "{difference}");
    put(platform);
    verify(&store).unwrap();

    // A day's revenue changed behind the postings' back.
    let day = store.revenue_days(&account(), None, i64::MIN, i64::MAX).unwrap().remove(0);
    let place = keys::by_id(&account(), &format!("usd/{:020}", day.day));
    let doctored = crate::domain::Revenue { gross: day.revenue.gross + 1, ..day.revenue };
    let op = Op::put(TreeId::RevenueDays, place.clone(), encode(&doctored));
    store.append_and_apply(&store.write_order().unwrap(), &[op]).unwrap();
    let difference = verify(&store).unwrap_err().to_string();
    assert!(difference.contains("revenue of day"), "{difference}");
    let op = Op::put(TreeId::RevenueDays, place, encode(&day.revenue));
    store.append_and_apply(&store.write_order().unwrap(), &[op]).unwrap();
    verify(&store).unwrap();

    // A charge that succeeded with its money posted and not its sale.
    let unaccrued = paid("key-3");
    let money = postings::charge_succeeded(&account(), &unaccrued, 10).unwrap();
    let changes = ChangeSet::new(&account(), &customer.id)
        .with(Write::NewCharge(unaccrued.clone()))
        .with(Write::Posting(Box::new(money)));
    commit(&store, changes).await;
    let difference = verify(&store).unwrap_err().to_string();
    assert!(difference.contains(&format!("sale {}", unaccrued.id)), "{difference}");
    let accrued = sale::posting(&account(), &unaccrued, Accrued::default(), 10).unwrap();
    let changes = ChangeSet::new(&account(), &customer.id).with(Write::Posting(Box::new(accrued)));
    commit(&store, changes).await;
    verify(&store).unwrap();

    // A charge that succeeded with no posting.
    let unposted = paid("key-4");
    let changes = ChangeSet::new(&account(), &customer.id).with(Write::NewCharge(unposted.clone()));
    commit(&store, changes).await;
    let difference = verify(&store).unwrap_err().to_string();
    assert!(difference.contains(unposted.id.as_str()), "{difference}");
}

pub(super) async fn a_payout_decided_on_a_balance_that_moved_is_refused_and_settling_it_leaves_the_index(
    backend: Backend,
) {
    use crate::domain::{
        LedgerAccount, LedgerBalance, Leg, PartStatus, PayeeId, Payout, PayoutId, Posting,
        PostingKind,
    };
    use crate::ledger::postings;
    use crate::store::{PayoutChange, PayoutStore};
    let store = backend.open();
    let payee = PayeeId::generate();
    let usd = crate::domain::money::parse_currency("usd").unwrap();
    let earned = |amount_minor: i64| {
        let to_payee = LedgerAccount::Payee { payee: payee.clone() };
        let legs = vec![Leg { debit: LedgerAccount::Platform, credit: to_payee, amount_minor }];
        let posting = Posting::new(&account(), PostingKind::Transfer, "tr_test", usd, legs, 1);
        Posting { payee: Some(payee.clone()), ..posting }
    };
    let customer = customer();
    let credit = |amount| {
        ChangeSet::new(&account(), &customer.id).with(Write::Posting(Box::new(earned(amount))))
    };
    commit(&store, credit(700)).await;
    let decided_on = LedgerBalance { debits_minor: 0, credits_minor: 700 };
    let id = PayoutId::generate();
    let payout = Payout {
        id: id.clone(),
        account: account(),
        payee: payee.clone(),
        amount_minor: 700,
        currency: usd,
        method: "sandbox".into(),
        parts: Payout::split(&id, 700, None),
        scheduled_for: None,
        failure_code: None,
        failure_message: None,
        arrival_date: None,
        created: 2,
    };
    let decided = |payout: &Payout| {
        let mut change = PayoutChange::new(payout.clone());
        change.postings.extend(postings::payout_made(payout));
        change.decided_on = Some(decided_on);
        change
    };
    // Another posting moved the payee's balance after the payout was decided.
    commit(&store, credit(1)).await;
    let refused = store.commit_payout(decided(&payout)).err();
    assert!(matches!(refused, Some(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(store.payout(&account(), &id).unwrap(), None, "nothing of it written");

    let decided_on = LedgerBalance { debits_minor: 0, credits_minor: 701 };
    let mut change = decided(&payout);
    change.decided_on = Some(decided_on);
    store.commit_payout(change).unwrap().wait().await.unwrap();
    assert_eq!(store.unsettled_payouts().unwrap(), vec![payout.clone()]);
    let listed = store.payee_payouts(&account(), &payee, 10, None).unwrap();
    assert_eq!(listed.items, vec![payout.clone()]);

    let mut paid = payout.clone();
    paid.parts[0].status = PartStatus::Paid;
    let mut change = PayoutChange::new(paid.clone());
    change.postings.extend(postings::payout_arrived(&paid, 700, 3));
    store.commit_payout(change).unwrap().wait().await.unwrap();
    assert!(store.unsettled_payouts().unwrap().is_empty());
    assert_eq!(store.payout(&account(), &id).unwrap(), Some(paid));

    assert_eq!(store.last_payout_slot(&account(), &payee).unwrap(), None);
    for at in [86_400 * 3, 86_400 * 10, 86_400 * 5] {
        store.mark_payout_slot(&account(), &payee, at).unwrap().wait().await.unwrap();
    }
    assert_eq!(store.last_payout_slot(&account(), &payee).unwrap(), Some(86_400 * 10));
}

pub(super) async fn the_postings_of_one_change_set_list_in_order_across_pages(backend: Backend) {
    use crate::domain::{
        ChargeId, LedgerAccount, Leg, PayeeId, Posting, PostingKind, TransactionId, TransferId,
    };
    use crate::store::{LedgerStore, PostingFilter};
    let store = backend.open();
    let customer = customer();
    let payee = PayeeId::generate();
    let split_charge = ChargeId::generate();
    let transfer = TransferId::of_charge(&split_charge);
    let (split_charge, transfer) = (split_charge.as_str(), transfer.as_str());
    let usd = crate::domain::money::parse_currency("usd").unwrap();
    let moved = |kind: PostingKind, source: &str, to_payee: bool| {
        let credit = match to_payee {
            true => LedgerAccount::Payee { payee: payee.clone() },
            false => LedgerAccount::Platform,
        };
        let leg = Leg { debit: LedgerAccount::Platform, credit, amount_minor: 100 };
        let posting = Posting::new(&account(), kind, source, usd, vec![leg], 1);
        Posting { payee: to_payee.then(|| payee.clone()), ..posting }
    };
    let posted = |postings: Vec<Posting>| {
        let writes = postings.into_iter().map(|posting| Write::Posting(Box::new(posting)));
        let mut changes = ChangeSet::new(&account(), &customer.id);
        changes.writes.extend(writes);
        changes
    };
    commit(&store, posted(vec![moved(PostingKind::Adjustment, "ch_before", false)])).await;
    // A split charge: its own posting, the payee's share and the fee back, in one change set.
    let split = vec![
        moved(PostingKind::Charge, split_charge, false),
        moved(PostingKind::Transfer, transfer, true),
        moved(PostingKind::ApplicationFee, transfer, true),
    ];
    commit(&store, posted(split)).await;
    commit(&store, posted(vec![moved(PostingKind::TransferReversal, transfer, true)])).await;
    // The split's entry is indexed under its charge alone, the reversal's under the transfer.
    let indexed_under = |owner: &str| {
        let prefix = keys::by_id(&account(), &format!("{owner}/"));
        store.tree(TreeId::LedgerSources).scan_prefix(prefix).count()
    };
    assert_eq!((indexed_under(split_charge), indexed_under(transfer)), (1, 1));

    // Every page of one, following its cursor, through and out of the shared entry.
    let listed = |filter: PostingFilter, limit: usize| {
        let mut kinds = Vec::new();
        let mut after: Option<TransactionId> = None;
        loop {
            let page = store.postings(&account(), &filter, limit, after.as_ref()).unwrap();
            assert!(page.items.len() <= limit);
            for posting in &page.items {
                assert!(after.as_ref().is_none_or(|after| posting.id < *after), "newest first");
                after = Some(posting.id.clone());
                kinds.push(posting.kind);
            }
            if !page.has_more {
                return kinds;
            }
        }
    };
    use PostingKind::{Adjustment, ApplicationFee, Charge, Transfer, TransferReversal};
    let everything = vec![TransferReversal, ApplicationFee, Transfer, Charge, Adjustment];
    assert_eq!(listed(PostingFilter::default(), 1), everything);
    assert_eq!(listed(PostingFilter::default(), 2), everything);
    let by_source =
        |source: &str| PostingFilter { source: Some(source.into()), ..Default::default() };
    let of_transfer = vec![TransferReversal, ApplicationFee, Transfer];
    assert_eq!(listed(by_source(transfer), 1), of_transfer);
    assert_eq!(listed(by_source(transfer), 5), of_transfer);
    assert_eq!(listed(by_source(split_charge), 1), vec![Charge]);
    let by_payee = PostingFilter { payee: Some(payee.clone()), ..Default::default() };
    assert_eq!(listed(by_payee.clone(), 2), vec![TransferReversal, ApplicationFee, Transfer]);
    let of_kind = PostingFilter { kind: Some(ApplicationFee), ..by_payee };
    assert_eq!(listed(of_kind, 1), vec![ApplicationFee]);

    // Read back after a restart, each once, as verify-ledger reads them.
    drop(store);
    let store = backend.open();
    let mut ids = Vec::new();
    let mut read = |posting: Posting| {
        ids.push(posting.id);
        Ok(())
    };
    store.each_posting(&account(), &mut read).unwrap();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    let payee_account = LedgerAccount::Payee { payee };
    let held = store.ledger_balance(&account(), &payee_account, usd).unwrap();
    assert_eq!(held.credits_minor, 300);
}

/// The running totals and the day's revenue a change set moves start from what the one before
/// wrote: across a restart, and where nodes share the store, across the nodes.
pub(super) async fn running_totals_move_on_from_the_last_write_across_restarts_and_nodes(
    backend: Backend,
) {
    use crate::domain::{LedgerAccount, LedgerBalance};
    use crate::ledger::postings;
    use crate::store::LedgerStore;
    let customer = customer();
    let currency = charge(&customer.id).amount.currency;
    let pay = |store: &TreeStore, n: usize| {
        let charge = Charge {
            status: ChargeStatus::Succeeded,
            idempotency_key: Some(format!("running-{n}")),
            ..charge(&customer.id)
        };
        let money = postings::charge_succeeded(&account(), &charge, 10).unwrap();
        let changes = ChangeSet::new(&account(), &customer.id)
            .with(Write::Customer(customer.clone()))
            .with(Write::NewCharge(charge))
            .with(Write::Posting(Box::new(money)));
        store.commit(changes).unwrap()
    };
    let platform = |store: &TreeStore| {
        store.ledger_balance(&account(), &LedgerAccount::Platform, currency).unwrap()
    };
    let gross = |store: &TreeStore| {
        let days = store.revenue_days(&account(), None, i64::MIN, i64::MAX).unwrap();
        days.iter().map(|day| day.revenue.gross).sum::<i64>()
    };
    let each = charge(&customer.id).amount.amount_minor;
    let paid = |charges: i64| LedgerBalance { debits_minor: 0, credits_minor: charges * each };
    {
        let store = backend.open();
        store.begin_books(0).unwrap();
        for n in 0..3 {
            pay(&store, n).wait().await.unwrap();
        }
        assert_eq!(platform(&store), paid(3));
        assert_eq!(gross(&store), 3 * each);
    }
    let store = backend.open();
    pay(&store, 3).wait().await.unwrap();
    assert_eq!(platform(&store), paid(4), "after a restart");
    assert_eq!(gross(&store), 4 * each);
    if backend.database.is_some() {
        let other = backend.open();
        pay(&other, 4).wait().await.unwrap();
        pay(&store, 5).wait().await.unwrap();
        assert_eq!(platform(&store), paid(6), "a node's posting after another's");
        assert_eq!(platform(&other), paid(6));
        assert_eq!(gross(&store), 6 * each);
    }
}
