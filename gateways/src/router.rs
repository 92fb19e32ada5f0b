//! Picks the gateway for a charge. Today that is the configured default; routing rules by
//! currency, method type, country and amount build on this (see DESIGN.md, "Gateways").

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Gateway;

#[derive(Clone)]
pub struct Router {
    gateways: BTreeMap<&'static str, Arc<dyn Gateway>>,
    default: &'static str,
}

#[derive(Debug, thiserror::Error)]
#[error("gateway `{0}` is not enabled")]
pub struct UnknownGateway(pub String);

impl Router {
    /// `default` must name one of `gateways`.
    pub fn new(gateways: Vec<Arc<dyn Gateway>>, default: &str) -> Result<Router, UnknownGateway> {
        let gateways: BTreeMap<_, _> =
            gateways.into_iter().map(|gateway| (gateway.name(), gateway)).collect();
        let default = gateways
            .keys()
            .copied()
            .find(|name| *name == default)
            .ok_or_else(|| UnknownGateway(default.to_owned()))?;
        Ok(Router { gateways, default })
    }

    /// The gateway new payment methods and charges go to.
    pub fn default_gateway(&self) -> &Arc<dyn Gateway> {
        &self.gateways[self.default]
    }

    /// The gateway that issued a token or made a charge, by the name stored with it.
    pub fn by_name(&self, name: &str) -> Result<&Arc<dyn Gateway>, UnknownGateway> {
        self.gateways.get(name).ok_or_else(|| UnknownGateway(name.to_owned()))
    }
}
