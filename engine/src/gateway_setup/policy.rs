//! What billing asks of a gateway beside charging: the smallest amount it takes per currency (an
//! invoice due below it is carried to the customer's balance instead), and the pace at which
//! renewals may be sent to it (a burst of renewals must not spend the platform's rate limit).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Config, MinAmounts};
use crate::domain::Currency;
use crate::domain::money::parse_currency;

/// The policies of the enabled gateways, by the names routing uses.
#[derive(Default)]
pub struct GatewayPolicies {
    by_gateway: BTreeMap<&'static str, GatewayPolicy>,
}

struct GatewayPolicy {
    min_amount: BTreeMap<Currency, i64>,
    renewals: Option<Pacer>,
}

impl GatewayPolicies {
    pub fn from_config(config: &Config) -> GatewayPolicies {
        let gateways = &config.gateways;
        let stripe = &gateways.stripe;
        let mpesa = &gateways.mpesa;
        let policies = [
            (
                kassa_gateways::sandbox::NAME,
                gateways.sandbox.enabled,
                &gateways.sandbox.min_amount,
                0,
            ),
            (
                kassa_gateways::stripe::NAME,
                stripe.enabled(),
                &stripe.min_amount,
                stripe.renewals_per_sec,
            ),
            (
                kassa_gateways::mpesa::NAME,
                mpesa.enabled(),
                &mpesa.min_amount,
                mpesa.renewals_per_sec,
            ),
        ];
        let by_gateway = policies
            .into_iter()
            .filter(|(_, enabled, ..)| *enabled)
            .map(|(name, _, min_amount, renewals_per_sec)| {
                let policy = GatewayPolicy {
                    min_amount: by_currency(min_amount),
                    renewals: Pacer::per_second(renewals_per_sec),
                };
                (name, policy)
            })
            .collect();
        GatewayPolicies { by_gateway }
    }

    /// The smallest amount `gateway` charges in `currency` (0: no minimum).
    pub fn min_amount(&self, gateway: &str, currency: Currency) -> i64 {
        let policy = self.by_gateway.get(gateway);
        policy.and_then(|policy| policy.min_amount.get(&currency)).copied().unwrap_or(0)
    }

    /// Waits for the next renewal slot of `gateway`; at once where renewals are not paced.
    pub async fn renewal_turn(&self, gateway: &str) {
        let pacer = self.by_gateway.get(gateway).and_then(|policy| policy.renewals.as_ref());
        if let Some(pacer) = pacer {
            tokio::time::sleep_until(pacer.next_slot()).await;
        }
    }
}

/// Validated at start-up: every code parses.
pub(super) fn by_currency(amounts: &MinAmounts) -> BTreeMap<Currency, i64> {
    amounts
        .iter()
        .filter_map(|(code, amount)| Some((parse_currency(code).ok()?, *amount)))
        .collect()
}

/// Evenly spaced slots, `interval` apart: callers are let through one at a time at the rate,
/// with no burst, in the order they asked.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    fn per_second(rate: u32) -> Option<Pacer> {
        (rate > 0).then(|| Pacer {
            interval: Duration::from_secs(1) / rate,
            next: Mutex::new(Instant::now()),
        })
    }

    /// Books the next free slot and answers when it is.
    fn next_slot(&self) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = (*next).max(Instant::now());
        *next = slot + self.interval;
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_by_the_rate() {
        let pacer = Pacer::per_second(4).unwrap();
        let before = Instant::now();
        let slots: Vec<_> = (0..3).map(|_| pacer.next_slot()).collect();
        assert!(slots[0] >= before);
        let quarter = Duration::from_millis(250);
        assert_eq!([slots[1] - slots[0], slots[2] - slots[1]], [quarter, quarter]);
    }

    #[test]
    fn idle_time_is_not_saved_up_for_a_burst() {
        let pacer = Pacer::per_second(4).unwrap();
        let before = Instant::now();
        *pacer.next.lock().unwrap() = before - Duration::from_secs(60);
        let first = pacer.next_slot();
        let second = pacer.next_slot();
        assert!(first >= before, "a slot from the quiet past is not handed out");
        assert_eq!(second - first, Duration::from_millis(250));
    }

    #[test]
    fn zero_means_not_paced() {
        assert!(Pacer::per_second(0).is_none());
    }
}
