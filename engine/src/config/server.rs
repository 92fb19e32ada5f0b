//! `server.*` connection limits, `limits.rate.*` and outgoing webhooks' `webhooks.*`: their
//! environment overrides and bounds.

use super::{Config, ConfigError, config_error};
use crate::limits::{RATE_LIMIT_RPS_MAX, SERVER_CONNECTIONS_MAX, SERVER_TIMEOUT_MS_MAX};

impl Config {
    pub(super) fn apply_server_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let server = &mut self.server;
        let timeouts: [(&str, &mut u64); 3] = [
            ("KASSA_HEADER_TIMEOUT_MS", &mut server.header_timeout_ms),
            ("KASSA_IDLE_TIMEOUT_MS", &mut server.idle_timeout_ms),
            ("KASSA_BODY_TIMEOUT_MS", &mut server.body_timeout_ms),
        ];
        for (name, slot) in timeouts {
            if let Some(value) = env(name) {
                *slot = env_number(name, &value)?;
            }
        }
        if let Some(url) = env("KASSA_PUBLIC_URL") {
            server.public_url = url;
        }
        if let Some(value) = env("KASSA_MAX_CONNECTIONS") {
            let connections = env_number("KASSA_MAX_CONNECTIONS", &value)?;
            server.max_connections = usize::try_from(connections).unwrap_or(usize::MAX);
        }
        let rate = &mut self.limits.rate;
        let rates: [(&str, &mut u32); 3] = [
            ("KASSA_RATE_LIMIT_PER_KEY_RPS", &mut rate.per_key_rps),
            ("KASSA_RATE_LIMIT_PER_ACCOUNT_RPS", &mut rate.per_account_rps),
            ("KASSA_RATE_LIMIT_WEBHOOKS_RPS", &mut rate.webhooks_rps),
        ];
        for (name, slot) in rates {
            if let Some(value) = env(name) {
                let rps = env_number(name, &value)?;
                *slot = u32::try_from(rps).unwrap_or(u32::MAX);
            }
        }
        let webhooks = &mut self.webhooks;
        let retry: [(&str, &mut u64); 3] = [
            ("KASSA_WEBHOOKS_RETRY_INITIAL_MS", &mut webhooks.retry.initial_ms),
            ("KASSA_WEBHOOKS_RETRY_MAX_MS", &mut webhooks.retry.max_ms),
            ("KASSA_WEBHOOKS_RETRY_GIVE_UP_AFTER_S", &mut webhooks.retry.give_up_after_s),
        ];
        for (name, slot) in retry {
            if let Some(value) = env(name) {
                *slot = env_number(name, &value)?;
            }
        }
        let switches: [(&str, &mut bool); 2] = [
            ("KASSA_WEBHOOKS_ALLOW_HTTP", &mut webhooks.allow_http),
            ("KASSA_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", &mut webhooks.allow_private_networks),
        ];
        for (name, slot) in switches {
            if let Some(value) = env(name) {
                *slot = env_bool(name, &value)?;
            }
        }
        Ok(())
    }

    /// Each limit is at least 1 (0 would refuse everything) and below a ceiling past which it
    /// protects nothing.
    pub(super) fn validate_server(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        let timeouts = [
            ("server.header_timeout_ms", server.header_timeout_ms),
            ("server.idle_timeout_ms", server.idle_timeout_ms),
            ("server.body_timeout_ms", server.body_timeout_ms),
        ];
        for (key, value) in timeouts {
            super::checks::within(key, value, SERVER_TIMEOUT_MS_MAX)?;
        }
        let connections = u64::try_from(server.max_connections).unwrap_or(u64::MAX);
        super::checks::within("server.max_connections", connections, SERVER_CONNECTIONS_MAX)?;
        let rate = &self.limits.rate;
        let rates = [
            ("limits.rate.per_key_rps", rate.per_key_rps),
            ("limits.rate.per_account_rps", rate.per_account_rps),
            ("limits.rate.webhooks_rps", rate.webhooks_rps),
        ];
        for (key, rps) in rates {
            if rps > RATE_LIMIT_RPS_MAX {
                return Err(config_error(key, format!("must be at most {RATE_LIMIT_RPS_MAX}")));
            }
        }
        let webhooks = &self.webhooks;
        super::checks::within(
            "webhooks.retry.initial_ms",
            webhooks.retry.initial_ms,
            RETRY_MS_MAX,
        )?;
        super::checks::within("webhooks.retry.max_ms", webhooks.retry.max_ms, RETRY_MS_MAX)?;
        let give_up = webhooks.retry.give_up_after_s;
        super::checks::within("webhooks.retry.give_up_after_s", give_up, RETRY_WINDOW_S_MAX)?;
        if webhooks.retry.max_ms < webhooks.retry.initial_ms {
            return Err(config_error(
                "webhooks.retry.max_ms",
                "must be at least webhooks.retry.initial_ms",
            ));
        }
        let delivery = [
            ("webhooks.delivery_concurrency", webhooks.delivery_concurrency),
            ("webhooks.endpoint_concurrency", webhooks.endpoint_concurrency),
        ];
        for (key, value) in delivery {
            super::checks::within(key, value as u64, DELIVERY_CONCURRENCY_MAX)?;
        }
        Ok(())
    }
}

/// Retries wait at most a day apart: a longer wait is a misplaced unit.
const RETRY_MS_MAX: u64 = 86_400_000;
/// Deliveries are retried for at most 30 days.
const RETRY_WINDOW_S_MAX: u64 = 30 * 86_400;
/// Past this many deliveries at once, more only spread a host's descriptors thinner.
const DELIVERY_CONCURRENCY_MAX: u64 = 4_096;

/// `true` or `false` from the environment, or an error naming the variable.
pub(super) fn env_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(config_error(name, format!("`{value}` is not true or false"))),
    }
}

/// A whole number from the environment, or an error naming the variable.
pub(super) fn env_number(name: &str, value: &str) -> Result<u64, ConfigError> {
    value.trim().parse().map_err(|_| config_error(name, format!("`{value}` is not a whole number")))
}
