//! `customers`: `GET /v1/customers/{id}` for customers taken in turn, each made with an email,
//! a name, a phone, an address and metadata. The engine reads the record from the store and
//! opens its sealed personal fields: the read path that sealing at rest costs on.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::SmallRng;

use super::{KIND_READ_CUSTOMER, Planned};
use crate::target::RequestSpec;

/// A customer's body with every personal field the engine seals.
pub const PERSONAL_CUSTOMER_BODY: &str = r#"{"email":"parent@example.org","name":"Wanjiru Kamau","phone":"+254712345678","address":{"country":"KE","region":"Nairobi","postal_code":"00100"},"metadata":{"student":"Amani Kamau","school":"Greenfield"}}"#;

pub struct CustomerReadWorkload {
    paths: Vec<String>,
    next: AtomicUsize,
}

impl CustomerReadWorkload {
    pub fn new(customers: Vec<String>) -> Self {
        let paths = customers.iter().map(|id| format!("/v1/customers/{id}")).collect();
        Self { paths, next: AtomicUsize::new(0) }
    }

    pub fn plan(&self, _rng: &mut SmallRng) -> Planned {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.paths[turn % self.paths.len()].clone();
        Planned::call(KIND_READ_CUSTOMER, RequestSpec::get(path))
    }
}
