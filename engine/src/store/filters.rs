//! What a list of the store asks for: filters over records of one kind, and one page of what
//! they keep.

use crate::domain::{CustomerId, Event, EventKind, InvoiceId, OutgoingEvent, SubscriptionId};

/// Which audit events a list shows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub kind: Option<EventKind>,
    pub object_id: Option<String>,
    pub created_gte: Option<i64>,
    pub created_lte: Option<i64>,
}

impl AuditFilter {
    pub fn keeps(&self, event: &Event) -> bool {
        self.kind.is_none_or(|kind| event.kind == kind)
            && self.object_id.as_ref().is_none_or(|id| event.object_id == *id)
            && !self.before_range(event)
            && self.created_lte.is_none_or(|lte| event.created <= lte)
    }

    /// Whether the event is older than the range: every older one is too.
    pub fn before_range(&self, event: &Event) -> bool {
        self.created_gte.is_some_and(|gte| event.created < gte)
    }
}

/// Which outgoing events a list shows.
#[derive(Debug, Clone, Default)]
pub struct OutgoingFilter {
    pub kind: Option<String>,
    pub object_id: Option<String>,
}

impl OutgoingFilter {
    pub fn keeps(&self, event: &OutgoingEvent) -> bool {
        self.kind.as_ref().is_none_or(|kind| event.kind == *kind)
            && self.object_id.as_ref().is_none_or(|id| event.object_id == *id)
    }
}

/// Which charges an account-wide list shows.
#[derive(Debug, Clone, Default)]
pub struct ChargeFilter {
    pub customer: Option<CustomerId>,
    pub invoice: Option<InvoiceId>,
    pub status: Option<crate::domain::ChargeStatus>,
}

/// Which credit notes a list shows.
#[derive(Debug, Clone, Default)]
pub struct CreditNoteFilter {
    pub customer: Option<CustomerId>,
    pub invoice: Option<InvoiceId>,
}

/// Which invoices a list shows.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub customer: Option<CustomerId>,
    pub subscription: Option<SubscriptionId>,
    pub status: Option<crate::domain::InvoiceStatus>,
}

/// One page of a newest-first list.
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}
