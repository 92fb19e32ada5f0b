//! Every bound of the load generator in one place, each with the reason for its value, so the
//! envelope of a run (how long, how many, how much memory) can be read in one screen.

use std::time::Duration;

/// Highest latency the histograms resolve; anything slower is recorded as this (and is a
/// timeout long before, with the default request timeout).
pub const LATENCY_US_MAX: u64 = 120_000_000;
/// HdrHistogram precision: 3 significant digits keep every percentile within 0.1 %.
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// A measured run (warm-up included) never lasts longer than an hour: loops are bounded in time.
pub const RUN_SECS_MAX: u64 = 3_600;
/// Customers created by the setup phase, at most: setup must stay short next to the measurement.
pub const CUSTOMERS_MAX: usize = 1_000_000;
/// Charges made before a `replay` run, at most.
pub const REPLAY_KEYS_MAX: usize = 1_000_000;
/// Sockets the client may hold: well under this machine's open-file limit (20 000).
pub const CONNECTIONS_MAX: usize = 4_096;
/// Open-loop arrival rate, at most: far above what a 2-core machine answers, so never the limit.
pub const RATE_PER_SEC_MAX: f64 = 1_000_000.0;
/// Requests outstanding in an open-loop run at most, unless `--max-in-flight` says otherwise:
/// past it, new arrivals are dropped and counted as `client_overloaded` instead of growing memory.
pub const IN_FLIGHT_MAX_DEFAULT: usize = 10_000;
/// A request unanswered after this long (from its intended send time) counts as a `timeout`.
pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Response bodies are read up to this size; Kassa's answers are a few KiB at most.
pub const RESPONSE_BYTES_MAX: usize = 1 << 20;

/// Connections used by the closed loop when `--connections` is not given.
pub const CLOSED_LOOP_CONNECTIONS_DEFAULT: usize = 64;
/// Connections the open loop spreads its arrivals over when `--connections` is not given:
/// enough that a 10 ms stall at 20 000 req/s does not starve the schedule of sockets.
pub const OPEN_LOOP_CONNECTIONS_DEFAULT: usize = 256;

/// Requests the (unmeasured) setup phase keeps in flight: enough to finish 1 000 customers in
/// about a second, few enough not to queue in the engine.
pub const SETUP_CONCURRENCY: usize = 32;
/// The engine has this long from spawn to answering `/readyz` with 200.
pub const ENGINE_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two `/readyz` polls.
pub const ENGINE_READY_POLL: Duration = Duration::from_millis(50);

/// `--find-max` multiplies the rate by this while a step passes.
pub const FIND_MAX_GROWTH: f64 = 1.5;
/// Steps of `--find-max` at most (growth, then bisection): bounds the run to a few minutes.
pub const FIND_MAX_STEPS_MAX: usize = 24;
/// Bisection steps between the last passing and the first failing rate.
pub const FIND_MAX_BISECT_STEPS: usize = 3;
/// A find-max step fails at this error rate or above.
pub const FIND_MAX_ERROR_RATE_MAX: f64 = 0.01;
/// Start rate of `--find-max` when `--rate` is not given.
pub const FIND_MAX_START_RATE_PER_SEC: f64 = 1_000.0;
/// Each find-max step begins with this unmeasured warm-up, so one step's backlog does not
/// count against the next.
pub const FIND_MAX_STEP_WARMUP: Duration = Duration::from_secs(1);

/// `mixed` keeps at most this many charge ids to read and refund (the oldest are forgotten).
pub const KNOWN_CHARGES_MAX: usize = 100_000;
/// `webhooks` keeps at most this many acknowledged events to re-send, and as many older halves of
/// out-of-order pairs waiting to be sent (the oldest are forgotten): ~40 bytes each.
pub const KNOWN_EVENTS_MAX: usize = 100_000;
/// After a `webhooks` run, unapplied events are counted newest first over at most this many
/// pages of `GET /v1/events` (100 events each): past 10 000 the report says "at least".
pub const UNAPPLIED_PAGES_MAX: usize = 100;
/// Events per page of `GET /v1/events`: the engine's largest page.
pub const EVENTS_PAGE_LIMIT: usize = 100;
/// How long after a `webhooks` run the newest events may take to show `applied: true`.
pub const APPLIED_WAIT: Duration = Duration::from_secs(10);
/// Pause between two looks at the newest events while waiting for them to be applied.
pub const APPLIED_POLL: Duration = Duration::from_millis(100);
/// Points per decade of the latency-by-percentile curve (4 decades: 0 % to 99.99 %).
pub const PERCENTILE_POINTS_PER_DECADE: usize = 25;
/// A closed-loop worker whose request failed without an answer waits this long before the next,
/// so a refused connection does not spin the client.
pub const FAILURE_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);
