//! One POST of an event to an endpoint. A 2xx within the client's time limit is delivered;
//! anything else is a failure, a redirect included (never followed: it could lead anywhere).
//! Only the first few KiB of the endpoint's answer are read.

use std::time::Instant;

use bytes::Bytes;
use reqwest::{Client, Url};

use super::signature;
use crate::domain::Attempt;

/// Bytes of an endpoint's answer read before the rest is dropped.
const RESPONSE_BYTES_MAX: usize = 4 * 1024;

pub struct Outgoing<'a> {
    /// The endpoint's URL as the destination policy checked it, or why it may not be sent to.
    pub url: &'a Result<Url, String>,
    pub secrets: &'a [&'a str],
    pub body: Bytes,
    pub redelivery: bool,
}

pub async fn send(client: &Client, outgoing: Outgoing<'_>) -> Attempt {
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

async fn post(client: &Client, outgoing: &Outgoing<'_>, now: i64) -> Result<u16, String> {
    let url = outgoing.url.clone()?;
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(signature::HEADER, signature::header_value(outgoing.secrets, now, &outgoing.body));
    if outgoing.redelivery {
        request = request.header("Kassa-Redelivery", "true");
    }
    let mut response = request.body(outgoing.body.clone()).send().await.map_err(describe)?;
    let code = response.status().as_u16();
    let mut read = 0;
    while read < RESPONSE_BYTES_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) => break,
            // The status decided the attempt; a body cut short changes nothing.
            Err(_) => break,
        }
    }
    Ok(code)
}

/// The error in words, its causes included (reqwest's own message is often just "error
/// sending request").
fn describe(error: reqwest::Error) -> String {
    let kind = match () {
        _ if error.is_timeout() => "timed out",
        _ if error.is_connect() => "could not connect",
        _ => "failed",
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
