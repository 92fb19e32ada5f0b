//! When a failed delivery is tried again: the first retry after `initial_ms`, each wait twice
//! the one before with ±20 % jitter, never more than `max_ms`, and none begun past
//! `give_up_after_s` after the first attempt.

use rand::Rng;

use crate::config::WebhookRetryConfig;

/// The jitter's spread, in percent either side: retries of many deliveries that failed
/// together (an endpoint down) do not come back together.
const JITTER_PERCENT: u64 = 20;

/// The wait, in milliseconds, before attempt `failed + 1` after `failed` failed attempts.
pub fn delay_ms(config: &WebhookRetryConfig, failed: u32) -> u64 {
    let doublings = failed.saturating_sub(1).min(40);
    let base = config.initial_ms.saturating_mul(1u64 << doublings).min(config.max_ms);
    let spread = base * JITTER_PERCENT / 100;
    let jittered = base - spread + rand::rng().random_range(0..=2 * spread);
    jittered.min(config.max_ms)
}

/// Whether a delivery first tried at `first_attempt` (Unix seconds) may be tried at `at`.
pub fn may_retry_at(config: &WebhookRetryConfig, first_attempt: i64, at: i64) -> bool {
    let window = i64::try_from(config.give_up_after_s).unwrap_or(i64::MAX);
    at.saturating_sub(first_attempt) <= window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WebhookRetryConfig {
        WebhookRetryConfig { initial_ms: 1_000, max_ms: 3_600_000, give_up_after_s: 259_200 }
    }

    #[test]
    fn waits_double_within_the_jitter_and_stop_growing_at_the_cap() {
        let config = config();
        for (failed, base) in [(1u32, 1_000u64), (2, 2_000), (3, 4_000), (10, 512_000)] {
            for _ in 0..50 {
                let delay = delay_ms(&config, failed);
                assert!((base * 8 / 10..=base * 12 / 10).contains(&delay), "{failed}: {delay}");
            }
        }
        for _ in 0..50 {
            let delay = delay_ms(&config, 30);
            assert!((2_880_000..=3_600_000).contains(&delay), "capped: {delay}");
        }
        assert!(delay_ms(&config, u32::MAX) <= 3_600_000);
    }

    #[test]
    fn retries_stop_after_the_window() {
        let config = config();
        assert!(may_retry_at(&config, 1_000, 1_000 + 259_200));
        assert!(!may_retry_at(&config, 1_000, 1_000 + 259_201));
    }
}
