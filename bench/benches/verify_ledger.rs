//! `kassa verify-ledger` over a large book: fills a fresh data directory with succeeded charges
//! spread over a year and their postings, the money's and the sale's (straight through the
//! store, a change set to each charge as the engine commits them: the store keeps a change
//! set's postings under one entry, so many charges to a set would make the book look smaller
//! than it is), times the revenue report of that year by month over it (cash and billings
//! bases), then times the real command: the books recomputed and every charge matched to its
//! postings.
//!
//! Run: `KASSA_BOOKS_POSTINGS=10000000 cargo bench -p kassa-bench --bench verify_ledger`
//! (the `kassa` binary timed is `target/release/kassa`, or `KASSA_BIN`; build it first).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use kassa::domain::money::parse_currency;
use kassa::domain::{
    Account, AccountId, Charge, ChargeId, ChargeStatus, Customer, CustomerId, Money,
    PaymentMethodId,
};
use kassa::ledger::accrual::Accrued;
use kassa::ledger::{postings, sale};
use kassa::reports::Granularity;
use kassa::reports::revenue::{Basis, RevenueQuery, revenue};
use kassa::store::tree_store::TreeStore;
use kassa::store::{AccountStore, ChangeSet, CustomerStore, Durable, LedgerStore, Write};

/// Customers the charges are spread over.
const CUSTOMERS: usize = 1_000;

/// Postings the book is filled with, unless `KASSA_BOOKS_POSTINGS`.
const POSTINGS_DEFAULT: usize = 1_000_000;

/// What a succeeded charge that paid no invoice posts: the money it brought in, and its sale.
const POSTINGS_PER_CHARGE: usize = 2;

fn main() -> ExitCode {
    let postings = std::env::var("KASSA_BOOKS_POSTINGS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(POSTINGS_DEFAULT);
    let kassa_bin = std::env::var_os("KASSA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/kassa"));
    let temp = tempfile::tempdir().expect("a temp dir");
    let dir = temp.path().join("data");
    let started = Instant::now();
    if let Err(error) = fill(&dir, postings) {
        eprintln!("verify_ledger: filling {}: {error}", dir.display());
        return ExitCode::FAILURE;
    }
    let filled = started.elapsed().as_secs_f64();
    println!("filled: {postings} postings in {filled:.1} s");
    if let Err(error) = time_revenue_report(&dir) {
        eprintln!("verify_ledger: the revenue report: {error}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let verified = Command::new(&kassa_bin).args(["verify-ledger", "--data"]).arg(&dir).output();
    let secs = started.elapsed().as_secs_f64();
    match verified {
        Ok(output) if output.status.success() => {
            print!("{}", String::from_utf8_lossy(&output.stdout));
            println!("verify-ledger: {secs:.1} s over {postings} postings");
            ExitCode::SUCCESS
        }
        Ok(output) => {
            eprintln!("verify-ledger failed: {}", String::from_utf8_lossy(&output.stderr));
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("verify_ledger: running {}: {error}", kassa_bin.display());
            ExitCode::FAILURE
        }
    }
}

/// The year the charges are spread over: 2027, in Unix seconds.
const YEAR_START: i64 = 1_798_761_600;
const YEAR_SECS: i64 = 365 * 86_400;

/// Times the revenue report of the year, by month, over the filled book (as
/// `GET /v1/reports/revenue` computes it) on the cash basis (the books' revenue days) and the
/// billings basis (every charge read: none paid an invoice), and checks each adds up to every
/// charge.
fn time_revenue_report(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = TreeStore::open(dir)?;
    for basis in [Basis::Cash, Basis::Billings] {
        let query = RevenueQuery {
            from: YEAR_START,
            to: YEAR_START + YEAR_SECS,
            granularity: Granularity::Month,
            currency: None,
            basis,
            test_clock: None,
        };
        let started = Instant::now();
        let rows = revenue(&store, &AccountId::default_account(), &query)?;
        let secs = started.elapsed().as_secs_f64();
        let charges: i64 = rows.iter().map(|row| row.revenue.gross).sum::<i64>() / CHARGE_MINOR;
        println!(
            "revenue report ({}): {:.1} ms for a year by month, {} rows, {charges} charges",
            basis.as_str(),
            secs * 1e3,
            rows.len()
        );
    }
    store.close();
    Ok(())
}

/// Each charge's amount.
const CHARGE_MINOR: i64 = 1_000;

fn fill(dir: &Path, postings: usize) -> Result<(), Box<dyn std::error::Error>> {
    let count = postings / POSTINGS_PER_CHARGE;
    let store = TreeStore::open(dir)?;
    let account = AccountId::default_account();
    let tenant = Account {
        id: account.clone(),
        name: "books".into(),
        metadata: Default::default(),
        created: 0,
        settings: Default::default(),
    };
    store.put_account(&tenant, None, None)?;
    store.begin_books(0)?;
    let customers: Vec<Customer> = (0..CUSTOMERS).map(|_| customer()).collect();
    let currency = parse_currency("zar")?;
    for made in 0..count {
        let customer = &customers[made % customers.len()];
        let mut changes = ChangeSet::new(&account, &customer.id);
        if made < customers.len() {
            changes.writes.push(Write::Customer(customer.clone()));
        }
        let at = YEAR_START + (made as i64) * YEAR_SECS / (count as i64);
        let amount = Money::new(CHARGE_MINOR, currency)?;
        let charge = succeeded_charge(&customer.id, amount, made, at);
        let money = postings::charge_succeeded(&account, &charge, at).expect("an amount");
        let sale = sale::posting(&account, &charge, Accrued::default(), at).expect("an amount");
        changes.writes.push(Write::NewCharge(charge));
        changes.writes.push(Write::Posting(Box::new(money)));
        changes.writes.push(Write::Posting(Box::new(sale)));
        store.commit(changes)?;
    }
    futures::executor::block_on(store.sync().wait())?;
    store.close();
    Ok(())
}

fn customer() -> Customer {
    Customer {
        id: CustomerId::generate(),
        email: None,
        name: None,
        phone: None,
        address: None,
        metadata: Default::default(),
        created: 0,
        default_payment_method: None,
        tax_ids: Vec::new(),
        balance_minor: 0,
        currency: None,
        invoice_prefix: "BENCHBOOKS".into(),
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

fn succeeded_charge(customer: &CustomerId, amount: Money, index: usize, at: i64) -> Charge {
    Charge {
        id: ChargeId::generate(),
        customer: customer.clone(),
        amount,
        payment_method: PaymentMethodId::generate(),
        gateway: "sandbox".into(),
        gateway_reference: Some(format!("sb_{index}")),
        status: ChargeStatus::Succeeded,
        failure: None,
        amount_refunded_minor: 0,
        description: None,
        metadata: Default::default(),
        created: at,
        idempotency_key: None,
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
        succeeded_at: Some(at),
        archived: false,
    }
}
