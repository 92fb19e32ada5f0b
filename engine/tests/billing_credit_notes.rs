//! Credit notes: an invoice given back in whole or in part, with its VAT reversed to the cent.
//!
//! Proves that a note on a paid invoice reverses each line's tax at the line's rate, half up
//! (3 330 of a 9 999 line taxed 1 500 gives back 500, from 499.55, where truncation would give
//! 499), and that the note for the rest takes exactly the rest, so the notes on an invoice add
//! up to its total and to its tax and a note beyond that is refused; that an amount alone, VAT
//! inclusive or exclusive, splits into lines and tax that add up to it; that without a split the
//! credit goes to the customer's balance, and a split into refund, balance credit and money
//! settled outside must add up to the note; that on an open invoice a note lowers `amount_due` (never below 0,
//! nothing to refund), a later payment charges only what is left, and a note for all of it pays
//! the invoice without a charge and brings a `past_due` subscription back to `active`; that
//! `refund_amount` refunds the invoice's charge (the refund names the note; the processor
//! refunds it once) and a refund of an invoice's charge made through `POST /v1/refunds` makes
//! exactly one note, while a refund beyond what the charge took is refused with nothing
//! recorded; that numbers run `{invoice_prefix}-CN-0001`, `-0002`, … whatever made the note,
//! across a `kill -9` and under concurrent requests (which never credit more than the invoice),
//! and a refused note takes none; that bad input, invoices in other states and another
//! account's invoice are refused with nothing recorded; and that an `Idempotency-Key` replays
//! the same note without crediting or refunding twice; that an invoice with a proration credit
//! line, or lowered by a proration credit while open, gives back no more than was paid; and
//! that a refund beyond what an invoice has left after its notes is refused.
//! How: a fresh engine per test (see `common`); South African customers (15 % VAT from the
//! bundled tax rule) on a test clock paying zar plans with the sandbox's cards; open invoices
//! come from `send_invoice` subscriptions; every expected amount is computed from the invoice as
//! the API shows it, and the sandbox ledger is the processor's side of each refund.

mod common;

use common::*;

#[path = "common/credit_note_fixture.rs"]
mod fixture;

use fixture::*;

#[tokio::test]
async fn a_paid_invoice_credited_in_two_parts_gives_back_exactly_its_total_and_tax() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let invoice = books.paid_invoice(&customer, &plan).await;
    let prefix = books.prefix(&customer).await;
    let line = only_line(&invoice);
    assert_eq!((line.amount, line.tax), (PRICE, 1_500), "15 % of 9 999, half up: {invoice}");
    let total = i64_field(&invoice, "total");
    assert_eq!(total, PRICE + tax_of(&invoice), "{invoice}");

    // A part of the line: its tax at the line's rate, half up (1 500 × 3 330 / 9 999 = 499.55
    // → 500, not 499).
    let part = 3_330;
    let part_tax = half_up(line.tax, part, line.amount);
    assert_eq!(part_tax, 500);
    let body = json!({
        "invoice": invoice["id"], "lines": [{"line": line.id, "amount": part}],
        "reason": "order_change",
    });
    let first = books.create_ok(&body).await;
    assert_eq!(first["number"], note_number(&prefix, 1), "{first}");
    assert_eq!(first["lines"][0]["invoice_line"], line.id.as_str(), "{first}");
    assert_eq!(first["lines"][0]["amount"], part, "{first}");
    assert_eq!(first["lines"][0]["tax_amounts"], za_vat(part_tax), "{first}");
    assert_eq!(first["subtotal"], part, "{first}");
    assert_eq!(first["tax"], za_vat(part_tax), "{first}");
    assert_eq!(first["amount"], part + part_tax, "{first}");
    assert_eq!(first["credit_amount"], part + part_tax, "no split: all to the balance");
    for field in ["pre_payment_amount", "refund_amount", "out_of_band_amount"] {
        assert_eq!(first[field], 0, "`{field}` of {first}");
    }
    assert!(first["refund"].is_null(), "{first}");
    assert_eq!(first["reason"], "order_change", "{first}");
    assert_eq!(books.balance(&customer).await, -(part + part_tax), "credit is a negative balance");
    let credited = books.invoice(&invoice).await;
    assert_eq!(credited["status"], "paid", "{credited}");
    assert_eq!(credited["post_payment_credit_notes_amount"], part + part_tax, "{credited}");
    assert_eq!(credited["pre_payment_credit_notes_amount"], 0, "{credited}");
    assert_eq!(credited["total"], total, "an invoice is never edited: {credited}");

    // One minor unit more than the line has left is refused.
    let too_much = json!({
        "invoice": invoice["id"], "lines": [{"line": line.id, "amount": line.amount - part + 1}],
    });
    assert_invalid(&books.create(&too_much).await, "lines");

    // The rest: exactly what the invoice charged, less the first note.
    let rest = books.create_ok(&json!({"invoice": invoice["id"]})).await;
    assert_eq!(rest["number"], note_number(&prefix, 2), "the refusal took no number: {rest}");
    assert_eq!(rest["subtotal"], line.amount - part, "{rest}");
    assert_eq!(rest["tax"], za_vat(line.tax - part_tax), "the rest of the tax: {rest}");
    let notes = [&rest, &first];
    let given: i64 = notes.iter().map(|note| i64_field(note, "amount")).sum();
    assert_eq!(given, total, "the notes add up to the invoice's total");
    assert_eq!(notes.iter().map(|note| tax_of(note)).sum::<i64>(), tax_of(&invoice));

    // Nothing is left: refused, whatever is asked.
    assert_invalid(&books.create(&json!({"invoice": invoice["id"]})).await, "amount");
    assert_invalid(&books.create(&json!({"invoice": invoice["id"], "amount": 1})).await, "amount");
    let one_unit = json!({"invoice": invoice["id"], "lines": [{"line": line.id, "amount": 1}]});
    assert_invalid(&books.create(&one_unit).await, "lines");

    let expected = vec![rest.clone(), first.clone()];
    assert_eq!(books.notes_of_invoice(&invoice).await, expected, "newest first");
    assert_eq!(books.notes_of_customer(&customer).await, expected);
    let path = format!("/v1/credit_notes?invoice={}&limit=1", str_field(&invoice, "id"));
    let page = books.api.get_ok(&path).await;
    assert_eq!((page["data"].clone(), page["has_more"].clone()), (json!([rest]), json!(true)));
    let next = books.api.get_ok(&format!("{path}&starting_after={}", str_field(&rest, "id"))).await;
    assert_eq!((next["data"].clone(), next["has_more"].clone()), (json!([first]), json!(false)));
    assert_eq!(books.balance(&customer).await, -total, "the balance holds both notes");
    let credited = books.invoice(&invoice).await;
    assert_eq!(credited["post_payment_credit_notes_amount"], total, "{credited}");

    // The next note of the customer, on an invoice its balance paid, is 0003.
    let second_invoice = books.paid_invoice(&customer, &plan).await;
    assert!(second_invoice["charge"].is_null(), "paid by the balance: {second_invoice}");
    let refund = json!({"invoice": second_invoice["id"], "amount": 100, "refund_amount": 100});
    assert_invalid(&books.create(&refund).await, "refund_amount");
    let third = books.create_ok(&json!({"invoice": second_invoice["id"], "amount": 100})).await;
    assert_eq!(third["number"], note_number(&prefix, 3), "no gap: {third}");
}

#[tokio::test]
async fn an_amount_alone_splits_into_lines_and_tax_that_add_up_to_it() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;

    // VAT inclusive: 10 000 holds 1 304 VAT (1 304.35); the line's amount includes its tax.
    let customer = books.customer().await;
    let inclusive = books.plan(10_000, "inclusive").await;
    let invoice = books.paid_invoice(&customer, &inclusive).await;
    let line = only_line(&invoice);
    assert_eq!((line.amount, line.tax, i64_field(&invoice, "total")), (10_000, 1_304, 10_000));
    let asked = 3_333;
    let note = books.create_ok(&json!({"invoice": invoice["id"], "amount": asked})).await;
    let tax = half_up(line.tax, asked, line.amount);
    assert_eq!(tax, 435, "434.62 half up");
    assert_eq!(note["amount"], asked, "{note}");
    assert_eq!(note["subtotal"], asked, "VAT inclusive, like the invoice's subtotal: {note}");
    assert_eq!(note["tax"], za_vat(tax), "{note}");
    assert_eq!(note["lines"][0]["invoice_line"], line.id.as_str(), "{note}");
    let rest = books.create_ok(&json!({"invoice": invoice["id"]})).await;
    assert_eq!((rest["amount"].clone(), rest["tax"].clone()), (json!(6_667), za_vat(1_304 - tax)));

    // VAT exclusive: 5 000 of 11 499 is 4 348 of the line (4 347.77) and 652 of its tax.
    let customer = books.customer().await;
    let exclusive = books.plan(PRICE, "exclusive").await;
    let invoice = books.paid_invoice(&customer, &exclusive).await;
    let line = only_line(&invoice);
    let total = i64_field(&invoice, "total");
    let asked = 5_000;
    let note = books.create_ok(&json!({"invoice": invoice["id"], "amount": asked})).await;
    let net = half_up(asked, line.amount, total);
    assert_eq!(net, 4_348);
    assert_eq!(note["amount"], asked, "{note}");
    assert_eq!(note["subtotal"], net, "{note}");
    assert_eq!(note["tax"], za_vat(asked - net), "{note}");
    assert_eq!(note["lines"][0]["amount"], net, "{note}");
    let too_much = json!({"invoice": invoice["id"], "amount": total - asked + 1});
    assert_invalid(&books.create(&too_much).await, "amount");
    let rest = books.create_ok(&json!({"invoice": invoice["id"], "amount": total - asked})).await;
    assert_eq!(rest["subtotal"], line.amount - net, "the rest of the line: {rest}");
    assert_eq!(rest["tax"], za_vat(line.tax - (asked - net)), "the rest of its tax: {rest}");
}

#[tokio::test]
async fn an_open_invoice_has_its_amount_due_lowered_and_is_paid_by_a_note_for_all_of_it() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let (subscription, invoice) = books.open_invoice(&customer, &plan).await;
    let prefix = books.prefix(&customer).await;
    let due = i64_field(&invoice, "amount_due");
    assert_eq!(due, i64_field(&invoice, "total"), "{invoice}");
    let line = only_line(&invoice);

    let part = 3_333;
    let body = json!({"invoice": invoice["id"], "lines": [{"line": line.id, "amount": part}]});
    let first = books.create_ok(&body).await;
    let worth = part + half_up(line.tax, part, line.amount);
    assert_eq!(first["amount"], worth, "{first}");
    assert_eq!(first["pre_payment_amount"], worth, "off the amount due: {first}");
    assert_eq!(first["credit_amount"], 0, "{first}");
    let lowered = books.invoice(&invoice).await;
    assert_eq!(lowered["status"], "open", "{lowered}");
    assert_eq!(lowered["amount_due"], due - worth, "{lowered}");
    assert_eq!(lowered["pre_payment_credit_notes_amount"], worth, "{lowered}");
    assert_eq!(lowered["post_payment_credit_notes_amount"], 0, "{lowered}");
    assert_eq!(books.balance(&customer).await, 0, "not credited to the balance as well");

    // More than is due; anything to refund, credit or settle outside: nothing was paid.
    let more = json!({"invoice": invoice["id"], "amount": due - worth + 1});
    assert_invalid(&books.create(&more).await, "amount");
    for field in ["refund_amount", "credit_amount", "out_of_band_amount"] {
        let body = json!({"invoice": invoice["id"], "amount": 100, field: 100});
        assert_invalid(&books.create(&body).await, "refund_amount");
    }
    assert_eq!(books.invoice(&invoice).await, lowered, "the refusals changed nothing");

    let rest = books.create_ok(&json!({"invoice": invoice["id"]})).await;
    assert_eq!(rest["number"], note_number(&prefix, 2), "{rest}");
    assert_eq!(rest["pre_payment_amount"], due - worth, "{rest}");
    let paid = books.invoice(&invoice).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount_due"], 0, "{paid}");
    assert_eq!(paid["pre_payment_credit_notes_amount"], due, "{paid}");
    assert_eq!(paid["paid_at"], mar_1(), "paid at the clock's time: {paid}");
    assert!(paid["charge"].is_null(), "paid by the notes alone: {paid}");
    assert!(books.api.customer_charges(&customer).await.is_empty(), "nothing was charged");
    assert!(books.api.ledger().await.is_empty(), "nothing at the processor");
    assert_eq!(books.api.subscription(&subscription).await["status"], "active");
    assert_eq!(books.notes_of_invoice(&invoice).await.len(), 2);
    assert_invalid(&books.create(&json!({"invoice": invoice["id"]})).await, "amount");
}

#[tokio::test]
async fn an_open_invoice_partly_credited_is_charged_only_what_is_left() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let (_, invoice) = books.open_invoice(&customer, &plan).await;
    let note = books.create_ok(&json!({"invoice": invoice["id"], "amount": 1_499})).await;
    let left = i64_field(&invoice, "amount_due") - 1_499;
    assert_eq!(note["pre_payment_amount"], 1_499, "{note}");

    let path = format!("/v1/invoices/{}/pay", str_field(&invoice, "id"));
    books.api.post(&path, &json!({})).await.ok();
    let paid = books.invoice(&invoice).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount_paid"], left, "{paid}");
    let charge = books.charge(str_field(&paid, "charge")).await;
    assert_eq!(charge["amount"], left, "{charge}");
    let ledger = books.api.ledger().await;
    let entries = ledger_entries(&ledger, "charge", str_field(&charge, "id"));
    assert_eq!(entries.len(), 1, "{ledger:?}");
    assert_eq!(entries[0]["amount"], left, "the processor took only what was left");

    // Paid now: the rest of it is what was charged, and it can all be refunded.
    let rest = json!({"invoice": invoice["id"], "refund_amount": left});
    let refunded = books.create_ok(&rest).await;
    assert_eq!(refunded["amount"], left, "the rest of the invoice is what was charged");
    assert_eq!(books.processor_refunds().await, [left]);
}

#[tokio::test]
async fn a_note_for_what_is_due_brings_a_past_due_subscription_back_to_active() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let subscription = books.api.subscribe_ok(&customer, &plan).await;
    let subscription = str_field(&subscription, "id").to_string();
    let declining = books.api.add_payment_method(&customer, "pm_card_chargeDeclined").await;
    let body = json!({"default_payment_method": declining["id"]});
    books.api.post(&format!("/v1/customers/{customer}"), &body).await.ok();
    books.api.advance_clock(&books.clock, apr_1()).await;
    assert_eq!(books.api.subscription(&subscription).await["status"], "past_due");
    let invoices = books.api.subscription_invoices(&subscription).await;
    let renewal = invoices.last().expect("the renewal").clone();
    assert_eq!(renewal["status"], "open", "{renewal}");
    assert!(renewal["next_payment_attempt"].is_i64(), "a retry is planned: {renewal}");
    let attempts = renewal["attempt_count"].clone();
    let charges_before = books.api.customer_charges(&customer).await.len();

    let note = books.create_ok(&json!({"invoice": renewal["id"]})).await;
    assert_eq!(note["pre_payment_amount"], renewal["amount_due"], "{note}");
    let paid = books.invoice(&renewal).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount_due"], 0, "{paid}");
    assert!(paid["next_payment_attempt"].is_null(), "dunning ended: {paid}");
    assert_eq!(books.api.subscription(&subscription).await["status"], "active");

    // The planned retry does not happen.
    books.api.advance_clock(&books.clock, apr_1() + 2 * SECONDS_PER_DAY).await;
    assert_eq!(books.invoice(&renewal).await["attempt_count"], attempts);
    assert_eq!(books.api.customer_charges(&customer).await.len(), charges_before, "no retry");
    assert_eq!(books.api.subscription(&subscription).await["status"], "active");
}

#[tokio::test]
async fn an_open_invoice_paid_in_part_by_the_balance_takes_no_more_than_its_amount_due() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    // 10.00 of credit on the balance, from a note on a paid invoice.
    let paid = books.paid_invoice(&customer, &plan).await;
    books.create_ok(&json!({"invoice": paid["id"], "amount": 1_000})).await;
    assert_eq!(books.balance(&customer).await, -1_000);

    let (_, open) = books.open_invoice(&customer, &plan).await;
    let total = i64_field(&open, "total");
    assert_eq!(open["balance_applied"], 1_000, "{open}");
    assert_eq!(open["amount_due"], total - 1_000, "{open}");
    assert_invalid(&books.create(&json!({"invoice": open["id"]})).await, "amount");
    let all_due = json!({"invoice": open["id"], "amount": total - 1_000});
    let note = books.create_ok(&all_due).await;
    assert_eq!(note["pre_payment_amount"], total - 1_000, "{note}");
    let settled = books.invoice(&open).await;
    assert_eq!(settled["status"], "paid", "{settled}");
    assert_eq!(settled["amount_due"], 0, "{settled}");
}

#[tokio::test]
async fn refund_amount_refunds_the_invoices_charge_once_and_the_refund_names_the_note() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let invoice = books.paid_invoice(&customer, &plan).await;
    let charge_id = str_field(&invoice, "charge").to_string();
    let total = i64_field(&invoice, "total");
    let line = only_line(&invoice);
    let part = 3_333;
    let worth = part + half_up(line.tax, part, line.amount);

    // A split must add up to the note.
    let lines = json!([{"line": line.id, "amount": part}]);
    let short = json!({"invoice": invoice["id"], "lines": lines, "refund_amount": 1_000,
        "credit_amount": 2_000});
    assert_invalid(&books.create(&short).await, "refund_amount");
    let split = json!({"invoice": invoice["id"], "lines": lines, "refund_amount": 1_000,
        "credit_amount": 2_000, "out_of_band_amount": worth - 3_000, "reason": "duplicate"});
    let first = books.create_ok(&split).await;
    assert_eq!(
        (first["refund_amount"].clone(), first["credit_amount"].clone()),
        (json!(1_000), json!(2_000))
    );
    assert_eq!(first["out_of_band_amount"], worth - 3_000, "{first}");
    let first_refund = books.refund(str_field(&first, "refund")).await;
    assert_eq!(first_refund["status"], "succeeded", "settled before the answer: {first_refund}");
    assert_eq!(first_refund["amount"], 1_000, "{first_refund}");
    assert_eq!(first_refund["charge"], charge_id.as_str(), "{first_refund}");
    assert_eq!(first_refund["credit_note"], first["id"], "{first_refund}");
    assert_eq!(first_refund["reason"], "duplicate", "the note's reason: {first_refund}");
    assert_eq!(books.balance(&customer).await, -2_000);

    // All the rest refunded.
    let rest =
        books.create_ok(&json!({"invoice": invoice["id"], "refund_amount": total - worth})).await;
    let rest_refund = books.refund(str_field(&rest, "refund")).await;
    assert_eq!(rest_refund["status"], "succeeded", "{rest_refund}");
    assert_eq!(rest_refund["amount"], total - worth, "{rest_refund}");
    assert_eq!(rest_refund["credit_note"], rest["id"], "{rest_refund}");
    let charge = books.charge(&charge_id).await;
    assert_eq!(charge["invoice"], invoice["id"], "{charge}");
    assert_eq!(charge["amount_refunded"], 1_000 + total - worth, "{charge}");
    assert_eq!(books.processor_refunds().await, [1_000, total - worth], "each refunded once");
    let notes = books.notes_of_invoice(&invoice).await;
    assert_eq!(ids(&notes), ids(&[rest.clone(), first.clone()]), "the refunds made no note");
    let credited = books.invoice(&invoice).await;
    assert_eq!(credited["post_payment_credit_notes_amount"], total, "{credited}");
    assert_eq!(books.balance(&customer).await, -2_000, "only the credit part");
}

#[tokio::test]
async fn a_refund_of_an_invoice_charge_makes_one_note_and_numbers_stay_gapless() {
    let mut engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let invoice = books.paid_invoice(&customer, &plan).await;
    let prefix = books.prefix(&customer).await;
    let charge_id = str_field(&invoice, "charge").to_string();
    let total = i64_field(&invoice, "total");
    let line = only_line(&invoice);

    // A refund through /v1/refunds: its note spreads the amount over the line with its tax.
    let refunded = 5_000;
    let refund = books.api.refund(&charge_id, Some(refunded as u64)).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    let notes = books.notes_of_invoice(&invoice).await;
    assert_eq!(notes.len(), 1, "exactly one note: {notes:#?}");
    let first = &notes[0];
    assert_note_adds_up(first, &invoice);
    assert_eq!(first["number"], note_number(&prefix, 1), "{first}");
    assert_eq!(first["refund"], refund["id"], "{first}");
    assert_eq!(first["amount"], refunded, "{first}");
    assert_eq!(first["refund_amount"], refunded, "{first}");
    assert_eq!(first["credit_amount"], 0, "{first}");
    let net = half_up(refunded, line.amount, total);
    assert_eq!(first["subtotal"], net, "{first}");
    assert_eq!(first["tax"], za_vat(refunded - net), "{first}");

    // A note that refunds: its refund makes no second note.
    let body = json!({"invoice": invoice["id"], "amount": 1_150, "refund_amount": 1_150});
    let second = books.create_ok(&body).await;
    assert_eq!(second["number"], note_number(&prefix, 2), "{second}");
    assert_invalid(
        &books.create(&json!({"invoice": invoice["id"], "amount": total})).await,
        "amount",
    );

    // After a crash, the counter goes on where it was. The rest of the charge, refunded
    // without an amount.
    engine.restart_after_kill().await;
    let books = Books { api: engine.api_a(), clock: books.clock };
    let rest = books.api.refund(&charge_id, None).await.ok().clone();
    let left = total - refunded - 1_150;
    assert_eq!(rest["amount"], left, "{rest}");
    let notes = books.notes_of_invoice(&invoice).await;
    assert_eq!(notes.len(), 3, "one note per refund: {notes:#?}");
    let third = &notes[0];
    assert_eq!(third["number"], note_number(&prefix, 3), "no gap: {third}");
    assert_eq!(third["refund"], rest["id"], "{third}");
    assert_eq!(third["amount"], left, "{third}");
    let subtotals: i64 = notes.iter().map(|note| i64_field(note, "subtotal")).sum();
    let taxes: i64 = notes.iter().map(tax_of).sum();
    assert_eq!((subtotals, taxes), (line.amount, line.tax), "the notes reverse the invoice");
    let charge = books.charge(&charge_id).await;
    assert_eq!(
        (charge["amount_refunded"].clone(), charge["refunded"].clone()),
        (json!(total), json!(true))
    );
    assert_eq!(books.processor_refunds().await, [refunded, 1_150, left]);
    assert_eq!(books.balance(&customer).await, 0, "all of it went back as refunds");
    assert_invalid(&books.create(&json!({"invoice": invoice["id"]})).await, "amount");
}

#[tokio::test]
async fn bad_input_other_states_and_another_accounts_invoice_are_refused_and_record_nothing() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let invoice = books.paid_invoice(&customer, &plan).await;
    let line = only_line(&invoice).id;
    let id = invoice["id"].clone();
    let unknown_line = "il_01HZZZZZZZZZZZZZZZZZZZZZZZ";
    let cases = [
        (json!({"invoice": id, "lines": [{"line": line, "amount": 1}], "amount": 1}), "amount"),
        (json!({"invoice": id, "lines": [{"line": unknown_line, "amount": 1}]}), "lines"),
        (json!({"invoice": id, "lines": [{"line": "il_nope", "amount": 1}]}), "lines"),
        (json!({"invoice": id, "lines": []}), "lines"),
        (json!({"invoice": id, "lines": [{"line": line, "amount": -1}]}), "lines"),
        (
            json!({"invoice": id, "lines": [{"line": line, "amount": 1}, {"line": line, "amount": 1}]}),
            "lines",
        ),
        (json!({"invoice": id, "amount": -100}), "amount"),
        (json!({"invoice": id, "amount": 0}), "amount"),
        (json!({"invoice": id, "amount": 100, "refund_amount": -100}), "refund_amount"),
        (json!({"invoice": id, "reason": "because"}), "reason"),
    ];
    for (body, param) in &cases {
        let refused = books.create(body).await;
        assert_invalid(&refused, param);
    }
    let unknown_field = books.create(&json!({"invoice": id, "amount": 1, "colour": "red"})).await;
    assert_eq!(unknown_field.status, 400, "{}", unknown_field.text);
    assert_error_shape(&unknown_field);
    let missing = books.create(&json!({"invoice": "in_01HZZZZZZZZZZZZZZZZZZZZZZZ"})).await;
    assert_error(&missing, 404, "not_found");
    let elsewhere = engine.api_b().post("/v1/credit_notes", &json!({"invoice": id})).await;
    assert_error(&elsewhere, 404, "not_found");

    // A void and an uncollectible invoice cannot be credited.
    let (_, void) = books.open_invoice(&customer, &plan).await;
    books.api.post(&format!("/v1/invoices/{}/void", str_field(&void, "id")), &json!({})).await.ok();
    let (_, written_off) = books.open_invoice(&customer, &plan).await;
    let path = format!("/v1/invoices/{}/mark_uncollectible", str_field(&written_off, "id"));
    books.api.post(&path, &json!({})).await.ok();
    for invoice in [&void, &written_off] {
        let refused = books.create(&json!({"invoice": invoice["id"]})).await;
        assert_error(&refused, 400, "invoice_state_invalid");
        assert!(books.notes_of_invoice(invoice).await.is_empty());
    }

    assert!(books.notes_of_customer(&customer).await.is_empty(), "nothing recorded");
    assert!(books.api.list_all("/v1/credit_notes", "id").await.is_empty());
    assert_eq!(books.balance(&customer).await, 0);
    assert_eq!(books.invoice(&invoice).await, invoice, "the invoice is as it was");
    let accepted = books.create_ok(&json!({"invoice": id, "amount": 1})).await;
    assert_eq!(accepted["number"], note_number(&books.prefix(&customer).await, 1));
    // Another account neither reads it nor lists it.
    let api_b = engine.api_b();
    let hidden = api_b.get(&format!("/v1/credit_notes/{}", str_field(&accepted, "id"))).await;
    assert_error(&hidden, 404, "not_found");
    assert!(api_b.list_all("/v1/credit_notes", "id").await.is_empty());
    let by_invoice = format!("/v1/credit_notes?invoice={}", str_field(&invoice, "id"));
    assert!(api_b.list_all(&by_invoice, "id").await.is_empty());
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_note_without_crediting_or_refunding_twice() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let invoice = books.paid_invoice(&customer, &plan).await;

    let credit = json!({"invoice": invoice["id"], "amount": 1_000});
    let key = unique_key("credit-note");
    let first = books.api.post_with_key("/v1/credit_notes", &credit, &key).await;
    let again = books.api.post_with_key("/v1/credit_notes", &credit, &key).await;
    assert_eq!(again.ok(), first.ok(), "the same note");
    assert!(again.is_replay(), "marked as a replay");
    assert_eq!(books.notes_of_invoice(&invoice).await.len(), 1);
    assert_eq!(books.balance(&customer).await, -1_000, "credited once");
    let other = json!({"invoice": invoice["id"], "amount": 2_000});
    let reused = books.api.post_with_key("/v1/credit_notes", &other, &key).await;
    assert_error(&reused, 422, "idempotency_key_reused");

    let refund = json!({"invoice": invoice["id"], "amount": 2_000, "refund_amount": 2_000});
    let key = unique_key("credit-note-refund");
    let first = books.api.post_with_key("/v1/credit_notes", &refund, &key).await;
    let again = books.api.post_with_key("/v1/credit_notes", &refund, &key).await;
    assert_eq!(again.ok(), first.ok(), "the same note");
    assert_eq!(books.notes_of_invoice(&invoice).await.len(), 2);
    assert_eq!(books.processor_refunds().await, [2_000], "refunded once");
    let charge = books.charge(str_field(&invoice, "charge")).await;
    assert_eq!(charge["amount_refunded"], 2_000, "{charge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_notes_never_credit_more_than_the_invoice_and_leave_no_gap() {
    const CONCURRENT: usize = 8;
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let invoice = books.paid_invoice(&customer, &plan).await;
    let prefix = books.prefix(&customer).await;
    let total = i64_field(&invoice, "total");
    let asked = 2_000;

    let body = json!({"invoice": invoice["id"], "amount": asked});
    let answers = futures::future::join_all((0..CONCURRENT).map(|_| books.create(&body))).await;
    let accepted = answers.iter().filter(|answer| answer.status == 200).count();
    let fits = usize::try_from(total / asked).expect("a count");
    assert_eq!(accepted, fits, "as many as fit in {total}");
    for refused in answers.iter().filter(|answer| answer.status != 200) {
        assert_invalid(refused, "amount");
    }
    let notes = books.notes_of_invoice(&invoice).await;
    let mut numbers: Vec<String> =
        notes.iter().map(|note| str_field(note, "number").to_string()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=fits).map(|n| note_number(&prefix, n)).collect();
    assert_eq!(numbers, expected, "no gap, no reuse");
    let given: i64 = notes.iter().map(|note| i64_field(note, "amount")).sum();
    assert_eq!(given, asked * fits as i64);
    assert_eq!(books.balance(&customer).await, -given);
    let rest = books.create_ok(&json!({"invoice": invoice["id"]})).await;
    assert_eq!(rest["amount"], total - given, "{rest}");
}

#[tokio::test]
async fn a_refund_beyond_what_the_charge_took_is_refused_and_takes_no_number() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let prefix = books.prefix(&customer).await;
    // 10.00 of credit, then an invoice the balance pays that much of: its charge is smaller.
    let first = books.paid_invoice(&customer, &plan).await;
    books.create_ok(&json!({"invoice": first["id"], "amount": 1_000})).await;
    let invoice = books.paid_invoice(&customer, &plan).await;
    let total = i64_field(&invoice, "total");
    assert_eq!(invoice["balance_applied"], 1_000, "{invoice}");
    let charge_id = str_field(&invoice, "charge").to_string();
    assert_eq!(books.charge(&charge_id).await["amount"], total - 1_000);
    assert_eq!(books.balance(&customer).await, 0);

    let all_refunded = json!({"invoice": invoice["id"], "refund_amount": total});
    let refused = books.create(&all_refunded).await;
    assert_eq!(refused.status, 400, "more than the charge took: {}", refused.text);
    assert_error_shape(&refused);
    assert!(books.notes_of_invoice(&invoice).await.is_empty(), "nothing recorded");
    assert_eq!(books.balance(&customer).await, 0, "the balance is as it was");
    assert!(books.processor_refunds().await.is_empty());

    let split = json!({"invoice": invoice["id"], "refund_amount": total - 1_000,
        "credit_amount": 1_000});
    let note = books.create_ok(&split).await;
    assert_eq!(note["number"], note_number(&prefix, 2), "the refusal took no number: {note}");
    assert_eq!(books.refund(str_field(&note, "refund")).await["status"], "succeeded");
    assert_eq!(books.processor_refunds().await, [total - 1_000]);
    assert_eq!(books.balance(&customer).await, -1_000);
}

#[tokio::test]
async fn an_invoice_with_a_credit_line_gives_back_no_more_than_its_total() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let basic = books.plan(1_000, "exclusive").await;
    let pro = books.plan(3_000, "exclusive").await;
    let subscription = books.api.subscribe_ok(&customer, &basic).await;
    let subscription = str_field(&subscription, "id").to_string();
    books.api.advance_clock(&books.clock, utc(2024, 3, 11, 0, 0, 0)).await;
    let upgrade = json!({"plan": pro, "proration_behavior": "always_invoice"});
    books.api.update_subscription(&subscription, &upgrade).await.ok();
    let invoices = books.api.subscription_invoices(&subscription).await;
    let proration = invoices.last().expect("the proration invoice").clone();
    assert_eq!(proration["lines"].as_array().map(Vec::len), Some(2), "{proration}");
    let total = i64_field(&proration, "total");

    let rest = books.create(&json!({"invoice": proration["id"]})).await;
    assert_eq!(rest.ok()["amount"], total, "the rest of the invoice is its total: {}", rest.text);
    assert_eq!(tax_of(&rest.body), tax_of(&proration), "and its tax: {}", rest.text);
    assert_eq!(books.balance(&customer).await, -total);
}

#[tokio::test]
async fn an_invoice_lowered_by_a_proration_credit_gives_back_no_more_than_was_paid() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let basic = books.plan(1_000, "exclusive").await;
    let pro = books.plan(3_000, "exclusive").await;
    let (subscription, invoice) = books.open_invoice(&customer, &basic).await;
    books.api.advance_clock(&books.clock, utc(2024, 3, 11, 0, 0, 0)).await;
    books.api.update_subscription(&subscription, &json!({"plan": pro})).await.ok();
    let lowered = books.invoice(&invoice).await;
    let taken = i64_field(&lowered, "pre_payment_credit_notes_amount");
    assert!(taken > 0, "the unused part lowered the open invoice: {lowered}");
    books
        .api
        .post(&format!("/v1/invoices/{}/pay", str_field(&invoice, "id")), &json!({}))
        .await
        .ok();
    let paid = books.invoice(&invoice).await;
    let amount_paid = i64_field(&paid, "amount_paid");
    assert_eq!(amount_paid, i64_field(&invoice, "total") - taken, "{paid}");

    let rest = books.create(&json!({"invoice": invoice["id"]})).await;
    assert_eq!(rest.ok()["amount"], amount_paid, "only what was paid is left: {}", rest.text);
    assert_eq!(books.balance(&customer).await, -amount_paid);
}

#[tokio::test]
async fn every_refund_of_an_invoice_charge_is_on_a_note_and_never_beyond_the_invoice() {
    let engine = Engine::start(Config::default()).await;
    let books = Books::start(&engine).await;
    let customer = books.customer().await;
    let plan = books.plan(PRICE, "exclusive").await;
    let invoice = books.paid_invoice(&customer, &plan).await;
    let charge_id = str_field(&invoice, "charge").to_string();
    let total = i64_field(&invoice, "total");
    let credited = books.create_ok(&json!({"invoice": invoice["id"], "amount": 3_833})).await;
    assert_eq!(books.balance(&customer).await, -3_833, "{credited}");

    // The whole charge back, on top of the 38.33 already credited, would give back more than
    // the invoice charged.
    let refund = books.api.refund(&charge_id, None).await;
    if refund.status == 200 {
        let notes = books.notes_of_invoice(&invoice).await;
        let refunded_on_notes: i64 =
            notes.iter().map(|note| i64_field(note, "refund_amount")).sum();
        let charge = books.charge(&charge_id).await;
        assert_eq!(refunded_on_notes, i64_field(&charge, "amount_refunded"), "{notes:#?}");
        let given: i64 = notes.iter().map(|note| i64_field(note, "amount")).sum();
        assert!(given <= total, "{given} given back on a {total} invoice");
    }
    assert_eq!(refund.status, 400, "more than the invoice has left: {}", refund.text);
    let rest = books.api.refund(&charge_id, Some((total - 3_833) as u64)).await.ok().clone();
    let notes = books.notes_of_invoice(&invoice).await;
    assert_eq!(notes[0]["refund"], rest["id"], "{notes:#?}");
}
