//! Bank transfers (EFT): charges that wait for money, and statements that bring it.
//!
//! Proves that a `bank_transfer` payment method is refused while the account has no bank
//! details and then needs no token, giving the customer a permanent reference; that a charge
//! paid by it answers `processing` with its own reference (which verifies), the account's bank
//! details, `amount_received` and its expiry; that a CSV statement settles an exact credit
//! (the reference written in lower case with dashes and spaces), leaves a short one `partial`
//! with `amount_received`, settles an over-payment crediting the rest to the balance, lists an
//! unknown reference as `unmatched` and a fee as `debit`; that the same file again changes
//! nothing (every line `duplicate`), an overlapping export pays only its new lines, and two
//! identical lines in one file are two payments; that a camt.053 statement does the same, an
//! entry listed twice in it counts once, and malformed, entity-declaring and oversized XML are
//! refused with nothing changed; that a recalled credit (a debit of the same amount under the
//! reference) is `reversed` and the charge waits again; that the customer's permanent
//! reference pays its open invoices oldest first and credits the rest, and its recall reopens
//! them and takes the credit back; that an unpaid transfer
//! expires on its day on a test clock, failing the charge, and money booked after that is
//! `late` and credited to the balance; that an unmatched line is allocated by hand once; that
//! the books carry what each line brought (to the platform for invoices, to the customer's
//! balance for the rest), the credit applied to an invoice and a recall taking both back, and
//! `kassa verify-ledger` matches the customer's balance to them; that a customer's credit
//! balance is paid back out once to a bank account (or recorded as paid back outside), a
//! failed payment giving it back and bad requests taking nothing; and that a statement of
//! 100 000 lines is reconciled whole.
//! How: a fresh engine per test (see `common`), the account's bank details set through
//! `POST /v1/account`, statements built in the test and posted with their content type.

mod common;

use common::*;

const DAY: i64 = 24 * 60 * 60;

async fn set_bank_details(api: &Api) {
    let body = json!({"settings": {"default_currency": "zar", "bank_transfer": {
        "bank_name": "First National Bank", "account_holder": "Sunrise Academy",
        "account_number": "62000000001", "branch_code": "250655"}}});
    api.post("/v1/account", &body).await.ok();
}

/// A customer paying by bank transfer; answers it and its payment method.
async fn eft_customer(api: &Api, body: Value) -> (String, Value) {
    let customer = str_field(&api.create_customer_with(&body).await, "id").to_owned();
    let path = format!("/v1/customers/{customer}/payment_methods");
    let method = api.post(&path, &json!({"type": "bank_transfer"})).await.ok().clone();
    (customer, method)
}

async fn eft_charge(api: &Api, customer: &str, amount: u64) -> Value {
    let charge = api.charge(customer, amount, "zar").await.ok().clone();
    assert_eq!(charge["status"], "processing", "{charge}");
    charge
}

fn reference(charge: &Value) -> String {
    str_field(&charge["bank_transfer"], "reference").to_owned()
}

/// `YYYY-MM-DD` of an instant.
fn day_of(instant: i64) -> String {
    let days = instant.div_euclid(DAY);
    let (mut year, mut rest) = (1970, days);
    loop {
        let length = if is_leap_year(year) { 366 } else { 365 };
        if rest < length {
            break;
        }
        rest -= length;
        year += 1;
    }
    let mut month = 1;
    while rest >= i64::from(days_in_month(year, month)) {
        rest -= i64::from(days_in_month(year, month));
        month += 1;
    }
    format!("{year:04}-{month:02}-{:02}", rest + 1)
}

async fn upload(api: &Api, content_type: &str, query: &str, body: &str) -> Resp {
    api.send_bytes("/v1/bank_statements", query, body.as_bytes().to_vec(), content_type).await
}

fn outcomes(statement: &Value) -> Vec<String> {
    let lines = statement["lines"].as_array().unwrap_or_else(|| panic!("no lines: {statement}"));
    lines.iter().map(|line| str_field(line, "outcome").to_owned()).collect()
}

async fn charge_of(api: &Api, id: &Value) -> Value {
    api.get_ok(&format!("/v1/charges/{}", id.as_str().unwrap())).await
}

async fn balance(api: &Api, customer: &str) -> i64 {
    api.get_ok(&format!("/v1/customers/{customer}")).await["balance"].as_i64().unwrap()
}

#[tokio::test]
async fn a_csv_statement_settles_exact_short_and_over_payments_once() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;
    let path = format!("/v1/customers/{customer}/payment_methods");
    let refused = api.post(&path, &json!({"type": "bank_transfer"})).await;
    assert_error(&refused, 400, "bank_transfer_unavailable");

    set_bank_details(&api).await;
    let (customer, method) = eft_customer(&api, json!({"name": "Naledi"})).await;
    assert_eq!(method["type"], "bank_transfer", "{method}");
    let permanent = api.get_ok(&format!("/v1/customers/{customer}")).await;
    assert_eq!(permanent["bank_transfer_reference"].as_str().map(str::len), Some(10));

    let exact = eft_charge(&api, &customer, 50_000).await;
    let transfer = &exact["bank_transfer"];
    assert_eq!(transfer["bank_name"], "First National Bank", "{exact}");
    assert_eq!(transfer["account_number"], "62000000001", "{exact}");
    assert_eq!(transfer["amount_received"], 0, "{exact}");
    let created = exact["created"].as_i64().unwrap();
    let expires_at = transfer["expires_at"].as_i64().unwrap();
    assert!((created + 7 * DAY - 5..=created + 7 * DAY + 5).contains(&expires_at), "{exact}");
    let short = eft_charge(&api, &customer, 50_000).await;
    let over = eft_charge(&api, &customer, 50_000).await;
    let today = day_of(now_secs() as i64);
    let (a, b, c) = (reference(&exact), reference(&short), reference(&over));
    let spaced = format!("{}-{} {}", &a[..3].to_lowercase(), &a[3..6], &a[6..]);
    let csv = format!(
        "Statement,Sunrise Academy\nDate,Amount,Description\n\
         {today},500.00,EFT {spaced} NALEDI\n{today},200.00,{b}\n{today},600.00,fees {c}\n\
         {today},75.00,ZZZZZZZZZZ unknown\n{today},-12.50,MONTHLY FEE\n"
    );
    let statement = upload(&api, "text/csv", "", &csv).await.ok().clone();
    assert_eq!(outcomes(&statement), ["settled", "partial", "overpaid", "unmatched", "debit"]);
    assert_eq!(statement["skipped_lines"], 2, "{statement}");
    assert_eq!(statement["lines"][0]["charge"], exact["id"], "{statement}");
    assert_eq!(statement["lines"][4]["amount"], -1_250, "{statement}");
    assert_eq!(charge_of(&api, &exact["id"]).await["status"], "succeeded");
    // No processor holds the money: paying it back is the platform's EFT.
    let refund = api.refund(exact["id"].as_str().unwrap(), None).await;
    assert_error(&refund, 400, "validation_error");
    let partial = charge_of(&api, &short["id"]).await;
    assert_eq!(
        (partial["status"].clone(), partial["bank_transfer"]["amount_received"].clone()),
        (json!("processing"), json!(20_000))
    );
    assert_eq!(charge_of(&api, &over["id"]).await["status"], "succeeded");
    assert_eq!(balance(&api, &customer).await, -10_000, "the excess is the customer's credit");

    let again = upload(&api, "text/csv", "", &csv).await.ok().clone();
    assert!(outcomes(&again).iter().all(|outcome| outcome == "duplicate"), "{again}");
    assert_eq!(balance(&api, &customer).await, -10_000, "nothing paid twice");
    let partial = charge_of(&api, &short["id"]).await;
    assert_eq!(partial["bank_transfer"]["amount_received"], 20_000, "{partial}");

    // The next export overlaps: yesterday's lines again, and the rest of the short payment.
    let overlapping = format!("{today},500.00,EFT {spaced} NALEDI\n{today},300.00,{b} rest\n");
    let next = upload(&api, "text/csv", "", &overlapping).await.ok().clone();
    assert_eq!(outcomes(&next), ["duplicate", "settled"]);
    assert_eq!(charge_of(&api, &short["id"]).await["status"], "succeeded");

    // Two siblings' identical fees on one day, under the family's permanent reference.
    let family = permanent["bank_transfer_reference"].as_str().unwrap();
    let fees = format!("{today},100.00,{family}\n{today},100.00,{family}\n");
    let paid = upload(&api, "text/csv", "", &fees).await.ok().clone();
    assert_eq!(outcomes(&paid), ["settled", "settled"], "two payments, not one twice");
    assert_eq!(balance(&api, &customer).await, -30_000);
    let listed = api.get_ok("/v1/bank_statements").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 4, "{listed}");
}

#[tokio::test]
async fn a_bank_transfer_is_refunded_to_a_bank_account_or_recorded_as_paid_back_outside() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let (customer, _) = eft_customer(&api, json!({"name": "Sipho"})).await;
    let first = eft_charge(&api, &customer, 30_000).await;
    let second = eft_charge(&api, &customer, 12_000).await;
    let today = day_of(now_secs() as i64);
    let csv = format!(
        "Date,Amount,Description\n{today},300.00,{}\n{today},120.00,{}\n",
        reference(&first),
        reference(&second)
    );
    let statement = upload(&api, "text/csv", "", &csv).await.ok().clone();
    assert_eq!(outcomes(&statement), ["settled", "settled"]);
    let first_id = str_field(&first, "id").to_owned();

    // Nothing to send it back by: a destination, or settled outside, is required; a card
    // destination is not one.
    let refused = api.refund(&first_id, None).await;
    assert_error(&refused, 400, "validation_error");
    assert_eq!(refused.body["error"]["param"], "destination", "{}", refused.text);
    let stripe =
        json!({"charge": first_id, "destination": {"type": "stripe", "account": "acct_1"}});
    assert_error(&api.post("/v1/refunds", &stripe).await, 400, "validation_error");
    let both = json!({"charge": first_id, "settled_outside": true,
        "destination": {"type": "mpesa", "phone": "0712345678"}});
    assert_error(&api.post("/v1/refunds", &both).await, 400, "validation_error");
    let phone =
        json!({"charge": first_id, "destination": {"type": "mpesa", "phone": "0712345678"}});
    let refused = api.post("/v1/refunds", &phone).await;
    assert_eq!(
        refused.body["error"]["param"], "destination",
        "M-Pesa takes no rand: {}",
        refused.text
    );
    assert!(api.ledger().await.is_empty(), "nothing was paid out");

    // To a bank account: paid out by the sandbox under the refund's id.
    let to_bank = |number: &str, amount: i64| {
        json!({"charge": first_id, "amount": amount,
        "destination": {"type": "bank_account", "account_holder": "S Dlamini",
            "bank_code": "250655", "account_number": number}})
    };
    let refund = api.post("/v1/refunds", &to_bank("62123456789", 10_000)).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!(refund["destination"], json!({"type": "bank_account", "last4": "6789"}));
    let ledger = api.ledger().await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0]["amount"], 10_000, "{ledger:?}");
    let closed = api.post("/v1/refunds", &to_bank("000111111113", 5_000)).await.ok().clone();
    assert_eq!(closed["status"], "failed", "{closed}");
    assert!(closed["failure_message"].is_string(), "{closed}");
    let charge = charge_of(&api, &first["id"]).await;
    assert_eq!(charge["amount_refunded"], 10_000, "the failed refund gave nothing back");

    // Paid back by the platform's own EFT: recorded as it is.
    let outside = json!({"charge": second["id"], "settled_outside": true});
    let refund = api.post("/v1/refunds", &outside).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!(refund["destination"], json!({"type": "outside", "last4": null}));
    assert_eq!(charge_of(&api, &second["id"]).await["refunded"], true);
    let refunds = api.get_ok("/v1/balance_transactions?type=refund").await;
    let amounts: Vec<i64> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| i64_field(entry, "amount"))
        .collect();
    assert_eq!(amounts, [-12_000, -10_000], "each refund that succeeded, once");
}

#[tokio::test]
async fn a_credit_balance_is_paid_back_out_once_and_a_failed_payment_gives_it_back() {
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let (customer, _) = eft_customer(&api, json!({"name": "Lindiwe"})).await;
    // R600 for a R500 charge: R100 is the customer's credit.
    let charge = eft_charge(&api, &customer, 50_000).await;
    let today = day_of(now_secs() as i64);
    let csv = format!("Date,Amount,Description\n{today},600.00,{}\n", reference(&charge));
    assert_eq!(outcomes(&upload(&api, "text/csv", "", &csv).await.ok().clone()), ["overpaid"]);
    assert_eq!(balance(&api, &customer).await, -10_000);
    let platform = api.get_ok("/v1/balance").await;

    let to_bank = |number: &str, amount: Option<i64>| {
        let mut body = json!({"customer": customer, "origin": "customer_balance",
            "destination": {"type": "bank_account", "account_holder": "L Nkosi",
                "bank_code": "250655", "account_number": number}});
        if let Some(amount) = amount {
            body["amount"] = json!(amount);
        }
        body
    };
    // Refused, each with nothing paid and nothing taken from the balance.
    let no_destination = json!({"customer": customer, "origin": "customer_balance"});
    let refused = api.post("/v1/refunds", &no_destination).await;
    assert_error(&refused, 400, "validation_error");
    assert_eq!(refused.body["error"]["param"], "destination", "{}", refused.text);
    let refused = api.post("/v1/refunds", &to_bank("62123456789", Some(10_001))).await;
    assert_error(&refused, 400, "insufficient_balance");
    assert_eq!(refused.body["error"]["available"], 10_000, "{}", refused.text);
    let mut in_shillings = to_bank("62123456789", None);
    in_shillings["currency"] = json!("kes");
    assert_error(&api.post("/v1/refunds", &in_shillings).await, 400, "currency_mismatch");
    let mut both = to_bank("62123456789", None);
    both["charge"] = charge["id"].clone();
    let refused = api.post("/v1/refunds", &both).await;
    assert_eq!(refused.body["error"]["param"], "customer", "{}", refused.text);
    let mut reversing = to_bank("62123456789", None);
    reversing["reverse_transfer"] = json!(true);
    assert_error(&api.post("/v1/refunds", &reversing).await, 400, "validation_error");
    let phone = json!({"customer": customer, "origin": "customer_balance",
        "destination": {"type": "mpesa", "phone": "0712345678"}});
    let refused = api.post("/v1/refunds", &phone).await;
    assert_eq!(
        refused.body["error"]["param"], "destination",
        "no rand by M-Pesa: {}",
        refused.text
    );
    let mut unknown = to_bank("62123456789", None);
    unknown["customer"] = json!("cus_nobody");
    assert_error(&api.post("/v1/refunds", &unknown).await, 404, "not_found");
    let (never_billed, _) = eft_customer(&api, json!({"name": "Zola"})).await;
    let mut empty = to_bank("62123456789", None);
    empty["customer"] = json!(never_billed);
    let refused = api.post("/v1/refunds", &empty).await;
    assert_error(&refused, 400, "insufficient_balance");
    assert_eq!(refused.body["error"]["available"], 0, "{}", refused.text);
    assert!(api.ledger().await.is_empty(), "nothing was paid out");
    assert_eq!(balance(&api, &customer).await, -10_000);

    // R40 to a bank account, paid by the sandbox under the refund's id; asked twice, paid once.
    let key = unique_key("credit-refund");
    let body = to_bank("62123456789", Some(4_000));
    let refund = api.post_with_key("/v1/refunds", &body, &key).await.ok().clone();
    assert_eq!(
        (&refund["status"], &refund["charge"], &refund["origin"], &refund["customer"]),
        (&json!("succeeded"), &Value::Null, &json!("customer_balance"), &json!(customer)),
        "{refund}"
    );
    assert_eq!(refund["destination"], json!({"type": "bank_account", "last4": "6789"}));
    let again = api.post_with_key("/v1/refunds", &body, &key).await;
    assert_eq!(again.ok()["id"], refund["id"], "the same refund answered again");
    let ledger = api.ledger().await;
    assert_eq!(ledger.len(), 1, "paid once: {ledger:?}");
    assert_eq!(ledger[0]["amount"], 4_000, "{ledger:?}");
    assert_eq!(balance(&api, &customer).await, -6_000);
    let read = api.get_ok(&format!("/v1/refunds/{}", str_field(&refund, "id"))).await;
    assert_eq!(read, refund);

    // The bank refuses a payment to a closed account: the credit is the customer's again.
    let closed = api.post("/v1/refunds", &to_bank("000111111113", Some(1_000))).await.ok().clone();
    assert_eq!(closed["status"], "failed", "{closed}");
    assert_eq!(balance(&api, &customer).await, -6_000, "the failed refund took nothing");

    // The rest paid back by the platform's own EFT, recorded as such; then nothing is left.
    let outside =
        json!({"customer": customer, "origin": "customer_balance", "settled_outside": true});
    let rest = api.post("/v1/refunds", &outside).await.ok().clone();
    assert_eq!((&rest["status"], &rest["amount"]), (&json!("succeeded"), &json!(6_000)), "{rest}");
    assert_eq!(balance(&api, &customer).await, 0);
    let refused = api.post("/v1/refunds", &outside).await;
    assert_error(&refused, 400, "insufficient_balance");
    assert_eq!(api.ledger().await.len(), 1, "settled outside: nothing more paid by the sandbox");
    // The credit was never the platform's: its balance did not move.
    assert_eq!(api.get_ok("/v1/balance").await, platform);

    engine.stop_graceful().await;
    let said = books_balance(engine.data_dir());
    assert!(said.contains(" 3 refunds,"), "{said}");
}

/// What the platform's balance transactions of `kind` moved, as (source, amount), sorted.
async fn moved_by(api: &Api, kind: &str) -> Vec<(String, i64)> {
    let found = api.list_all(&format!("/v1/balance_transactions?type={kind}"), "id").await;
    let mut moved: Vec<(String, i64)> = found
        .iter()
        .map(|txn| (str_field(txn, "source").to_owned(), i64_field(txn, "amount")))
        .collect();
    moved.sort();
    moved
}

#[tokio::test]
async fn money_by_bank_transfer_and_customer_credit_is_in_the_books() {
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let (customer, _) = eft_customer(&api, json!({"name": "Thandi"})).await;
    let subscribe = |plan: String| json!({"customer": customer, "plan": plan, "collection_method": "send_invoice"});
    let term = api.plan(10_000, "zar", "month").await;
    api.post("/v1/subscriptions", &subscribe(term)).await.ok();
    let [first_invoice] = api.customer_invoices(&customer).await.try_into().unwrap();
    assert_eq!(first_invoice["status"], "open", "{first_invoice}");
    let owed = i64_field(&first_invoice, "amount_due");

    // R600 for a R500 charge: R100 is the customer's credit.
    let charge = eft_charge(&api, &customer, 50_000).await;
    let today = day_of(now_secs() as i64);
    let csv = format!("Date,Amount,Description\n{today},600.00,{}\n", reference(&charge));
    assert_eq!(outcomes(&upload(&api, "text/csv", "", &csv).await.ok().clone()), ["overpaid"]);
    // R300 under the family's reference: the open invoice, and the rest more credit.
    let family = api.get_ok(&format!("/v1/customers/{customer}")).await;
    let family = str_field(&family, "bank_transfer_reference").to_owned();
    let csv = format!("Date,Amount,Description\n{today},300.00,{family}\n");
    assert_eq!(outcomes(&upload(&api, "text/csv", "", &csv).await.ok().clone()), ["settled"]);
    assert_eq!(balance(&api, &customer).await, -(10_000 + 30_000 - owed));
    // A second plan's first invoice is paid from the credit.
    let club = api.plan(5_000, "zar", "month").await;
    api.post("/v1/subscriptions", &subscribe(club)).await.ok();
    let [_, club_invoice] = api.customer_invoices(&customer).await.try_into().unwrap();
    let applied = i64_field(&club_invoice, "balance_applied");
    assert_eq!(
        (&club_invoice["status"], applied),
        (&json!("paid"), i64_field(&club_invoice, "total"))
    );
    assert_eq!(balance(&api, &customer).await, -(10_000 + 30_000 - owed - applied));
    let invoice_id = str_field(&first_invoice, "id").to_owned();
    let charge_id = str_field(&charge, "id").to_owned();
    // What arrived by EFT moved the platform's balance only where it paid: the charge as its
    // charge, the invoice by its receipt. The credit is the customer's, not listed.
    assert_eq!(moved_by(&api, "bank_transfer").await, [(invoice_id.clone(), owed)]);
    assert_eq!(moved_by(&api, "charge").await, [(charge_id.clone(), 50_000)]);
    assert_eq!(moved_by(&api, "adjustment").await, [(customer.clone(), applied)]);
    let platform = api.get_ok("/v1/balance").await;
    assert_eq!(i64_field(&platform["available"][0], "amount"), 50_000 + owed + applied);

    // The family's bank recalls the R300: the invoice reopens, its credit goes back.
    let csv = format!("Date,Amount,Description\n{today},-300.00,RECALL {family}\n");
    assert_eq!(outcomes(&upload(&api, "text/csv", "", &csv).await.ok().clone()), ["reversed"]);
    assert_eq!(balance(&api, &customer).await, -(10_000 - applied));
    assert_eq!(
        moved_by(&api, "adjustment").await,
        [(customer.clone(), applied), (invoice_id, -owed)],
        "the credit recalled was the customer's: only the invoice's reversal is the platform's"
    );
    let platform = api.get_ok("/v1/balance").await;
    assert_eq!(i64_field(&platform["available"][0], "amount"), 50_000 + applied);

    engine.stop_graceful().await;
    let said = books_balance(engine.data_dir());
    assert!(said.contains(" 1 customer balances, 2 invoices and "), "{said}");
}

fn camt(entries: &[(&str, &str, &str, &str)]) -> String {
    let entries: String = entries
        .iter()
        .map(|(amount, sign, entry_reference, narrative)| {
            format!(
                "<Ntry><Amt Ccy=\"ZAR\">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd>\
                 <BookgDt><Dt>2025-12-05</Dt></BookgDt><AcctSvcrRef>{entry_reference}</AcctSvcrRef>\
                 <NtryDtls><TxDtls><RmtInf><Ustrd>{narrative}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>\
         <Stmt><Id>1</Id>{entries}</Stmt></BkToCstmrStmt></Document>"
    )
}

#[tokio::test]
async fn a_camt_statement_pays_once_a_recall_reverses_and_hostile_xml_changes_nothing() {
    let engine =
        Engine::start(Config::default().with_toml("[limits]\nstatement_body_max = 4096\n")).await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let (customer, _) = eft_customer(&api, json!({})).await;
    let charge = eft_charge(&api, &customer, 125_000).await;
    let reference = reference(&charge);

    let hostile = [
        "<Document><BkToCstmrStmt><Stmt><Ntry>".to_owned(),
        "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>\
         <Document><BkToCstmrStmt><Stmt><Ntry><Amt Ccy=\"ZAR\">&b;</Amt></Ntry></Stmt></BkToCstmrStmt></Document>"
            .to_owned(),
        "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Document>&x;</Document>"
            .to_owned(),
        "not xml at all".to_owned(),
    ];
    for body in &hostile {
        let refused = upload(&api, "application/xml", "", body).await;
        assert_error(&refused, 400, "statement_invalid");
    }
    let oversized = camt(&[("1.00", "CRDT", "X", &"Y".repeat(5_000))]);
    assert_eq!(upload(&api, "application/xml", "", &oversized).await.status, 413);
    assert_eq!(api.get_ok("/v1/bank_statements").await["data"], json!([]));
    assert_eq!(charge_of(&api, &charge["id"]).await["status"], "processing");

    let entries = [
        ("1250.00", "CRDT", "FNB-1", reference.as_str()),
        ("1250.00", "CRDT", "FNB-1", reference.as_str()),
        ("99.00", "CRDT", "FNB-2", "no reference here"),
    ];
    let statement = upload(&api, "application/xml", "", &camt(&entries)).await.ok().clone();
    assert_eq!(outcomes(&statement), ["settled", "duplicate", "unmatched"]);
    assert_eq!(statement["lines"][0]["currency"], "zar", "{statement}");
    assert_eq!(charge_of(&api, &charge["id"]).await["status"], "succeeded");

    // The payer's bank recalls the transfer.
    let recall = [("1250.00", "DBIT", "FNB-3", reference.as_str())];
    let reversed = upload(&api, "application/xml", "", &camt(&recall)).await.ok().clone();
    assert_eq!(outcomes(&reversed), ["reversed"]);
    let reopened = charge_of(&api, &charge["id"]).await;
    assert_eq!(reopened["status"], "processing", "{reopened}");
    assert_eq!(reopened["bank_transfer"]["amount_received"], 0, "{reopened}");
    let recalled_again = [("1250.00", "DBIT", "FNB-4", reference.as_str())];
    let nothing_left =
        upload(&api, "application/xml", "", &camt(&recalled_again)).await.ok().clone();
    assert_eq!(outcomes(&nothing_left), ["debit"], "one credit is reversed once");

    // The unmatched line, allocated by hand to the customer: once.
    let id = str_field(&statement, "id");
    let allocate = format!("/v1/bank_statements/{id}/lines/2/allocate");
    let allocated = api.post(&allocate, &json!({"customer": customer})).await.ok().clone();
    assert_eq!(allocated["lines"][2]["outcome"], "settled", "{allocated}");
    assert_eq!(balance(&api, &customer).await, -9_900);
    assert_error(
        &api.post(&allocate, &json!({"customer": customer})).await,
        400,
        "statement_line_invalid",
    );
    assert_eq!(balance(&api, &customer).await, -9_900, "allocated once");
}

#[tokio::test]
async fn a_permanent_reference_pays_open_invoices_oldest_first_and_transfers_expire() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let jan_1 = utc(2025, 1, 1, 0, 0, 0);
    let clock = api.create_clock(jan_1).await;
    let (customer, _) = eft_customer(&api, json!({"test_clock": clock})).await;
    let plan = api.plan(10_000, "zar", "month").await;
    let body = json!({"customer": customer, "plan": plan, "collection_method": "send_invoice"});
    api.post("/v1/subscriptions", &body).await.ok();
    api.advance_clock(&clock, utc(2025, 2, 1, 0, 0, 0)).await;
    let invoices = api.customer_invoices(&customer).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert!(invoices.iter().all(|invoice| invoice["status"] == "open"));

    let family = api.get_ok(&format!("/v1/customers/{customer}")).await;
    let family = str_field(&family, "bank_transfer_reference").to_owned();
    let csv = format!("2025-02-02,250.00,school fees {family}\n");
    let paid = upload(&api, "text/csv", "", &csv).await.ok().clone();
    assert_eq!(outcomes(&paid), ["settled"]);
    assert_eq!(paid["lines"][0]["customer"], customer.as_str(), "{paid}");
    let invoices = api.customer_invoices(&customer).await;
    assert!(invoices.iter().all(|invoice| invoice["status"] == "paid"), "{invoices:#?}");
    let owed: i64 = invoices.iter().map(|invoice| invoice["amount_due"].as_i64().unwrap()).sum();
    assert_eq!(balance(&api, &customer).await, -(25_000 - owed), "the rest is credit");
    let subscription = api.get_ok(&format!("/v1/customers/{customer}/subscriptions")).await;
    assert_eq!(subscription["data"][0]["status"], "active", "its dunning ended: {subscription}");

    // A transfer awaited from Feb 2 expires on Feb 9, to the second, on the clock.
    api.advance_clock(&clock, utc(2025, 2, 2, 0, 0, 0)).await;
    let charge = eft_charge(&api, &customer, 30_000).await;
    let expires_at = charge["bank_transfer"]["expires_at"].as_i64().unwrap();
    assert_eq!(expires_at, utc(2025, 2, 9, 0, 0, 0), "{charge}");
    api.advance_clock(&clock, expires_at - 1).await;
    assert_eq!(charge_of(&api, &charge["id"]).await["status"], "processing");
    api.advance_clock(&clock, expires_at).await;
    let failed = charge_of(&api, &charge["id"]).await;
    assert_eq!(
        (failed["status"].clone(), failed["failure_code"].clone()),
        (json!("failed"), json!("bank_transfer_expired"))
    );
    let late = format!("2025-02-10,300.00,{}\n", reference(&charge));
    let credited = upload(&api, "text/csv", "", &late).await.ok().clone();
    assert_eq!(outcomes(&credited), ["late"]);
    assert_eq!(balance(&api, &customer).await, -(25_000 - owed) - 30_000, "late money is kept");

    // The family's bank recalls the payment that paid both invoices.
    let recall = format!("2025-02-11,-250.00,RECALL {family}\n");
    let recalled = upload(&api, "text/csv", "", &recall).await.ok().clone();
    assert_eq!(outcomes(&recalled), ["reversed"]);
    let invoices = api.customer_invoices(&customer).await;
    assert!(invoices.iter().all(|invoice| invoice["status"] == "open"), "{invoices:#?}");
    assert_eq!(balance(&api, &customer).await, -30_000, "the recalled credit is taken back");
    let subscription = api.get_ok(&format!("/v1/customers/{customer}/subscriptions")).await;
    assert_eq!(subscription["data"][0]["status"], "past_due", "behind again: {subscription}");
}

#[tokio::test]
async fn csv_exports_in_each_south_african_shape_and_a_statement_of_100_000_lines() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let (customer, _) = eft_customer(&api, json!({})).await;
    let charge = eft_charge(&api, &customer, 125_000).await;
    let reference = reference(&charge);
    // Separate credit and debit columns, a `Cr` suffix, a space thousands separator, a
    // preamble, Windows-1252 text and two narrative columns.
    let mut export = b"Rekeningstaat;Sunrise\nDatum,Krediet,Debiet,Beskrywing,Verwysing\n".to_vec();
    export.extend_from_slice(b"05/12/2025,\"1 250,00 Cr\",,Skoolgeld \xeb,");
    export.extend_from_slice(reference.as_bytes());
    export.extend_from_slice(b"\n05/12/2025,,\"12,50\",Diensfooi,\n");
    let columns = "columns=date,credit,debit,reference,reference";
    let statement =
        api.send_bytes("/v1/bank_statements", columns, export, "text/csv").await.ok().clone();
    assert_eq!(outcomes(&statement), ["settled", "debit"]);
    let narrative = str_field(&statement["lines"][0], "reference_text");
    assert!(narrative.starts_with("Skoolgeld \u{eb}"), "Windows-1252 read: {narrative}");
    assert_eq!(statement["skipped_lines"], 2);
    assert_error(
        &api.send_bytes("/v1/bank_statements", "columns=date,memo", b"x".to_vec(), "text/csv")
            .await,
        400,
        "validation_error",
    );

    let mut big = String::from("Date,Amount,Description\n");
    for index in 0..100_000 {
        big.push_str(&format!(
            "2025-12-{:02},{}.{:02},payer {index}\n",
            index % 28 + 1,
            index % 900 + 1,
            index % 100
        ));
    }
    let reconciled = upload(&api, "text/csv", "", &big).await.ok().clone();
    let lines = reconciled["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 100_000);
    assert!(lines.iter().all(|line| line["outcome"] == "unmatched"));
    assert_eq!(reconciled["skipped_lines"], 1);
}
