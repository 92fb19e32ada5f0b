# The project's front door: `make run` starts the engine on its embedded defaults,
# `make test` runs every test (PostgreSQL's from Debian's packages must be installed: the tests
# start a private server of it). Both first make sure the toolchain has what the build needs.

CARGO ?= cargo

.PHONY: run test setup lint plugins contract

# rust-toolchain.toml lists wasm32-wasip2, but with RUSTUP_AUTO_INSTALL=0 rustup does not
# install listed targets by itself: add it (a no-op once present). Plugins are built for it.
setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# The rule plugins as WebAssembly components (plugins/ is a workspace of its own). The engine's
# build.rs does this too, before it embeds the bundled ones; this target is for plugin authors.
plugins: setup
	cd plugins && $(CARGO) build --release --target wasm32-wasip2

run: setup
	$(CARGO) run --release -p kassa-engine --bin kassa -- serve

# The integration tests of the API's behaviour, run a second time with every engine on a
# PostgreSQL database of its own (the store's own tests run on both backends in the first run).
POSTGRES_SUITE = charges refunds idempotency priced_charges coupons payment_plans bank_transfers \
	billing_subscriptions billing_invoices billing_clocks billing_proration billing_dunning \
	sponsorships events_out webhooks ledger payees payouts reports archival

test: setup
	$(CARGO) test --workspace
	KASSA_TEST_STORAGE=postgres $(CARGO) test --workspace $(addprefix --test ,$(POSTGRES_SUITE))
	cd plugins && $(CARGO) test

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 scripts/api_reference.py --check
	cd plugins && $(CARGO) fmt --all -- --check
	cd plugins && $(CARGO) clippy --all-targets -- -D warnings

# The HTTP contract: schemathesis (from PyPI, in a venv under ~/.cache/kassa) generates requests
# from the served /openapi.json against a fresh engine and fails on any answer the document does
# not promise (scripts/contract_check.sh says how).
# The engine binary as `make test` builds it (the same features, so nothing is built twice).
contract: setup
	$(CARGO) test --workspace --no-run
	bash scripts/contract_check.sh $${CARGO_TARGET_DIR:-target}/debug/kassa
