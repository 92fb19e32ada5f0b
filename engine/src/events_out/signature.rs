//! `Kassa-Signature: t=<unix>,v1=<hex>`: HMAC-SHA256 of `{t}.{body}` under the endpoint's
//! secret, the scheme Stripe documents for its own webhooks, so a platform verifies Kassa's
//! deliveries with the code it would write for Stripe's. While a rotated secret still signs, a
//! second `v1` follows; a receiver accepts the delivery if any `v1` matches.

use kassa_gateways::stripe::signature::v1;

pub const HEADER: &str = "Kassa-Signature";

pub fn header_value(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&v1(secret.as_bytes(), body, timestamp));
    }
    value
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    /// The value Stripe's documented recipe gives, computed apart: HMAC-SHA256 over
    /// `1700000000.{"id":"evt_1"}` under `whsec_test`.
    #[test]
    fn signs_timestamp_dot_body_and_adds_a_v1_per_secret() {
        let body = br#"{"id":"evt_1"}"#;
        let one = header_value(&["whsec_test"], 1_700_000_000, body);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"whsec_test").unwrap();
        mac.update(br#"1700000000.{"id":"evt_1"}"#);
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(one, format!("t=1700000000,v1={expected}"));

        let two = header_value(&["whsec_new", "whsec_test"], 1_700_000_000, body);
        assert!(two.starts_with("t=1700000000,v1="));
        assert!(two.ends_with(&format!(",v1={expected}")));
        assert_eq!(two.matches("v1=").count(), 2);
    }
}
