//! The schedule's step for an invoice's deferred revenue: at each month's start (and at the
//! end of its service period) the invoice is recognized through that instant, and the books'
//! writer posts what that earned (see [`crate::ledger::accrual`]). Test clocks drive it as
//! they drive renewals.

use super::renewals::Step;
use crate::actor::{ActorError, CustomerActor};
use crate::domain::InvoiceId;
use crate::ledger::accrual::next_recognition;
use crate::store::Write;

impl CustomerActor {
    pub(crate) fn recognition_due_step(
        &mut self,
        id: &InvoiceId,
        at: i64,
    ) -> Result<Step, ActorError> {
        let Some(mut invoice) = self.services.store.invoice(&self.key.account, id)? else {
            return Ok(Step::Nothing);
        };
        let Some(due) = next_recognition(&invoice).filter(|due| *due <= at) else {
            return Ok(Step::Nothing);
        };
        invoice.recognized_through = Some(due);
        let mut changes = self.changes();
        changes.push(Write::Invoice(invoice));
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }

    pub(crate) fn recognition_next_due(&self, id: &InvoiceId) -> Result<Option<i64>, ActorError> {
        let invoice = self.services.store.invoice(&self.key.account, id)?;
        Ok(invoice.as_ref().and_then(next_recognition))
    }
}
