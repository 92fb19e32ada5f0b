//! Turns that price with the account's rules ([`crate::rules::turn`]). A turn that stopped for
//! a rule call too long for the actor's thread is run again once that call is made on the rule
//! threads. While it is made, the actor's thread serves the other customers of its shard and
//! the actor its other messages; the turn run again decides on the state as it then is, as a
//! message that arrived then would.

use std::sync::Arc;

use actix::{ActorFutureExt, Context, ResponseActFuture, WrapFuture, fut};

use crate::actor::{ActorError, CustomerActor};
use crate::limits::RULE_ROUNDS_MAX;
use crate::rules::CallError;

/// A message's turn as its handler runs it.
pub(crate) type Turn<M, R> = fn(
    &mut CustomerActor,
    M,
    &mut Context<CustomerActor>,
) -> ResponseActFuture<CustomerActor, Result<R, ActorError>>;

impl CustomerActor {
    /// Runs `turn` for `message`, and again after each rule call it needed made on the rule
    /// threads.
    pub(crate) fn in_rule_rounds<M: Clone + 'static, R: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        message: M,
        turn: Turn<M, R>,
    ) -> ResponseActFuture<Self, Result<R, ActorError>> {
        self.rule_round(ctx, message, turn, 1)
    }

    fn rule_round<M: Clone + 'static, R: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        message: M,
        turn: Turn<M, R>,
        round: u32,
    ) -> ResponseActFuture<Self, Result<R, ActorError>> {
        let again = message.clone();
        Box::pin(turn(self, message, ctx).then(move |answer, actor, ctx| {
            if let Err(ActorError::Rule(_) | ActorError::NeedsRuleThreads(_)) = &answer {
                // The turn stopped where a rule did: memory may hold what it changed before
                // without committing; the store holds what it kept.
                actor.reload_state(ctx);
            }
            let pending = match answer {
                Err(ActorError::NeedsRuleThreads(pending)) => pending,
                answer => return Box::pin(fut::ready(answer)) as ResponseActFuture<_, _>,
            };
            let kind = pending.rule.plugin.kind();
            if round == RULE_ROUNDS_MAX {
                let cause = format!(
                    "one request needed more than {RULE_ROUNDS_MAX} of its calls, each too long \
                     to make inline"
                );
                return Box::pin(fut::ready(Err(ActorError::Rule(CallError::Failed {
                    kind,
                    cause,
                }))));
            }
            let rules = Arc::clone(&actor.services.rules);
            let account = actor.key.account.clone();
            actor.in_flight += 1;
            let made = async move { rules.call_on_threads(&account, *pending).await };
            Box::pin(made.into_actor(actor).then(move |made, actor, ctx| {
                actor.in_flight -= 1;
                let kept = match made {
                    Ok(made) => actor.rule_answers.keep(made),
                    Err(error) => Err(CallError::Failed { kind, cause: error.to_string() }),
                };
                match kept {
                    Ok(()) => actor.rule_round(ctx, again, turn, round + 1),
                    Err(error) => Box::pin(fut::ready(Err(ActorError::Rule(error)))),
                }
            }))
        }))
    }
}
