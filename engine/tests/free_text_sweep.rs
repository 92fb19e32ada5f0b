//! Free text, everywhere: every string a client can put in a JSON body is held to the contract's
//! rules, whatever route and field it arrives in.
//!
//! Proves that each string field the served OpenAPI document lists for each POST/PUT/PATCH
//! operation with an `application/json` body (nested objects, array items and `metadata` maps
//! included, enum-only fields too), and each object key at every level of those bodies, refuses
//! a card number however it is written (spaces, slashes, full-width digits, zero-width
//! separators), a control character and a bidirectional override with 400 `validation_error`
//! whose `param` is the string's path (`tax_ids[0].value`, `metadata.note`); that the check runs
//! before the route reads the body (the same answer when an unknown field comes first, which the
//! route would refuse on its own); that the payment-method route's top-level `token` and M-Pesa
//! `phone` are instead answered `payment_method_invalid` by the route; that ordinary text with
//! dates, phone numbers, a non-Luhn 16-digit number and non-Latin script passes the check; that
//! no refusal of a card-number value echoes it and none reaches the engine's log; and that after
//! the sweep the account's customers, payment methods, subscriptions, plans, invoices, credit
//! notes, charges, events, test clock and the sandbox ledger are exactly as before.
//! How: one engine (with M-Pesa enabled against a local fake Daraja, so `phone` reaches the
//! route's own check) and a baseline of real objects — a test clock, a customer on it with a
//! card and a paid subscription (so a plan, an invoice, a credit note), another customer with a
//! charge and a partial refund. The test reads `GET /openapi.json`, walks each request schema
//! (`$ref`, `allOf`/`oneOf`/`anyOf`, `properties`, `items`, `additionalProperties`) into the
//! paths of its strings and objects, fills path parameters with the baseline's ids (every route
//! parses its body before it looks the object up, see `api/routes.rs` and the handlers), and
//! sends one body per path and value, holding nothing but that value, nested as needed. Every
//! mismatch is collected so one run names them all; the number of routes and fields swept must
//! reach a floor and named fields must be among them, so a broken schema walk cannot pass by
//! sweeping nothing. The webhook routes are left out: their bodies are a gateway's signed
//! deliveries, not a client's text, and never go through the JSON body parser.

mod common;
use kassa_testkit::fake_daraja;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use fake_daraja::FakeDaraja;

/// A card number, written the ways people and forms hide one.
const CARD_NUMBERS: [&str; 4] = [
    "4242 4242 4242 4242",
    "4242/4242/4242/4242",
    "４２４２４２４２４２４２４２４２",
    "4242\u{200B}4242\u{200B}4242\u{200B}4242",
];
/// Characters that make text show other than it is stored.
const HIDDEN: [&str; 2] = ["a\u{0007}b", "x\u{202E}y"];
/// Text the free-text rules let through: digits, dates, a phone number, a 16-digit number that
/// fails Luhn, other scripts' letters and digits.
const ORDINARY: [&str; 3] = [
    "Grade 12 Maths, order 2026-11-22 10:30:45, call +254 712 345 678",
    "4242 4242 4242 4241",
    "Zoë Ñandú 東京 ١٢٣",
];
/// An unknown field sent ahead of the swept one: a route refuses it as soon as it parses the
/// body, so a refusal naming the swept field can only come from the check that runs first.
const DECOY: &str = "unknown_field_ahead";
/// The key a swept `metadata` (map of strings) value is sent under.
const MAP_KEY: &str = "note";
/// The route that takes payment credentials, and the top-level fields it checks itself.
const CREDENTIALS_ROUTE: &str = "/v1/customers/{id}/payment_methods";
const CREDENTIALS: [&str; 2] = ["token", "phone"];
/// A bank account number is digits that may pass Luhn, and a payee's M-Pesa phone is a phone: not
/// free text, and their routes check their form. Sent alone, the body lacks the other fields,
/// so the route refuses it for that, and changes nothing.
const CHECKED_BY_ROUTE: [&str; 3] =
    ["settings.bank_transfer.account_number", "destination.account_number", "destination.phone"];
/// Floors for what the schema walk must find: the contract has 15 JSON routes (webhooks aside)
/// with 57 string fields; far fewer means the walk (or the served document) lost some.
const ROUTES_MIN: usize = 14;
const FIELDS_MIN: usize = 50;
/// Fields the walk must reach: one per kind of nesting.
const FIELDS_EXPECTED: [(&str, &str); 7] = [
    ("POST /v1/customers", "name"),
    ("POST /v1/customers", "address.region"),
    ("POST /v1/customers", "tax_ids[0].value"),
    ("POST /v1/customers", "metadata.note"),
    ("POST /v1/charges", "line_items[0].sku"),
    ("POST /v1/customers/{id}/payment_methods", "token"),
    ("POST /v1/payees", "destination.account_number"),
];
/// Bounds on the schema walk: a `$ref` chain, and nesting (a recursive schema).
const REF_HOPS_MAX: usize = 32;
const DEPTH_MAX: usize = 24;
/// A snapshot is taken once two reads this far apart agree, within `SETTLE_TIMEOUT`.
const SETTLE_INTERVAL: Duration = Duration::from_millis(300);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

const CALLBACK_TOKEN: &str = "callback-token-free-text-sweep";

/// One step from a body's root down to a string in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// A named field of an object.
    Field(String),
    /// The first item of an array.
    Item,
    /// A value of a map of strings, under `MAP_KEY`.
    Entry,
}

type Steps = Vec<Step>;

/// The path as the engine names it in `error.param`: `tax_ids[0].value`, `metadata.note`.
fn render(steps: &[Step]) -> String {
    let mut rendered = String::new();
    for step in steps {
        let name = match step {
            Step::Item => {
                rendered.push_str("[0]");
                continue;
            }
            Step::Field(name) => name.as_str(),
            Step::Entry => MAP_KEY,
        };
        if !rendered.is_empty() {
            rendered.push('.');
        }
        rendered.push_str(name);
    }
    rendered
}

/// The path of key `key` of the object at `object`.
fn key_param(object: &[Step], key: &str) -> String {
    match render(object) {
        prefix if prefix.is_empty() => key.to_owned(),
        prefix => format!("{prefix}.{key}"),
    }
}

/// The param a refused key is answered with: where it sits, never the key itself.
fn refused_key_param(object: &[Step]) -> String {
    key_param(object, "<key>")
}

fn object_with(key: &str, value: Value) -> Value {
    let mut fields = serde_json::Map::new();
    fields.insert(key.to_owned(), value);
    Value::Object(fields)
}

/// A body holding `leaf` at `steps` and nothing else.
fn nest(steps: &[Step], leaf: Value) -> Value {
    steps.iter().rev().fold(leaf, |inner, step| match step {
        Step::Field(name) => object_with(name, inner),
        Step::Entry => object_with(MAP_KEY, inner),
        Step::Item => Value::Array(vec![inner]),
    })
}

/// What a request schema holds: the paths of its strings and of its objects (whose keys are
/// strings too).
#[derive(Default)]
struct Shape {
    fields: BTreeSet<Steps>,
    objects: BTreeSet<Steps>,
}

fn resolve<'a>(document: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..REF_HOPS_MAX {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("a $ref outside the document: {reference}"));
        schema =
            document.pointer(pointer).unwrap_or_else(|| panic!("a $ref to nothing: {reference}"));
    }
    panic!("a $ref chain longer than {REF_HOPS_MAX} hops");
}

/// True for a schema that takes a string: `type: string` (or a list holding it), or, with no
/// type, an enum with a string among its values.
fn takes_string(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(kind)) => kind == "string",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "string"),
        _ => schema
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|values| values.iter().any(Value::is_string)),
    }
}

fn walk(document: &Value, schema: &Value, path: &Steps, depth: usize, shape: &mut Shape) {
    assert!(depth <= DEPTH_MAX, "schema deeper than {DEPTH_MAX} at `{}`", render(path));
    let schema = resolve(document, schema);
    let child = |step: Step| -> Steps {
        let mut child = path.clone();
        child.push(step);
        child
    };
    for combinator in ["allOf", "oneOf", "anyOf"] {
        for part in schema.get(combinator).and_then(Value::as_array).into_iter().flatten() {
            walk(document, part, path, depth + 1, shape);
        }
    }
    if takes_string(schema) {
        shape.fields.insert(path.clone());
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        shape.objects.insert(path.clone());
        for (name, property) in properties {
            walk(document, property, &child(Step::Field(name.clone())), depth + 1, shape);
        }
    }
    if let Some(items) = schema.get("items").filter(|items| items.is_object()) {
        walk(document, items, &child(Step::Item), depth + 1, shape);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|values| values.is_object()) {
        shape.objects.insert(path.clone());
        walk(document, values, &child(Step::Entry), depth + 1, shape);
    }
}

/// One operation that takes a JSON body.
struct Operation {
    method: reqwest::Method,
    template: String,
    shape: Shape,
}

impl Operation {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

/// Every POST/PUT/PATCH operation with an `application/json` request body, webhook routes
/// aside.
fn json_operations(document: &Value) -> Vec<Operation> {
    let paths = document["paths"].as_object().expect("`paths` in the OpenAPI document");
    let mut operations = Vec::new();
    for (template, item) in paths {
        if template.starts_with("/v1/webhooks/") {
            continue;
        }
        for method in ["post", "put", "patch"] {
            let Some(operation) = item.get(method) else { continue };
            let Some(body) = operation.get("requestBody") else { continue };
            let body = resolve(document, body);
            let Some(schema) = body.pointer("/content/application~1json/schema") else {
                continue;
            };
            let mut shape = Shape::default();
            shape.objects.insert(Vec::new());
            walk(document, schema, &Vec::new(), 0, &mut shape);
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
                .expect("an HTTP method");
            operations.push(Operation { method, template: template.clone(), shape });
        }
    }
    operations
}

/// The real objects path parameters name.
struct Baseline {
    customer: String,
    plan: String,
    subscription: String,
    invoice: String,
    clock: String,
    /// An account the admin made, and a key of it: the admin routes' objects.
    account: String,
    key: String,
}

impl Baseline {
    /// `template` with each `{…}` replaced by the baseline's object of the collection before it.
    fn path(&self, template: &str) -> String {
        let segments: Vec<&str> = template.split('/').collect();
        let concrete: Vec<&str> = segments
            .iter()
            .enumerate()
            .map(|(index, segment)| {
                if !segment.starts_with('{') {
                    return *segment;
                }
                match segments[index - 1] {
                    "customers" => self.customer.as_str(),
                    "plans" => self.plan.as_str(),
                    "subscriptions" => self.subscription.as_str(),
                    "invoices" => self.invoice.as_str(),
                    "test_clocks" => self.clock.as_str(),
                    "accounts" => self.account.as_str(),
                    "keys" => self.key.as_str(),
                    // Ids of no object: these routes read the body before the id.
                    "webhook_endpoints" => "we_01KG3ZB1C2D3E4F5G6H7J8K9M0",
                    "events" => "evt_01KG3ZC4D5E6F7G8H9J0K1M2N3",
                    "promotion_codes" => "promo_01KG3ZC4D5E6F7G8H9J0K1M2N3",
                    "coupons" => "WELCOME10",
                    "payment_plans" => "pp_01KG3ZC4D5E6F7G8H9J0K1M2N3",
                    "sponsorships" => "spons_01KG3ZC4D5E6F7G8H9J0K1M2N3",
                    "payees" => "payee_01KG3ZC4D5E6F7G8H9J0K1M2N3",
                    "payouts" => "po_01KG3ZC4D5E6F7G8H9J0K1M2N3",
                    "bank_statements" => "stmt_01KG3ZC4D5E6F7G8H9J0K1M2N3",
                    "lines" => "0",
                    "sessions" | "checkout" => "cs_3ZK1X9M4T7Q2W8E5R6Y0U3I1OP",
                    "invoice" => "3ZK1X9M4T7Q2W8E5R6Y0U3I1OP",
                    _ => panic!("{template}: a new route with a path parameter; give it an id"),
                }
            })
            .collect();
        concrete.join("/")
    }
}

async fn baseline(api: &Api, admin: &Api) -> Baseline {
    let clock = api.create_clock(utc(2026, 3, 2, 9, 0, 0)).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(1_000, "usd", "month").await;
    let subscription = api.subscribe_ok(&customer, &plan).await;
    assert_eq!(subscription["status"], "active", "the baseline subscription: {subscription}");
    let invoice = str_field(&subscription, "latest_invoice").to_string();
    api.post("/v1/credit_notes", &json!({"invoice": invoice, "amount": 100})).await.id();
    let (shopper, _) = api.customer_with_card("pm_card_mastercard").await;
    let charge = api.charge_ok(&shopper, 2_500, "usd").await;
    api.refund(str_field(&charge, "id"), Some(500)).await.ok();
    let account = admin.post("/v1/accounts", &json!({"name": "Baseline"})).await.id();
    let key = admin.post(&format!("/v1/accounts/{account}/keys"), &json!({"mode": "secret"})).await;
    let key = key.id();
    Baseline {
        customer,
        plan,
        subscription: str_field(&subscription, "id").to_string(),
        invoice,
        clock,
        account,
        key,
    }
}

/// Everything a stray write could change, by name.
async fn snapshot(api: &Api, clock: &str) -> Vec<(String, Value)> {
    let mut parts = Vec::new();
    for list in ["customers", "plans", "charges", "invoices", "credit_notes", "events"] {
        let items = api.list_all(&format!("/v1/{list}"), "id").await;
        parts.push((list.to_string(), Value::Array(items)));
    }
    let customers = parts[0].1.as_array().cloned().unwrap_or_default();
    for customer in ids(&customers) {
        let methods = api.payment_methods(&customer).await;
        parts.push((format!("{customer} payment methods"), Value::Array(methods)));
        let subscriptions = api.customer_subscriptions(&customer).await;
        parts.push((format!("{customer} subscriptions"), Value::Array(subscriptions)));
    }
    parts.push(("test clock".to_string(), api.get_ok(&format!("/v1/test_clocks/{clock}")).await));
    parts.push(("sandbox ledger".to_string(), Value::Array(api.ledger().await)));
    parts
}

/// The accounts, and the keys of the one the baseline made.
async fn admin_snapshot(admin: &Api, account: &str) -> (Vec<Value>, Vec<Value>) {
    let accounts = admin.list_all("/v1/accounts", "id").await;
    (accounts, admin.list_all(&format!("/v1/accounts/{account}/keys"), "id").await)
}

/// A snapshot that two reads `SETTLE_INTERVAL` apart agree on (work the baseline started, such
/// as event filing, has landed).
async fn settled_snapshot(api: &Api, clock: &str) -> Vec<(String, Value)> {
    wait_for("a settled snapshot", SETTLE_TIMEOUT, move || async move {
        let first = snapshot(api, clock).await;
        tokio::time::sleep(SETTLE_INTERVAL).await;
        let second = snapshot(api, clock).await;
        (first == second).then_some(second)
    })
    .await
}

/// Sends `body` as JSON to `path`, behind the decoy field when `decoy`.
async fn send(api: &Api, method: &reqwest::Method, path: &str, body: &Value, decoy: bool) -> Resp {
    let text = serde_json::to_string(body).expect("serialize a body");
    let text = match decoy {
        false => text,
        true => {
            let rest = text.strip_prefix('{').expect("a body is an object");
            let separator = if rest == "}" { "" } else { "," };
            format!("{{\"{DECOY}\":true{separator}{rest}")
        }
    };
    api.send(method.clone(), path, Some(text.into_bytes()), None).await
}

/// What is wrong with `response` as the refusal `code` naming `param`, if anything. `value` is
/// checked not to be echoed when `no_echo`.
fn refusal_problem(
    response: &Resp,
    code: &str,
    param: &str,
    value: &str,
    no_echo: bool,
) -> Option<String> {
    if response.status != 400 || response.error_code() != Some(code) {
        return Some(format!("expected 400 {code}, got {}: {}", response.status, response.text));
    }
    if let Some(problem) = error_shape_problem(response) {
        return Some(problem);
    }
    if response.body["error"]["param"] != param {
        return Some(format!("expected param {param:?}: {}", response.text));
    }
    if no_echo && response.text.contains(value) {
        return Some(format!("the refusal echoes the value: {}", response.text));
    }
    None
}

/// Sweep totals, for the floor and the report.
#[derive(Default)]
struct Sweep {
    routes: usize,
    fields: usize,
    objects: usize,
    requests: usize,
    swept: Vec<String>,
    problems: Vec<String>,
}

impl Sweep {
    /// Sends one body and records a problem when `expected` says the answer is wrong.
    async fn probe(
        &mut self,
        api: &Api,
        operation: &Operation,
        path: &str,
        (body, decoy): (&Value, bool),
        what: &str,
        expected: impl Fn(&Resp) -> Option<String>,
    ) {
        self.requests += 1;
        let response = send(api, &operation.method, path, body, decoy).await;
        if let Some(problem) = expected(&response) {
            let ahead = if decoy { " (behind an unknown field)" } else { "" };
            self.problems.push(format!("{} {what}{ahead}: {problem}", operation.label()));
        }
    }

    async fn route(&mut self, api: &Api, operation: &Operation, path: &str) {
        self.routes += 1;
        let credentials_route = operation.template == CREDENTIALS_ROUTE;
        for field in &operation.shape.fields {
            self.fields += 1;
            let param = render(field);
            self.swept.push(format!("{} {param}", operation.label()));
            let top_level = match field.as_slice() {
                [Step::Field(name)] => Some(name.as_str()),
                _ => None,
            };
            let credential =
                credentials_route && top_level.is_some_and(|name| CREDENTIALS.contains(&name));
            if CHECKED_BY_ROUTE.contains(&param.as_str()) {
                for value in CARD_NUMBERS.iter().chain(&HIDDEN) {
                    let body = nest(field, json!(value));
                    let what = format!("{param} = {value:?}");
                    let expected = |response: &Resp| {
                        let refused_elsewhere = response.status == 400
                            && response.body["error"]["param"] != json!(param);
                        (!refused_elsewhere).then(|| {
                            format!(
                                "expected the incomplete body refused for another field: {}",
                                response.text
                            )
                        })
                    };
                    self.probe(api, operation, path, (&body, false), &what, expected).await;
                }
                continue;
            }
            for value in CARD_NUMBERS.iter().chain(&HIDDEN) {
                let is_card = CARD_NUMBERS.contains(value);
                let what = format!("{param} = {value:?}");
                if credential {
                    // The route's own check: an M-Pesa `phone` is only read with `type: mpesa`.
                    let mut body = nest(field, json!(value));
                    if param == "phone" {
                        body["type"] = json!("mpesa");
                    }
                    let expected = |response: &Resp| {
                        refusal_problem(response, "payment_method_invalid", &param, value, is_card)
                    };
                    self.probe(api, operation, path, (&body, false), &what, expected).await;
                    continue;
                }
                let body = nest(field, json!(value));
                for decoy in [false, true] {
                    let expected = |response: &Resp| {
                        refusal_problem(response, "validation_error", &param, value, is_card)
                    };
                    self.probe(api, operation, path, (&body, decoy), &what, expected).await;
                }
            }
            for value in ORDINARY {
                let body = nest(field, json!(value));
                let what = format!("{param} = {value:?} (ordinary)");
                self.probe(api, operation, path, (&body, true), &what, refused_for_the_decoy).await;
            }
        }
        for object in &operation.shape.objects {
            self.objects += 1;
            for key in CARD_NUMBERS.iter().chain(&HIDDEN) {
                let param = refused_key_param(object);
                let body = nest(object, object_with(key, json!("x")));
                let what = format!("key {:?}", key_param(object, key));
                for decoy in [false, true] {
                    // Named by where it sits: the refusal never echoes the key.
                    let expected = |response: &Resp| {
                        refusal_problem(response, "validation_error", &param, key, true)
                    };
                    self.probe(api, operation, path, (&body, decoy), &what, expected).await;
                }
            }
            for key in ORDINARY {
                let body = nest(object, object_with(key, json!("x")));
                let what = format!("key {:?} (ordinary)", key_param(object, key));
                self.probe(api, operation, path, (&body, true), &what, refused_for_the_decoy).await;
            }
        }
    }
}

/// Ordinary text behind the decoy: the route itself refuses the body, for the decoy.
fn refused_for_the_decoy(response: &Resp) -> Option<String> {
    let for_decoy = response.status == 400
        && response.error_code() == Some("validation_error")
        && response.body["error"]["message"].as_str().is_some_and(|m| m.contains(DECOY));
    (!for_decoy).then(|| {
        format!(
            "expected the route's refusal of `{DECOY}` (the text passed the check); got {}: {}",
            response.status, response.text
        )
    })
}

fn mpesa_config(daraja: &FakeDaraja) -> Config {
    Config::default().with_toml(&daraja.engine_toml(CALLBACK_TOKEN))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_string_of_every_json_route_refuses_card_numbers_and_hidden_characters() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja).with_admin_key()).await;
    let api = engine.api_a();
    let admin = engine.api(ADMIN_KEY);
    let document = engine.api_with_authorization(None).get_ok("/openapi.json").await;
    let operations = json_operations(&document);

    let baseline = baseline(&api, &admin).await;
    let before = settled_snapshot(&api, &baseline.clock).await;
    let admin_before = admin_snapshot(&admin, &baseline.account).await;

    let mut sweep = Sweep::default();
    for operation in &operations {
        let path = baseline.path(&operation.template);
        let caller = match operation.template.starts_with("/v1/accounts") {
            true => &admin,
            false => &api,
        };
        sweep.route(caller, operation, &path).await;
    }
    let swept = sweep.swept.join("\n");
    println!(
        "swept {} routes, {} string fields and {} objects' keys in {} requests:\n{swept}",
        sweep.routes, sweep.fields, sweep.objects, sweep.requests
    );
    assert!(
        sweep.routes >= ROUTES_MIN && sweep.fields >= FIELDS_MIN,
        "the schema walk found {} routes and {} fields, fewer than {ROUTES_MIN} and {FIELDS_MIN}; \
         swept:\n{swept}",
        sweep.routes,
        sweep.fields
    );
    for (route, field) in FIELDS_EXPECTED {
        assert!(
            sweep.swept.contains(&format!("{route} {field}")),
            "`{field}` of {route} was not swept; swept:\n{swept}"
        );
    }
    assert!(
        sweep.problems.is_empty(),
        "{} of {} probes answered other than the contract says:\n{}\n\nswept:\n{swept}",
        sweep.problems.len(),
        sweep.requests,
        sweep.problems.join("\n")
    );

    let after = settled_snapshot(&api, &baseline.clock).await;
    let changed: Vec<String> = before
        .iter()
        .zip(&after)
        .filter(|(was, now)| was != now)
        .map(|((name, was), (_, now))| format!("{name}: before {was}\n  after {now}"))
        .collect();
    assert_eq!(before.len(), after.len(), "the sweep added records");
    assert!(changed.is_empty(), "the sweep changed something:\n{}", changed.join("\n"));
    let admin_after = admin_snapshot(&admin, &baseline.account).await;
    assert_eq!(admin_before, admin_after, "the sweep changed an account or its keys");
    assert!(daraja.pushes().is_empty(), "the sweep pushed to M-Pesa: {:?}", daraja.pushes());

    let log = engine.log_text();
    let logged: Vec<&str> = CARD_NUMBERS.into_iter().filter(|card| log.contains(card)).collect();
    assert!(logged.is_empty(), "the engine logged card numbers: {logged:?}");
}
