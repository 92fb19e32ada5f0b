//! `entitlements`: `GET /v1/customers/{id}/entitlements` for customers taken in turn, each with
//! an active subscription to one plan with features. The engine answers from the customer's actor
//! (the plan's features cached engine-wide, no storage read): Kassa's in-memory read path.
//!
//! One answer in `ENTITLEMENTS_CHECK_ONE_IN`, drawn at random, is read in full: it must be 200
//! with exactly the plan's features, each with `source` = the customer's subscription and
//! `expires_at: null` (an active subscription grants while it stays valid), and `has_more:
//! false`. The others are judged on their status alone, so parsing JSON does not take the
//! client's share of the two cores away from the load. Customers are taken in turn rather than
//! at random, so each is read equally often, and with far more customers than connections two
//! reads of one customer are rarely in flight together.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hyper::StatusCode;
use parking_lot::Mutex;
use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use super::{KIND_ENTITLEMENTS, KIND_ENTITLEMENTS_CHECKED, Planned, error_code, expect_success};
use crate::client::Answer;
use crate::limits::{ENTITLEMENTS_CHECK_ONE_IN, ENTITLEMENTS_MISMATCHES_KEPT_MAX};
use crate::renewals::{excerpt, path_segment};
use crate::target::RequestSpec;

/// The error code of a checked answer that is not the expected list.
pub const ENTITLEMENTS_MISMATCH: &str = "entitlements_mismatch";

/// A customer and the subscription that grants its features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub customer: String,
    pub subscription: String,
}

/// What the setup made: the plan, its features, and its subscribers.
#[derive(Debug, Clone)]
pub struct EntitlementsFleet {
    pub plan: String,
    pub features: Vec<String>,
    pub subscribers: Vec<Subscriber>,
}

/// The answers read in full, warm-up included, and how many of them were wrong.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EntitlementChecks {
    pub checked: u64,
    pub mismatched: u64,
    /// The first mismatches, described (at most `ENTITLEMENTS_MISMATCHES_KEPT_MAX`).
    pub examples: Vec<String>,
}

pub struct EntitlementsWorkload {
    plan: String,
    /// The plan's features, sorted: what every answer must list.
    features: Vec<String>,
    subscribers: Vec<Subscriber>,
    /// Each subscriber's request path, built once.
    paths: Vec<String>,
    /// A path's subscriber, to judge a checked answer.
    by_path: HashMap<String, usize>,
    next: AtomicUsize,
    checked: AtomicU64,
    mismatched: AtomicU64,
    examples: Mutex<Vec<String>>,
}

#[derive(Deserialize)]
struct ListAnswer {
    object: String,
    data: Vec<GrantAnswer>,
    has_more: bool,
}

#[derive(Deserialize)]
struct GrantAnswer {
    feature: String,
    source: String,
    expires_at: Option<i64>,
}

impl EntitlementsWorkload {
    pub fn new(fleet: EntitlementsFleet) -> Self {
        assert!(!fleet.subscribers.is_empty(), "an entitlements workload needs subscribers");
        let EntitlementsFleet { plan, mut features, subscribers } = fleet;
        features.sort();
        let paths: Vec<String> = subscribers
            .iter()
            .map(|subscriber| {
                format!("/v1/customers/{}/entitlements", path_segment(&subscriber.customer))
            })
            .collect();
        let by_path = paths.iter().enumerate().map(|(index, path)| (path.clone(), index)).collect();
        Self {
            plan,
            features,
            subscribers,
            paths,
            by_path,
            next: AtomicUsize::new(0),
            checked: AtomicU64::new(0),
            mismatched: AtomicU64::new(0),
            examples: Mutex::new(Vec::new()),
        }
    }

    pub fn plan_id(&self) -> &str {
        &self.plan
    }

    pub fn features(&self) -> &[String] {
        &self.features
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    pub fn plan(&self, rng: &mut SmallRng) -> Planned {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.paths[turn % self.paths.len()].clone();
        let kind = match rng.random_ratio(1, ENTITLEMENTS_CHECK_ONE_IN) {
            true => KIND_ENTITLEMENTS_CHECKED,
            false => KIND_ENTITLEMENTS,
        };
        Planned::call(kind, RequestSpec::get(path))
    }

    pub fn judge(&self, planned: &Planned, answer: &Answer) -> Result<(), String> {
        if planned.kind != KIND_ENTITLEMENTS_CHECKED {
            return expect_success(answer);
        }
        let index = *self.by_path.get(&planned.spec.path).expect("the workload planned the path");
        let subscriber = &self.subscribers[index];
        self.checked.fetch_add(1, Ordering::Relaxed);
        let Err(problem) = self.check(subscriber, answer) else { return Ok(()) };
        self.mismatched.fetch_add(1, Ordering::Relaxed);
        let mut examples = self.examples.lock();
        if examples.len() < ENTITLEMENTS_MISMATCHES_KEPT_MAX {
            examples.push(format!(
                "{} ({}): {problem}: {}",
                subscriber.customer,
                subscriber.subscription,
                excerpt(&answer.body)
            ));
        }
        match answer.status.is_success() {
            true => Err(ENTITLEMENTS_MISMATCH.to_owned()),
            false => Err(error_code(answer)),
        }
    }

    /// Whether `answer` lists exactly the plan's features, each granted by `subscriber`'s
    /// subscription for as long as it stays valid.
    fn check(&self, subscriber: &Subscriber, answer: &Answer) -> Result<(), String> {
        if answer.status != StatusCode::OK {
            return Err(format!("answered {}", answer.status.as_u16()));
        }
        let list: ListAnswer = serde_json::from_slice(&answer.body)
            .map_err(|error| format!("not an entitlements list ({error})"))?;
        if list.object != "list" || list.has_more {
            return Err(format!("object {:?}, has_more {}", list.object, list.has_more));
        }
        let mut features: Vec<&str> =
            list.data.iter().map(|grant| grant.feature.as_str()).collect();
        features.sort_unstable();
        if features != self.features {
            return Err(format!("features {features:?}, expected {:?}", self.features));
        }
        let foreign = list.data.iter().find(|grant| grant.source != subscriber.subscription);
        if let Some(grant) = foreign {
            return Err(format!("{} granted by {}", grant.feature, grant.source));
        }
        let expiring = list.data.iter().find(|grant| grant.expires_at.is_some());
        if let Some(grant) = expiring {
            return Err(format!(
                "{} expires at {:?}, expected null",
                grant.feature, grant.expires_at
            ));
        }
        Ok(())
    }

    /// The checks so far.
    pub fn checks(&self) -> EntitlementChecks {
        EntitlementChecks {
            checked: self.checked.load(Ordering::Relaxed),
            mismatched: self.mismatched.load(Ordering::Relaxed),
            examples: self.examples.lock().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rand::SeedableRng;

    use super::*;

    fn workload() -> EntitlementsWorkload {
        EntitlementsWorkload::new(EntitlementsFleet {
            plan: "plan_1".into(),
            features: vec!["reports".into(), "courses".into()],
            subscribers: (0..3)
                .map(|index| Subscriber {
                    customer: format!("cus_{index}"),
                    subscription: format!("sub_{index}"),
                })
                .collect(),
        })
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            replayed: false,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn checked(path: &str) -> Planned {
        Planned::call(KIND_ENTITLEMENTS_CHECKED, RequestSpec::get(path.to_owned()))
    }

    fn list(source: &str, features: &[&str]) -> String {
        let data: Vec<_> = features
            .iter()
            .map(|feature| {
                serde_json::json!({"object": "entitlement", "feature": feature, "source": source, "expires_at": null})
            })
            .collect();
        serde_json::json!({"object": "list", "data": data, "has_more": false}).to_string()
    }

    #[test]
    fn customers_are_read_in_turn_and_about_one_answer_in_64_is_checked() {
        let workload = workload();
        let mut rng = SmallRng::seed_from_u64(3);
        let paths: Vec<_> = (0..4).map(|_| workload.plan(&mut rng).spec.path).collect();
        assert_eq!(paths[0], "/v1/customers/cus_0/entitlements");
        assert_eq!(paths[2], "/v1/customers/cus_2/entitlements");
        assert_eq!(paths[3], paths[0]);
        let checked = (0..64_000)
            .filter(|_| workload.plan(&mut rng).kind == KIND_ENTITLEMENTS_CHECKED)
            .count();
        assert!((800..1_200).contains(&checked), "{checked}");
    }

    #[test]
    fn a_checked_answer_must_list_the_plans_features_from_the_customers_subscription() {
        let workload = workload();
        let planned = checked("/v1/customers/cus_1/entitlements");
        let good = answer(200, &list("sub_1", &["courses", "reports"]));
        assert_eq!(workload.judge(&planned, &good), Ok(()));

        let wrong = [
            answer(200, &list("sub_2", &["courses", "reports"])),
            answer(200, &list("sub_1", &["courses"])),
            answer(200, &list("sub_1", &["courses", "reports", "reports"])),
            answer(200, r#"{"object":"list","data":[],"has_more":true}"#),
            answer(200, "not json"),
        ];
        for answer in &wrong {
            assert_eq!(workload.judge(&planned, answer), Err(ENTITLEMENTS_MISMATCH.to_owned()));
        }
        let missing =
            answer(404, r#"{"error":{"type":"invalid_request_error","code":"not_found"}}"#);
        assert_eq!(workload.judge(&planned, &missing), Err("http_404_not_found".to_owned()));

        let checks = workload.checks();
        assert_eq!((checks.checked, checks.mismatched), (7, 6));
        assert!(checks.examples[0].contains("granted by sub_2"), "{:?}", checks.examples);
    }

    #[test]
    fn unchecked_answers_are_judged_on_their_status() {
        let workload = workload();
        let planned = Planned::call(
            KIND_ENTITLEMENTS,
            RequestSpec::get("/v1/customers/cus_0/entitlements".to_owned()),
        );
        assert_eq!(workload.judge(&planned, &answer(200, "{}")), Ok(()));
        assert_eq!(workload.judge(&planned, &answer(503, "")), Err("http_503".to_owned()));
        assert_eq!(workload.checks().checked, 0);
    }
}
