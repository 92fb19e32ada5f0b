//! A platform's webhook receiver for the tests: a real HTTP/1.1 server on 127.0.0.1 that keeps
//! every request it gets and answers as a test scripts it — a status, no answer until the
//! sender gives up, or a connection closed without one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Holds the request past the sender's time limit.
    Hang,
    /// Closes the connection without answering.
    Close,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("an event is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

#[derive(Default)]
struct Script {
    /// Answers for requests whose body holds the text, before anything else.
    when: Vec<(String, Answer)>,
    next: VecDeque<Answer>,
    otherwise: Option<Answer>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    /// Answers 200 unless told otherwise.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = Arc::clone(&script);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Receiver { url, script }
    }

    /// Answers these to the next requests, in order, then as before.
    pub fn answer_next(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().next.extend(answers);
    }

    /// Answers this to every request whose body holds `text`, whatever else is scripted.
    pub fn answer_when(&self, text: &str, answer: Answer) {
        self.script.lock().unwrap().when.push((text.to_owned(), answer));
    }

    /// Answers this to every request not scripted by [`Receiver::answer_next`].
    pub fn answer_always(&self, answer: Answer) {
        self.script.lock().unwrap().otherwise = Some(answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }

    /// The requests, once at least `count` came (or the test fails after `within`).
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{} requests came, not {count}: {:?}",
                received.len(),
                received.iter().map(|r| r.json()["type"].clone()).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve(mut stream: TcpStream, script: Arc<Mutex<Script>>) {
    let mut buffer = Vec::new();
    loop {
        let Some((headers, body)) = read_request(&mut stream, &mut buffer).await else { return };
        let answer = {
            let mut script = script.lock().unwrap();
            let ruled = script
                .when
                .iter()
                .find(|(text, _)| body.windows(text.len()).any(|window| window == text.as_bytes()));
            let ruled = ruled.map(|(_, answer)| *answer);
            script.received.push(Received { headers, body });
            let otherwise = script.otherwise.unwrap_or(Answer::Status(200));
            ruled.unwrap_or_else(|| script.next.pop_front().unwrap_or(otherwise))
        };
        match answer {
            Answer::Status(code) => {
                let location = match code {
                    300..=399 => "Location: http://127.0.0.1:1/elsewhere\r\n",
                    _ => "",
                };
                let reply =
                    format!("HTTP/1.1 {code} Scripted\r\n{location}Content-Length: 2\r\n\r\nok");
                if stream.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            Answer::Close => return,
        }
    }
}

/// One request's headers (names lower case) and body, or `None` once the peer is gone.
async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some((headers, body))
}

/// Whether `header` (`t=…,v1=…[,v1=…]`) signs `body` under `secret`, checked by the same code
/// that checks Stripe's own deliveries (`Stripe-Signature`): the scheme Stripe documents.
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let now = i64::try_from(now.as_secs()).unwrap();
    kassa_gateways::stripe::signature::verify(secret.as_bytes(), Some(header), body, now).is_ok()
}
