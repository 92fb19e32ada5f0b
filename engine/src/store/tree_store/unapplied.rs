//! Which gateway events a start must apply again, without a write per event to say so.
//!
//! Kassa's event ids are time-ordered. Every gateway event's id is handed out here, and the id
//! stays *waiting* from then until the event's outcome is durable (or it named nothing stored: a
//! duplicate delivery, a failed insert). Now and then the store persists the low watermark: the
//! oldest waiting id, or a fresh id when none waits. Every event older than a persisted watermark
//! has its outcome durably written, so a start looks only at events from the watermark on.
//!
//! Ids are handed out and the watermark taken under one lock, and the id generator never goes
//! back within a process: no id handed out after a watermark sorts before it. A start that finds
//! events not yet applied marks them waiting again before anything else is handed out.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::EventId;

/// How often the watermark is persisted, at most: a start re-reads the events of about this long
/// before a crash (plus any still waiting), and steady ingestion pays one write per interval.
const WATERMARK_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct UnappliedEvents {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Ids handed out and not yet known applied durably, with the group-commit sequence under
    /// which the outcome was written once it was.
    waiting: BTreeMap<EventId, Option<u64>>,
    watermark_taken: Option<Instant>,
}

impl UnappliedEvents {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fresh id for an event about to be stored: waiting from now on.
    pub fn issue(&self) -> EventId {
        let mut state = self.state();
        let id = EventId::generate();
        state.waiting.insert(id.clone(), None);
        id
    }

    /// An event a start found stored and not applied: waiting again.
    pub fn resume(&self, id: EventId) {
        self.state().waiting.insert(id, None);
    }

    /// The id names nothing that was stored.
    pub fn withdraw(&self, id: &EventId) {
        self.state().waiting.remove(id);
    }

    /// The event's outcome was written; durable once the group commit reaches `sequence`.
    pub fn applied(&self, id: &EventId, sequence: u64) {
        if let Some(entry) = self.state().waiting.get_mut(id) {
            *entry = Some(sequence);
        }
    }

    /// The watermark to persist, when one is due: `durable` is the group commit's highest
    /// durable sequence.
    pub fn watermark_due(&self, durable: u64, now: Instant) -> Option<EventId> {
        let mut state = self.state();
        if state.watermark_taken.is_some_and(|taken| now.duration_since(taken) < WATERMARK_EVERY) {
            return None;
        }
        state.watermark_taken = Some(now);
        state.waiting.retain(|_, applied| applied.is_none_or(|sequence| sequence > durable));
        Some(match state.waiting.keys().next() {
            Some(oldest) => oldest.clone(),
            None => EventId::generate(),
        })
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.state().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_stays_at_the_oldest_event_not_durably_applied() {
        let events = UnappliedEvents::default();
        let start = Instant::now();
        let first = events.issue();
        let second = events.issue();
        assert!(first < second, "ids are handed out in order");

        events.applied(&second, 1);
        assert_eq!(events.watermark_due(1, start), Some(first.clone()), "the first still waits");
        assert_eq!(events.watermark_due(1, start), None, "at most one per interval");

        let later = start + WATERMARK_EVERY;
        events.applied(&first, 2);
        assert_eq!(
            events.watermark_due(1, later),
            Some(first.clone()),
            "applied, but its outcome is not durable yet"
        );

        let watermark = events.watermark_due(2, later + WATERMARK_EVERY).unwrap();
        assert!(watermark > second, "nothing waits: a fresh id, after every id handed out");
        assert_eq!(events.waiting(), 0);
        assert!(events.issue() > watermark, "and every id handed out later sorts after it");
    }

    #[test]
    fn withdrawn_and_resumed_ids() {
        let events = UnappliedEvents::default();
        let duplicate = events.issue();
        events.withdraw(&duplicate);
        let found_at_start = EventId::generate();
        events.resume(found_at_start.clone());
        assert_eq!(events.watermark_due(0, Instant::now()), Some(found_at_start));
    }
}
