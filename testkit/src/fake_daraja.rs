//! A local Daraja that speaks Safaricom's wire format for STK Push: the OAuth endpoint
//! (`GET /oauth/v1/generate?grant_type=client_credentials` with Basic auth, answering
//! `{"access_token","expires_in":"3599"}`), `POST /mpesa/stkpush/v1/processrequest` and
//! `POST /mpesa/stkpushquery/v1/query` with Bearer auth and Daraja's JSON (PascalCase fields,
//! `{"requestId","errorCode","errorMessage"}` errors). It checks the password against the
//! shortcode, passkey and timestamp it was sent with, and keeps every push for the test to see.
//! B2C payment requests (`POST /mpesa/b2c/v3/paymentrequest`) are checked against the
//! initiator and credential and accepted; their results are the test's to post.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};
use warp::Filter;
use warp::http::StatusCode;

pub const CONSUMER_KEY: &str = "consumer-key-fake";
pub const CONSUMER_SECRET: &str = "consumer-secret-fake";
pub const SHORTCODE: &str = "174379";
pub const PASSKEY: &str =
    "passkey-fake-bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
/// The B2C initiator and its (already encrypted) credential the fake takes.
pub const INITIATOR_NAME: &str = "kassa-initiator";
pub const SECURITY_CREDENTIAL: &str = "security-credential-fake-encrypted==";

/// A well-formed number Daraja refuses to prompt (400 "Invalid PhoneNumber"), as it does for a
/// line that is not on M-Pesa.
pub const REFUSED_PHONE: &str = "254700000000";

#[derive(Default)]
struct State {
    tokens_issued: usize,
    /// Tokens numbered up to this one are refused (revoked) with Daraja's 401.
    tokens_revoked: usize,
    /// Pushes are carried out, then answered only after this (the ambiguous timeout).
    stall_pushes: Option<std::time::Duration>,
    /// Every push body, in arrival order.
    pushes: Vec<Value>,
    /// Every B2C payment request body, in arrival order.
    b2c_requests: Vec<Value>,
    /// CheckoutRequestID → the ResultCode the STK query reports (None: still processing).
    results: BTreeMap<String, Option<i64>>,
    next_id: u64,
}

#[derive(Clone)]
pub struct FakeDaraja {
    state: Arc<Mutex<State>>,
    pub address: SocketAddr,
}

fn reply(status: u16, body: Value) -> warp::reply::WithStatus<warp::reply::Json> {
    warp::reply::with_status(warp::reply::json(&body), StatusCode::from_u16(status).unwrap())
}

fn daraja_error(
    status: u16,
    code: &str,
    message: &str,
) -> warp::reply::WithStatus<warp::reply::Json> {
    reply(
        status,
        json!({ "requestId": "fake-request", "errorCode": code, "errorMessage": message }),
    )
}

impl FakeDaraja {
    pub async fn start() -> FakeDaraja {
        let state = Arc::new(Mutex::new(State::default()));
        let oauth_state = Arc::clone(&state);
        let oauth = warp::get()
            .and(warp::path!("oauth" / "v1" / "generate"))
            .and(warp::query::<BTreeMap<String, String>>())
            .and(warp::header::optional::<String>("authorization"))
            .map(move |query: BTreeMap<String, String>, authorization: Option<String>| {
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{CONSUMER_KEY}:{CONSUMER_SECRET}"))
                );
                if query.get("grant_type").map(String::as_str) != Some("client_credentials")
                    || authorization.as_deref() != Some(&expected)
                {
                    return daraja_error(400, "400.008.01", "Invalid Authentication passed");
                }
                let mut state = oauth_state.lock().unwrap();
                state.tokens_issued += 1;
                let token = format!("token-{}", state.tokens_issued);
                reply(200, json!({ "access_token": token, "expires_in": "3599" }))
            });
        let push_state = Arc::clone(&state);
        let push = warp::post()
            .and(warp::path!("mpesa" / "stkpush" / "v1" / "processrequest"))
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::json())
            .then(move |authorization: Option<String>, body: Value| {
                let (answer, stall) = accept_push(&push_state, authorization.as_deref(), body);
                async move {
                    if let Some(stall) = stall {
                        tokio::time::sleep(stall).await;
                    }
                    answer
                }
            });
        let query_state = Arc::clone(&state);
        let query = warp::post()
            .and(warp::path!("mpesa" / "stkpushquery" / "v1" / "query"))
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::json())
            .map(move |authorization: Option<String>, body: Value| {
                let state = query_state.lock().unwrap();
                if !authorized(&state, authorization.as_deref()) {
                    return daraja_error(401, "404.001.03", "Invalid Access Token");
                }
                if let Some(refusal) = bad_password(&body) {
                    return refusal;
                }
                let checkout = body["CheckoutRequestID"].as_str().unwrap_or("").to_owned();
                match state.results.get(&checkout) {
                    None => daraja_error(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID"),
                    Some(None) => {
                        daraja_error(500, "500.001.1001", "The transaction is being processed")
                    }
                    Some(Some(code)) => reply(200, json!({
                        "ResponseCode": "0",
                        "ResponseDescription": "The service request has been accepted successsfully",
                        "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout,
                        "ResultCode": code.to_string(),
                        "ResultDesc": match code {
                            0 => "The service request is processed successfully.",
                            1032 => "Request cancelled by user",
                            4999 => "The transaction is still under processing",
                            _ => "The transaction failed",
                        },
                    })),
                }
            });
        let b2c_state = Arc::clone(&state);
        let b2c = warp::post()
            .and(warp::path!("mpesa" / "b2c" / "v3" / "paymentrequest"))
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::json())
            .map(move |authorization: Option<String>, body: Value| {
                accept_b2c(&b2c_state, authorization.as_deref(), body)
            });
        let routes = oauth.or(push).or(query).or(b2c);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(routes).incoming(listener).run());
        FakeDaraja { state, address }
    }

    pub fn api_base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The engine's `[gateways.mpesa]` section for this Daraja (for the engine's own tests),
    /// with `callback_token` as the callback path token (empty: the engine generates one).
    pub fn engine_toml(&self, callback_token: &str) -> String {
        format!(
            r#"[gateways.mpesa]
consumer_key = "{CONSUMER_KEY}"
consumer_secret = "{CONSUMER_SECRET}"
shortcode = "{SHORTCODE}"
passkey = "{PASSKEY}"
api_base = "{}"
callback_base = "https://kassa.example.com"
callback_token = "{callback_token}"
"#,
            self.api_base(),
        )
    }

    /// The lines that switch B2C payouts on, to go inside [`FakeDaraja::engine_toml`]'s section.
    pub fn b2c_toml() -> String {
        format!(
            "initiator_name = \"{INITIATOR_NAME}\"\nsecurity_credential = \"{SECURITY_CREDENTIAL}\"\n"
        )
    }

    /// Every B2C request, in arrival order.
    pub fn b2c_requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().b2c_requests.clone()
    }

    pub fn tokens_issued(&self) -> usize {
        self.state.lock().unwrap().tokens_issued
    }

    pub fn pushes(&self) -> Vec<Value> {
        self.state.lock().unwrap().pushes.clone()
    }

    /// The CheckoutRequestIDs issued so far, in the order of their pushes.
    pub fn checkout_request_ids(&self) -> Vec<String> {
        // Issued with a zero-padded sequence number, so the map's order is the pushes' order.
        self.state.lock().unwrap().results.keys().cloned().collect()
    }

    pub fn stall_pushes(&self, stall: Option<std::time::Duration>) {
        self.state.lock().unwrap().stall_pushes = stall;
    }

    /// Every token issued so far stops working (Daraja answers 401 "Invalid Access Token").
    pub fn revoke_tokens(&self) {
        let mut state = self.state.lock().unwrap();
        state.tokens_revoked = state.tokens_issued;
    }

    /// The customer answered the prompt: the STK query now reports `result_code`.
    pub fn settle(&self, checkout_request_id: &str, result_code: i64) {
        self.state
            .lock()
            .unwrap()
            .results
            .insert(checkout_request_id.to_owned(), Some(result_code));
    }
}

type Reply = warp::reply::WithStatus<warp::reply::Json>;

fn accept_push(
    state: &Mutex<State>,
    authorization: Option<&str>,
    body: Value,
) -> (Reply, Option<std::time::Duration>) {
    let mut state = state.lock().unwrap();
    if !authorized(&state, authorization) {
        return (daraja_error(401, "404.001.03", "Invalid Access Token"), None);
    }
    if let Some(refusal) = bad_password(&body) {
        return (refusal, None);
    }
    if body["PhoneNumber"] == json!(REFUSED_PHONE) {
        return (daraja_error(400, "400.002.02", "Bad Request - Invalid PhoneNumber"), None);
    }
    state.next_id += 1;
    let merchant = format!("29115-34620561-{}", state.next_id);
    let checkout = format!("ws_CO_191220191020363925{:04}", state.next_id);
    state.pushes.push(body);
    state.results.insert(checkout.clone(), None);
    let answer = reply(
        200,
        json!({
            "MerchantRequestID": merchant, "CheckoutRequestID": checkout,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }),
    );
    (answer, state.stall_pushes)
}

/// A B2C payment request, accepted for processing: its result is for the test to post.
fn accept_b2c(state: &Mutex<State>, authorization: Option<&str>, body: Value) -> Reply {
    let mut state = state.lock().unwrap();
    if !authorized(&state, authorization) {
        return daraja_error(401, "404.001.03", "Invalid Access Token");
    }
    if body["InitiatorName"] != json!(INITIATOR_NAME)
        || body["SecurityCredential"] != json!(SECURITY_CREDENTIAL)
    {
        return daraja_error(400, "400.002.02", "Bad Request - Invalid Initiator Information");
    }
    if body["PartyB"] == json!(REFUSED_PHONE) {
        return daraja_error(400, "400.002.02", "Bad Request - Invalid PartyB");
    }
    state.next_id += 1;
    let conversation = format!("AG_20191219_0000{:08}", state.next_id);
    let originator = body["OriginatorConversationID"].clone();
    state.b2c_requests.push(body);
    reply(
        200,
        json!({
            "ConversationID": conversation, "OriginatorConversationID": originator,
            "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully.",
        }),
    )
}

fn authorized(state: &State, authorization: Option<&str>) -> bool {
    let Some(token) = authorization.and_then(|value| value.strip_prefix("Bearer token-")) else {
        return false;
    };
    token
        .parse::<usize>()
        .is_ok_and(|issued| issued > state.tokens_revoked && issued <= state.tokens_issued)
}

/// Daraja's check of `Password = base64(shortcode + passkey + timestamp)`.
fn bad_password(body: &Value) -> Option<warp::reply::WithStatus<warp::reply::Json>> {
    let timestamp = body["Timestamp"].as_str().unwrap_or("");
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{SHORTCODE}{PASSKEY}{timestamp}"));
    let good = body["BusinessShortCode"] == json!(SHORTCODE)
        && body["Password"] == json!(expected)
        && timestamp.len() == 14
        && timestamp.bytes().all(|byte| byte.is_ascii_digit());
    match good {
        true => None,
        false => Some(daraja_error(400, "400.002.02", "Bad Request - Invalid Password")),
    }
}
