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

mod checkout;
mod intents;
mod payment_methods;
mod refunds;
mod transfers;

use checkout::*;
use intents::*;
use payment_methods::*;
use refunds::*;
use transfers::*;

pub use intents::fee_of;

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
