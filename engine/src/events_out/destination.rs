//! Where an endpoint may point (an SSRF guard): `https://` unless `webhooks.allow_http`, no
//! credentials in the URL, and — unless `webhooks.allow_private_networks` — no loopback,
//! private, link-local or otherwise internal address. The address is checked when the
//! endpoint is made (an IP literal, or what the name resolves to then) and again at every
//! delivery by the resolver the client connects through, so a name that later resolves
//! inward (DNS rebinding) reaches nothing.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use reqwest::Url;

/// Longest endpoint URL accepted.
const URL_LEN_MAX: usize = 2_048;
/// How long making an endpoint waits for its name to resolve: a resolver that does not answer
/// must not hold the request up.
const RESOLVE_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, Copy, Default)]
pub struct DestinationPolicy {
    pub allow_http: bool,
    pub allow_private_networks: bool,
}

impl DestinationPolicy {
    /// The URL, parsed, if an endpoint may have it; else why not.
    pub fn check_url(&self, text: &str) -> Result<Url, String> {
        if text.len() > URL_LEN_MAX {
            return Err(format!("a URL of at most {URL_LEN_MAX} characters"));
        }
        let url = Url::parse(text).map_err(|error| format!("`{text}` is not a URL: {error}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err("an `https://` URL (`http://` needs webhooks.allow_http)".into());
            }
            other => return Err(format!("an `https://` URL, not `{other}:`")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a URL without credentials in it".into());
        }
        let Some(host) = url.host_str() else { return Err("a URL with a host".into()) };
        if let Ok(address) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            self.check_address(address)?;
        }
        Ok(url)
    }

    /// Whether a delivery may connect to `address`.
    pub fn check_address(&self, address: IpAddr) -> Result<(), String> {
        match self.allow_private_networks || is_public(address) {
            true => Ok(()),
            false => Err(format!(
                "a public address: {address} is loopback, private or link-local \
                 (webhooks.allow_private_networks allows it)"
            )),
        }
    }

    /// What `url`'s host resolves to now, refused if any address is not allowed. A name that
    /// does not resolve now, or not within [`RESOLVE_WAIT_MAX`], is let through: the
    /// delivery's resolver checks again.
    pub async fn check_resolved(&self, url: &Url) -> Result<(), String> {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Ok(());
        };
        let lookup = tokio::net::lookup_host((host, port));
        let Ok(Ok(addresses)) = tokio::time::timeout(RESOLVE_WAIT_MAX, lookup).await else {
            return Ok(());
        };
        for address in addresses {
            self.check_address(address.ip())?;
        }
        Ok(())
    }
}

/// Whether an address is reachable from the internet at large: not loopback, private,
/// link-local, shared (CGNAT), unspecified, multicast, broadcast or reserved.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let [first, second, ..] = address.octets();
    let shared = first == 100 && (64..128).contains(&second);
    let reserved = first >= 240;
    !(address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_unspecified()
        || address.is_multicast()
        || address.is_broadcast()
        || address.is_documentation()
        || first == 0
        || shared
        || reserved)
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    !(address.is_loopback()
        || address.is_unspecified()
        || address.is_multicast()
        || unique_local
        || link_local)
}

/// The delivery client's resolver: what a name resolves to, without the addresses the policy
/// refuses; a name left with none fails to connect.
#[derive(Clone)]
pub struct GuardedResolver {
    pub policy: DestinationPolicy,
}

type Resolving = Pin<Box<dyn Future<Output = Result<Addresses, ResolveError>> + Send>>;
type Addresses = std::vec::IntoIter<SocketAddr>;
type ResolveError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = Addresses;
    type Error = ResolveError;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|address| policy.check_address(address.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no address deliveries may reach").into());
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    /// What a delivery connects through: a name that resolves inward (`localhost`, as a
    /// rebinding name would at delivery time) reaches nothing unless private networks are
    /// allowed.
    #[tokio::test]
    async fn the_resolver_drops_addresses_the_policy_refuses() {
        use tower_service::Service;
        let name: Name = "localhost".parse().unwrap();

        let mut strict = GuardedResolver { policy: DestinationPolicy::default() };
        let refused = strict.call(name.clone()).await.expect_err("localhost is refused");
        assert!(refused.to_string().contains("no address deliveries may reach"), "{refused}");

        let policy = DestinationPolicy { allow_http: false, allow_private_networks: true };
        let found: Vec<SocketAddr> = GuardedResolver { policy }.call(name).await.unwrap().collect();
        assert!(!found.is_empty() && found.iter().all(|address| address.ip().is_loopback()));
    }

    #[test]
    fn urls_need_https_no_credentials_and_a_public_literal() {
        let strict = DestinationPolicy::default();
        assert!(strict.check_url("https://hooks.example.com/kassa").is_ok());
        assert!(strict.check_url("http://hooks.example.com/").is_err());
        assert!(strict.check_url("ftp://hooks.example.com/").is_err());
        assert!(strict.check_url("https://user:pw@hooks.example.com/").is_err());
        assert!(strict.check_url("https://127.0.0.1/").is_err());
        assert!(strict.check_url("https://[::1]:8443/").is_err());
        assert!(strict.check_url("https://169.254.169.254/latest").is_err());
        assert!(strict.check_url("not a url").is_err());

        let open = DestinationPolicy { allow_http: true, allow_private_networks: true };
        assert!(open.check_url("http://127.0.0.1:9000/hook").is_ok());
    }
}
