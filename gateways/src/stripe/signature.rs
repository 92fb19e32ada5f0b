//! `Stripe-Signature`, verified as Stripe documents it: the header is `t=<unix secs>` and one or
//! more `v1=<hex HMAC-SHA256>` (two while the endpoint secret is being rolled), each over
//! `"{t}.{raw body}"` with the endpoint secret. Any matching `v1` is enough; a timestamp more than
//! the tolerance away from now, in either direction, is refused so that a captured delivery
//! cannot be replayed later. Digests are compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::webhooks::constant_time_eq;

/// The header Stripe signs its deliveries in, by its lower-case name.
pub const HEADER: &str = "stripe-signature";

/// Stripe's own libraries default to five minutes.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery is refused; the message goes back to the sender in the 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the Stripe-Signature timestamp is {0} s away from now (at most {TOLERANCE_SECS} s)")]
    OutsideTolerance(i64),
    #[error("no v1 signature in the Stripe-Signature header matches this endpoint's secret")]
    NoMatch,
}

/// Checks `header` for `body` against `secret` at `now` (Unix seconds).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) =
            part.trim().split_once('=').ok_or(SignatureError::Malformed("a part without `=`"))?;
        match name {
            "t" => {
                let seconds = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed("`t` is not a number"))?;
                timestamp = Some((value, seconds));
            }
            // A `v1` that is not hex can never match: skipped, like other schemes (`v0`).
            "v1" => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let (timestamp_text, timestamp) = timestamp.ok_or(SignatureError::Malformed("no `t`"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no `v1` signature"));
    }
    let distance = now.saturating_sub(timestamp);
    if distance.abs() > TOLERANCE_SECS {
        return Err(SignatureError::OutsideTolerance(distance));
    }
    let mut mac = mac(secret);
    mac.update(timestamp_text.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    // Every candidate is compared, each in full: no early exit tells which one was close.
    let matched = signatures
        .iter()
        .fold(false, |matched, signature| matched | constant_time_eq(&expected, signature));
    if matched { Ok(()) } else { Err(SignatureError::NoMatch) }
}

/// The header Stripe would send for `body` at `timestamp`: for tests, the load generator and
/// anyone replaying a stored event against a staging engine.
pub fn sign(secret: &[u8], body: &[u8], timestamp: i64) -> String {
    format!("t={timestamp},v1={}", v1(secret, body, timestamp))
}

/// One `v1` of the scheme: the hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`. Kassa
/// signs its own outgoing events with it too, so platforms verify them as they verify Stripe's.
pub fn v1(secret: &[u8], body: &[u8], timestamp: i64) -> String {
    let mut mac = mac(secret);
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn signs_as_an_independent_hmac_does() {
        // python3: hmac.new(b"secret", b"1.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(b"secret", b"{}", 1),
            "t=1,v1=1122767b193110cfec322b6f199b599edbf608ed087f2d27afb0b97d99523908"
        );
    }

    #[test]
    fn accepts_its_own_signature_at_the_edges_of_the_tolerance() {
        for timestamp in [NOW - TOLERANCE_SECS, NOW, NOW + TOLERANCE_SECS] {
            let header = sign(SECRET, BODY, timestamp);
            assert_eq!(verify(SECRET, Some(&header), BODY, NOW), Ok(()));
        }
    }

    #[test]
    fn refuses_what_stripe_did_not_sign() {
        let header = sign(SECRET, BODY, NOW);
        assert_eq!(verify(SECRET, None, BODY, NOW), Err(SignatureError::Missing));
        assert_eq!(verify(b"other", Some(&header), BODY, NOW), Err(SignatureError::NoMatch));
        assert_eq!(verify(SECRET, Some(&header), b"{}", NOW), Err(SignatureError::NoMatch));
        let stale = sign(SECRET, BODY, NOW - TOLERANCE_SECS - 1);
        assert_eq!(
            verify(SECRET, Some(&stale), BODY, NOW),
            Err(SignatureError::OutsideTolerance(301))
        );
        let ahead = sign(SECRET, BODY, NOW + TOLERANCE_SECS + 1);
        assert_eq!(
            verify(SECRET, Some(&ahead), BODY, NOW),
            Err(SignatureError::OutsideTolerance(-301))
        );
        for malformed in ["", "garbage", "t=abc,v1=00", "v1=00", &format!("t={NOW}")] {
            assert!(
                matches!(
                    verify(SECRET, Some(malformed), BODY, NOW),
                    Err(SignatureError::Malformed(_))
                ),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn any_matching_v1_is_enough_while_a_secret_is_rolled() {
        let good = sign(SECRET, BODY, NOW);
        let old = sign(b"whsec_old", BODY, NOW);
        let old_v1 = old.split(",v1=").nth(1).unwrap();
        let good_v1 = good.split(",v1=").nth(1).unwrap();
        let both = format!("t={NOW},v1={old_v1},v1={good_v1},v0=deadbeef");
        assert_eq!(verify(SECRET, Some(&both), BODY, NOW), Ok(()));
        let neither = format!("t={NOW},v1={old_v1},v1=zz");
        assert_eq!(verify(SECRET, Some(&neither), BODY, NOW), Err(SignatureError::NoMatch));
    }
}
