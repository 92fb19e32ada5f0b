//! Where one connection is, as its time limits see it, and the deadline that follows.
//!
//! hyper's own `header_read_timeout` starts as soon as a connection waits for a request, also
//! between two requests on a kept-alive connection, so it would close idle connections after the
//! header timeout and leave no idle timeout of its own. Kassa tells the two apart: a connection
//! waiting for the first byte of its next request is *idle*; from that byte (or from the
//! connection's opening) until the request's head is parsed it is reading a *head*; while a
//! request is served, its body has a limit of its own (`server.body_timeout_ms`, in the API) and
//! its answer the request timeout, so the connection has no deadline.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// The time limits of a connection between requests.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a request's first byte (or the connection's opening) to the end of its head.
    pub header: Duration,
    /// From an answer to the first byte of the next request.
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the first byte of a request.
    Idle,
    /// A request's head has begun, or the connection has just opened.
    Head,
    /// A request is being served.
    Serving,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Head => "head",
            Phase::Serving => "serving",
        }
    }
}

#[derive(Debug)]
struct State {
    phase: Phase,
    deadline: Option<Instant>,
}

/// Shared by a connection's socket (which sees bytes arrive), its service (which sees requests
/// start and finish) and its task (which closes it at the deadline). All three are polled by the
/// connection's one task, so the lock is never contended.
#[derive(Debug, Clone)]
pub struct ConnectionPhase {
    state: Arc<Mutex<State>>,
    timeouts: Timeouts,
}

impl ConnectionPhase {
    /// A connection just accepted: it must send a whole request head within the header timeout.
    pub fn opened(timeouts: Timeouts) -> ConnectionPhase {
        let state = State { phase: Phase::Head, deadline: Some(Instant::now() + timeouts.header) };
        ConnectionPhase { state: Arc::new(Mutex::new(state)), timeouts }
    }

    pub fn current(&self) -> (Phase, Option<Instant>) {
        let state = self.state.lock();
        (state.phase, state.deadline)
    }

    /// Bytes arrived: if the connection was idle, a request's head has begun.
    pub fn bytes_arrived(&self) {
        let mut state = self.state.lock();
        if state.phase == Phase::Idle {
            state.phase = Phase::Head;
            state.deadline = Some(Instant::now() + self.timeouts.header);
        }
    }

    /// A request's head was parsed and handed to the service.
    pub fn serving(&self) {
        let mut state = self.state.lock();
        state.phase = Phase::Serving;
        state.deadline = None;
    }

    /// The service answered: the connection waits for the next request.
    pub fn answered(&self) {
        let mut state = self.state.lock();
        state.phase = Phase::Idle;
        state.deadline = Some(Instant::now() + self.timeouts.idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts =
        Timeouts { header: Duration::from_secs(10), idle: Duration::from_secs(60) };

    /// `phase` is in `expected`, with a deadline `timeout` after a moment since `before`.
    fn assert_deadline(
        phase: &ConnectionPhase,
        expected: Phase,
        before: Instant,
        timeout: Duration,
    ) {
        let (current, deadline) = phase.current();
        let deadline = deadline.expect("a deadline");
        assert_eq!(current, expected);
        assert!(before + timeout <= deadline && deadline <= Instant::now() + timeout);
    }

    #[tokio::test]
    async fn each_phase_has_its_own_deadline() {
        let before = Instant::now();
        let phase = ConnectionPhase::opened(TIMEOUTS);
        assert_deadline(&phase, Phase::Head, before, TIMEOUTS.header);
        phase.serving();
        assert_eq!(phase.current(), (Phase::Serving, None));
        phase.bytes_arrived();
        assert_eq!(phase.current(), (Phase::Serving, None), "a body's bytes start no head");
        let before = Instant::now();
        phase.answered();
        assert_deadline(&phase, Phase::Idle, before, TIMEOUTS.idle);
        let before = Instant::now();
        phase.bytes_arrived();
        assert_deadline(&phase, Phase::Head, before, TIMEOUTS.header);
        let (_, head_deadline) = phase.current();
        phase.bytes_arrived();
        assert_eq!(phase.current(), (Phase::Head, head_deadline), "more bytes do not extend it");
    }
}
