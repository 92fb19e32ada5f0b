//! `events-out`: what delivering the engine's outgoing events costs and how fast they arrive.
//!
//! A receiver in this tool (HTTP/1.1 on 127.0.0.1) is subscribed to every event type and
//! answers 2xx, 5xx or nothing (past the engine's 10 s limit) by the shares asked for. Charges are
//! measured with its endpoint disabled and enabled in turn (rounds of off, on, on, off: the
//! store's growth and the machine's drift weigh on both alike), so their ratio is the cost of
//! delivering. During the load
//! a probe makes a few charges of its own and notes when each was acknowledged; the lag is from
//! that acknowledgement to the arrival of its `charge.succeeded`. Once the load ends, the run
//! waits for the deliveries to drain, then checks against the engine's delivery records that
//! every event was answered 2xx exactly once and that each object's events came in order.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::error::BenchError;
use crate::setup::Caller;
use crate::target::RequestSpec;

/// Probe charges a second during the load: enough samples for a p99, too few to weigh.
const PROBE_PER_SEC: u64 = 50;
/// The drain is over once nothing new arrived for this long (or at `DRAIN_MAX`).
const DRAIN_QUIET: Duration = Duration::from_secs(3);
const DRAIN_MAX: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReceiverMix {
    /// Share of requests answered 503.
    pub fail_share: f64,
    /// Share of requests held unanswered until the engine gives up on them.
    pub hang_share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventsOutSummary {
    pub mix: ReceiverMix,
    /// Requests the receiver got, and of them answered 2xx.
    pub requests: u64,
    pub delivered: u64,
    /// A backlog delivered with no load beside it (see [`measure_drain`]).
    pub drain: Option<Drain>,
    /// From a probe charge's 2xx to its event's arrival, in milliseconds.
    pub lag_p50_ms: Option<f64>,
    pub lag_p99_ms: Option<f64>,
    pub lag_samples: u64,
    /// The engine's delivery records for the endpoint, and how many are `delivered`.
    pub deliveries_recorded: u64,
    pub deliveries_delivered: u64,
    /// Events answered 2xx more than once; recorded deliveries never answered 2xx; objects
    /// whose 2xx-answered events came out of `version` order.
    pub duplicates: u64,
    pub missing: u64,
    pub out_of_order_objects: u64,
    pub verified: bool,
}

#[derive(Default)]
struct Arrivals {
    requests: u64,
    /// Per event id: times answered 2xx.
    delivered: HashMap<String, u32>,
    /// Per object: the versions of its 2xx-answered events, in arrival order.
    versions: HashMap<String, Vec<u64>>,
    /// Per charge id: when its `charge.succeeded` arrived (answered 2xx).
    charge_arrivals: HashMap<String, Instant>,
    first: Option<Instant>,
    last: Option<Instant>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    mix: ReceiverMix,
    /// Holds every request unanswered while set, then answers it as usual: how the drain's
    /// backlog is made.
    holding: Arc<watch::Sender<bool>>,
    arrivals: Arc<Mutex<Arrivals>>,
}

impl Receiver {
    pub async fn start(mix: ReceiverMix) -> Result<Receiver, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|error| BenchError::Setup(format!("cannot bind the receiver: {error}")))?;
        let address = listener
            .local_addr()
            .map_err(|error| BenchError::Setup(format!("the receiver's address: {error}")))?;
        let receiver = Receiver {
            url: format!("http://{address}/events"),
            mix,
            holding: Arc::new(watch::channel(false).0),
            arrivals: Arc::default(),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        Ok(receiver)
    }

    async fn serve(self, mut stream: TcpStream) {
        let mut buffer = Vec::with_capacity(8 * 1024);
        while let Some(body) = read_request(&mut stream, &mut buffer).await {
            self.wait_while_holding().await;
            let answer = self.answer();
            match answer {
                Answer::Hang => {
                    tokio::time::sleep(Duration::from_secs(15)).await;
                    return;
                }
                Answer::Fail => {
                    let reply = b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
                Answer::Ok => {
                    self.note_delivered(&body);
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Counts the request and decides its answer.
    fn answer(&self) -> Answer {
        let mut arrivals = self.arrivals.lock();
        arrivals.requests += 1;
        // A fixed pattern per 1 000 requests: the shares hold exactly, with no random source.
        let at = (arrivals.requests % 1_000) as f64 / 1_000.0;
        if at < self.mix.hang_share {
            Answer::Hang
        } else if at < self.mix.hang_share + self.mix.fail_share {
            Answer::Fail
        } else {
            Answer::Ok
        }
    }

    fn note_delivered(&self, body: &[u8]) {
        let now = Instant::now();
        let Ok(event) = serde_json::from_slice::<Arrived>(body) else { return };
        let object = event.data.object;
        let mut arrivals = self.arrivals.lock();
        *arrivals.delivered.entry(event.id.into_owned()).or_default() += 1;
        if event.kind == "charge.succeeded" {
            arrivals.charge_arrivals.insert(object.id.clone().into_owned(), now);
        }
        arrivals.versions.entry(object.id.into_owned()).or_default().push(object.version);
        arrivals.first.get_or_insert(now);
        arrivals.last = Some(now);
    }

    pub fn hold(&self, holding: bool) {
        self.holding.send_replace(holding);
    }

    async fn wait_while_holding(&self) {
        if !*self.holding.borrow() {
            return;
        }
        let mut held = self.holding.subscribe();
        // The sender lives as long as the receiver serving this request.
        let _ = held.wait_for(|holding| !holding).await;
    }

    pub fn delivered_count(&self) -> u64 {
        self.arrivals.lock().delivered.values().map(|&times| u64::from(times)).sum()
    }
}

/// What the receiver notes of an event it took: the rest of the body (the object's other
/// fields) is skipped, not built into a tree it would throw away, so that the instrument
/// weighs as little as it can on the two cores it shares with the engine.
#[derive(Deserialize)]
struct Arrived<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    data: ArrivedData<'a>,
}

#[derive(Deserialize)]
struct ArrivedData<'a> {
    #[serde(borrow)]
    object: ArrivedObject<'a>,
}

#[derive(Deserialize)]
struct ArrivedObject<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default)]
    version: u64,
}

enum Answer {
    Ok,
    Fail,
    Hang,
}

/// One request's body, or `None` once the peer is gone.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        read_more(stream, buffer).await?;
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some(body)
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(read) => {
            buffer.extend_from_slice(&chunk[..read]);
            Some(())
        }
    }
}

async fn post(api: &Caller, path: &str, body: &Value) -> Result<Value, BenchError> {
    let answer = api.call(RequestSpec::post(path, body.to_string(), api.next_key())).await?;
    serde_json::from_slice(&answer.body)
        .map_err(|error| BenchError::Setup(format!("POST {path}: not JSON: {error}")))
}

async fn get(api: &Caller, path: &str) -> Result<Value, BenchError> {
    let answer = api.call(RequestSpec::get(path.to_owned())).await?;
    serde_json::from_slice(&answer.body)
        .map_err(|error| BenchError::Setup(format!("GET {path}: not JSON: {error}")))
}

/// Makes the endpoint; answers its id.
pub async fn subscribe(api: &Caller, receiver: &Receiver) -> Result<String, BenchError> {
    let body = json!({"url": receiver.url, "enabled_events": ["*"]});
    let made = post(api, "/v1/webhook_endpoints", &body).await?;
    made["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BenchError::Setup(format!("no endpoint made: {made}")))
}

pub async fn set_enabled(api: &Caller, endpoint: &str, enabled: bool) -> Result<(), BenchError> {
    let path = format!("/v1/webhook_endpoints/{endpoint}");
    post(api, &path, &json!({"disabled": !enabled})).await?;
    Ok(())
}

/// Charges of its own at [`PROBE_PER_SEC`] until `stop`, each with the moment its 2xx came.
pub async fn probe(
    api: Arc<Caller>,
    customers: Vec<String>,
    stop: Arc<tokio::sync::Notify>,
) -> Vec<(String, Instant)> {
    let mut acknowledged = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / PROBE_PER_SEC));
    let stopped = stop.notified();
    tokio::pin!(stopped);
    for turn in 0usize.. {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {}
        }
        let customer = &customers[turn % customers.len()];
        let body = json!({"customer": customer, "amount": 1_000, "currency": "usd"});
        if let Ok(charge) = post(&api, "/v1/charges", &body).await
            && let Some(id) = charge["id"].as_str()
        {
            acknowledged.push((id.to_owned(), Instant::now()));
        }
    }
    acknowledged
}

/// How fast a backlog is delivered with nothing else running: the receiver holds every request
/// unanswered while `make_backlog` runs (as many open as the engine sends to one endpoint at
/// once; the other deliveries wait their turn, none failed), then answers them all; the rate is
/// the backlog over the time from the first 2xx after that to the last. A receiver refusing
/// instead would time the engine's retry schedule: each delivery would come due again when its
/// backoff said, over the seconds after the receiver came back.
#[derive(Debug, Clone, Serialize)]
pub struct Drain {
    pub backlog: u64,
    pub secs: f64,
    pub per_sec: f64,
}

pub async fn measure_drain(
    receiver: &Receiver,
    make_backlog: impl std::future::Future<Output = ()>,
) -> Drain {
    receiver.hold(true);
    make_backlog.await;
    let before = receiver.delivered_count();
    receiver.arrivals.lock().first = None;
    receiver.hold(false);
    wait_quiet(receiver).await;
    let arrivals = receiver.arrivals.lock();
    let backlog = arrivals.delivered.values().map(|&times| u64::from(times)).sum::<u64>() - before;
    let secs = match (arrivals.first, arrivals.last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    Drain { backlog, secs, per_sec: if secs > 0.0 { backlog as f64 / secs } else { 0.0 } }
}

/// Until nothing new arrived for [`DRAIN_QUIET`], or [`DRAIN_MAX`].
async fn wait_quiet(receiver: &Receiver) {
    let started = Instant::now();
    let mut last_count = receiver.delivered_count();
    let mut quiet_since = Instant::now();
    while started.elapsed() < DRAIN_MAX && quiet_since.elapsed() < DRAIN_QUIET {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let count = receiver.delivered_count();
        if count != last_count {
            (last_count, quiet_since) = (count, Instant::now());
        }
    }
}

/// Waits for the deliveries to drain, then checks them against the engine's records.
pub async fn summarize(
    api: &Caller,
    endpoint: &str,
    receiver: &Receiver,
    probed: &[(String, Instant)],
) -> Result<EventsOutSummary, BenchError> {
    wait_quiet(receiver).await;
    let recorded = recorded_deliveries(api, endpoint).await?;
    let arrivals = receiver.arrivals.lock();
    let delivered_records = recorded.iter().filter(|(_, status)| status == "delivered").count();
    let duplicates = arrivals.delivered.values().filter(|&&times| times > 1).count() as u64;
    let missing = recorded.iter().filter(|(id, _)| !arrivals.delivered.contains_key(id)).count();
    let out_of_order = arrivals
        .versions
        .values()
        .filter(|versions| versions.windows(2).any(|pair| pair[0] >= pair[1]))
        .count() as u64;
    let mut lags = Histogram::<u64>::new(3).expect("a histogram of 3 significant figures");
    for (charge, acknowledged) in probed {
        if let Some(arrived) = arrivals.charge_arrivals.get(charge) {
            let lag = arrived.saturating_duration_since(*acknowledged);
            let _ = lags.record(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX));
        }
    }
    let delivered: u64 = arrivals.delivered.values().map(|&times| u64::from(times)).sum();
    let quantile = |q: f64| (!lags.is_empty()).then(|| lags.value_at_quantile(q) as f64 / 1_000.0);
    Ok(EventsOutSummary {
        mix: receiver.mix,
        requests: arrivals.requests,
        delivered,
        drain: None,
        lag_p50_ms: quantile(0.5),
        lag_p99_ms: quantile(0.99),
        lag_samples: lags.len(),
        deliveries_recorded: recorded.len() as u64,
        deliveries_delivered: delivered_records as u64,
        duplicates,
        missing: missing as u64,
        out_of_order_objects: out_of_order,
        verified: duplicates == 0
            && missing == 0
            && out_of_order == 0
            && delivered_records == recorded.len(),
    })
}

/// Every delivery the engine recorded for the endpoint: `(event id, status)`.
async fn recorded_deliveries(
    api: &Caller,
    endpoint: &str,
) -> Result<Vec<(String, String)>, BenchError> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/v1/webhook_endpoints/{endpoint}/deliveries?limit=100");
        if let Some(after) = &after {
            path.push_str(&format!("&starting_after={after}"));
        }
        let page = get(api, &path).await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        for delivery in &data {
            let event = delivery["event"].as_str().unwrap_or_default().to_owned();
            let status = delivery["status"].as_str().unwrap_or_default().to_owned();
            found.push((event, status));
        }
        if page["has_more"] != true || data.is_empty() {
            return Ok(found);
        }
        after = found.last().map(|(event, _)| event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posts one event to the receiver and reads its status line.
    async fn deliver(url: String) -> String {
        let address = url.trim_start_matches("http://").trim_end_matches("/events");
        let mut stream = TcpStream::connect(address).await.unwrap();
        let body = r#"{"id":"evt_1","type":"charge.succeeded","data":{"object":{"id":"ch_1","version":1}}}"#;
        let request = format!(
            "POST /events HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 128];
        let read = stream.read(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer[..read]).lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn a_held_request_is_answered_2xx_once_the_receiver_lets_go() {
        let mix = ReceiverMix { fail_share: 0.0, hang_share: 0.0 };
        let receiver = Receiver::start(mix).await.unwrap();
        receiver.hold(true);
        let answered = tokio::spawn(deliver(receiver.url.clone()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!answered.is_finished(), "answered while held");
        assert_eq!(receiver.delivered_count(), 0);

        receiver.hold(false);
        assert_eq!(answered.await.unwrap(), "HTTP/1.1 200 OK");
        assert_eq!(receiver.delivered_count(), 1);
    }
}
