//! Where the load goes: a loopback `http://` address, and the headers every request to it
//! carries. Only loopback targets are accepted: this machine's policy is that benchmarks never
//! leave it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};

use crate::engine_cpu::EngineCpu;
use crate::engine_footprint::EngineFootprint;
use crate::error::BenchError;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// One request, before it becomes a hyper request for a given endpoint.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub method: Method,
    pub path: String,
    pub body: Option<Bytes>,
    pub idempotency_key: Option<String>,
    /// One more header beyond the endpoint's own: a webhook delivery's `Stripe-Signature`.
    pub extra_header: Option<(HeaderName, HeaderValue)>,
}

impl RequestSpec {
    pub fn get(path: String) -> Self {
        Self { method: Method::GET, path, body: None, idempotency_key: None, extra_header: None }
    }

    pub fn post(path: &str, body: String, idempotency_key: String) -> Self {
        Self {
            method: Method::POST,
            path: path.to_owned(),
            body: Some(Bytes::from(body)),
            idempotency_key: Some(idempotency_key),
            extra_header: None,
        }
    }

    /// A POST without an `Idempotency-Key`, carrying `header` instead (a signed webhook delivery:
    /// the sender's signature, not a key, is what the receiver checks).
    pub fn post_with_header(path: &str, body: String, header: (HeaderName, HeaderValue)) -> Self {
        Self {
            method: Method::POST,
            path: path.to_owned(),
            body: Some(Bytes::from(body)),
            idempotency_key: None,
            extra_header: Some(header),
        }
    }
}

/// A server to load, with the fixed headers of its requests built once.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub address: SocketAddr,
    pub url: String,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    /// The engine behind it, when this tool spawned it: its CPU time is measured beside the load.
    pub engine_cpu: Option<EngineCpu>,
    /// And its memory and data directory, read once a second into the run's series.
    pub engine_footprint: Option<EngineFootprint>,
}

impl Endpoint {
    /// `url` must be `http://` and loopback (127.0.0.0/8, ::1 or `localhost`).
    pub fn new(url: &str, api_key: Option<&str>) -> Result<Self, BenchError> {
        let address = loopback_address(url)?;
        let refused = |reason: &str| BenchError::TargetRefused {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let host = HeaderValue::from_str(&address.to_string())
            .map_err(|_| refused("the address is not a valid Host header"))?;
        let authorization = api_key
            .map(|key| HeaderValue::from_str(&format!("Bearer {key}")))
            .transpose()
            .map_err(|_| refused("the API key is not a valid header value"))?;
        let url = format!("http://{address}");
        Ok(Self { address, url, host, authorization, engine_cpu: None, engine_footprint: None })
    }

    /// The same endpoint, with the CPU time of the engine process behind it measured.
    pub fn with_engine_cpu(self, engine_cpu: EngineCpu) -> Self {
        Self { engine_cpu: Some(engine_cpu), ..self }
    }

    /// The same endpoint, with the engine's memory and data directory read each second.
    pub fn with_engine_footprint(self, footprint: EngineFootprint) -> Self {
        Self { engine_footprint: Some(footprint), ..self }
    }

    pub fn request(&self, spec: &RequestSpec) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(spec.body.clone().unwrap_or_default()));
        *request.method_mut() = spec.method.clone();
        *request.uri_mut() =
            Uri::try_from(spec.path.as_str()).expect("workloads build valid paths");
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        if spec.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(key) = &spec.idempotency_key {
            let key = HeaderValue::from_str(key).expect("workloads build printable ASCII keys");
            headers.insert(IDEMPOTENCY_KEY, key);
        }
        if let Some((name, value)) = &spec.extra_header {
            headers.insert(name.clone(), value.clone());
        }
        request
    }
}

/// The socket address of a loopback `http://host[:port][/]` URL, or why it is refused.
pub fn loopback_address(url: &str) -> Result<SocketAddr, BenchError> {
    let refused =
        |reason: &str| BenchError::TargetRefused { url: url.to_owned(), reason: reason.to_owned() };
    let uri: Uri = url.parse().map_err(|_| refused("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(refused("only http:// is supported"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(refused("the URL must not have a path: routes are the scenario's"));
    }
    let host = uri.host().ok_or_else(|| refused("no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let ip = match host.trim_start_matches('[').trim_end_matches(']') {
        name if name.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        literal => literal.parse::<IpAddr>().map_err(|_| refused("the host is not loopback"))?,
    };
    if !ip.is_loopback() {
        return Err(refused("the host is not loopback"));
    }
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9:1/",
            "http://localhost:80",
            "http://[::1]:9",
        ] {
            let address = loopback_address(url).unwrap();
            assert!(address.ip().is_loopback(), "{url}");
        }
    }

    #[test]
    fn other_urls_are_refused() {
        for url in [
            "http://10.0.0.1:8080",
            "http://example.com",
            "https://127.0.0.1",
            "http://0.0.0.0:80",
            "http://127.0.0.1:8080/v1",
            "127.0.0.1:8080",
        ] {
            assert!(loopback_address(url).is_err(), "{url}");
        }
    }
}
