//! The ordinary charges that run beside the renewals: `POST /v1/charges` to real-time customers
//! (not on the clock) at a fixed open-loop rate, latency from each request's intended send time,
//! as `load::open_loop` measures it (no coordinated omission). One schedule runs throughout, and
//! each arrival is counted in the window its intended send time falls in:
//!
//! - the baseline, with no renewals: after the warm-up, until the burst starts;
//! - the burst: from just before the clock is advanced until it is seen ready, when arrivals stop.
//!
//! Each window has its own recorder (an HdrHistogram and a per-second series), so both come out
//! of the same run, the same client and the same arrivals. A progress line a second shows the
//! current window.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::Pool;
use crate::limits::SCHEDULER_NAP_MAX;
use crate::load::open_loop::arrival_offset;
use crate::load::progress::Ticker;
use crate::stats::{Recorder, RunStats};
use crate::target::Endpoint;
use crate::workload::{ChargeWorkload, Workload};

const CHARGES_PATH: &str = "/v1/charges";
/// How often the end of the load checks whether the last requests are answered.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// How the charges are sent.
#[derive(Debug, Clone, Copy)]
pub struct ChargeSchedule {
    pub rate_per_sec: f64,
    /// Sockets at most.
    pub connections: usize,
    /// Requests outstanding at most; arrivals beyond count as `client_overloaded`.
    pub in_flight_max: usize,
    /// Unmeasured, before the baseline.
    pub warmup: Duration,
    pub request_timeout: Duration,
    /// No arrival at or after this, whatever happens to the burst.
    pub deadline: Instant,
}

/// The figures of both windows.
pub struct WindowStats {
    pub baseline: RunStats,
    pub burst: RunStats,
}

/// Running charges; `finish` stops them.
pub struct ChargeLoad {
    shared: Arc<Shared>,
    scheduler: JoinHandle<()>,
    started: Instant,
    warmup: Duration,
    progress: Ticker,
}

/// What the scheduler and every request task share.
struct Shared {
    endpoint: Endpoint,
    workload: Arc<Workload>,
    pool: Arc<Pool>,
    in_flight: Arc<AtomicUsize>,
    in_flight_max: usize,
    request_timeout: Duration,
    baseline: Arc<Recorder>,
    windows: Mutex<Windows>,
}

/// Where the burst window begins, and where arrivals stop; unset until they happen.
#[derive(Default)]
struct Windows {
    burst: Option<(Instant, Arc<Recorder>)>,
    stop_at: Option<Instant>,
}

impl Shared {
    /// The recorder of an arrival intended at `intended`, or `None` once arrivals have stopped.
    fn recorder_for(&self, intended: Instant) -> Option<Arc<Recorder>> {
        let windows = self.windows.lock();
        if windows.stop_at.is_some_and(|stop_at| intended >= stop_at) {
            return None;
        }
        match &windows.burst {
            Some((from, burst)) if intended >= *from => Some(Arc::clone(burst)),
            _ => Some(Arc::clone(&self.baseline)),
        }
    }

    fn stopped_by(&self, instant: Instant) -> bool {
        self.windows.lock().stop_at.is_some_and(|stop_at| instant >= stop_at)
    }
}

impl ChargeLoad {
    /// Starts charging `customers` now, in turn at random.
    pub fn start(endpoint: &Endpoint, customers: Vec<String>, schedule: ChargeSchedule) -> Self {
        assert!(schedule.rate_per_sec > 0.0, "the CLI refuses non-positive rates");
        let started = Instant::now();
        let baseline = Arc::new(Recorder::new(started, schedule.warmup));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            endpoint: endpoint.clone(),
            workload: Arc::new(Workload::Charges(ChargeWorkload::new(CHARGES_PATH, customers))),
            pool: Pool::new(endpoint.address, schedule.connections),
            in_flight: Arc::clone(&in_flight),
            in_flight_max: schedule.in_flight_max,
            request_timeout: schedule.request_timeout,
            baseline: Arc::clone(&baseline),
            windows: Mutex::default(),
        });
        let scheduler = {
            let shared = Arc::clone(&shared);
            tokio::task::spawn_blocking(move || send_on_schedule(&shared, &schedule, started))
        };
        Self {
            shared,
            scheduler,
            started,
            warmup: schedule.warmup,
            progress: Ticker::start("baseline", &baseline, Some(in_flight), None),
        }
    }

    /// When the baseline window begins (its warm-up over).
    pub fn baseline_from(&self) -> Instant {
        self.started + self.warmup
    }

    /// Closes the baseline window and opens the burst's, now; answers when that is.
    pub fn start_burst(&mut self) -> Instant {
        let from = Instant::now();
        let burst = Arc::new(Recorder::new(from, Duration::ZERO));
        self.shared.windows.lock().burst = Some((from, Arc::clone(&burst)));
        self.progress =
            Ticker::start("burst", &burst, Some(Arc::clone(&self.shared.in_flight)), None);
        from
    }

    /// Stops the arrivals at `at` (the burst's end), waits for the last answers, and gives the
    /// figures of both windows.
    pub async fn finish(self, at: Instant) -> WindowStats {
        self.shared.windows.lock().stop_at.get_or_insert(at);
        self.scheduler.await.expect("the charges' scheduler panicked");
        // Every request ends by its own deadline; wait for the last, with a margin for recording.
        let drained_by = Instant::now() + self.shared.request_timeout + Duration::from_secs(1);
        while self.shared.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < drained_by {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        drop(self.progress);
        let burst = self.shared.windows.lock().burst.as_ref().map(|(_, burst)| burst.finish());
        let burst = burst.unwrap_or_else(|| Recorder::new(Instant::now(), Duration::ZERO).finish());
        WindowStats { baseline: self.shared.baseline.finish(), burst }
    }
}

/// Spawns each arrival's task at its instant, on a thread of its own for the reason
/// `load::open_loop` gives (tokio's timer is 1 ms coarse), until arrivals stop.
fn send_on_schedule(shared: &Arc<Shared>, schedule: &ChargeSchedule, started: Instant) {
    let runtime = tokio::runtime::Handle::current();
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    for index in 0.. {
        let intended = started + arrival_offset(index, schedule.rate_per_sec);
        if intended >= schedule.deadline || !sleep_until(shared, intended) {
            return;
        }
        let Some(recorder) = shared.recorder_for(intended) else { return };
        let planned = shared.workload.plan(&mut rng);
        if shared.in_flight.load(Ordering::Relaxed) >= shared.in_flight_max {
            recorder.record(intended, planned.kind, None, Err("client_overloaded".to_owned()));
            continue;
        }
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(shared);
        runtime.spawn(async move {
            let (pool, endpoint, timeout) =
                (&shared.pool, &shared.endpoint, shared.request_timeout);
            let exchange =
                crate::load::exchange_within(pool, endpoint, &planned.spec, intended, timeout)
                    .await;
            crate::load::record(&recorder, &shared.workload, &planned, intended, exchange);
            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Sleeps until `intended`, in naps so that a stop is noticed; `false` when arrivals stopped
/// before it.
fn sleep_until(shared: &Shared, intended: Instant) -> bool {
    loop {
        let now = Instant::now();
        if now >= intended {
            return true;
        }
        if shared.stopped_by(intended) {
            return false;
        }
        std::thread::sleep((intended - now).min(SCHEDULER_NAP_MAX));
    }
}
