//! The HTTP side of the harness: answers (`Resp`), a client bound to one key (`Api`) with the
//! calls the tests make, and checks of the error envelope and of lists.

use super::*;

/// One HTTP answer, read to the end.
#[derive(Debug)]
pub struct Resp {
    /// `METHOD path`, for messages.
    pub what: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// The body as JSON, or `Null` if it was not JSON.
    pub body: Value,
}

impl Resp {
    /// The answer as the checks read it: status, headers, text and (if JSON) body.
    pub async fn read(what: String, response: reqwest::Response) -> Result<Resp, reqwest::Error> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp { what, status, headers, text, body })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Whether the engine said this answer is a replay of a stored one.
    pub fn is_replay(&self) -> bool {
        self.header("idempotent-replayed").is_some_and(|value| value.eq_ignore_ascii_case("true"))
    }

    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// Asserts a 200 and returns the body.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(
            self.status, 200,
            "{}: expected 200, got {}: {}",
            self.what, self.status, self.text
        );
        &self.body
    }

    /// The body's `id`, asserting a 200 and a string id.
    #[track_caller]
    pub fn id(&self) -> String {
        let body = self.ok();
        body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no string `id` in {}", self.what, self.text))
            .to_string()
    }
}

/// An HTTP client bound to one engine start and one `Authorization` header.
#[derive(Clone)]
pub struct Api {
    pub(super) http: reqwest::Client,
    pub(super) base_url: String,
    pub(super) authorization: Option<String>,
}

impl Api {
    /// A client of an engine at `base_url` that this harness did not start (one run in the
    /// test's own process), with `Authorization: Bearer <key>`.
    pub fn new(base_url: &str, key: &str) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(super::REQUEST_TIMEOUT)
            .build()
            .expect("build the HTTP client");
        Api { http, base_url: base_url.to_owned(), authorization: Some(format!("Bearer {key}")) }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one request; transport errors are returned (a crashed engine gives those).
    pub async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
    ) -> Result<Resp, reqwest::Error> {
        let what = format!("{method} {path}");
        let mut request = self.http.request(method, format!("{}{path}", self.base_url));
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        Resp::read(what, request.send().await?).await
    }

    /// A payee's balance in `currency`: `(available, pending)`.
    pub async fn payee_balance(&self, payee: &str, currency: &str) -> (i64, i64) {
        let balance = self.get_ok(&format!("/v1/payees/{payee}/balance")).await;
        let amount = |side: &str| {
            let amounts = balance[side].as_array().unwrap_or_else(|| panic!("{balance}"));
            let found = amounts.iter().find(|amount| amount["currency"] == currency);
            found.map_or(0, |amount| i64_field(amount, "amount"))
        };
        (amount("available"), amount("pending"))
    }

    /// `GET path` asking for `accept` (`text/csv`).
    pub async fn get_accepting(&self, path: &str, accept: &str) -> Resp {
        let mut request =
            self.http.get(format!("{}{path}", self.base_url)).header("Accept", accept);
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let response = request.send().await.unwrap_or_else(|error| panic!("GET {path}: {error}"));
        Resp::read(format!("GET {path}"), response).await.unwrap()
    }

    /// Sends one request; a transport error fails the test.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
    ) -> Resp {
        let what = format!("{method} {path}");
        self.try_send(method, path, body, idempotency_key)
            .await
            .unwrap_or_else(|error| panic!("{what}: transport error: {error:?}"))
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    /// POSTs a form as a browser does, without following the redirect it answers with.
    pub async fn post_form(&self, path: &str, form: &str) -> Resp {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let request = client
            .post(format!("{}{path}", self.base_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {path}: transport error: {error:?}"));
        Resp::read(format!("POST {path}"), response)
            .await
            .unwrap_or_else(|error| panic!("POST {path}: transport error: {error:?}"))
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(to_bytes(body)), None).await
    }

    pub async fn post_with_key(&self, path: &str, body: &Value, key: &str) -> Resp {
        self.send(reqwest::Method::POST, path, Some(to_bytes(body)), Some(key)).await
    }

    pub async fn try_post_with_key(
        &self,
        path: &str,
        body: &Value,
        key: &str,
    ) -> Result<Resp, reqwest::Error> {
        self.try_send(reqwest::Method::POST, path, Some(to_bytes(body)), Some(key)).await
    }

    /// Posts bytes as they are (malformed JSON, odd key order, huge bodies).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>, key: Option<&str>) -> Resp {
        self.send(reqwest::Method::POST, path, Some(body), key).await
    }

    /// Posts a webhook delivery as a gateway would: the bytes as they are, with its
    /// `Stripe-Signature` header when given.
    pub async fn post_webhook(&self, path: &str, body: Vec<u8>, signature: Option<&str>) -> Resp {
        self.try_post_webhook(path, body, signature)
            .await
            .unwrap_or_else(|error| panic!("POST {path}: {error:?}"))
    }

    /// [`Api::post_webhook`]; transport errors are returned (a crashed engine gives those).
    pub async fn try_post_webhook(
        &self,
        path: &str,
        body: Vec<u8>,
        signature: Option<&str>,
    ) -> Result<Resp, reqwest::Error> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        Resp::read(format!("POST {path}"), request.send().await?).await
    }

    /// PUTs bytes with their content type (rule uploads: `application/wasm`).
    pub async fn try_put_bytes(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<Resp, reqwest::Error> {
        let what = format!("PUT {path}");
        let mut request = self
            .http
            .put(format!("{}{path}", self.base_url))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        Resp::read(what, request.send().await?).await
    }

    pub async fn put_bytes(&self, path: &str, body: Vec<u8>, content_type: &str) -> Resp {
        self.try_put_bytes(path, body, content_type)
            .await
            .unwrap_or_else(|error| panic!("PUT {path}: transport error: {error:?}"))
    }

    /// POSTs bytes with their content type and a query (bank statements: CSV or camt.053).
    pub async fn send_bytes(
        &self,
        path: &str,
        query: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Resp {
        let what = format!("POST {path}?{query}");
        let separator = if query.is_empty() { "" } else { "?" };
        let mut request = self
            .http
            .post(format!("{}{path}{separator}{query}", self.base_url))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{what}: transport error: {error:?}"));
        Resp::read(what.clone(), response)
            .await
            .unwrap_or_else(|error| panic!("{what}: transport error: {error:?}"))
    }

    /// Uploads a component as this account's `kind` rule.
    pub async fn upload_rule(&self, kind: &str, wasm: Vec<u8>) -> Resp {
        self.put_bytes(&format!("/v1/plugins/{kind}"), wasm, "application/wasm").await
    }

    pub async fn create_customer(&self) -> String {
        self.post("/v1/customers", &json!({"email": "someone@example.com"})).await.id()
    }

    pub async fn create_customer_with(&self, body: &Value) -> Value {
        self.post("/v1/customers", body).await.ok().clone()
    }

    /// Adds a payment method by token; asserts 200 and returns it.
    pub async fn add_payment_method(&self, customer: &str, token: &str) -> Value {
        let path = format!("/v1/customers/{customer}/payment_methods");
        self.post(&path, &json!({ "token": token })).await.ok().clone()
    }

    /// A new customer whose default payment method is `token`: (customer id, payment method id).
    pub async fn customer_with_card(&self, token: &str) -> (String, String) {
        let customer = self.create_customer().await;
        let method = self.add_payment_method(&customer, token).await;
        let method_id = method["id"].as_str().expect("payment method id").to_string();
        (customer, method_id)
    }

    /// A new customer in South Africa (so the bundled rules tax it) with `pm_card_visa`.
    pub async fn za_buyer(&self) -> String {
        let customer = self.create_customer_with(&json!({"address": {"country": "ZA"}})).await;
        let id = str_field(&customer, "id").to_owned();
        self.add_payment_method(&id, "pm_card_visa").await;
        id
    }

    pub async fn charge(&self, customer: &str, amount: u64, currency: &str) -> Resp {
        self.post("/v1/charges", &charge_body(customer, amount, currency)).await
    }

    pub async fn charge_with_key(
        &self,
        customer: &str,
        amount: u64,
        currency: &str,
        key: &str,
    ) -> Resp {
        self.post_with_key("/v1/charges", &charge_body(customer, amount, currency), key).await
    }

    /// A charge that must succeed; returns it.
    pub async fn charge_ok(&self, customer: &str, amount: u64, currency: &str) -> Value {
        let charge = self.charge(customer, amount, currency).await.ok().clone();
        assert_eq!(charge["status"], "succeeded", "charge: {charge}");
        charge
    }

    pub async fn refund(&self, charge: &str, amount: Option<u64>) -> Resp {
        let body = match amount {
            Some(amount) => json!({ "charge": charge, "amount": amount }),
            None => json!({ "charge": charge }),
        };
        self.post("/v1/refunds", &body).await
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        self.get(path).await.ok().clone()
    }

    /// Reads a whole list, 100 at a time, following `has_more` with `starting_after=<cursor>`
    /// where the cursor is each page's last item's `cursor_field`. Checks the list shape.
    pub async fn list_all(&self, path: &str, cursor_field: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..LIST_PAGES_MAX {
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}limit=100&starting_after={cursor}"),
                None => format!("{path}{separator}limit=100"),
            };
            let page = self.get_ok(&page_path).await;
            assert_eq!(page["object"], "list", "GET {page_path}: {page}");
            let data = page["data"].as_array().unwrap_or_else(|| panic!("GET {page_path}: {page}"));
            let has_more = page["has_more"]
                .as_bool()
                .unwrap_or_else(|| panic!("GET {page_path}: no boolean has_more in {page}"));
            assert!(data.len() <= 100, "GET {page_path}: more than `limit` items");
            items.extend(data.iter().cloned());
            if !has_more {
                return items;
            }
            let last =
                data.last().unwrap_or_else(|| panic!("GET {page_path}: has_more with no data"));
            let next = last[cursor_field].as_str().expect("cursor field").to_string();
            assert_ne!(
                cursor.as_deref(),
                Some(next.as_str()),
                "GET {page_path}: cursor did not move"
            );
            cursor = Some(next);
        }
        panic!("GET {path}: more than {LIST_PAGES_MAX} pages");
    }

    pub async fn customer_charges(&self, customer: &str) -> Vec<Value> {
        self.list_all(&format!("/v1/customers/{customer}/charges"), "id").await
    }

    pub async fn payment_methods(&self, customer: &str) -> Vec<Value> {
        self.list_all(&format!("/v1/customers/{customer}/payment_methods"), "id").await
    }

    /// The whole sandbox processor ledger, newest first.
    pub async fn ledger(&self) -> Vec<Value> {
        self.list_all("/v1/sandbox/ledger", "gateway_reference").await
    }

    /// The charges the sandbox processor made, by the Kassa charge each was for, sorted (a
    /// charge made twice is there twice).
    pub async fn processor_charges(&self) -> Vec<String> {
        let mut charged: Vec<String> = self
            .ledger()
            .await
            .iter()
            .filter(|entry| entry["kind"] == "charge")
            .map(|entry| str_field(entry, "idempotency_key").to_owned())
            .collect();
        charged.sort();
        charged
    }
}

/// `Stripe-Signature` for `body` signed with `secret` at `timestamp`, as Stripe computes it.
pub fn stripe_signature(secret: &str, body: &[u8], timestamp: u64) -> String {
    format!("t={timestamp},v1={}", stripe_v1(secret, body, timestamp))
}

/// The `v1` part alone: HMAC-SHA256 of `{timestamp}.{body}`, hex.
pub fn stripe_v1(secret: &str, body: &[u8], timestamp: u64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub fn to_bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).expect("serialize JSON")
}

/// A charge priced by the account's rules: one `sku` at 10.00 USD.
pub fn priced_cart(customer: &str, sku: &str) -> Value {
    json!({
        "customer": customer,
        "currency": "usd",
        "line_items": [{"sku": sku, "quantity": 1, "unit_amount": 1000}],
    })
}

pub fn charge_body(customer: &str, amount: u64, currency: &str) -> Value {
    json!({ "customer": customer, "amount": amount, "currency": currency })
}

/// The ledger entries of one kind (`charge` or `refund`) made with one gateway idempotency key.
pub fn ledger_entries<'a>(
    ledger: &'a [Value],
    kind: &str,
    idempotency_key: &str,
) -> Vec<&'a Value> {
    ledger
        .iter()
        .filter(|entry| entry["kind"] == kind && entry["idempotency_key"] == idempotency_key)
        .collect()
}

pub fn ledger_of_kind<'a>(ledger: &'a [Value], kind: &str) -> Vec<&'a Value> {
    ledger.iter().filter(|entry| entry["kind"] == kind).collect()
}

pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["id"].as_str().unwrap_or_else(|| panic!("no id in {item}")).to_string())
        .collect()
}

pub fn str_field<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_else(|| panic!("no string `{field}` in {value}"))
}

pub fn u64_field(value: &Value, field: &str) -> u64 {
    value[field].as_u64().unwrap_or_else(|| panic!("no unsigned integer `{field}` in {value}"))
}

/// The error `type` the contract pairs with a status, where it names one.
fn error_type_for(status: u16) -> Option<&'static str> {
    match status {
        400 | 404 | 413 => Some("invalid_request_error"),
        401 => Some("authentication_error"),
        402 => Some("card_error"),
        409 | 422 => Some("idempotency_error"),
        429 => Some("rate_limit_error"),
        _ => None,
    }
}

/// Checks the error envelope of a 4xx/5xx: `error.type` (matching the status), `error.code`,
/// `error.message`, and a `Request-Id` header. Returns a description of what is wrong, if anything.
pub fn error_shape_problem(resp: &Resp) -> Option<String> {
    let error = &resp.body["error"];
    if !error.is_object() {
        return Some(format!("no `error` object in {}", resp.text));
    }
    for field in ["type", "code", "message"] {
        if error[field].as_str().is_none_or(str::is_empty) {
            return Some(format!("`error.{field}` missing or empty in {}", resp.text));
        }
    }
    if let Some(expected) = error_type_for(resp.status)
        && error["type"] != expected
    {
        return Some(format!("status {} wants error.type {expected}: {}", resp.status, resp.text));
    }
    if resp.header("request-id").is_none_or(str::is_empty) {
        return Some("no Request-Id header".to_string());
    }
    None
}

/// Asserts `status`, the error envelope and `error.code`.
#[track_caller]
pub fn assert_error(resp: &Resp, status: u16, code: &str) {
    assert_eq!(
        resp.status, status,
        "{}: expected {status} {code}, got {}: {}",
        resp.what, resp.status, resp.text
    );
    assert_error_shape(resp);
    assert_eq!(resp.error_code(), Some(code), "{}: {}", resp.what, resp.text);
}

#[track_caller]
pub fn assert_error_shape(resp: &Resp) {
    if let Some(problem) = error_shape_problem(resp) {
        panic!("{} ({}): {problem}", resp.what, resp.status);
    }
}

/// Asks `probe` again and again for `period`, every `interval`, asserting each answer is
/// `expected`: what it reads did not change meanwhile.
pub async fn assert_stays<T, F, Fut>(
    what: &str,
    expected: &T,
    (period, interval): (Duration, Duration),
    mut probe: F,
) where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    while started.elapsed() < period {
        let now = probe().await;
        assert_eq!(&now, expected, "{what} changed {:?} after it settled", started.elapsed());
        tokio::time::sleep(interval).await;
    }
}

/// Polls `probe` every `POLL_INTERVAL` until it yields `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A key no other request of this test run uses.
pub fn unique_key(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{label}-{}-{n}", std::process::id())
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// Asserts `created` is a Unix-seconds timestamp taken during the test.
#[track_caller]
pub fn assert_created_recently(value: &Value, test_started_secs: u64) {
    let created = u64_field(value, "created");
    let now = now_secs();
    assert!(
        created + 5 >= test_started_secs && created <= now + 5,
        "`created` {created} is not Unix seconds near now ({now}): {value}"
    );
}

/// A component built from `plugins/` by engine/build.rs (bundled rules and test fixtures).
pub fn plugin_wasm(name: &str) -> Vec<u8> {
    let path =
        std::path::Path::new(kassa::rules::bundled::PLUGINS_WASM_DIR).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Sends only the head of `request` (`"METHOD /path"`), declaring a body of `length` bytes with
/// `headers`, and returns the raw answer. The declared length alone must earn a 413: a client that
/// sends the oversized bytes races the server's close (it can see a broken pipe or a reset instead
/// of the answer), so this one sends no body and reads the answer from the socket.
pub async fn declare_oversized_body(
    base_url: &str,
    request: &str,
    headers: &[(&str, String)],
    length: usize,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("connect");
    let mut head = format!("{request} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {length}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await.expect("send the head");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer));
    // The server closes the connection after the 413 (the body was never read).
    read.await.expect("an answer within 10 s").expect("read the answer");
    String::from_utf8_lossy(&answer).into_owned()
}
