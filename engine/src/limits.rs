//! The engine's envelope: every fixed bound in one screen, each with the reason for its value.
//! Bounds an operator may tune (mailboxes, resident actors, timeouts) live in `config`.

/// Largest amount in minor units (API contract): below 2^53, so no client's JSON parser rounds it.
pub const AMOUNT_MINOR_MAX: i64 = 99_999_999_999;

/// Largest request body (API contract); larger bodies get 413 before they are read.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// A gateway's webhook body: Stripe's events embed whole objects (an invoice with its lines),
/// which can pass the API's 64 KiB; refusing one would only make Stripe retry it for days.
pub const WEBHOOK_BODY_BYTES_MAX: usize = 1024 * 1024;

/// Ceilings on the `server.*` connection limits: a time limit past an hour, or more connections
/// than a process can hold file descriptors for, protects nothing.
pub const SERVER_TIMEOUT_MS_MAX: u64 = 3_600_000;
pub const SERVER_CONNECTIONS_MAX: u64 = 1_000_000;

/// A rate-limit bucket holds this many seconds of its rate (API contract: burst = 2 s of rate).
pub const RATE_LIMIT_BURST_SECS: u32 = 2;
/// Highest `limits.rate.*`: far above what two cores answer, so higher is a typo; its burst still
/// fits a u32.
pub const RATE_LIMIT_RPS_MAX: u32 = 1_000_000;

/// Connections the metrics listener serves at once: a scraper or two, on loopback by default.
pub const METRICS_CONNECTIONS_MAX: usize = 16;

/// Pause after a failed `accept` (out of file descriptors, usually): retrying at once would
/// spin a core while nothing can be accepted anyway.
pub const ACCEPT_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Idempotency keys are 1..=255 printable ASCII characters (API contract).
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

/// How long an idempotency record answers retries (API contract: at least 24 hours).
pub const IDEMPOTENCY_RETENTION_SECS: i64 = 24 * 60 * 60;

/// How often finished idempotency records past their retention are removed: an hour's lateness
/// only keeps a key a little longer than promised.
pub const IDEMPOTENCY_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// List pages (API contract): `limit` is 1..=100, 10 when not given.
pub const LIST_LIMIT_MAX: usize = 100;
pub const LIST_LIMIT_DEFAULT: usize = 10;

/// Metadata, as Stripe bounds it: a platform's tags, not a document store.
pub const METADATA_KEYS_MAX: usize = 50;
pub const METADATA_KEY_LEN_MAX: usize = 40;
pub const METADATA_VALUE_LEN_MAX: usize = 500;

/// Free-text fields (name, email, description, address parts).
pub const TEXT_FIELD_LEN_MAX: usize = 500;

/// Payment-method tokens are gateway ids, never long.
pub const TOKEN_LEN_MAX: usize = 255;
/// Payments a checkout session's page may try, declined ones included: its link is public, and
/// a page that takes any number of card attempts is a card-testing tool.
pub const CHECKOUT_ATTEMPTS_MAX: u32 = 10;
/// Longest `success_url` or `cancel_url` a checkout session takes.
pub const URL_LEN_MAX: usize = 2048;

/// Payment methods one customer may keep: an actor holds them all in memory.
pub const PAYMENT_METHODS_PER_CUSTOMER_MAX: usize = 100;

/// Times an API request re-resolves a customer's actor that stopped under it (idle or evicted)
/// before giving up; each retry finds a fresh actor, so more than a few means a bug.
pub const ACTOR_RESOLVE_ATTEMPTS_MAX: usize = 8;

/// Longest wait between two lookups of a charge or refund whose gateway outcome is unknown; the
/// first wait is `gateways.reconcile_after_secs`, and each next one doubles up to this.
pub const RECONCILE_DELAY_MAX: std::time::Duration = std::time::Duration::from_secs(3600);
pub const RECONCILE_AFTER_SECS_MAX: u64 = 3600;

/// Ceilings on the per-gateway HTTP settings: past a minute per call, or ten tries of one
/// request, a misconfiguration is more likely than a slow provider.
pub const GATEWAY_TIMEOUT_MS_MAX: u64 = 60_000;
pub const GATEWAY_ATTEMPTS_MAX: u64 = 10;

/// The M-Pesa callback path token is the only thing authenticating Safaricom's callbacks: long
/// enough that guessing it is hopeless.
pub const MPESA_CALLBACK_TOKEN_LEN_MIN: usize = 24;

/// Shortest pause between two sweeps of the actor registry: a sweep sorts every resident actor,
/// so spawns past `resident_max` may wake it early, but not more often than this.
pub const SWEEP_GAP_MIN: std::time::Duration = std::time::Duration::from_millis(10);

/// sled's page cache when the config does not say (`storage.cache_mib`), sled's own default:
/// a renewal burst reads and writes every subscribed customer's records at once, and with 100 000
/// of them a smaller cache spends the burst re-reading pages (see bench/RESULTS.md). The cache
/// fills only as far as the data does.
pub const STORE_CACHE_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;

/// Ceilings on the `rules.*` config: past them a misconfiguration, not a rule, is the problem.
/// 10^10 instructions run for seconds; a pooled slot per MiB of memory is reserved up front.
pub const RULE_FUEL_PER_CALL_MAX: u64 = 10_000_000_000;
pub const RULE_MEMORY_MIB_MAX: u64 = 1024;
pub const RULE_UPLOAD_BYTES_MAX: u64 = 64 * 1024 * 1024;
pub const RULE_CONCURRENT_CALLS_MAX: u64 = 1024;
/// A minute per rule call, or 64 rule threads: past them, the setting is the problem.
pub const RULE_CALL_TIMEOUT_MS_MAX: u64 = 60_000;
pub const RULE_THREADS_MAX: u32 = 64;

/// Uploaded versions of one rule an account may keep (`rules.versions_kept`): each is a file,
/// a compiled file and a history entry; a rollback needs one.
pub const RULE_VERSIONS_KEPT_MAX: u32 = 100;
/// Rule uploads compiled at once: each takes a core for up to seconds, and its trial instance
/// one of the pooled slots kept beside the calls' (`UPLOAD_SLOTS` in `rules/runtime.rs`).
pub const RULE_COMPILES_MAX: usize = 2;

/// How often the rules' clock ticks (wasmtime's epoch): a call past its deadline is stopped
/// within one tick of it; a tick costs one atomic increment on one thread.
pub const RULE_EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(5);

/// How much less the rule threads are scheduled than the API's (`nice` 10 gets ~1/10 of a
/// core that a `nice` 0 thread also wants): a flood of slow rules takes what the API leaves.
pub const RULE_THREAD_NICE: i32 = 10;

/// Memory of a pooled rule instance kept mapped between calls: resetting a resident page is a
/// memset, re-faulting a released one costs far more; a Rust component touches ~2 MiB per call
/// (its 1 MiB shadow stack and its heap), so 4 MiB keeps a call's pages resident (measured in
/// bench/RESULTS.md).
pub const RULE_MEMORY_KEEP_RESIDENT_BYTES: usize = 4 * 1024 * 1024;

/// Instructions a rule call may run in the inline lane, on one of the API's async workers,
/// which it holds while it runs: about a hundred times what the bundled rules use per call
/// (instantiation included), and well under a millisecond of a worker. A call that needs more
/// is made again on the rule threads with `rules.fuel_per_call`: a hand-off every call would
/// otherwise pay.
pub const RULE_INLINE_FUEL: u64 = 1_000_000;

/// Answers of rule calls made on the rule threads that one customer's actor keeps for its turns
/// (per kind of rule): a turn needs one per call it could not make inline, and an invoice makes
/// at most a pricing call and a tax call per line.
pub const RULE_ANSWERS_KEPT_MAX: usize = 256;
/// Times one request's turn may be run again for a rule call made on the rule threads: one per
/// call that does not finish inline, so an invoice of many lines whose tax rule is long takes one
/// round per line; past this the rule, not the invoice, is the problem.
pub const RULE_ROUNDS_MAX: u32 = 512;

/// Line items one priced charge may carry: a cart, not a catalogue (each line crosses into the
/// sandbox and back).
pub const LINE_ITEMS_MAX: usize = 250;

/// A sku: an identifier, not prose.
pub const SKU_LEN_MAX: usize = 100;

/// Tax registrations one customer may have.
pub const TAX_IDS_MAX: usize = 5;

/// Lines a rule may return: every input line priced, plus room for lines a rule adds (a gift,
/// a fee); beyond that the output is refused before it is used.
pub const RULE_OUTPUT_LINES_MAX: usize = 2 * LINE_ITEMS_MAX;

/// Longest sku, coupon code, tax name or jurisdiction a rule may return.
pub const RULE_OUTPUT_TEXT_LEN_MAX: usize = 200;

/// What a rule call may write to stderr (a panic message, usually); kept for the error message.
pub const RULE_STDERR_BYTES_MAX: usize = 16 * 1024;

/// Largest tax rate a tax rule may return: 100 %.
pub const TAX_RATE_BPS_MAX: u32 = 10_000;
/// Largest sum of the rates of one answer's tax lines: 100 % too. Each line alone is bounded
/// above; without this, five lines of 100 % each taxed a charge 500 %. Stacked taxes (a federal
/// and a state rate, a VAT and a levy) add up to far less; more is a rule counting a rate twice.
pub const TAX_RATES_SUM_BPS_MAX: u32 = 10_000;

/// Seats on one subscription (API contract).
pub const SUBSCRIPTION_QUANTITY_MAX: u32 = 10_000;

/// Longest free trial, in days (API contract): two years.
pub const TRIAL_DAYS_MAX: u32 = 730;

/// Longest `days_until_due` of a `send_invoice` subscription: a school's bursar may take a
/// term, not a decade.
pub const DAYS_UNTIL_DUE_MAX: u32 = 365;

/// Features one plan may grant.
pub const PLAN_FEATURES_MAX: usize = 100;

/// Invoice lines one credit note may name (an invoice has a handful).
pub const CREDIT_NOTE_LINES_MAX: usize = 100;

/// Features one charge may grant (a course bundle, not a catalogue).
pub const CHARGE_GRANTS_MAX: usize = 20;

/// Features one payment plan may grant, as a charge may.
pub const PAYMENT_PLAN_GRANTS_MAX: usize = CHARGE_GRANTS_MAX;

/// The last instant a client may name (a test clock's time, a grant's end): the end of the
/// year 9999, as far as receipts can print.
pub const INSTANT_MAX: i64 = 253_402_300_799;

/// Promotional grants a customer holds at once (expired ones are dropped as new ones come).
pub const PROMOTIONAL_GRANTS_PER_CUSTOMER_MAX: usize = 100;

/// Longest a one-time purchase grants a feature for, in days: ten years; longer is for good.
pub const GRANT_DURATION_DAYS_MAX: u32 = 3_660;

/// An unpaid first invoice (or a `pending_if_incomplete` change) is given up after 23 hours, as
/// Stripe does: a pending M-Pesa or 3-D Secure payment is long over by then.
pub const INCOMPLETE_EXPIRY_SECS: i64 = 23 * 3600;

/// Farthest a test clock moves in one advance (API contract): two calendar years.
pub const TEST_CLOCK_ADVANCE_MONTHS_MAX: i64 = 24;

/// Subscriptions renewed at once by one scheduler round or clock advance: enough to keep both
/// cores and the group commit busy, few enough that ordinary requests are not queued behind a
/// burst of renewals on the actors' threads (see bench/RESULTS.md).
pub const RENEWALS_IN_FLIGHT_MAX: usize = 64;
/// Open invoices of one subscription looked at when its dunning moves to the next one: more
/// than a year of monthly invoices left unpaid.
pub const UNPAID_SCAN_MAX: usize = 100;
/// `billing.dunning.retry_days`: at most this many retries, each at most this many days after
/// the first failure (beyond, a subscription would grant its features unpaid for months).
pub const DUNNING_RETRIES_MAX: usize = 12;
pub const DUNNING_RETRY_DAYS_MAX: u32 = 60;
/// The highest renewal pace a gateway may be given: beyond it, pacing protects nothing.
pub const RENEWALS_PER_SEC_MAX: u64 = 10_000;

/// Due schedule entries read per scheduler round; the rest are read by the next round.
pub const SCHEDULE_BATCH_MAX: usize = 10_000;

/// Periods one subscription may renew in one step (engine down for years, an advance of two
/// years of daily periods): bounds one actor turn; the rest follows in the next round.
pub const RENEWALS_PER_STEP_MAX: usize = 800;

/// The latest `expires_at` an API key takes: 9999-12-31T23:59:59Z, the last second a four-digit
/// year shows.
pub const KEY_EXPIRES_AT_MAX: i64 = 253_402_300_799;

/// An account's seller name, and a bank's and an account holder's name, in characters.
pub const SELLER_NAME_LEN_MAX: usize = 200;
/// An account's seller address, all its lines, in characters.
pub const SELLER_ADDRESS_LEN_MAX: usize = 500;
/// A VAT or tax registration number, in characters.
pub const TAX_ID_LEN_MAX: usize = 50;
/// A bank account number's letters and digits: an IBAN's longest.
pub const ACCOUNT_NUMBER_LEN_MAX: usize = 34;
/// A statement descriptor's length, as the card networks take it.
pub const STATEMENT_DESCRIPTOR_LEN_MIN: usize = 5;
pub const STATEMENT_DESCRIPTOR_LEN_MAX: usize = 22;

/// Customers' unwrapped keys held in memory at most (`store::sealing`): each is an AES-256-GCM
/// key schedule of well under a kilobyte, and one dropped is unwrapped again from the store.
pub const SEALING_KEYS_CACHED_MAX: usize = 100_000;

/// The longest a bank transfer may be awaited (`billing.bank_transfer.expiry_days`).
pub const BANK_TRANSFER_EXPIRY_DAYS_MAX: u32 = 90;

/// The largest `limits.statement_body_max` an operator may set: a year of a busy account's
/// statement lines.
pub const STATEMENT_BODY_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Customers whose statement lines are applied at once, each by its own actor.
pub const STATEMENT_CUSTOMERS_IN_FLIGHT: usize = 256;

/// Credits of one customer a recall is looked for among, newest first.
pub const BANK_CREDITS_SCAN_MAX: usize = 1_000;

/// The longest delay a payout schedule may put between a payment and the payee's share of it
/// becoming available: a year.
pub const PAYOUT_DELAY_DAYS_MAX: u32 = 365;

/// An archive file is closed once it holds this much: files small enough to copy and check one
/// at a time, few enough that a long retention is a short listing.
pub const ARCHIVE_FILE_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Records compressed together in one archive block: enough for zstd to find what repeats
/// between them, few enough that reading one back decompresses little.
pub const ARCHIVE_BLOCK_RECORDS: usize = 128;
/// How often the live engine looks for records to archive (and once at start).
pub const ARCHIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);
/// The longest `storage.archive_after_days` may be: the seven years accountants keep books for,
/// three times over.
pub const ARCHIVE_AFTER_DAYS_MAX: u32 = 7_670;
