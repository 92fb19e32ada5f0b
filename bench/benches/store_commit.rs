//! Durable commits per second through the store, one writer against many: what group commit buys.
//!
//! Each iteration commits `writers` change sets (a customer record and its audit event, the
//! shape of the smallest state change) concurrently and waits until all are durable. With one
//! flusher, concurrent writers share flushes, so time per commit should fall as writers rise.
//!
//! Run: `cargo bench -p kassa-bench --bench store_commit`

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kassa::domain::{AccountId, Cause, Customer, CustomerId, Event, EventKind};
use kassa::store::{ChangeSet, Store, TreeStore, Write};

fn change_set(account: &AccountId) -> ChangeSet {
    let customer = Customer {
        id: CustomerId::generate(),
        email: Some("bench@example.com".into()),
        name: Some("Bench".into()),
        phone: None,
        address: None,
        metadata: Default::default(),
        created: 1_800_000_000,
        default_payment_method: None,
        tax_ids: Vec::new(),
        // No billing: the fields subscription billing added, at a new customer's values.
        balance_minor: 0,
        currency: None,
        invoice_prefix: "BENCH001".into(),
        invoices_numbered: 0,
        credit_notes_numbered: 0,
        test_clock: None,
        purchases: Vec::new(),
        deleted: false,
        sealed: None,
        grants: Vec::new(),
        bank_transfer_reference: None,
        balance_in_books: false,
    };
    let event =
        Event::new(EventKind::CustomerCreated, customer.id.as_str(), &Cause::system("bench"));
    ChangeSet::new(account, &customer.id).with(Write::Customer(customer)).with(Write::Event(event))
}

fn durable_commits(criterion: &mut Criterion) {
    let directory = tempfile::tempdir().expect("a temp dir");
    let store: Arc<dyn Store> =
        Arc::new(TreeStore::open(directory.path()).expect("the store opens"));
    let account = AccountId::default_account();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let mut group = criterion.benchmark_group("durable_commit");
    for writers in [1usize, 8, 64] {
        group.throughput(Throughput::Elements(writers as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(writers),
            &writers,
            |bench, &writers| {
                bench.to_async(&runtime).iter(|| {
                    let tickets: Vec<_> = (0..writers)
                        .map(|_| store.commit(change_set(&account)).expect("commit"))
                        .collect();
                    async move {
                        for ticket in futures::future::join_all(
                            tickets.into_iter().map(|ticket| ticket.wait()),
                        )
                        .await
                        {
                            ticket.expect("durable");
                        }
                    }
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, durable_commits);
criterion_main!(benches);
