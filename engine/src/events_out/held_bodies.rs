//! Event bodies made at fan-out, held for the attempts that follow it so that they send what
//! was read once rather than reading, decoding and opening the event again each.
//!
//! A body is held only briefly and within a budget: one that waits longer (behind an earlier
//! event about its object, or for a retry) is read again when its attempt comes, so that what
//! is sent then is what the store holds then — a customer's personal data erased meanwhile is
//! not sent from memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::domain::EventId;

/// Bytes of bodies held at most; past it, events are read again at their attempt.
const HELD_BYTES_MAX: usize = 32 * 1024 * 1024;
/// How long a body may be sent from memory after it was made.
const HELD_FOR: Duration = Duration::from_secs(5);

pub struct HeldBodies {
    bodies: HashMap<EventId, (Bytes, Instant)>,
    bytes: usize,
    last_swept: Instant,
}

impl Default for HeldBodies {
    fn default() -> HeldBodies {
        HeldBodies { bodies: HashMap::new(), bytes: 0, last_swept: Instant::now() }
    }
}

impl HeldBodies {
    /// Whether a body of `len` bytes fits the budget now.
    pub fn has_room_for(&self, len: usize) -> bool {
        self.bytes + len <= HELD_BYTES_MAX
    }

    pub fn hold(&mut self, event: EventId, body: Bytes) {
        if self.last_swept.elapsed() >= HELD_FOR {
            self.release_stale();
        }
        if !self.has_room_for(body.len()) {
            return;
        }
        self.bytes += body.len();
        if let Some((previous, _)) = self.bodies.insert(event, (body, Instant::now())) {
            self.bytes -= previous.len();
        }
    }

    /// The event's body, if it is held and still fresh.
    pub fn fresh(&self, event: &EventId) -> Option<Bytes> {
        let (body, made) = self.bodies.get(event)?;
        (made.elapsed() < HELD_FOR).then(|| body.clone())
    }

    pub fn release(&mut self, event: &EventId) {
        if let Some((body, _)) = self.bodies.remove(event) {
            self.bytes -= body.len();
        }
    }

    /// Lets go of the bodies too old to be sent from memory.
    fn release_stale(&mut self) {
        self.last_swept = Instant::now();
        let bytes = &mut self.bytes;
        self.bodies.retain(|_, (body, made)| {
            let keep = made.elapsed() < HELD_FOR;
            if !keep {
                *bytes -= body.len();
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_within_its_budget_and_counts_what_it_lets_go() {
        let (first, second) = (EventId::generate(), EventId::generate());
        let mut held = HeldBodies::default();
        held.hold(first.clone(), Bytes::from(vec![b'x'; HELD_BYTES_MAX - 10]));
        assert!(held.fresh(&first).is_some());
        held.hold(second.clone(), Bytes::from_static(&[b'y'; 11]));
        assert!(held.fresh(&second).is_none(), "past the budget, nothing more is held");
        held.release(&first);
        assert_eq!(held.bytes, 0);
        held.hold(second.clone(), Bytes::from_static(&[b'y'; 11]));
        assert_eq!(held.fresh(&second).as_deref(), Some(&[b'y'; 11][..]));
    }

    #[test]
    fn a_stale_body_is_not_handed_out_and_is_let_go() {
        let event = EventId::generate();
        let mut held = HeldBodies::default();
        held.hold(event.clone(), Bytes::from_static(b"{}"));
        let (_, made) = held.bodies.get_mut(&event).expect("held");
        *made -= HELD_FOR;
        assert!(held.fresh(&event).is_none());
        held.release_stale();
        assert!(held.bodies.is_empty());
        assert_eq!(held.bytes, 0);
    }
}
