//! A test clock: a frozen "now" that customers attached to it live by. Advancing it runs what
//! falls due on its customers through the same code as real time; nothing else sees it.

use serde::{Deserialize, Serialize};

use super::TestClockId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestClockStatus {
    Ready,
    /// An advance is running what fell due; `frozen_time` is already its target.
    Advancing,
}

impl TestClockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestClockStatus::Ready => "ready",
            TestClockStatus::Advancing => "advancing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestClock {
    pub id: TestClockId,
    pub name: Option<String>,
    pub frozen_time: i64,
    pub status: TestClockStatus,
    pub created: i64,
}
