#!/usr/bin/env bash
# Contract check: schemathesis against a freshly started Kassa engine.
#
#   scripts/contract_check.sh ENGINE_BINARY [extra `st run` options...]
#
# Starts ENGINE_BINARY (e.g. target/debug/kassa) on a new temporary data directory and a free
# loopback port, waits for /readyz, runs schemathesis against the document the engine serves
# (GET /openapi.json) on a fixed seed and a small budget, stops the engine and exits with
# schemathesis' status (0: no failure). About 10-30 s on 2 cores. Settings (environment):
#   KASSA_ST_SEED          hypothesis seed                    (default 1)
#   KASSA_ST_MAX_EXAMPLES  cases per operation and phase      (default 25)
#   KASSA_ST_PHASES        schemathesis phases                (default examples,coverage,fuzzing:
#                          deterministic for a seed; add `stateful` for a deeper, not reproducible run)
#   KASSA_ST_SCHEMA        a document file to test instead of the served one (e.g. an edited
#                          engine/src/api/openapi.json before rebuilding)
#   KASSA_ST_VENV          where schemathesis is installed    (default ~/.cache/kassa/st-venv)
#   KASSA_ST_REPORT_DIR    keep JUnit/NDJSON reports and logs there (default: a temporary dir, removed)
set -euo pipefail

engine=${1:?usage: contract_check.sh ENGINE_BINARY [st run options...]}
shift
engine=$(cd "$(dirname "$engine")" && pwd)/$(basename "$engine")
here=$(cd "$(dirname "$0")" && pwd)
[[ -x $engine ]] || { echo "contract_check: $engine is not an executable" >&2; exit 2; }

seed=${KASSA_ST_SEED:-1}
max_examples=${KASSA_ST_MAX_EXAMPLES:-25}
phases=${KASSA_ST_PHASES:-examples,coverage,fuzzing}
venv=${KASSA_ST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kassa/st-venv}
api_key=sk_test_contract_check_key
admin_key=admin_contract_check_key_0123456789abcdef

# 1. schemathesis, pinned with hypothesis so that a seed draws the same cases on every machine
if ! "$venv/bin/st" --version 2>/dev/null | grep -q ' 4\.32\.5$'; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==4.32.5" "hypothesis==6.170.27"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kassa-contract.XXXXXX")
report_dir=${KASSA_ST_REPORT_DIR:-$work/report}
mkdir -p "$report_dir"
engine_pid=
cleanup() {
    if [[ -n $engine_pid ]] && kill -0 "$engine_pid" 2>/dev/null; then
        kill -TERM "$engine_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$engine_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$engine_pid" 2>/dev/null || true
        wait "$engine_pid" 2>/dev/null || true
    fi
    rm -rf "$work"   # the data; reports stay in KASSA_ST_REPORT_DIR when it is given
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 2. the engine: built-in defaults (an empty config file: no rate limits, sandbox gateway), any
#    free port (named in its log), the Stripe webhook route and the admin routes on so
: > "$work/kassa.toml"
(
    cd "$work"
    # a clean environment: no KASSA_* of the caller's (a config file, a gateway key) may leak in
    exec env -i PATH="$PATH" HOME="${HOME:-$work}" \
        KASSA_DATA_DIR="$work/data" KASSA_API_KEY="$api_key" KASSA_ADMIN_KEY="$admin_key" KASSA_LISTEN=127.0.0.1:0 \
        KASSA_METRICS_LISTEN=off KASSA_STRIPE_WEBHOOK_SECRET=whsec_contract_check \
        KASSA_RATE_LIMIT_PER_KEY_RPS=0 KASSA_RATE_LIMIT_PER_ACCOUNT_RPS=0 KASSA_RATE_LIMIT_WEBHOOKS_RPS=0 \
        "$engine" serve --config "$work/kassa.toml"
) > "$report_dir/engine.log" 2>&1 &
engine_pid=$!

base=
for _ in $(seq 300); do   # 60 s
    kill -0 "$engine_pid" 2>/dev/null || { echo "contract_check: the engine exited:" >&2; tail -20 "$report_dir/engine.log" >&2; exit 2; }
    port=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$report_dir/engine.log" | head -1 | grep -o '[0-9]*$' || true)
    if [[ -n $port ]] && curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; then base=http://127.0.0.1:$port; break; fi
    sleep 0.2
done
[[ -n $base ]] || { echo "contract_check: /readyz not ready within 60 s" >&2; tail -20 "$report_dir/engine.log" >&2; exit 2; }
echo "contract_check: engine ready at $base (seed $seed, $max_examples examples, phases $phases)"

# 3. schemathesis, with the hooks and per-operation settings of scripts/contract/

schema=${KASSA_ST_SCHEMA:-$base/openapi.json}
status=0
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$here/contract" SCHEMATHESIS_HOOKS=kassa_contract_hooks KASSA_ST_DROPPED_LOG="$report_dir/expected-400s.jsonl" KASSA_ST_ADMIN_KEY="$admin_key" \
    "$venv/bin/st" --config-file "$here/contract/schemathesis.toml" run "$schema" \
    --url "$base" \
    --header "Authorization: Bearer $api_key" \
    --exclude-path /metrics \
    --phases "$phases" \
    --seed "$seed" \
    --max-examples "$max_examples" \
    --workers 1 \
    --generation-database none \
    --request-timeout 10 \
    --no-color \
    --report junit,ndjson --report-dir "$report_dir" \
    "$@" || status=$?

# 4. an engine that died or panicked under the test fails it whatever schemathesis said
if ! kill -0 "$engine_pid" 2>/dev/null || grep -q 'panicked' "$report_dir/engine.log"; then
    echo "contract_check: the engine died or panicked during the run:" >&2
    grep -m5 -A3 'panicked' "$report_dir/engine.log" >&2 || tail -20 "$report_dir/engine.log" >&2
    [[ $status -ne 0 ]] || status=3
fi
echo "contract_check: exit status $status (schemathesis, or 3: the engine died)"
# 5. the closing line, plain for CI's log: operations (JUnit test cases) passed and failed
junit=$(ls -t "$report_dir"/junit-*.xml 2>/dev/null | head -1 || true)
if [[ -n $junit ]]; then
    python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
bad = ok = 0
for case in cases:
    if case.find("failure") is not None or case.find("error") is not None:
        bad += 1
    elif case.find("skipped") is None:
        ok += 1
print(f"contract: {ok} passed, {bad} failed")
PY
fi
exit "$status"
