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
/// Rounds of a comparison's fixed load (`--rounds`): the default, and the most.
pub const COMPARISON_ROUNDS_DEFAULT: u32 = 4;
pub const COMPARISON_ROUNDS_MAX: u32 = 20;
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

/// `renewals`: subscriptions made on the test clock when `--subscriptions` is not given (issue 15
/// states its target at this count).
pub const SUBSCRIPTIONS_DEFAULT: usize = 100_000;
/// `renewals`: subscriptions at most. The verification keeps a few hundred bytes per
/// subscription, and the setup makes three requests for each.
pub const SUBSCRIPTIONS_MAX: usize = 1_000_000;
/// `renewals`: ordinary charges per second beside the renewals when `--rate` is not given. Modest
/// on purpose: a few per cent of what a 2-core engine charges, so they measure how the burst
/// treats other traffic without taking much from it.
pub const RENEWALS_CHARGE_RATE_PER_SEC_DEFAULT: f64 = 100.0;
/// `renewals`: the setup prints a progress line each time this many more subscriptions exist.
pub const SETUP_PROGRESS_EVERY: usize = 10_000;
/// `renewals`: the clock is advanced this far past the latest period end of the subscriptions:
/// clear of it, and a month short of the next.
pub const ADVANCE_PAST_PERIOD_END_SECS: i64 = 3_600;
/// `renewals`: how long the advance's answer may take. The engine answers 202 once its own
/// `server.request_timeout_ms` (default 30 s) has passed, so this is only reached by an engine
/// that is configured far beyond its default or that hangs.
pub const ADVANCE_ANSWER_WAIT: Duration = Duration::from_secs(600);
/// `renewals`: the longest burst waited for, from the advance until the clock is `ready`.
pub const BURST_WAIT_MAX: Duration = Duration::from_secs(RUN_SECS_MAX);
/// `renewals`: pause between two `GET /v1/test_clocks/{id}` while the clock is `advancing`. The
/// burst's end is known to within this, well under 1 % of a burst of 100 000 renewals.
pub const CLOCK_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// `renewals`: the open loop's scheduler sleeps at most this long at once, so it notices the
/// end of the burst promptly even at a low `--rate`.
pub const SCHEDULER_NAP_MAX: Duration = Duration::from_millis(50);
/// Items per page of the engine's lists (`GET /v1/invoices`, `GET /v1/charges`,
/// `GET /v1/sandbox/ledger`): its largest page.
pub const LIST_PAGE_LIMIT: usize = 100;
/// `renewals`: pages of each list the verification reads whole (`GET /v1/invoices`,
/// `GET /v1/charges`, `GET /v1/sandbox/ledger`) at most (10 million items); a longer list is
/// reported as not fully read.
pub const LIST_PAGES_MAX: usize = 100_000;
/// `renewals`: the verification prints a progress line every this many items read from each list.
pub const VERIFY_PROGRESS_EVERY: usize = 10_000;
/// `renewals`: mismatches kept in `result.json` at most (all are counted).
pub const MISMATCHES_KEPT_MAX: usize = 1_000;
/// `renewals`: mismatches printed in the summary at most (the rest are in `result.json`).
pub const MISMATCHES_PRINTED_MAX: usize = 20;

/// `entitlements`: customers, each with an active subscription, when `--customers` is not given
/// (issue 16 states its target at this count). Well under the engine's `actors.resident_max`
/// (100 000 by default), so every customer's actor stays in memory and each read is the
/// in-memory path the issue describes.
pub const ENTITLEMENTS_CUSTOMERS_DEFAULT: usize = 10_000;
/// `entitlements`: one answer in this many (drawn at random, warm-up included) is read in full
/// and compared with the plan's features and the customer's subscription; the rest are judged on
/// their status alone, so the client's JSON parsing stays out of the throughput it measures.
pub const ENTITLEMENTS_CHECK_ONE_IN: u32 = 64;
/// `entitlements`: mismatching answers described in the report at most (all are counted).
pub const ENTITLEMENTS_MISMATCHES_KEPT_MAX: usize = 20;
/// `entitlements`: the setup prints a progress line each time this many more subscriptions exist
/// (a few seconds apart at the setup's pace on 2 cores).
pub const ENTITLEMENTS_SETUP_PROGRESS_EVERY: usize = 2_000;

/// The largest answer `kassa-bench-statement` reads: a 100 000-line statement's is about 15 MB.
pub const STATEMENT_RESPONSE_BYTES_MAX: usize = 256 << 20;
