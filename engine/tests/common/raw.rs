//! A raw HTTP/1.1 client over one TCP connection, for tests that must control exactly which bytes
//! reach the engine and when: a head sent in pieces, a body sent in part, a connection left idle.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer head a raw read accepts: the engine's are a few hundred bytes.
const HEAD_BYTES_MAX: usize = 16 * 1024;

/// One answer read off a raw connection.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn error_code(&self) -> Option<String> {
        self.json()["error"]["code"].as_str().map(str::to_owned)
    }
}

/// What a read that waited for an answer or the end of the connection found.
#[derive(Debug)]
pub enum Heard {
    Answer(RawAnswer),
    /// The engine closed the connection (an orderly close or a reset) before a whole answer.
    Closed,
    /// Nothing within the wait.
    Nothing,
}

pub struct RawConnection {
    stream: TcpStream,
    /// Bytes read past the last answer.
    pending: Vec<u8>,
    address: String,
}

impl RawConnection {
    pub async fn open(address: &str) -> RawConnection {
        let stream = TcpStream::connect(address).await.expect("connect to the engine");
        RawConnection { stream, pending: Vec::new(), address: address.to_owned() }
    }

    /// Sends `bytes`; `false` if the engine has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// A request head: `request` is `"METHOD /path"`, `headers` are sent as given.
    pub fn head(&self, request: &str, headers: &[(&str, String)]) -> String {
        let mut head = format!("{request} HTTP/1.1\r\nHost: {}\r\n", self.address);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    }

    /// Sends a whole body-less request and reads its answer.
    pub async fn get(&mut self, path: &str, wait: Duration) -> Heard {
        let head = self.head(&format!("GET {path}"), &[]);
        if !self.send(head.as_bytes()).await {
            return Heard::Closed;
        }
        self.listen(wait).await
    }

    /// Waits up to `wait` for an answer or the connection's end.
    pub async fn listen(&mut self, wait: Duration) -> Heard {
        match tokio::time::timeout(wait, self.read_answer()).await {
            Ok(Some(answer)) => Heard::Answer(answer),
            Ok(None) => Heard::Closed,
            Err(_) => Heard::Nothing,
        }
    }

    /// How long until the engine closes the connection, reading (and dropping) whatever it
    /// sends meanwhile; `None` if it is still open after `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut buffer = [0u8; 4096];
        let until_closed = async {
            loop {
                match self.stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(wait, until_closed).await.ok().map(|()| started.elapsed())
    }

    /// One answer (head and `Content-Length` body); `None` if the connection ends first.
    async fn read_answer(&mut self) -> Option<RawAnswer> {
        let head_end = loop {
            if let Some(at) = find(&self.pending, b"\r\n\r\n") {
                break at;
            }
            assert!(self.pending.len() < HEAD_BYTES_MAX, "an answer head over {HEAD_BYTES_MAX} B");
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.pending[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while self.pending.len() < body_start + length {
            self.fill().await?;
        }
        let body = String::from_utf8_lossy(&self.pending[body_start..body_start + length]);
        let answer = RawAnswer { status, headers, body: body.into_owned() };
        self.pending.drain(..body_start + length);
        Some(answer)
    }

    async fn fill(&mut self) -> Option<()> {
        let mut buffer = [0u8; 4096];
        match self.stream.read(&mut buffer).await {
            Ok(0) | Err(_) => None,
            Ok(read) => {
                self.pending.extend_from_slice(&buffer[..read]);
                Some(())
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}
