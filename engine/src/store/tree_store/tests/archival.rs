//! Archival in the store, on both backends: records move to archive blocks only as the store
//! still holds them, read back by id (`archived`) across a reopen, leave the lists, and are
//! walked by what counts every record; one written again is live again.

use super::*;
use crate::domain::NewOutgoingEvent;
use crate::store::{Archivable, ArchiveStore, ArchivedRecord, OutboxStore, OutgoingFilter};

fn event(customer: &CustomerId, object_id: &str) -> Write {
    let data = serde_json::json!({"object": {"id": object_id}});
    Write::Outgoing(NewOutgoingEvent::new(
        &account(),
        Some(customer),
        "charge.failed",
        object_id,
        1,
        &data,
    ))
}

fn archivable(store: &TreeStore) -> Vec<Archivable> {
    let mut found = Vec::new();
    store
        .each_archivable(&mut |record| {
            found.push(record);
            Ok(())
        })
        .unwrap();
    found
}

/// The ids of the archived charges of the account, or of `customer`, and of its archived
/// invoices (none here), as the walks hand them out.
fn archived_ids(store: &TreeStore, customer: Option<&CustomerId>) -> Vec<String> {
    let mut walked = Vec::new();
    store
        .each_archived_charge(&account(), customer, &mut |charge| {
            walked.push(charge.id.as_str().to_owned());
            Ok(())
        })
        .unwrap();
    store
        .each_archived_invoice(&account(), &mut |invoice| {
            walked.push(invoice.id.as_str().to_owned());
            Ok(())
        })
        .unwrap();
    walked
}

fn find(records: &[Archivable], id: &str) -> Archivable {
    records.iter().find(|record| record.record.id() == id).cloned().unwrap()
}

pub(super) async fn archived_records_read_back_by_id_and_leave_the_lists(backend: Backend) {
    let store = backend.open();
    let customer = customer();
    let mut failed = charge(&customer.id);
    failed.fail(Failure { code: "card_declined".into(), message: "declined".into() });
    let mut succeeded = charge(&customer.id);
    succeeded.succeed("ref_1".into(), 0, None);
    let changes = ChangeSet::new(&account(), &customer.id)
        .with(Write::Customer(customer.clone()))
        .with(Write::NewCharge(failed.clone()))
        .with(Write::NewCharge(succeeded.clone()))
        .with(event(&customer.id, failed.id.as_str()))
        .with(event(&customer.id, succeeded.id.as_str()));
    commit(&store, changes).await;
    // Delivered (where every event is queued, PostgreSQL): off the queue.
    let queued: Vec<_> = store.queued_events(None, 10).unwrap().into_iter().map(|e| e.id).collect();
    store.record_deliveries(&[], &queued).unwrap().wait().await.unwrap();

    let offered = archivable(&store);
    let events: Vec<_> =
        offered.iter().filter(|record| matches!(record.record, ArchivedRecord::Event(_))).collect();
    assert_eq!(events.len(), 1, "the account's latest event is held back");
    let event_id = events[0].record.id().to_owned();
    let event_before =
        store.outgoing_event(&account(), &EventId::parse(&event_id).unwrap()).unwrap().unwrap();

    // The succeeded charge changes after it was read: it stays live.
    let stale = find(&offered, succeeded.id.as_str());
    succeeded.amount_refunded_minor = 500;
    commit(&store, ChangeSet::new(&account(), &customer.id).with(Write::Charge(succeeded.clone())))
        .await;
    let records = vec![find(&offered, failed.id.as_str()), find(&offered, &event_id), stale];
    let (moved, durable) = store.archive(&records).unwrap();
    durable.wait().await.unwrap();
    assert_eq!(moved, [true, true, false]);

    let check = |store: &TreeStore| {
        let read = store.charge(&account(), &failed.id).unwrap().unwrap();
        assert!(read.archived);
        assert_eq!(Charge { archived: false, ..read }, failed, "read back as it was");
        let live = store.charge(&account(), &succeeded.id).unwrap().unwrap();
        assert!(!live.archived);
        assert_eq!(live.amount_refunded_minor, 500, "the change made meanwhile is kept");
        let listed = store.charges(&account(), &customer.id, 10, None).unwrap().items;
        assert_eq!(listed.iter().map(|charge| &charge.id).collect::<Vec<_>>(), [&succeeded.id]);
        assert_eq!(archived_ids(store, Some(&customer.id)), [failed.id.as_str()]);
        let event = store.outgoing_event(&account(), &event_before.id).unwrap().unwrap();
        assert!(event.archived);
        assert_eq!(event.data, event_before.data, "its data opens as before");
        let listed = store.outgoing_events(&account(), &OutgoingFilter::default(), 10, None);
        assert!(listed.unwrap().items.iter().all(|listed| listed.id != event_before.id));
        archived_ids(store, None)
    };
    assert_eq!(check(&store), [failed.id.as_str()]);
    drop(store);
    let store = backend.open();
    assert_eq!(check(&store), [failed.id.as_str()], "the same after a restart");

    // Written again (a late change to an archived record): live again, and walked once.
    failed.description = Some("written again".into());
    commit(&store, ChangeSet::new(&account(), &customer.id).with(Write::Charge(failed.clone())))
        .await;
    let read = store.charge(&account(), &failed.id).unwrap().unwrap();
    assert!(!read.archived);
    assert_eq!(read.description.as_deref(), Some("written again"));
    assert!(archived_ids(&store, None).is_empty());
}
