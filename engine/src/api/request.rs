//! A request as the handlers see it: method, path segments, query, headers and a body that was
//! read under the size limit. Parsing helpers turn bad input into clear 400s naming the field.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::Buf;
use warp::http::{HeaderMap, Method};

use super::error::ApiError;
use super::free_text;
use crate::domain::{Actor, Cause};
use crate::limits::IDEMPOTENCY_KEY_LEN_MAX;

pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: String,
    /// Who makes the request: the API key it bears, or the engine for routes without one.
    pub actor: Actor,
}

impl ApiRequest {
    /// Path segments without empty ones: `/v1/charges/ch_1` → `["v1", "charges", "ch_1"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|segment| !segment.is_empty()).collect()
    }

    /// The cause of the changes the request makes, as their audit events record it.
    pub fn cause(&self) -> Cause {
        Cause::request(self.request_id.clone(), self.actor.clone())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The body as `T`, or a 400 naming the field that is missing, unknown or of the wrong type,
    /// or a string in it that breaks the free-text rules ([`free_text`]).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        self.json_with_credentials(&[])
    }

    /// [`ApiRequest::json`] for a route whose top-level `credentials` fields are payment
    /// credentials it checks itself, not free text.
    pub fn json_with_credentials<T: DeserializeOwned>(
        &self,
        credentials: &[&str],
    ) -> Result<T, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::validation("body", "the request body must be a JSON object"));
        }
        // The free-text rules hold for every string in the body, whatever the route's type
        // keeps of it, and before anything else about it: a card number is refused as such
        // even in a body that is wrong in other ways.
        let body: serde_json::Value = serde_json::from_slice(&self.body)
            .map_err(|error| ApiError::validation("body", format!("malformed JSON: {error}")))?;
        free_text::check(&body, credentials)?;
        let mut deserializer = serde_json::Deserializer::from_slice(&self.body);
        let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
        let value = parsed.map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                ApiError::validation("body", format!("malformed JSON: {inner}"))
            } else {
                let message = inner.to_string();
                let param = match (path.as_str(), missing_field(&message)) {
                    (".", Some(field)) => field.to_owned(),
                    (".", None) => "body".to_owned(),
                    (_, Some(field)) => format!("{path}.{field}"),
                    (_, None) => path,
                };
                ApiError::validation(param, message)
            }
        })?;
        deserializer
            .end()
            .map_err(|error| ApiError::validation("body", format!("malformed JSON: {error}")))?;
        Ok(value)
    }

    /// The body with object keys sorted and whitespace dropped, so two encodings of the same
    /// request fingerprint the same.
    pub fn canonical_body(&self) -> Vec<u8> {
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(value) => serde_json::to_vec(&sorted(value)).unwrap_or_default(),
            Err(_) => self.body.to_vec(),
        }
    }

    pub fn query<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_urlencoded::from_str(&self.query)
            .map_err(|error| ApiError::validation("query", format!("bad query string: {error}")))
    }

    /// The Idempotency-Key header: 1..=255 printable ASCII characters, whatever digits they hold
    /// (API.md). As sent: only `idempotency::run` reads it, and keeps only its keyed hash.
    pub fn idempotency_key(&self) -> Result<Option<String>, ApiError> {
        let Some(value) = self.headers.get("idempotency-key") else {
            return Ok(None);
        };
        let printable = |text: &str| text.bytes().all(|byte| (0x20..=0x7e).contains(&byte));
        match value.to_str() {
            Ok(key)
                if !key.is_empty() && key.len() <= IDEMPOTENCY_KEY_LEN_MAX && printable(key) =>
            {
                Ok(Some(key.to_owned()))
            }
            _ => Err(ApiError::validation(
                "Idempotency-Key",
                format!(
                    "an Idempotency-Key is 1 to {IDEMPOTENCY_KEY_LEN_MAX} printable ASCII characters"
                ),
            )),
        }
    }
}

/// The field serde names in a "missing field `x`" error: the field at fault, as `param`.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Sorts object keys at every depth, whatever order the JSON map type keeps.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|(left, _), (right, _)| left.cmp(right));
            Value::Object(entries.into_iter().map(|(key, value)| (key, sorted(value))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// [`read_body`], which must end within `timeout`: a client that sends half a body and stops
/// holds a connection and a buffer only that long.
pub async fn read_body_within<S, B>(
    headers: &HeaderMap,
    stream: S,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    tokio::time::timeout(timeout, read_body(headers, stream, limit))
        .await
        .unwrap_or_else(|_| Err(ApiError::body_timeout(timeout)))
}

/// Reads a body of at most `limit` bytes; a declared or actual larger one is a 413 before more of
/// it is buffered.
async fn read_body<S, B>(
    headers: &HeaderMap,
    mut stream: S,
    limit: usize,
) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let declared = headers
        .get(warp::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::body_too_large(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk
            .map_err(|error| ApiError::validation("body", format!("unreadable body: {error}")))?;
        if body.len() + chunk.remaining() > limit {
            return Err(ApiError::body_too_large(limit));
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            body.extend_from_slice(piece);
            let read = piece.len();
            chunk.advance(read);
        }
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> ApiRequest {
        ApiRequest {
            method: Method::POST,
            path: "/v1/charges".into(),
            query: String::new(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            request_id: "req_test".into(),
            actor: Actor::System,
        }
    }

    #[test]
    fn key_order_and_whitespace_do_not_change_the_canonical_body() {
        let one = request(r#"{"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}}"#);
        let two = request(r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#);
        assert_eq!(one.canonical_body(), two.canonical_body());
        assert_eq!(
            String::from_utf8(one.canonical_body()).unwrap(),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        assert_ne!(one.canonical_body(), request(r#"{"b": 2}"#).canonical_body());
    }
}
