//! The threads that run rule calls too long for the API's own workers (the full lane of
//! [`super::plugin`]). Not tokio's blocking pool: that one grows to hundreds of threads, each as
//! important to the scheduler as the API's workers, so a flood of slow rules from one account
//! took the cores from every request. Here:
//! - a fixed number of threads (`rules.threads`, half the cores by default), at a lower
//!   priority than the API
//!   ([`RULE_THREAD_NICE`]): rules get the CPU the API leaves;
//! - one queue per account, served in turns: an account with many calls queued waits behind its
//!   own, and another account's call is taken at the next turn, not after all of them.
//!
//! What is queued is bounded by the rule-call slots ([`super::slots`]) each call holds.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::RulesError;
use crate::domain::AccountId;
use crate::limits::RULE_THREAD_NICE;

type Job = Box<dyn FnOnce() + Send>;

pub struct RulePool {
    shared: Arc<Shared>,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
}

#[derive(Default)]
struct Queues {
    by_account: HashMap<AccountId, VecDeque<Job>>,
    /// Accounts with queued jobs, in the order they are served; each appears once.
    turns: VecDeque<AccountId>,
    closed: bool,
}

impl Queues {
    fn push(&mut self, account: &AccountId, job: Job) {
        let queue = self.by_account.entry(account.clone()).or_default();
        if queue.is_empty() {
            self.turns.push_back(account.clone());
        }
        queue.push_back(job);
    }

    /// The next account's oldest job; the account goes to the back of the turns if it has more.
    fn next(&mut self) -> Option<Job> {
        let account = self.turns.pop_front()?;
        let queue = self.by_account.get_mut(&account).expect("an account in turn has a queue");
        let job = queue.pop_front().expect("an account in turn has a job");
        if queue.is_empty() {
            self.by_account.remove(&account);
        } else {
            self.turns.push_back(account);
        }
        Some(job)
    }
}

impl RulePool {
    /// Starts `threads` threads (0: half the cores, at least one: whatever the rules do, the
    /// other half stays the API's even before priorities count).
    pub fn start(threads: usize) -> std::io::Result<RulePool> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1)),
            threads => threads,
        };
        let shared =
            Arc::new(Shared { queues: Mutex::new(Queues::default()), ready: Condvar::new() });
        for index in 0..threads {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("kassa-rules-{index}"))
                .spawn(move || serve(&shared))?;
        }
        Ok(RulePool { shared })
    }

    /// Runs `work` on a rule thread in `account`'s turn, and answers what it returns.
    pub async fn run<T: Send + 'static>(
        &self,
        account: &AccountId,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, RulesError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (its request timed out): nobody to tell.
            let _ = answer.send(work());
        });
        self.shared.queues.lock().push(account, job);
        self.shared.ready.notify_one();
        // A job that panicked dropped its sender unanswered.
        answered.await.map_err(|_| RulesError("a rule call's thread failed".to_owned()))
    }
}

impl Drop for RulePool {
    fn drop(&mut self) {
        self.shared.queues.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

fn serve(shared: &Shared) {
    lower_priority();
    loop {
        let job = {
            let mut queues = shared.queues.lock();
            loop {
                if queues.closed {
                    return;
                }
                if let Some(job) = queues.next() {
                    break job;
                }
                shared.ready.wait(&mut queues);
            }
        };
        // A panic is one call's failure (its caller is told), not the thread's end.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread; on Linux the nice value is per thread,
    // and `PRIO_PROCESS` with a thread id sets that thread's alone.
    let result = unsafe {
        let thread = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, RULE_THREAD_NICE)
    };
    if result != 0 {
        let error = std::io::Error::last_os_error();
        tracing::warn!(%error, "rule threads run at the API's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(
        queues: &mut Queues,
        account: &str,
        label: &'static str,
        log: &Arc<Mutex<Vec<&'static str>>>,
    ) {
        let log = Arc::clone(log);
        let account = AccountId::parse(account).unwrap();
        queues.push(&account, Box::new(move || log.lock().push(label)));
    }

    #[test]
    fn accounts_take_turns_whatever_their_queue_length() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut queues = Queues::default();
        for label in ["b1", "b2", "b3"] {
            queued(&mut queues, "acct_b", label, &log);
        }
        queued(&mut queues, "acct_a", "a1", &log);
        queued(&mut queues, "acct_c", "c1", &log);
        queued(&mut queues, "acct_a", "a2", &log);
        while let Some(job) = queues.next() {
            job();
        }
        assert_eq!(*log.lock(), ["b1", "a1", "c1", "b2", "a2", "b3"]);
        assert!(queues.by_account.is_empty() && queues.turns.is_empty(), "nothing left behind");
    }

    #[tokio::test]
    async fn a_job_answers_and_a_panic_fails_only_its_call() {
        let pool = RulePool::start(1).unwrap();
        let account = AccountId::default_account();
        assert_eq!(pool.run(&account, || 6 * 7).await.unwrap(), 42);
        let panicked = pool.run(&account, || -> u32 { panic!("a bug in one call") }).await;
        assert!(panicked.is_err());
        assert_eq!(pool.run(&account, || "still serving").await.unwrap(), "still serving");
    }
}
