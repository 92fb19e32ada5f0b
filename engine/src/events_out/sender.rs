//! One POST of an event to an endpoint. A 2xx within [`DELIVERY_TIMEOUT`] is delivered;
//! anything else is a failure, a redirect included (never followed: it could lead anywhere).
//! Only the first few KiB of the endpoint's answer are read.
//!
//! The client is hyper's own, over rustls, connecting through the destination policy's
//! resolver ([`GuardedResolver`]): a delivery is one small request on a kept-alive connection,
//! and nothing more general (redirects, proxies, cookies) is wanted around it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::destination::{DestinationPolicy, GuardedResolver};
use super::signature;
use crate::domain::Attempt;

/// A delivery that has not had a 2xx this long after it was sent has failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of an endpoint's answer read before the rest is dropped.
const RESPONSE_BYTES_MAX: usize = 4 * 1024;
const AGENT: &str = concat!("Kassa/", env!("CARGO_PKG_VERSION"));

pub type DeliveryClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// The client deliveries go out through: HTTP/1.1, `https://` verified against the Mozilla
/// roots, `http://` only where the policy let the endpoint have it.
pub fn client(policy: DestinationPolicy) -> Result<DeliveryClient, rustls::Error> {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver { policy });
    // The scheme was the policy's to allow; the TLS layer below takes `https://`.
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Where an endpoint's deliveries go: its URL as `policy` takes it; or why none may go.
pub fn destination(policy: DestinationPolicy, url: &str) -> Result<Uri, String> {
    let url = policy.check_url(url)?;
    url.as_str()
        .parse()
        .map_err(|error| format!("`{url}` is not a URI a request can go to: {error}"))
}

pub struct Outgoing<'a> {
    /// The endpoint's URL as the destination policy checked it, or why it may not be sent to.
    pub url: &'a Result<Uri, String>,
    pub secrets: &'a [&'a str],
    pub body: Bytes,
    pub redelivery: bool,
}

pub async fn send(client: &DeliveryClient, outgoing: Outgoing<'_>) -> Attempt {
    let now = crate::domain::time::now_unix_secs();
    let started = Instant::now();
    let result = post(client, &outgoing, now).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status_code, error) = match result {
        Ok(code) if (200..300).contains(&code) => (Some(code), None),
        Ok(code) if (300..400).contains(&code) => {
            (Some(code), Some(format!("answered {code}, a redirect, which is not followed")))
        }
        Ok(code) => (Some(code), Some(format!("answered {code}"))),
        Err(error) => (None, Some(error)),
    };
    Attempt { at: now, status_code, latency_ms, error, redelivery: outgoing.redelivery }
}

async fn post(client: &DeliveryClient, outgoing: &Outgoing<'_>, now: i64) -> Result<u16, String> {
    let url = outgoing.url.clone()?;
    let signed = signature::header_value(outgoing.secrets, now, &outgoing.body);
    let mut request = Request::post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(USER_AGENT, HeaderValue::from_static(AGENT))
        .header(signature::HEADER, signed);
    if outgoing.redelivery {
        request = request.header("Kassa-Redelivery", HeaderValue::from_static("true"));
    }
    let request = request
        .body(Full::new(outgoing.body.clone()))
        .map_err(|error| format!("failed: the request cannot be made: {error}"))?;
    // One limit for the answer and the part of its body read: a body still coming when it
    // ends is cut off, the status having decided the attempt.
    let limit = tokio::time::sleep(DELIVERY_TIMEOUT);
    tokio::pin!(limit);
    let response = tokio::select! {
        response = client.request(request) => response.map_err(describe)?,
        () = &mut limit => {
            return Err(format!("timed out: no answer within {} s", DELIVERY_TIMEOUT.as_secs()));
        }
    };
    let code = response.status().as_u16();
    let mut body = response.into_body();
    let mut read = 0;
    while read < RESPONSE_BYTES_MAX {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            () = &mut limit => break,
        };
        match frame {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            // The end, or a body cut short: either way the status decided.
            _ => break,
        }
    }
    Ok(code)
}

/// The error in words, its causes included (the client's own message is often just "client
/// error").
fn describe(error: hyper_util::client::legacy::Error) -> String {
    let kind = match error.is_connect() {
        true => "could not connect",
        false => "failed",
    };
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    /// An `https://` endpoint gets a TLS handshake, never the event in plain text: a listener
    /// that speaks no TLS sees a ClientHello and the attempt fails.
    #[tokio::test]
    async fn an_https_endpoint_is_spoken_to_over_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_bytes = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 3];
            stream.read_exact(&mut first).await.unwrap();
            first
        });
        let policy = DestinationPolicy { allow_http: false, allow_private_networks: true };
        let client = client(policy).unwrap();
        let url = destination(policy, &format!("https://127.0.0.1:{port}/events"));
        let body = Bytes::from_static(br#"{"id":"evt_1"}"#);
        let outgoing = Outgoing { url: &url, secrets: &["whsec_test"], body, redelivery: false };

        let attempt = send(&client, outgoing).await;

        // A TLS handshake record (22), version 3.x.
        assert_eq!(first_bytes.await.unwrap()[..2], [22, 3]);
        assert!(!attempt.succeeded());
        assert_eq!(attempt.status_code, None);
        assert!(attempt.error.is_some());
    }
}
