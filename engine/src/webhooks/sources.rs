//! The gateways that take webhooks on this engine, by the name in their path
//! (`/v1/webhooks/{gateway}`): each one's adapter verifies and reads its own deliveries.

use std::collections::HashMap;
use std::sync::Arc;

use kassa_gateways::webhooks::WebhookSource;

#[derive(Default)]
pub struct WebhookSources(HashMap<&'static str, Arc<dyn WebhookSource>>);

impl WebhookSources {
    pub fn add(&mut self, source: Arc<dyn WebhookSource>) {
        self.0.insert(source.gateway(), source);
    }

    pub fn get(&self, gateway: &str) -> Option<&Arc<dyn WebhookSource>> {
        self.0.get(gateway)
    }
}
