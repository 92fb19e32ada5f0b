//! The registry: which customer actors are resident, on which arbiter, and since when idle.
//!
//! Customers are sharded over one actix arbiter (thread) per core by a hash of their key. An
//! actor is spawned on first use (after checking the customer exists, so unknown ids cost no
//! actor) and hydrates itself from the store. A sweep asks actors idle past `idle_timeout` to
//! stop, and when more than `resident_max` are resident, the least recently used ones too; an
//! actor with work under way declines and is asked again next sweep. A spawn that takes the
//! count past `resident_max` wakes the sweep at once, so the count falls back within moments.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Arbiter, ArbiterHandle, Handler, MailboxError, Message};

use super::customer::Refresh;
use super::messages::StopIfIdle;
use super::{ActorError, CustomerActor, CustomerKey, Services};
use crate::limits::{ACTOR_RESOLVE_ATTEMPTS_MAX, SWEEP_GAP_MIN};

#[derive(Debug, Clone)]
pub struct RegistryLimits {
    pub idle_timeout: Duration,
    pub resident_max: usize,
    pub mailbox_len_max: usize,
    pub sweep_interval: Duration,
    pub shards: usize,
}

struct Entry {
    addr: Addr<CustomerActor>,
    generation: u64,
    last_used: Instant,
}

struct Shard {
    arbiter: ArbiterHandle,
    actors: Mutex<HashMap<CustomerKey, Entry>>,
}

pub struct RegistryInner {
    shards: Vec<Shard>,
    hasher: std::collections::hash_map::RandomState,
    services: Services,
    limits: RegistryLimits,
    next_generation: AtomicU64,
    resident: AtomicUsize,
    /// The sweeper, woken early when a spawn takes the count past `resident_max`.
    sweeper: OnceLock<Thread>,
}

/// Cheap to clone; all clones share the actors.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    /// Starts the actor system on its own thread with `limits.shards` arbiters.
    pub fn start(services: Services, limits: RegistryLimits) -> Registry {
        let shard_count = limits.shards.max(1);
        let (arbiters_sender, arbiters) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("kassa-actors".into())
            .spawn(move || {
                let system = actix::System::new();
                system.block_on(async move {
                    let handles: Vec<ArbiterHandle> =
                        (0..shard_count).map(|_| Arbiter::new().handle()).collect();
                    let _ = arbiters_sender.send(handles);
                });
                let _ = system.run();
            })
            .expect("the actor system thread starts");
        let handles = arbiters.recv().expect("the actor system reports its arbiters");
        let shards = handles
            .into_iter()
            .map(|arbiter| Shard { arbiter, actors: Mutex::new(HashMap::new()) })
            .collect();
        let registry = Registry {
            inner: Arc::new(RegistryInner {
                shards,
                hasher: Default::default(),
                services,
                limits,
                next_generation: AtomicU64::new(1),
                resident: AtomicUsize::new(0),
                sweeper: OnceLock::new(),
            }),
        };
        registry.start_sweeper();
        registry
    }

    /// Actors currently in memory.
    pub fn resident(&self) -> usize {
        self.inner.resident.load(Ordering::Relaxed)
    }

    /// Sends a message to the customer's actor, spawning it if needed. An actor that stopped
    /// (idle, evicted) under the message refused it before changing anything, so the message is
    /// sent again to a fresh actor.
    pub async fn send<M>(&self, key: &CustomerKey, message: M) -> Result<M::Result, ActorError>
    where
        M: Message + Clone + Send + 'static,
        M::Result: Send + IsUnavailable,
        CustomerActor: Handler<M>,
        <CustomerActor as Actor>::Context: ToEnvelope<CustomerActor, M>,
    {
        for _ in 0..ACTOR_RESOLVE_ATTEMPTS_MAX {
            let (addr, generation) = self.resolve(key)?;
            let answer = {
                let _counted = MessageInFlight::new();
                // Ahead of the message in the mailbox: the message is decided on the customer
                // as it is now, should another node have changed it (no other node can on a
                // store of its own).
                if self.inner.services.store.shared() {
                    addr.do_send::<Refresh>(Refresh);
                }
                addr.send(message.clone()).await
            };
            match answer {
                Ok(answer) if answer.is_unavailable() => {
                    self.inner.remove(key, generation);
                }
                Ok(answer) => return Ok(answer),
                Err(MailboxError::Closed) | Err(MailboxError::Timeout) => {
                    self.inner.remove(key, generation);
                }
            }
            tokio::task::yield_now().await;
        }
        Err(ActorError::Unavailable(format!("customer {} has no live actor", key.customer)))
    }

    fn resolve(&self, key: &CustomerKey) -> Result<(Addr<CustomerActor>, u64), ActorError> {
        let inner = &self.inner;
        let shard = inner.shard(key);
        if let Some(entry) = lock(&shard.actors).get_mut(key) {
            entry.last_used = Instant::now();
            return Ok((entry.addr.clone(), entry.generation));
        }
        // Customers are never deleted, so a customer found here still exists when spawned.
        if inner.services.store.customer(&key.account, &key.customer)?.is_none() {
            return Err(ActorError::NotFound { kind: "customer", id: key.customer.to_string() });
        }
        let mut actors = lock(&shard.actors);
        if let Some(entry) = actors.get_mut(key) {
            entry.last_used = Instant::now();
            return Ok((entry.addr.clone(), entry.generation));
        }
        let generation = inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let services = inner.services.clone();
        let registry = Arc::downgrade(&self.inner);
        let mailbox_len_max = inner.limits.mailbox_len_max;
        let actor_key = key.clone();
        let addr = CustomerActor::start_in_arbiter(&shard.arbiter, move |ctx| {
            ctx.set_mailbox_capacity(mailbox_len_max);
            CustomerActor::new(actor_key, generation, services, registry)
        });
        actors.insert(
            key.clone(),
            Entry { addr: addr.clone(), generation, last_used: Instant::now() },
        );
        drop(actors);
        let resident = inner.resident.fetch_add(1, Ordering::Relaxed) + 1;
        if resident > inner.limits.resident_max {
            // Past the cap: evict now rather than at the next scheduled sweep.
            if let Some(sweeper) = inner.sweeper.get() {
                sweeper.unpark();
            }
        }
        Ok((addr, generation))
    }

    fn start_sweeper(&self) {
        let registry = Arc::downgrade(&self.inner);
        let interval = self.inner.limits.sweep_interval;
        let sweeper = std::thread::Builder::new()
            .name("kassa-actor-sweep".into())
            .spawn(move || {
                loop {
                    std::thread::park_timeout(interval);
                    match registry.upgrade() {
                        Some(registry) => registry.sweep(),
                        None => return,
                    }
                    // Early wake-ups under sustained over-cap load must not spin the sweep.
                    std::thread::sleep(SWEEP_GAP_MIN);
                }
            })
            .expect("the sweeper thread starts");
        let _ = self.inner.sweeper.set(sweeper.thread().clone());
    }

    pub(super) fn services(&self) -> &Services {
        &self.inner.services
    }
}

impl RegistryInner {
    fn shard(&self, key: &CustomerKey) -> &Shard {
        &self.shards[(self.hasher.hash_one(key) % self.shards.len() as u64) as usize]
    }

    /// Forgets an actor that stopped, unless a newer one already took its place.
    pub(super) fn remove(&self, key: &CustomerKey, generation: u64) {
        let mut actors = lock(&self.shard(key).actors);
        if actors.get(key).is_some_and(|entry| entry.generation == generation) {
            actors.remove(key);
            self.resident.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Asks idle actors, and past `resident_max` the least recently used ones, to stop.
    fn sweep(&self) {
        let now = Instant::now();
        let mut candidates = Vec::new();
        for shard in &self.shards {
            for entry in lock(&shard.actors).values() {
                candidates.push((entry.last_used, entry.addr.clone()));
            }
        }
        let surplus = candidates.len().saturating_sub(self.limits.resident_max);
        candidates.sort_by_key(|(last_used, _)| *last_used);
        for (index, (last_used, addr)) in candidates.into_iter().enumerate() {
            let idle = now.duration_since(last_used) >= self.limits.idle_timeout;
            if index < surplus || idle {
                addr.do_send(StopIfIdle);
            } else {
                break;
            }
        }
    }
}

/// Counts a message in `kassa_actor_mailbox_depth` for as long as it lives, however the wait
/// for its answer ends.
struct MessageInFlight;

impl MessageInFlight {
    fn new() -> MessageInFlight {
        crate::metrics::global().actor_messages_in_flight.inc();
        MessageInFlight
    }
}

impl Drop for MessageInFlight {
    fn drop(&mut self) {
        crate::metrics::global().actor_messages_in_flight.dec();
    }
}

/// Answers that mean "this actor is stopping; nothing was done, try a fresh one".
pub trait IsUnavailable {
    fn is_unavailable(&self) -> bool;
}

impl<T> IsUnavailable for Result<T, ActorError> {
    fn is_unavailable(&self) -> bool {
        matches!(self, Err(ActorError::Stopping))
    }
}
