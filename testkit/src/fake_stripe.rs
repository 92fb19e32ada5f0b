//! A local Stripe that speaks Stripe's wire format for what the adapter uses: form-encoded POST
//! bodies, `Authorization: Bearer`, the `Idempotency-Key` header (same key and same request:
//! the first response replayed; same key, other request: 400 `idempotency_error`), Stripe's
//! objects as JSON and its error shape `{"error":{"type","code","decline_code","message"}}`.
//!
//! Payment methods behave as Stripe's test tokens do (`pm_card_visa` succeeds,
//! `pm_card_chargeDeclinedInsufficientFunds` declines, `pm_card_threeDSecure2Required` needs
//! 3-D Secure, …). `POST /v1/payment_methods/{id}/attach` attaches one to a customer, and a
//! PaymentIntent for a customer may use a PaymentMethod not attached to that customer once
//! only: a second one is refused as Stripe refuses it (400 invalid_request_error, "previously
//! used without being attached to a Customer"). A token may be attached to several customers
//! here, as Stripe mints a fresh PaymentMethod from a test token each time. Amounts follow
//! Stripe's currency rules: ISK and UGX only in whole units (hundredths ending in `00`), the
//! three-decimal dinars only with a last digit of 0 (400 otherwise). Faults are switched
//! on by the test: 429s, and a stall that holds the answer of a PaymentIntent create AFTER the
//! intent was made (the ambiguous timeout).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use warp::Filter;
use warp::http::{Method, StatusCode};

pub const SECRET_KEY: &str = "sk_test_fake_0123456789";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub form: BTreeMap<String, String>,
    /// When the request arrived (its body read), for the pace of a series of requests.
    pub at: Instant,
}

#[derive(Default)]
struct State {
    /// Idempotency-Key → (the request it was first used with, the response it got).
    idempotency: HashMap<String, (String, u16, Value)>,
    intents: BTreeMap<String, Value>,
    refunds: BTreeMap<String, Value>,
    /// Transfers to connected accounts, by id.
    transfers: BTreeMap<String, Value>,
    customers: BTreeMap<String, Value>,
    /// Checkout Sessions, by id.
    checkout_sessions: BTreeMap<String, Value>,
    /// (PaymentMethod, customer) pairs attached.
    attached: BTreeSet<(String, String)>,
    /// PaymentMethods detached.
    detached: BTreeSet<String>,
    /// (PaymentMethod, customer) pairs a PaymentIntent used without them being attached.
    used_unattached: BTreeSet<(String, String)>,
    seen: Vec<Seen>,
    /// Statuses to answer the next POSTs with, before doing anything (429, 500).
    faults: VecDeque<u16>,
    stall_creates: Option<Duration>,
    /// The account's own currency, when payments are settled into it (see
    /// [`FakeStripe::settle_in`]).
    settlement: Option<Settlement>,
    next_id: u64,
}

/// Payments in another currency are settled into `currency` at `numerator / denominator` (the
/// converted amount rounded down), as Stripe does for an account that holds one currency.
#[derive(Clone)]
struct Settlement {
    currency: String,
    numerator: i64,
    denominator: i64,
}

#[derive(Clone)]
pub struct FakeStripe {
    state: Arc<Mutex<State>>,
    pub address: SocketAddr,
}

struct Answer {
    status: u16,
    body: Value,
    stall: Option<Duration>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = Arc::clone(&state);
        let routes = warp::any()
            .and(warp::method())
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::optional::<String>("idempotency-key"))
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::bytes())
            .then(
                move |method: Method,
                      path: warp::path::FullPath,
                      query: String,
                      key: Option<String>,
                      authorization: Option<String>,
                      body: Bytes| {
                    let state = Arc::clone(&handler_state);
                    async move {
                        let answer = handle(
                            &state,
                            &method,
                            path.as_str(),
                            &query,
                            key,
                            authorization,
                            &body,
                        );
                        if let Some(stall) = answer.stall {
                            tokio::time::sleep(stall).await;
                        }
                        warp::reply::with_status(
                            warp::reply::json(&answer.body),
                            StatusCode::from_u16(answer.status).unwrap(),
                        )
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(routes).incoming(listener).run());
        FakeStripe { state, address }
    }

    pub fn api_base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next `count` POSTs are answered `status` without being carried out: 429 as Stripe's
    /// rate limit, any other 4xx as an `invalid_request_error` (a revoked key, an unknown URL),
    /// a 5xx as an `api_error`.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.state.lock().unwrap().faults.extend(std::iter::repeat_n(status, count));
    }

    /// PaymentIntent and Refund creates are carried out, then answered only after `stall`
    /// (None: at once).
    pub fn stall_creates(&self, stall: Option<Duration>) {
        self.state.lock().unwrap().stall_creates = stall;
    }

    /// Payments in any other currency are settled into `currency` from now on, one unit of
    /// theirs worth `numerator / denominator` of it: their balance transactions are in
    /// `currency`, the fee taken of the converted amount.
    pub fn settle_in(&self, currency: &str, numerator: i64, denominator: i64) {
        let currency = currency.to_owned();
        self.state.lock().unwrap().settlement =
            Some(Settlement { currency, numerator, denominator });
    }

    pub fn intents_created(&self) -> usize {
        self.state.lock().unwrap().intents.len()
    }

    /// The refunds made of `payment_intent`, oldest first, as Stripe lists them on its charge
    /// (balance transactions by id).
    pub fn refunds_of(&self, payment_intent: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        // Ids number them in the order they were made.
        state
            .refunds
            .values()
            .filter(|refund| refund["payment_intent"] == payment_intent)
            .map(|refund| with_balance_transaction(refund, &BTreeMap::new()))
            .collect()
    }

    pub fn refunds_created(&self) -> usize {
        self.state.lock().unwrap().refunds.len()
    }

    pub fn customers_created(&self) -> usize {
        self.state.lock().unwrap().customers.len()
    }

    /// Whether the PaymentMethod was detached.
    pub fn was_detached(&self, payment_method: &str) -> bool {
        self.state.lock().unwrap().detached.contains(payment_method)
    }

    /// Whether the PaymentMethod is attached to the customer.
    pub fn is_attached(&self, payment_method: &str, customer: &str) -> bool {
        let pair = (payment_method.to_owned(), customer.to_owned());
        self.state.lock().unwrap().attached.contains(&pair)
    }

    /// The Checkout Sessions made, oldest first.
    pub fn checkout_sessions(&self) -> Vec<Value> {
        self.state.lock().unwrap().checkout_sessions.values().cloned().collect()
    }

    /// A buyer pays the Checkout Session with `payment_method`, as on Stripe's page: its
    /// PaymentIntent succeeds (refundable like any other) and is answered, for the test to
    /// deliver as `payment_intent.succeeded`.
    pub fn pay_checkout_session(&self, id: &str, payment_method: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let session = state.checkout_sessions.get(id).cloned().expect("a Checkout Session made");
        assert_eq!(session["status"], "open", "Stripe's page takes nothing once closed: {session}");
        let intent_id = next_id(&mut state, "pi");
        let amount = session["amount_total"].clone();
        // Whole, as Stripe answers a read of it.
        let mut intent = intent(&intent_id, &BTreeMap::new(), "succeeded");
        intent["amount"] = amount.clone();
        intent["amount_received"] = amount;
        intent["currency"] = session["currency"].clone();
        intent["customer"] = session["customer"].clone();
        intent["payment_method"] = json!(payment_method);
        intent["metadata"] = session["payment_intent_data"]["metadata"].clone();
        state.intents.insert(intent_id.clone(), intent.clone());
        let paid = state.checkout_sessions.get_mut(id).expect("a Checkout Session made");
        paid["payment_intent"] = json!(intent_id);
        paid["payment_status"] = json!("paid");
        paid["status"] = json!("complete");
        intent
    }

    /// Someone refunds `amount` of `payment_intent` in Stripe's dashboard: made as an API
    /// refund is (taken from the balance at the rate of the moment, no Kassa metadata),
    /// answered with its balance transaction by id.
    pub fn refund_in_dashboard(&self, payment_intent: &str, amount: i64) -> Value {
        let form = BTreeMap::from([
            ("payment_intent".to_owned(), payment_intent.to_owned()),
            ("amount".to_owned(), amount.to_string()),
        ]);
        let answer = create_refund(&mut self.state.lock().unwrap(), &form);
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }

    /// A buyer saves a card on a Checkout Session in setup mode, as on Stripe's page: the
    /// PaymentMethod is attached to the session's customer, and its SetupIntent answered for
    /// the test to deliver as `setup_intent.succeeded`.
    pub fn save_card_on_checkout_session(&self, id: &str, payment_method: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let session = state.checkout_sessions.get(id).cloned().expect("a Checkout Session made");
        assert_eq!(session["mode"], "setup", "a card is saved on a session in setup mode");
        let customer = session["customer"].as_str().unwrap_or_default().to_owned();
        state.attached.insert((payment_method.to_owned(), customer));
        let intent_id = next_id(&mut state, "seti");
        let intent = json!({
            "id": intent_id,
            "object": "setup_intent",
            "customer": session["customer"],
            "payment_method": payment_method,
            "status": "succeeded",
            "usage": "off_session",
            "metadata": session["setup_intent_data"]["metadata"],
        });
        let saved = state.checkout_sessions.get_mut(id).expect("a Checkout Session made");
        saved["setup_intent"] = json!(intent_id);
        saved["status"] = json!("complete");
        intent
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The PaymentIntent creates seen, in arrival order.
    pub fn intent_creates(&self) -> Vec<Seen> {
        let seen = self.seen().into_iter();
        seen.filter(|seen| seen.method == "POST" && seen.path == "/v1/payment_intents").collect()
    }

    /// The PaymentIntents made, oldest first (ids are numbered in order).
    pub fn intent_ids(&self) -> Vec<String> {
        self.state.lock().unwrap().intents.keys().cloned().collect()
    }

    /// The customer finished 3-D Secure in the browser.
    pub fn complete_authentication(&self, intent_id: &str) {
        let mut state = self.state.lock().unwrap();
        let intent = state.intents.get_mut(intent_id).expect("known intent");
        intent["status"] = json!("succeeded");
        intent["next_action"] = Value::Null;
        intent["amount_received"] = intent["amount"].clone();
    }
}

fn handle(
    state: &Mutex<State>,
    method: &Method,
    path: &str,
    query: &str,
    key: Option<String>,
    authorization: Option<String>,
    body: &[u8],
) -> Answer {
    let at = Instant::now();
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let mut state = state.lock().unwrap();
    state.seen.push(Seen {
        method: method.to_string(),
        path: path.to_owned(),
        idempotency_key: key.clone(),
        form: form.clone(),
        at,
    });
    if authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return error(401, "invalid_request_error", None, None, "Invalid API Key provided");
    }
    if *method == Method::POST
        && let Some(status) = state.faults.pop_front()
    {
        return match status {
            429 => {
                error(429, "invalid_request_error", Some("rate_limit"), None, "Too many requests")
            }
            400..=499 => {
                error(status, "invalid_request_error", None, None, "Refused before processing")
            }
            status => {
                error(status, "api_error", None, None, "Something went wrong on Stripe's end")
            }
        };
    }
    let stall = match (method.as_str(), path) {
        ("POST", "/v1/payment_intents" | "/v1/refunds" | "/v1/transfers") => state.stall_creates,
        _ => None,
    };
    // Idempotent replay: Stripe answers a known key with the stored response, and refuses a
    // known key sent with a different request.
    let fingerprint = format!("{method} {path} {}", String::from_utf8_lossy(body));
    if *method == Method::POST
        && let Some(key) = &key
        && let Some((first, status, stored)) = state.idempotency.get(key)
    {
        if *first != fingerprint {
            return error(
                400,
                "idempotency_error",
                None,
                None,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            );
        }
        return Answer { status: *status, body: stored.clone(), stall };
    }
    let mut answer = route(&mut state, method, path, query, &form);
    if *method == Method::POST
        && let Some(key) = key
    {
        state.idempotency.insert(key, (fingerprint, answer.status, answer.body.clone()));
    }
    answer.stall = stall;
    answer
}

fn route(
    state: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    form: &BTreeMap<String, String>,
) -> Answer {
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["customers"]) => create_customer(state, form),
        ("POST", ["checkout", "sessions"]) => create_checkout_session(state, form),
        ("GET", ["checkout", "sessions", id]) => match state.checkout_sessions.get(*id) {
            Some(session) => ok(session.clone()),
            None => missing("session"),
        },
        ("POST", ["checkout", "sessions", id, "expire"]) => expire_checkout_session(state, id),
        ("POST", ["payment_intents"]) => create_intent(state, form),
        ("GET", ["payment_intents", "search"]) => search_intents(state, query),
        ("GET", ["payment_intents", id]) => match state.intents.get(*id) {
            Some(intent) => {
                let query: BTreeMap<String, String> =
                    serde_urlencoded::from_str(query).unwrap_or_default();
                ok(with_latest_charge(intent, &query, state.settlement.as_ref()))
            }
            None => missing("intent"),
        },
        ("POST", ["refunds"]) => create_refund(state, form),
        ("GET", ["refunds"]) => list_refunds(state, query),
        ("GET", ["refunds", id]) => match state.refunds.get(*id) {
            Some(refund) => {
                let query: BTreeMap<String, String> =
                    serde_urlencoded::from_str(query).unwrap_or_default();
                ok(with_balance_transaction(refund, &query))
            }
            None => missing("refund"),
        },
        ("GET", ["payment_methods", id]) => match card_of(id) {
            Some(card) => ok(payment_method(id, card)),
            None => missing("payment_method"),
        },
        ("POST", ["transfers"]) => create_transfer(state, form),
        ("GET", ["transfers"]) => list_transfers(state, query),
        ("GET", ["transfers", id]) => match state.transfers.get(*id) {
            Some(transfer) => ok(transfer.clone()),
            None => missing("transfer"),
        },
        ("POST", ["payment_methods", id, "attach"]) => attach_payment_method(state, id, form),
        ("POST", ["payment_methods", id, "detach"]) => detach_payment_method(state, id),
        _ => error(404, "invalid_request_error", None, None, "Unrecognized request URL"),
    }
}

fn ok(body: Value) -> Answer {
    Answer { status: 200, body, stall: None }
}

fn error(
    status: u16,
    kind: &str,
    code: Option<&str>,
    decline_code: Option<&str>,
    message: &str,
) -> Answer {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    if let Some(decline_code) = decline_code {
        error["decline_code"] = json!(decline_code);
    }
    Answer { status, body: json!({ "error": error }), stall: None }
}

fn missing(param: &str) -> Answer {
    let mut answer =
        error(404, "invalid_request_error", Some("resource_missing"), None, "No such object");
    answer.body["error"]["param"] = json!(param);
    answer
}

fn next_id(state: &mut State, prefix: &str) -> String {
    state.next_id += 1;
    format!("{prefix}_fake{:06}", state.next_id)
}

fn metadata_of(form: &BTreeMap<String, String>) -> Value {
    metadata_under(form, "metadata[")
}

/// The metadata the form sets under `prefix` (`metadata[`, `payment_intent_data[metadata][`),
/// as Stripe shows it back.
fn metadata_under(form: &BTreeMap<String, String>, prefix: &str) -> Value {
    let metadata: BTreeMap<&str, &str> = form
        .iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix(prefix)?.strip_suffix(']')?;
            Some((key, value.as_str()))
        })
        .collect();
    json!(metadata)
}

/// A Checkout Session in payment or setup mode, as Stripe answers its creation: the fields
/// async-stripe requires, what the request set, and where the buyer would pay.
fn create_checkout_session(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let field = |name: &str| form.get(name).cloned();
    let Some(success_url) = field("success_url") else { return missing("success_url") };
    let id = next_id(state, "cs_test");
    let amount: i64 = field("line_items[0][price_data][unit_amount]")
        .and_then(|amount| amount.parse().ok())
        .unwrap_or(0);
    let quantity: i64 =
        field("line_items[0][quantity]").and_then(|quantity| quantity.parse().ok()).unwrap_or(1);
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "amount_subtotal": amount * quantity,
        "amount_total": amount * quantity,
        "client_reference_id": field("client_reference_id"),
        "created": 1_700_000_000,
        "currency": field("line_items[0][price_data][currency]").or_else(|| field("currency")),
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null,
                        "terms_of_service_acceptance": null},
        "customer": field("customer"),
        "expires_at": field("expires_at").and_then(|at| at.parse::<i64>().ok()).unwrap_or(0),
        "livemode": false,
        "metadata": metadata_of(form),
        "mode": field("mode").unwrap_or_default(),
        "payment_intent": null,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "shipping_options": [],
        "status": "open",
        "success_url": success_url,
        "cancel_url": field("cancel_url"),
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
        // What the request asked of the PaymentIntent, for the tests to read.
        "payment_intent_data": {
            "setup_future_usage": field("payment_intent_data[setup_future_usage]"),
            "metadata": metadata_under(form, "payment_intent_data[metadata]["),
        },
        "product": field("line_items[0][price_data][product_data][name]"),
        // What the request asked of the SetupIntent (setup mode).
        "setup_intent_data": {
            "description": field("setup_intent_data[description]"),
            "metadata": metadata_under(form, "setup_intent_data[metadata]["),
        },
    });
    state.checkout_sessions.insert(id, session.clone());
    ok(session)
}

/// Stripe expires an open Checkout Session and refuses one that is complete or expired.
fn expire_checkout_session(state: &mut State, id: &str) -> Answer {
    let Some(session) = state.checkout_sessions.get_mut(id) else { return missing("session") };
    if session["status"] != "open" {
        let message = format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout \
             Session has a status of \"{}\".",
            session["status"].as_str().unwrap_or_default()
        );
        return error(400, "invalid_request_error", None, None, &message);
    }
    session["status"] = json!("expired");
    ok(session.clone())
}

fn create_customer(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let id = next_id(state, "cus");
    let customer = json!({
        "id": id, "object": "customer", "created": 1_700_000_000, "livemode": false,
        "email": form.get("email"), "name": form.get("name"), "metadata": metadata_of(form),
    });
    state.customers.insert(id, customer.clone());
    ok(customer)
}

/// Attaching again to the same customer is answered as the first attach was.
fn attach_payment_method(state: &mut State, id: &str, form: &BTreeMap<String, String>) -> Answer {
    let Some(card) = card_of(id) else {
        return missing("payment_method");
    };
    let customer = form.get("customer").cloned().unwrap_or_default();
    if !state.customers.contains_key(&customer) {
        return missing("customer");
    }
    state.attached.insert((id.to_owned(), customer.clone()));
    let mut method = payment_method(id, card);
    method["customer"] = json!(customer);
    ok(method)
}

/// Detaches a PaymentMethod from every customer it is attached to; one attached to none is
/// refused as Stripe refuses it.
fn detach_payment_method(state: &mut State, id: &str) -> Answer {
    let Some(card) = card_of(id) else {
        return missing("payment_method");
    };
    let before = state.attached.len();
    state.attached.retain(|(method, _)| method != id);
    if state.attached.len() == before {
        let message = "The payment method you provided is not attached to a customer.";
        return error(
            400,
            "invalid_request_error",
            Some("payment_method_unexpected_state"),
            None,
            message,
        );
    }
    state.detached.insert(id.to_owned());
    ok(payment_method(id, card))
}

/// Stripe's refusal of a PaymentMethod used before without being attached to the customer.
fn used_without_attachment(state: &mut State, token: &str, customer: &str) -> Option<Answer> {
    let pair = (token.to_owned(), customer.to_owned());
    if state.attached.contains(&pair) || state.used_unattached.insert(pair) {
        return None;
    }
    let mut answer = error(
        400,
        "invalid_request_error",
        None,
        None,
        "This PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used again.",
    );
    answer.body["error"]["param"] = json!("payment_method");
    Some(answer)
}

/// What a Stripe test card does on confirm.
enum Behaviour {
    Succeed,
    RequireAuthentication,
    Decline { code: &'static str, decline_code: &'static str, message: &'static str },
}

fn behaviour_of(token: &str) -> Option<Behaviour> {
    let decline = |code, decline_code, message| Behaviour::Decline { code, decline_code, message };
    Some(match token {
        "pm_card_visa" | "pm_card_mastercard" => Behaviour::Succeed,
        "pm_card_threeDSecure2Required" => Behaviour::RequireAuthentication,
        "pm_card_chargeDeclined" => {
            decline("card_declined", "generic_decline", "Your card was declined.")
        }
        "pm_card_chargeDeclinedInsufficientFunds" => {
            decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
        }
        "pm_card_chargeDeclinedLostCard" => {
            decline("card_declined", "lost_card", "Your card was declined.")
        }
        "pm_card_chargeDeclinedStolenCard" => {
            decline("card_declined", "stolen_card", "Your card was declined.")
        }
        "pm_card_chargeDeclinedFraudulent" => {
            decline("card_declined", "fraudulent", "Your card was declined.")
        }
        "pm_card_chargeDeclinedExpiredCard" => {
            decline("expired_card", "expired_card", "Your card has expired.")
        }
        "pm_card_chargeDeclinedIncorrectCvc" => {
            decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
        }
        "pm_card_chargeDeclinedProcessingError" => decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        _ => return None,
    })
}

fn card_of(token: &str) -> Option<(&'static str, &'static str)> {
    match token {
        "pm_card_mastercard" => Some(("mastercard", "4444")),
        "pm_card_threeDSecure2Required" => Some(("visa", "3155")),
        token if behaviour_of(token).is_some() => Some(("visa", "4242")),
        _ => None,
    }
}

fn payment_method(id: &str, (brand, last4): (&str, &str)) -> Value {
    json!({
        "id": id, "object": "payment_method", "type": "card", "created": 1_700_000_000,
        "livemode": false, "customer": null, "metadata": {},
        "billing_details": { "address": null, "email": null, "name": null, "phone": null },
        "card": {
            "brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034,
            "funding": "credit", "country": "US",
        },
    })
}

fn intent(id: &str, form: &BTreeMap<String, String>, status: &str) -> Value {
    json!({
        "id": id, "object": "payment_intent",
        "amount": form.get("amount").and_then(|amount| amount.parse::<i64>().ok()),
        "amount_capturable": 0, "amount_received": 0,
        "capture_method": "automatic_async", "confirmation_method": "automatic",
        "client_secret": format!("{id}_secret_fake"),
        "created": 1_700_000_000, "currency": form.get("currency"), "livemode": false,
        "customer": form.get("customer"), "description": form.get("description"),
        "metadata": metadata_of(form), "payment_method": form.get("payment_method"),
        "payment_method_types": ["card"], "status": status,
        "next_action": null, "last_payment_error": null,
    })
}

/// Stripe's refusal of an amount its currency rules do not allow: ISK and UGX in whole units
/// (hundredths ending in `00`), the three-decimal dinars with a last digit of 0.
fn amount_refusal(amount: Option<&String>, currency: &str) -> Option<Answer> {
    let amount = amount.and_then(|amount| amount.parse::<i64>().ok())?;
    let step = match currency {
        "isk" | "ugx" => 100,
        "bhd" | "jod" | "kwd" | "omr" | "tnd" => 10,
        _ => 1,
    };
    if amount % step == 0 {
        return None;
    }
    let mut answer = error(
        400,
        "invalid_request_error",
        Some("invalid_charge_amount_no_decimal_compatible"),
        None,
        "Invalid amount: not evenly divisible as this currency requires.",
    );
    answer.body["error"]["param"] = json!("amount");
    Some(answer)
}

fn create_intent(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let currency = form.get("currency").map(String::as_str).unwrap_or("");
    if let Some(refusal) = amount_refusal(form.get("amount"), currency) {
        return refusal;
    }
    let token = form.get("payment_method").map(String::as_str).unwrap_or("");
    let Some(behaviour) = behaviour_of(token) else {
        let mut answer = error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            None,
            "No such PaymentMethod",
        );
        answer.body["error"]["param"] = json!("payment_method");
        return answer;
    };
    if let Some(customer) = form.get("customer")
        && let Some(refusal) = used_without_attachment(state, token, customer)
    {
        return refusal;
    }
    let id = next_id(state, "pi");
    let answer = match behaviour {
        Behaviour::Succeed => {
            let mut made = intent(&id, form, "succeeded");
            made["amount_received"] = made["amount"].clone();
            state.intents.insert(id, made.clone());
            return ok(with_latest_charge(&made, form, state.settlement.as_ref()));
        }
        Behaviour::RequireAuthentication => {
            let mut made = intent(&id, form, "requires_action");
            made["next_action"] = json!({ "type": "use_stripe_sdk", "use_stripe_sdk": {
                "type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.com/3ds" } });
            ok(made)
        }
        Behaviour::Decline { code, decline_code, message } => {
            let failure = json!({ "type": "card_error", "code": code,
                "decline_code": decline_code, "message": message });
            let mut made = intent(&id, form, "requires_payment_method");
            made["last_payment_error"] = failure.clone();
            let mut body = json!({ "error": failure });
            body["error"]["payment_intent"] = made.clone();
            state.intents.insert(id, made);
            return Answer { status: 402, body, stall: None };
        }
    };
    state.intents.insert(id, answer.body.clone());
    answer
}

/// The fee the fake keeps of a charge of `amount_minor`, in the charge's currency: 2.9%
/// (rounded down) and 30 minor units, as Stripe prices US cards.
pub fn fee_of(amount_minor: i64) -> i64 {
    amount_minor * 29 / 1_000 + 30
}

/// `intent` as Stripe answers with it: a succeeded one names its charge, which comes whole,
/// with its balance transaction (the fee), when the request asked for
/// `expand[]=latest_charge.balance_transaction`.
fn with_latest_charge(
    intent: &Value,
    params: &BTreeMap<String, String>,
    settlement: Option<&Settlement>,
) -> Value {
    let mut answered = intent.clone();
    if intent["status"] != json!("succeeded") {
        return answered;
    }
    let id = intent["id"].as_str().unwrap_or_default();
    let charge_id = format!("ch_{}", id.trim_start_matches("pi_"));
    let expanded = params.iter().any(|(name, value)| {
        name.starts_with("expand[") && value == "latest_charge.balance_transaction"
    });
    if !expanded {
        answered["latest_charge"] = json!(charge_id);
        return answered;
    }
    let amount = intent["amount"].as_i64().unwrap_or(0);
    let currency = intent["currency"].clone();
    let converted = settlement.filter(|settlement| json!(settlement.currency) != currency);
    let (settled, settled_in, exchange_rate) = match converted {
        Some(to) => (
            amount * to.numerator / to.denominator,
            json!(to.currency),
            json!(to.numerator as f64 / to.denominator as f64),
        ),
        None => (amount, currency.clone(), Value::Null),
    };
    let fee = fee_of(settled);
    let balance_transaction = json!({
        "id": format!("txn_{}", id.trim_start_matches("pi_")), "object": "balance_transaction",
        "amount": settled, "available_on": 1_700_172_800, "balance_type": "payments",
        "created": 1_700_000_000, "currency": settled_in, "description": null,
        "exchange_rate": exchange_rate, "fee": fee,
        "fee_details": [{ "amount": fee, "application": null, "currency": settled_in,
            "description": "Stripe processing fees", "type": "stripe_fee" }],
        "net": settled - fee, "reporting_category": "charge", "source": charge_id,
        "status": "pending", "type": "charge",
    });
    answered["latest_charge"] = json!({
        "id": charge_id, "object": "charge", "amount": amount, "amount_captured": amount,
        "amount_refunded": 0, "balance_transaction": balance_transaction,
        "billing_details": { "address": null, "email": null, "name": null, "phone": null },
        "captured": true, "created": 1_700_000_000, "currency": currency, "disputed": false,
        "failure_balance_transaction": null, "livemode": false, "metadata": {},
        "paid": true, "payment_intent": id, "refunded": false, "status": "succeeded",
    });
    answered
}

fn search_intents(state: &State, query: &str) -> Answer {
    let parsed: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let wanted = parsed.get("query").map(String::as_str).unwrap_or("");
    // `metadata['kassa_idempotency_key']:'ch_1'`: the value is the last quoted part.
    let value = wanted.rsplit(":'").next().unwrap_or("").trim_end_matches('\'');
    let data: Vec<Value> = state
        .intents
        .values()
        .filter(|intent| intent["metadata"]["kassa_idempotency_key"] == json!(value))
        .cloned()
        .collect();
    ok(json!({ "object": "search_result", "url": "/v1/payment_intents/search",
        "has_more": false, "data": data, "next_page": null }))
}

fn refunded_minor(state: &State, intent_id: &str) -> i64 {
    state
        .refunds
        .values()
        .filter(|refund| refund["payment_intent"] == json!(intent_id))
        .filter_map(|refund| refund["amount"].as_i64())
        .sum()
}

fn create_refund(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let intent_id = form.get("payment_intent").cloned().unwrap_or_default();
    let Some(intent) = state.intents.get(&intent_id).cloned() else {
        return missing("payment_intent");
    };
    if let Some(refusal) =
        amount_refusal(form.get("amount"), intent["currency"].as_str().unwrap_or(""))
    {
        return refusal;
    }
    let captured = intent["amount_received"].as_i64().unwrap_or(0);
    let left = captured - refunded_minor(state, &intent_id);
    let amount = form.get("amount").and_then(|amount| amount.parse::<i64>().ok()).unwrap_or(left);
    if left == 0 {
        return error(
            400,
            "invalid_request_error",
            Some("charge_already_refunded"),
            None,
            "Charge has already been refunded.",
        );
    }
    if amount > left {
        return error(
            400,
            "invalid_request_error",
            Some("amount_too_large"),
            None,
            "Refund amount is greater than unrefunded amount on charge",
        );
    }
    let id = next_id(state, "re");
    let currency = &intent["currency"];
    // Taken from the balance in the account's currency at the rate of the day.
    let converted = state.settlement.as_ref().filter(|to| json!(to.currency) != *currency);
    let (taken, taken_in) = match converted {
        Some(to) => (amount * to.numerator / to.denominator, json!(to.currency)),
        None => (amount, currency.clone()),
    };
    let balance_transaction = json!({
        "id": format!("txn_{}", id.trim_start_matches("re_")), "object": "balance_transaction",
        "amount": -taken, "available_on": 1_700_000_000, "balance_type": "payments",
        "created": 1_700_000_000, "currency": taken_in, "description": null,
        "exchange_rate": null, "fee": 0, "fee_details": [], "net": -taken,
        "reporting_category": "refund", "source": id, "status": "available", "type": "refund",
    });
    let refund = json!({
        "id": id, "object": "refund", "amount": amount, "created": 1_700_000_000,
        "currency": currency, "status": "succeeded", "payment_intent": intent_id,
        "metadata": metadata_of(form), "balance_transaction": balance_transaction,
    });
    state.refunds.insert(id, refund.clone());
    ok(with_balance_transaction(&refund, form))
}

/// A refund as Stripe answers with it: its balance transaction whole when the request asked
/// for `expand[]=balance_transaction`, else its id.
fn with_balance_transaction(refund: &Value, params: &BTreeMap<String, String>) -> Value {
    let expanded = params
        .iter()
        .any(|(name, value)| name.starts_with("expand[") && value == "balance_transaction");
    let mut answered = refund.clone();
    if !expanded {
        answered["balance_transaction"] = refund["balance_transaction"]["id"].clone();
    }
    answered
}

fn list_refunds(state: &State, query: &str) -> Answer {
    let parsed: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let wanted = parsed.get("payment_intent").cloned().unwrap_or_default();
    let data: Vec<Value> = state
        .refunds
        .values()
        .filter(|refund| refund["payment_intent"] == json!(wanted))
        .map(|refund| with_balance_transaction(refund, &BTreeMap::new()))
        .collect();
    ok(json!({ "object": "list", "url": "/v1/refunds", "has_more": false, "data": data }))
}

/// A Transfer to a connected account: `acct_closed…` is refused as Stripe refuses a closed
/// account, anything not `acct_…` as an unknown destination.
fn create_transfer(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let (Some(amount), Some(currency), Some(destination)) =
        (form.get("amount"), form.get("currency"), form.get("destination"))
    else {
        return error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            None,
            "Missing amount, currency or destination",
        );
    };
    if !destination.starts_with("acct_") {
        return missing("destination");
    }
    if destination.starts_with("acct_closed") {
        return error(
            400,
            "invalid_request_error",
            Some("account_invalid"),
            None,
            "The destination account is closed",
        );
    }
    let id = next_id(state, "tr");
    let transfer = json!({
        "id": id, "object": "transfer", "amount": amount.parse::<i64>().unwrap_or(0),
        "amount_reversed": 0, "currency": currency, "destination": destination,
        "description": form.get("description"), "created": 1_700_000_000, "livemode": false,
        "metadata": metadata_of(form), "reversed": false,
        "reversals": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/transfers/{id}/reversals")},
    });
    state.transfers.insert(id, transfer.clone());
    ok(transfer)
}

fn list_transfers(state: &State, query: &str) -> Answer {
    let query: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let destination = query.get("destination");
    let data: Vec<&Value> = state
        .transfers
        .values()
        .rev()
        .filter(|transfer| destination.is_none_or(|wanted| transfer["destination"] == **wanted))
        .collect();
    ok(json!({ "object": "list", "url": "/v1/transfers", "has_more": false, "data": data }))
}

impl FakeStripe {
    /// The Transfers made, oldest first.
    pub fn transfers(&self) -> Vec<Value> {
        self.state.lock().unwrap().transfers.values().cloned().collect()
    }
}
