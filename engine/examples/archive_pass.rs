//! Measures archival on a store of many closed charges: seeds CHARGES failed charges (100 per
//! customer, made 40 days ago) straight through the store, runs one archival pass with
//! `archive_after_days = 30`, and reports how long it took, what the records took in the live
//! store against the archive files, and what reading an archived charge by id costs.
//!
//! `cargo run --release -p kassa-engine --example archive_pass -- DATA_DIR [CHARGES]`
//! (default 100 000; DATA_DIR must be empty or missing).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kassa::archival::{Archival, Scope};
use kassa::domain::time::now_unix_secs;
use kassa::domain::{
    AccountId, Charge, ChargeId, ChargeStatus, CustomerId, Failure, Money, PaymentMethodId,
};
use kassa::store::{ChangeSet, CustomerStore, TreeStore, Write};

const CHARGES_PER_CUSTOMER: usize = 100;
const DAY: i64 = 86_400;
/// Archived charges read back by id, for the read's cost.
const READS: usize = 10_000;

fn failed_charge(customer: &CustomerId, index: usize, created: i64) -> Charge {
    let currency = kassa::domain::money::parse_currency("zar").expect("zar");
    Charge {
        id: ChargeId::generate(),
        customer: customer.clone(),
        amount: Money::new(1_000 + (index as i64 % 9_000), currency).expect("an amount"),
        payment_method: PaymentMethodId::generate(),
        gateway: "sandbox".into(),
        gateway_reference: Some(format!("sbx_ch_{index:012}")),
        status: ChargeStatus::Failed,
        failure: Some(Failure {
            code: "card_declined".into(),
            message: "Your card was declined.".into(),
        }),
        amount_refunded_minor: 0,
        description: Some(format!("Grade 11 maths, term {}", 1 + index % 4)),
        metadata: Default::default(),
        created,
        idempotency_key: Some(format!("order-{index}")),
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

fn directory_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(|meta| meta.is_file())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(data_dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: archive_pass DATA_DIR [CHARGES]");
        std::process::exit(2);
    };
    let charges: usize =
        args.next().map_or(100_000, |count| count.parse().expect("a charge count"));
    let store = Arc::new(TreeStore::open(&data_dir).expect("the store opens"));
    let account = AccountId::default_account();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let created = now_unix_secs() - 40 * DAY;
    let (mut ids, mut live_bytes, mut last) = (Vec::new(), 0u64, None);
    let started = Instant::now();
    for first in (0..charges).step_by(CHARGES_PER_CUSTOMER) {
        let customer = CustomerId::generate();
        let mut changes = ChangeSet::new(&account, &customer);
        for index in first..(first + CHARGES_PER_CUSTOMER).min(charges) {
            let charge = failed_charge(&customer, index, created);
            live_bytes += rmp_serde::to_vec(&charge).expect("encodes").len() as u64;
            if index % (charges / READS).max(1) == 0 {
                ids.push(charge.id.clone());
            }
            changes.push(Write::NewCharge(charge));
        }
        last = Some(store.commit(changes).expect("commit"));
    }
    runtime.block_on(last.expect("a commit").wait()).expect("durable");
    eprintln!("seeded {charges} failed charges in {:.1?}", started.elapsed());

    let archival = Archival::new(store.clone() as Arc<dyn CustomerStore>, Some(30));
    let started = Instant::now();
    let moved = archival.pass(&Scope::All, now_unix_secs()).expect("the pass");
    let took = started.elapsed();
    assert_eq!(moved.charges, charges, "every failed charge archived");
    let archive_bytes = directory_bytes(&data_dir.join("archive"));

    let started = Instant::now();
    for id in &ids {
        let read = store.charge(&account, id).expect("a read").expect("the charge");
        assert!(read.archived);
    }
    let read_micros = started.elapsed().as_secs_f64() * 1e6 / ids.len() as f64;
    println!(
        "archived {charges} charges in {took:.2?} ({:.0}/s); records {:.1} MiB as stored, \
         {:.1} MiB in the archive files ({:.1}×); a read by id {read_micros:.0} µs (mean of {})",
        charges as f64 / took.as_secs_f64(),
        live_bytes as f64 / 1_048_576.0,
        archive_bytes as f64 / 1_048_576.0,
        live_bytes as f64 / archive_bytes.max(1) as f64,
        ids.len(),
    );
}
