//! Against a real sled directory and a real PostgreSQL database: change sets are atomic and durable across a reopen, indexes
//! follow the records, a customer's charges page newest first, and gateway events are stored
//! once and found again at a start until applied.

use super::*;
use crate::domain::{
    Breakdown, Cause, Charge, ChargeId, ChargeStatus, Customer, Event, EventKind, Failure, Money,
    PaymentMethodId, PluginKind, PluginRef, PluginSource, PricedLine, RuleEvaluation,
};
use crate::store::{
    ChangeSet, CustomerStore, IdempotencyState, InFlightObject, Outcome, Unsettled, Write,
};
use change_ops::ops_of;
use gateway_events::WATERMARK_KEY;
use std::sync::atomic::Ordering;

fn account() -> AccountId {
    AccountId::parse("acct_test").unwrap()
}

fn customer() -> Customer {
    Customer {
        id: CustomerId::generate(),
        email: None,
        name: Some("Ada".into()),
        phone: None,
        address: None,
        metadata: Default::default(),
        created: 1,
        default_payment_method: None,
        tax_ids: Vec::new(),
        balance_minor: 0,
        currency: None,
        invoice_prefix: "TESTPREF".into(),
        invoices_numbered: 0,
        credit_notes_numbered: 0,
        test_clock: None,
        purchases: Vec::new(),
        deleted: false,
        sealed: None,
        grants: Vec::new(),
        bank_transfer_reference: None,
        balance_in_books: false,
    }
}

fn charge(customer: &CustomerId) -> Charge {
    Charge {
        id: ChargeId::generate(),
        customer: customer.clone(),
        amount: Money::new(500, crate::domain::money::parse_currency("usd").unwrap()).unwrap(),
        payment_method: PaymentMethodId::generate(),
        gateway: "sandbox".into(),
        gateway_reference: None,
        status: ChargeStatus::Processing,
        failure: None,
        amount_refunded_minor: 0,
        description: None,
        metadata: Default::default(),
        created: 1,
        idempotency_key: Some("key-1".into()),
        breakdown: None,
        attempt: 1,
        next_action: None,
        dispute: None,
        invoice: None,
        grants: Vec::new(),
        review: None,
        coupon: None,
        bank_transfer: None,
        checkout_session: None,
        transfer: None,
        fee_minor: 0,
        conversion: None,
        succeeded_at: None,
        archived: false,
    }
}

/// Where a test's store lives: a sled directory, or a fresh PostgreSQL database (with a directory
/// for the node's own files).
struct Backend {
    directory: tempfile::TempDir,
    database: Option<String>,
}

impl Backend {
    fn sled() -> Backend {
        Backend { directory: tempfile::tempdir().unwrap(), database: None }
    }

    fn postgres() -> Backend {
        let database = Some(kassa_testkit::postgres::fresh_database());
        Backend { directory: tempfile::tempdir().unwrap(), database }
    }

    /// Opens the store, again after an earlier one was dropped: a restart.
    fn open(&self) -> TreeStore {
        match &self.database {
            None => open_sled(&self.directory),
            Some(url) => TreeStore::open_postgres(url, self.directory.path())
                .unwrap_or_else(|error| panic!("the store opens on {url}: {error}")),
        }
    }
}

/// The store's contract, which both backends keep: each test named here runs on each.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod on_sled {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Backend::sled()).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Backend::postgres()).await
                }
            )*
        }
    };
}

on_both_backends!(
    a_change_set_is_durable_across_a_reopen,
    settling_a_charge_leaves_the_unsettled_index,
    a_breakdown_is_kept_in_its_charge_through_settling_and_in_its_idempotency_record,
    an_event_applied_to_another_accounts_charge_is_filed_there_alone,
    a_gateway_event_is_stored_once_and_found_unapplied_until_applied,
    of_concurrent_deliveries_of_one_event_exactly_one_is_stored,
    a_start_finds_every_unapplied_event_from_the_watermark_on,
    events_left_are_the_unapplied_received_before_the_cut_off_where_nodes_share_the_store,
    the_books_keep_running_totals_and_verify_names_the_first_difference,
    running_totals_move_on_from_the_last_write_across_restarts_and_nodes,
    a_payout_decided_on_a_balance_that_moved_is_refused_and_settling_it_leaves_the_index,
    the_postings_of_one_change_set_list_in_order_across_pages,
    only_finished_idempotency_records_past_retention_expire,
    accounts_do_not_see_each_other,
    charges_page_newest_first,
    a_gateway_tree_keeps_the_first_of_two_writes_and_lists_last_first,
    archived_records_read_back_by_id_and_leave_the_lists,
);

mod archival;
mod books;
use archival::archived_records_read_back_by_id_and_leave_the_lists;
use books::{
    a_payout_decided_on_a_balance_that_moved_is_refused_and_settling_it_leaves_the_index,
    running_totals_move_on_from_the_last_write_across_restarts_and_nodes,
    the_books_keep_running_totals_and_verify_names_the_first_difference,
    the_postings_of_one_change_set_list_in_order_across_pages,
};

/// The sled base of a store opened on sled.
fn sled(store: &TreeStore) -> &SledBase {
    match &store.base {
        Base::Sled(sled) => sled,
        Base::Postgres(_) => panic!("a sled store"),
    }
}

/// Opens the store in `directory`. A store dropped just before may hold sled's file lock for a
/// moment longer (sled's background flusher lets go of it after the last handle), which a
/// restarted process never meets: wait for it rather than fail.
fn open_sled(directory: &tempfile::TempDir) -> TreeStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match TreeStore::open(directory.path()) {
            Ok(store) => return store,
            Err(StoreError::Storage(message))
                if message.contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(error) => panic!("the store opens: {error}"),
        }
    }
}

async fn commit(store: &TreeStore, changes: ChangeSet) {
    store.commit(changes).unwrap().wait().await.unwrap();
}

async fn a_change_set_is_durable_across_a_reopen(backend: Backend) {
    let customer = customer();
    let charge = charge(&customer.id);
    {
        let store = backend.open();
        let changes = ChangeSet::new(&account(), &customer.id)
            .with(Write::Customer(customer.clone()))
            .with(Write::NewCharge(charge.clone()))
            .with(Write::Event(Event::new(
                EventKind::ChargeProcessing,
                charge.id.as_str(),
                &Cause::system("test"),
            )))
            .with(Write::idempotency_in_flight(
                "key-1",
                [7; 32],
                InFlightObject::Charge(charge.id.clone()),
            ));
        commit(&store, changes).await;
    }
    let store = backend.open();
    assert_eq!(store.customer(&account(), &customer.id).unwrap(), Some(customer.clone()));
    assert_eq!(store.charge(&account(), &charge.id).unwrap(), Some(charge.clone()));
    assert_eq!(store.events(&account(), &customer.id).unwrap().len(), 1);
    let record = store.idempotency(&account(), "key-1").unwrap().unwrap();
    assert_eq!(record.fingerprint, [7; 32]);
    assert_eq!(record.state, IdempotencyState::InFlight(InFlightObject::Charge(charge.id.clone())));
    assert_eq!(store.unsettled().unwrap(), vec![Unsettled::Charge { account: account(), charge }]);
}

#[tokio::test]
async fn a_change_set_in_the_log_but_not_in_sled_is_applied_at_open() {
    let directory = tempfile::tempdir().unwrap();
    let customer = customer();
    let charge = charge(&customer.id);
    let changes = ChangeSet::new(&account(), &customer.id)
        .with(Write::Customer(customer.clone()))
        .with(Write::NewCharge(charge.clone()));
    {
        let store = open_sled(&directory);
        // The crash point: the record is in the log, durably, and none of its puts are in sled.
        let sequence = sled(&store).log.wal.append(&ops::encode(&ops_of(changes))).unwrap();
        assert_eq!(sled(&store).log.wal.sync().unwrap(), sequence);
        assert_eq!(store.customer(&account(), &customer.id).unwrap(), None);
    }
    let store = open_sled(&directory);
    assert_eq!(store.customer(&account(), &customer.id).unwrap(), Some(customer));
    assert_eq!(store.charge(&account(), &charge.id).unwrap(), Some(charge.clone()));
    assert_eq!(store.unsettled().unwrap(), vec![Unsettled::Charge { account: account(), charge }]);
    assert_eq!(sled(&store).log.applied.load(Ordering::SeqCst), 1, "numbering goes on after it");
}

#[tokio::test]
async fn a_graceful_stop_checkpoints_everything_and_a_start_replays_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let customer = customer();
    {
        let store = open_sled(&directory);
        for _ in 0..3 {
            commit(
                &store,
                ChangeSet::new(&account(), &customer.id).with(Write::Customer(customer.clone())),
            )
            .await;
        }
        applied_reaches(&store, 3).await;
    }
    let store = open_sled(&directory);
    assert_eq!(read_checkpoint(store.db.as_ref().unwrap()).unwrap(), 3, "sled holds all three");
    assert_eq!(sled(&store).log.applied.load(Ordering::SeqCst), 3, "nothing after the checkpoint");
    let segments = sled(&store).log.wal.segments();
    assert_eq!(segments.len(), 1, "only the segment appends go to: {segments:?}");
    commit(
        &store,
        ChangeSet::new(&account(), &customer.id).with(Write::Customer(customer.clone())),
    )
    .await;
    applied_reaches(&store, 4).await;
}

/// Waits for the applier to have put the log into sled up to `sequence` (it does so after the
/// sync that made it durable, off the acknowledgement path).
async fn applied_reaches(store: &TreeStore, sequence: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while sled(store).log.applied.load(Ordering::SeqCst) < sequence {
        assert!(std::time::Instant::now() < deadline, "the applier never reached {sequence}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(sled(store).log.applied.load(Ordering::SeqCst), sequence);
}

async fn settling_a_charge_leaves_the_unsettled_index(backend: Backend) {
    let store = backend.open();
    let customer = customer();
    let mut charge = charge(&customer.id);
    commit(&store, ChangeSet::new(&account(), &customer.id).with(Write::NewCharge(charge.clone())))
        .await;
    assert_eq!(store.unsettled().unwrap().len(), 1);
    charge.fail(Failure { code: "generic_decline".into(), message: "declined".into() });
    let outcome = Outcome::Charge(charge.clone());
    let changes = ChangeSet::new(&account(), &customer.id)
        .with(Write::Charge(charge.clone()))
        .with(Write::idempotency_completed("key-1", [7; 32], outcome.clone()));
    commit(&store, changes).await;
    assert!(store.unsettled().unwrap().is_empty());
    let record = store.idempotency(&account(), "key-1").unwrap().unwrap();
    assert_eq!(record.state, IdempotencyState::Completed(Box::new(outcome)));
}

fn breakdown() -> Box<Breakdown> {
    let rule = |kind| PluginRef {
        kind,
        version: 0,
        source: PluginSource::Bundled,
        sha256: "ab".repeat(32),
    };
    Box::new(Breakdown {
        lines: vec![PricedLine { sku: "seat".into(), quantity: 2, amount_minor: 500 }],
        subtotal_minor: 500,
        discounts: Vec::new(),
        tax: Vec::new(),
        reverse_charge: false,
        total_minor: 500,
        evaluation: RuleEvaluation {
            pricing: rule(PluginKind::Pricing),
            tax: rule(PluginKind::Tax),
            evaluated_at: 1,
        },
    })
}

async fn a_breakdown_is_kept_in_its_charge_through_settling_and_in_its_idempotency_record(
    backend: Backend,
) {
    let store = backend.open();
    let customer = customer();
    let mut charge = charge(&customer.id);
    charge.breakdown = Some(breakdown());
    let created = ChangeSet::new(&account(), &customer.id).with(Write::NewCharge(charge.clone()));
    let ops = ops_of(created.clone());
    let trees: Vec<u8> = ops.iter().map(|op| op.tree).collect();
    let expected = [TreeId::ChargeOwners, TreeId::Charges, TreeId::Unsettled];
    assert_eq!(
        trees,
        expected.map(|tree| tree as u8),
        "the breakdown is in the charge's record, not a write of its own"
    );
    commit(&store, created).await;
    assert_eq!(
        store.unsettled().unwrap(),
        vec![Unsettled::Charge { account: account(), charge: charge.clone() }]
    );

    charge.succeed("sandbox_1".into(), 0, None);
    let outcome = Outcome::Charge(charge.clone());
    let settled = ChangeSet::new(&account(), &customer.id)
        .with(Write::Charge(charge.clone()))
        .with(Write::idempotency_completed("key-1", [7; 32], outcome.clone()));
    commit(&store, settled).await;

    assert_eq!(store.charge(&account(), &charge.id).unwrap(), Some(charge.clone()));
    let page = store.charges(&account(), &customer.id, 10, None).unwrap();
    assert_eq!(page.items, vec![charge.clone()]);
    let record = store.idempotency(&account(), "key-1").unwrap().unwrap();
    assert_eq!(record.state, IdempotencyState::Completed(Box::new(outcome)));
}

fn gateway_event(gateway_event_id: &str) -> NewGatewayEvent {
    NewGatewayEvent {
        account: account(),
        gateway: "stripe".into(),
        gateway_event_id: gateway_event_id.into(),
        kind: "payment_intent.succeeded".into(),
        gateway_created: 1,
        received: 2,
        payload: format!(r#"{{"id":"{gateway_event_id}"}}"#),
    }
}

fn stored(inserted: InsertedEvent) -> GatewayEvent {
    match inserted {
        InsertedEvent::Stored(event) => event,
        InsertedEvent::Duplicate(event) => panic!("{} taken as a duplicate", event.id),
    }
}

fn applied(outcome: &str) -> Applied {
    Applied { at: 3, outcome: outcome.into() }
}

async fn an_event_applied_to_another_accounts_charge_is_filed_there_alone(backend: Backend) {
    let owner = AccountId::parse("acct_owner").unwrap();
    let event = {
        let store = backend.open();
        let event = stored(store.insert_gateway_event(gateway_event("evt_moved")).unwrap());
        let outcome = applied("charge ch_1 succeeded");
        store.complete_gateway_event(&account(), &event.id, &outcome, &owner).unwrap();
        store.sync().wait().await.unwrap();
        event
    };
    let store = backend.open();
    assert!(store.gateway_events(&account(), None, 10, None).unwrap().items.is_empty());
    assert_eq!(store.gateway_event(&account(), &event.id).unwrap(), None);
    let listed = store.gateway_events(&owner, None, 10, None).unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!((&listed[0].id, &listed[0].account), (&event.id, &owner));
    assert_eq!(listed[0].applied, Some(applied("charge ch_1 succeeded")));
    assert!(store.unapplied_gateway_events().unwrap().is_empty());
    // The gateway sending it again finds it where it now is.
    let again = store.insert_gateway_event(gateway_event("evt_moved")).unwrap();
    assert_eq!(again, InsertedEvent::Duplicate(listed[0].clone()));
}

async fn a_gateway_event_is_stored_once_and_found_unapplied_until_applied(backend: Backend) {
    let first = {
        let store = backend.open();
        let first = stored(store.insert_gateway_event(gateway_event("evt_1")).unwrap());
        let again = store.insert_gateway_event(gateway_event("evt_1")).unwrap();
        assert_eq!(again, InsertedEvent::Duplicate(first.clone()));
        store.sync().wait().await.unwrap();
        first
    };
    let store = backend.open();
    assert_eq!(store.unapplied_gateway_events().unwrap(), vec![first.clone()]);

    let outcome = applied("charge ch_1 succeeded");
    store
        .complete_gateway_event(&account(), &first.id, &outcome, &account())
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(store.unapplied_gateway_events().unwrap().is_empty());
    let read = store.gateway_event(&account(), &first.id).unwrap().unwrap();
    assert_eq!(read.applied, Some(outcome));
    let listed = store.gateway_events(&account(), Some("payment_intent.succeeded"), 10, None);
    assert_eq!(listed.unwrap().items, vec![read]);
    assert!(
        store
            .gateway_events(&account(), Some("charge.refunded"), 10, None)
            .unwrap()
            .items
            .is_empty()
    );
    let other = AccountId::parse("acct_test_other").unwrap();
    assert!(store.gateway_events(&other, None, 10, None).unwrap().items.is_empty());
}

async fn of_concurrent_deliveries_of_one_event_exactly_one_is_stored(backend: Backend) {
    let store = backend.open();
    const DELIVERIES: usize = 4;
    const EVENTS: usize = 300;
    // Every thread delivers every event, all starting each event together: a delivery that
    // found another's id entry before its record would store the event a second time.
    let barrier = std::sync::Barrier::new(DELIVERIES);
    let stored_by_thread: Vec<Vec<bool>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..DELIVERIES)
            .map(|_| {
                scope.spawn(|| {
                    (0..EVENTS)
                        .map(|index| {
                            barrier.wait();
                            let event = gateway_event(&format!("evt_race_{index}"));
                            matches!(
                                store.insert_gateway_event(event).unwrap(),
                                InsertedEvent::Stored(_)
                            )
                        })
                        .collect()
                })
            })
            .collect();
        threads.into_iter().map(|thread| thread.join().unwrap()).collect()
    });
    for index in 0..EVENTS {
        let stored = stored_by_thread.iter().filter(|thread| thread[index]).count();
        assert_eq!(stored, 1, "evt_race_{index} stored by {stored} deliveries");
    }
    let listed = store.gateway_events(&account(), None, 100, None).unwrap();
    assert_eq!(listed.items.len(), 100);
    assert!(listed.has_more);
}

async fn a_start_finds_every_unapplied_event_from_the_watermark_on(backend: Backend) {
    let other = AccountId::parse("acct_test_other").unwrap();
    let (first, second) = {
        let store = backend.open();
        let first = stored(store.insert_gateway_event(gateway_event("evt_a")).unwrap());
        let second = stored(
            store
                .insert_gateway_event(NewGatewayEvent {
                    account: other.clone(),
                    ..gateway_event("evt_b")
                })
                .unwrap(),
        );
        let third = stored(store.insert_gateway_event(gateway_event("evt_c")).unwrap());
        // The third applied durably, the first applied but not yet durable when the watermark
        // is taken: it stays at the first.
        store
            .complete_gateway_event(&account(), &third.id, &applied("c"), &account())
            .unwrap()
            .wait()
            .await
            .unwrap();
        store.complete_gateway_event(&account(), &first.id, &applied("a"), &account()).unwrap();
        // Where nodes share the store each event has its own entry instead.
        let watermark = store.tree(TreeId::EventInbox).get(WATERMARK_KEY).unwrap();
        match store.is_shared() {
            false => assert_eq!(&watermark.unwrap()[..], first.id.as_str().as_bytes()),
            true => assert!(watermark.is_none()),
        }
        store.sync().wait().await.unwrap();
        (first, second)
    };
    let store = backend.open();
    assert_eq!(
        store.unapplied_gateway_events().unwrap(),
        vec![second],
        "in every account; the first is applied, the third before the watermark"
    );
    assert!(store.gateway_event(&account(), &first.id).unwrap().unwrap().applied.is_some());
}

async fn events_left_are_the_unapplied_received_before_the_cut_off_where_nodes_share_the_store(
    backend: Backend,
) {
    let store = backend.open();
    // Ids are made as events are taken in (now): a cut-off a minute ahead passes every id, and
    // what was received after it is left out by the time it was received.
    let cut_off = crate::domain::time::now_unix_secs() + 60;
    let old = stored(store.insert_gateway_event(gateway_event("evt_old")).unwrap());
    let applied_old = stored(store.insert_gateway_event(gateway_event("evt_done")).unwrap());
    let recent = NewGatewayEvent { received: cut_off + 1, ..gateway_event("evt_recent") };
    let recent = stored(store.insert_gateway_event(recent).unwrap());
    store
        .complete_gateway_event(&account(), &applied_old.id, &applied("done"), &account())
        .unwrap();
    let left = store.gateway_events_left(cut_off, 100).unwrap();
    let pending = store.tree(TreeId::EventInbox).iter().filter(|entry| {
        let (key, _) = entry.as_ref().unwrap();
        key.as_ref() != WATERMARK_KEY
    });
    let pending = pending.count();
    match store.is_shared() {
        // On a store of its own a start finds what is left: nothing is kept per event.
        false => {
            assert!(left.is_empty(), "{left:?}");
            assert_eq!(pending, 0, "no entry per event");
        }
        true => {
            assert_eq!(left, vec![old.clone()], "not the applied one, not the one just received");
            assert_eq!(pending, 2, "the applied event's entry went with its outcome");
            assert_eq!(store.unapplied_gateway_events().unwrap(), vec![old, recent]);
        }
    }
}

#[tokio::test]
async fn a_gateway_event_whose_payload_was_lost_reads_as_never_stored() {
    let directory = tempfile::tempdir().unwrap();
    let event = {
        let store = open_sled(&directory);
        let event = stored(store.insert_gateway_event(gateway_event("evt_lost")).unwrap());
        store.sync().wait().await.unwrap();
        event
    };
    // A power cut kept sled's record but not the (never acknowledged) payload.
    let log = std::fs::OpenOptions::new()
        .write(true)
        .open(directory.path().join(PAYLOAD_LOG_FILE))
        .unwrap();
    log.set_len(0).unwrap();
    let store = open_sled(&directory);
    assert_eq!(store.gateway_event(&account(), &event.id).unwrap(), None);
    assert!(store.unapplied_gateway_events().unwrap().is_empty());
    // Stripe sends it again: stored anew, not answered as a duplicate.
    let again = stored(store.insert_gateway_event(gateway_event("evt_lost")).unwrap());
    assert_eq!(store.unapplied_gateway_events().unwrap(), vec![again]);
}

async fn only_finished_idempotency_records_past_retention_expire(backend: Backend) {
    let store = backend.open();
    let customer = customer();
    let charge = charge(&customer.id);
    let record = |created, state| IdempotencyRecord { fingerprint: [1; 32], created, state };
    let done = IdempotencyState::Completed(Box::new(Outcome::Charge(charge.clone())));
    let running = IdempotencyState::InFlight(InFlightObject::Charge(charge.id.clone()));
    let changes = ChangeSet::new(&account(), &customer.id)
        .with(Write::Idempotency { key: "old-done".into(), record: record(100, done.clone()) })
        .with(Write::Idempotency { key: "old-running".into(), record: record(100, running) })
        .with(Write::Idempotency { key: "new-done".into(), record: record(900, done) });
    commit(&store, changes).await;
    assert_eq!(store.expire_idempotency(500).unwrap(), 1);
    assert!(store.idempotency(&account(), "old-done").unwrap().is_none());
    assert!(store.idempotency(&account(), "old-running").unwrap().is_some());
    assert!(store.idempotency(&account(), "new-done").unwrap().is_some());
}

async fn accounts_do_not_see_each_other(backend: Backend) {
    let store = backend.open();
    let customer = customer();
    let charge = charge(&customer.id);
    let changes = ChangeSet::new(&account(), &customer.id)
        .with(Write::Customer(customer.clone()))
        .with(Write::NewCharge(charge.clone()));
    commit(&store, changes).await;
    let other = AccountId::parse("acct_test_other").unwrap();
    assert_eq!(store.customer(&other, &customer.id).unwrap(), None);
    assert_eq!(store.charge(&other, &charge.id).unwrap(), None);
    assert!(store.charges(&other, &customer.id, 10, None).unwrap().items.is_empty());
}

async fn charges_page_newest_first(backend: Backend) {
    let store = backend.open();
    let customer = customer();
    let mut ids = Vec::new();
    for _ in 0..25 {
        let charge = charge(&customer.id);
        ids.push(charge.id.clone());
        commit(&store, ChangeSet::new(&account(), &customer.id).with(Write::NewCharge(charge)))
            .await;
    }
    ids.reverse();
    let first = store.charges(&account(), &customer.id, 10, None).unwrap();
    assert!(first.has_more);
    assert_eq!(first.items.iter().map(|charge| charge.id.clone()).collect::<Vec<_>>(), ids[..10]);
    let last = store.charges(&account(), &customer.id, 10, Some(&ids[19])).unwrap();
    assert!(!last.has_more);
    assert_eq!(last.items.iter().map(|charge| charge.id.clone()).collect::<Vec<_>>(), ids[20..]);
}

#[tokio::test]
async fn concurrent_writers_share_flushes() {
    let directory = tempfile::tempdir().unwrap();
    let store = open_sled(&directory);
    let tickets: Vec<_> = (0..200)
        .map(|_| {
            let customer = customer();
            store
                .commit(ChangeSet::new(&account(), &customer.id).with(Write::Customer(customer)))
                .unwrap()
        })
        .collect();
    for ticket in tickets {
        ticket.wait().await.unwrap();
    }
    let flushes = store.flushes();
    assert!(flushes >= 1, "at least one flush covered the writes");
    assert!(flushes < 200, "200 concurrent commits took {flushes} flushes: no grouping");
}

#[tokio::test]
async fn a_gateways_writes_are_logged_and_replayed_into_its_own_trees() {
    use kassa_gateways::trees::{Put, Trees};
    let tree = GATEWAY_TREE_NAMES[0];
    let directory = tempfile::tempdir().unwrap();
    {
        let store = open_sled(&directory);
        let put = Put { tree, key: b"ch_key", value: b"charged" };
        assert_eq!(store.insert_unless_present(tree, b"ch_key", &[put]).unwrap(), None);
        let again = Put { tree, key: b"ch_key", value: b"charged twice" };
        assert_eq!(
            store.insert_unless_present(tree, b"ch_key", &[again]).unwrap().as_deref(),
            Some(&b"charged"[..]),
            "the first write stands"
        );
        Trees::sync(&store).await.unwrap();
        // The crash point: a second write in the log, durably, but not in sled.
        let (number, _) = store.gateway_tree(tree).unwrap();
        let op = Op { tree: number, key: b"ch_other".to_vec(), value: Some(b"logged".to_vec()) };
        sled(&store).log.wal.append(&ops::encode(&[op])).unwrap();
        sled(&store).log.wal.sync().unwrap();
    }
    let store = open_sled(&directory);
    assert_eq!(Trees::get(&store, tree, b"ch_key").unwrap().as_deref(), Some(&b"charged"[..]));
    assert_eq!(Trees::get(&store, tree, b"ch_other").unwrap().as_deref(), Some(&b"logged"[..]));
    let listed: Vec<_> = store.range_rev(tree, b"ch_", b"ch_~").map(Result::unwrap).collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].0, b"ch_other", "last first");
}

async fn a_gateway_tree_keeps_the_first_of_two_writes_and_lists_last_first(backend: Backend) {
    use kassa_gateways::trees::{Put, Trees};
    let tree = GATEWAY_TREE_NAMES[0];
    {
        let store = backend.open();
        for key in [&b"ch_key"[..], b"ch_other"] {
            let put = Put { tree, key, value: b"charged" };
            assert_eq!(store.insert_unless_present(tree, key, &[put]).unwrap(), None);
        }
        let again = Put { tree, key: b"ch_key", value: b"charged twice" };
        assert_eq!(
            store.insert_unless_present(tree, b"ch_key", &[again]).unwrap().as_deref(),
            Some(&b"charged"[..]),
            "the first write stands"
        );
        Trees::sync(&store).await.unwrap();
    }
    let store = backend.open();
    assert_eq!(Trees::get(&store, tree, b"ch_key").unwrap().as_deref(), Some(&b"charged"[..]));
    let listed: Vec<_> = store.range_rev(tree, b"ch_", b"ch_~").map(Result::unwrap).collect();
    let keys: Vec<&[u8]> = listed.iter().map(|(key, _)| key.as_slice()).collect();
    assert_eq!(keys, [&b"ch_other"[..], b"ch_key"], "last first");
    Trees::remove(&store, tree, b"ch_key").unwrap();
    assert_eq!(Trees::get(&store, tree, b"ch_key").unwrap(), None);
}

#[tokio::test]
async fn queued_events_keep_their_data_sealed_until_one_is_read_to_be_sent() {
    use crate::data_key::DataKey;
    use crate::domain::{EndpointStatus, NewOutgoingEvent, WebhookEndpoint, WebhookEndpointId};
    use crate::store::OutboxStore;
    use crate::store::sealing::Sealer;

    let directory = tempfile::tempdir().unwrap();
    let sealer = Sealer::new(&DataKey::generate(), &[], true);
    let store = open_sled(&directory).sealed_by(sealer).unwrap();
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        account: account(),
        url: "https://platform.example/kassa".into(),
        enabled_events: vec!["*".into()],
        description: None,
        status: EndpointStatus::Enabled,
        secret: "whsec_test".into(),
        previous_secret: None,
        failing_since: None,
        created: 0,
    };
    // Events are queued once the account has an endpoint.
    store.put_endpoint(&endpoint, None).unwrap().wait().await.unwrap();
    let customer = customer();
    let data = serde_json::json!({"object": {"id": "ch_1", "billing_details": {"name": "Thandi"}}});
    let event =
        NewOutgoingEvent::new(&account(), Some(&customer.id), "charge.succeeded", "ch_1", 1, &data);
    let changes = ChangeSet::new(&account(), &customer.id)
        .with(Write::Customer(customer.clone()))
        .with(Write::Outgoing(event));
    commit(&store, changes).await;

    // Where an event goes is decided on what it is about, without its personal data.
    let queued = store.queued_events(None, 10).unwrap();
    assert_eq!(queued.len(), 1);
    let (kind, object) = (queued[0].kind.as_str(), queued[0].object_id.as_str());
    assert_eq!((kind, object), ("charge.succeeded", "ch_1"));
    assert!(queued[0].data.is_none() && queued[0].sealed.is_some(), "{:?}", queued[0]);

    let sent = store.outgoing_event(&account(), &queued[0].id).unwrap().unwrap();
    assert_eq!(sent.data, Some(serde_json::to_vec(&data).unwrap()));
}
