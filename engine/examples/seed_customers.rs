//! Fills a data directory with many customers, each with a card, straight through the store —
//! for measuring an engine with a large customer base (memory at idle, time to `/readyz`)
//! without spending an hour creating them over HTTP.
//!
//! `cargo run --release -p kassa-engine --example seed_customers -- DATA_DIR [CUSTOMERS]`
//! (default 1 000 000). Then start the engine on it: `KASSA_DATA_DIR=DATA_DIR kassa serve`.

use std::path::PathBuf;
use std::time::Instant;

use kassa::domain::time::now_unix_secs;
use kassa::domain::{
    AccountId, CardDisplay, Cause, Customer, CustomerId, Event, EventKind, PaymentMethod,
    PaymentMethodId, PaymentMethodKind,
};
use kassa::store::{ChangeSet, CustomerStore, TreeStore, Write};

/// Commits in flight before waiting for their flush: bounds memory, keeps flushes grouped.
const COMMITS_PER_WAIT: usize = 10_000;

fn customer_with_card(account: &AccountId) -> ChangeSet {
    let created = now_unix_secs();
    let method = PaymentMethod {
        id: PaymentMethodId::generate(),
        customer: CustomerId::generate(),
        gateway: "sandbox".into(),
        token: "pm_card_visa".into(),
        card: Some(CardDisplay {
            brand: "visa".into(),
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2034,
        }),
        created,
        kind: PaymentMethodKind::Card,
        sealed: None,
    };
    let customer = Customer {
        id: method.customer.clone(),
        email: Some(format!("{}@example.com", method.customer.as_str().to_ascii_lowercase())),
        name: Some("Seeded customer".into()),
        phone: None,
        address: None,
        metadata: Default::default(),
        created,
        default_payment_method: Some(method.id.clone()),
        tax_ids: Vec::new(),
        balance_minor: 0,
        currency: None,
        invoice_prefix: kassa::domain::customer::generate_invoice_prefix(),
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
        Event::new(EventKind::CustomerCreated, customer.id.as_str(), &Cause::system("seed"));
    ChangeSet::new(account, &customer.id)
        .with(Write::Customer(customer))
        .with(Write::PaymentMethod(method))
        .with(Write::Event(event))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(data_dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: seed_customers DATA_DIR [CUSTOMERS]");
        std::process::exit(2);
    };
    let customers: usize =
        args.next().map_or(1_000_000, |count| count.parse().expect("a customer count"));
    let store = TreeStore::open(&data_dir).expect("the store opens");
    let account = AccountId::default_account();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let started = Instant::now();
    let mut written = 0;
    while written < customers {
        let batch = COMMITS_PER_WAIT.min(customers - written);
        let mut last = None;
        for _ in 0..batch {
            last = Some(store.commit(customer_with_card(&account)).expect("commit"));
        }
        if let Some(ticket) = last {
            runtime.block_on(ticket.wait()).expect("durable");
        }
        written += batch;
        eprintln!(
            "{written} customers ({:.0}/s)",
            written as f64 / started.elapsed().as_secs_f64()
        );
    }
    println!(
        "seeded {customers} customers into {} in {:.1?}",
        data_dir.display(),
        started.elapsed()
    );
}
