#!/usr/bin/env bash
# Side by side: the twin and the harness against yardsticks, in one run, with the
# cores pinned (servers on SERVER_CORE, the load on LOAD_CORE). Anyone can rerun it:
#
#   bash benches/side-by-side.sh                 # 3 rounds of 10 s each
#   ROUNDS=1 SECS=5 bash benches/side-by-side.sh # a quick look
#
# It installs what it needs (wrk from Debian's packages), builds gauntlet and the
# bare hyper server (benches/bare_hyper.rs), and writes to
# reports/perf/<UTC date>/side-by-side/: README.md (the machine, the versions, the
# exact commands and the summary table) and raw/ (every tool's own output).
#
# What it measures:
#   1. GET /health: the twin against a bare hyper server returning the same bytes.
#   2. Batch ingest: 500-action Update batches, each unique and under its own
#      Idempotency-Key, 8 connections, no rate limit (benches/twin-bench.toml), the
#      oracle on. Actions/s are the twin's own count of applied actions
#      (GET /_gauntlet/oracle), not wrk's.
#   3. The twin's resident memory before and after the ingest, per action applied.
#   4. The harness's CPU at 2,000 actions/s (benches/harness.toml) against a twin
#      in another process.
#   5. JSON-RPC against anvil (npm's @foundry-rs/anvil, installed under target/):
#      the same signed transfers (benches/sign_txs.rs) through
#      eth_sendRawTransaction, a block per transaction on both, counted by each
#      node's own block number; then eth_getLogs over the whole chain; and the
#      twin's subgraph queries per second (anvil has no subgraph).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
SECS="${SECS:-10}"
SERVER_CORE="${SERVER_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"
DATE="${DATE:-$(date -u +%F)}"
OUT="${OUT:-reports/perf/$DATE/side-by-side}"
RAW="$OUT/raw"
TWIN_PORT="${TWIN_PORT:-9100}"
BARE_PORT="${BARE_PORT:-9101}"
HEALTH_CONNECTIONS="${HEALTH_CONNECTIONS:-64}"
BATCH_CONNECTIONS="${BATCH_CONNECTIONS:-8}"

rm -rf "$RAW"
mkdir -p "$RAW"
COMMANDS="$RAW/commands.txt"
: >"$COMMANDS"

# Run a command, recording it (the exact command line) first.
run() {
  echo "$*" >>"$COMMANDS"
  "$@"
}

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (Debian's package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq wrk >/dev/null
fi

echo "== building (release)"
cargo build --release --quiet --bin gauntlet --example bare_hyper --example sign_txs
ANVIL_VERSION="${ANVIL_VERSION:-1.7.1}"
ANVIL_DIR=target/anvil
if [ ! -d "$ANVIL_DIR/node_modules/@foundry-rs" ]; then
  echo "== installing anvil $ANVIL_VERSION (npm's @foundry-rs/anvil)"
  npm install --prefix "$ANVIL_DIR" --no-audit --no-fund --silent "@foundry-rs/anvil@$ANVIL_VERSION"
fi
ANVIL="$(find "$ANVIL_DIR/node_modules/@foundry-rs" -path '*/bin/anvil' -type f | head -1)"
GAUNTLET=target/release/gauntlet
BARE=target/release/examples/bare_hyper

# Bench credentials: generated here, never real, not written to the report.
GAUNTLET_API_KEY="sk_bench_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
GAUNTLET_CONTROL_TOKEN="ctl_bench_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# The harness's client reads the target's key from DUAL_API_KEY.
DUAL_API_KEY="$GAUNTLET_API_KEY"
export GAUNTLET_API_KEY GAUNTLET_CONTROL_TOKEN DUAL_API_KEY

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Wait until a URL answers (at most 10 s).
wait_up() {
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

start_twin() {
  local config="${2:-benches/twin-bench.toml}"
  echo "taskset -c $SERVER_CORE $GAUNTLET mock --config $config --listen 127.0.0.1:$TWIN_PORT" >>"$COMMANDS"
  taskset -c "$SERVER_CORE" "$GAUNTLET" mock --config "$config" \
    --listen "127.0.0.1:$TWIN_PORT" >"$RAW/twin-$1.log" 2>&1 &
  TWIN_PID=$!
  PIDS+=("$TWIN_PID")
  wait_up "http://127.0.0.1:$TWIN_PORT/health"
}

stop_twin() {
  kill "$TWIN_PID" 2>/dev/null || true
  wait "$TWIN_PID" 2>/dev/null || true
}

control() {
  curl -fsS -H "x-gauntlet-token: $GAUNTLET_CONTROL_TOKEN" "http://127.0.0.1:$TWIN_PORT$1"
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores)"
  echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc -V)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "anvil: $("$ANVIL" --version 2>&1 | head -1)"
  echo "rounds: $ROUNDS x ${SECS}s; servers on core $SERVER_CORE, load on core $LOAD_CORE"
} >"$RAW/machine.txt"
cat "$RAW/machine.txt"

echo "== 1. GET /health: twin against bare hyper"
start_twin health
curl -fsS "http://127.0.0.1:$TWIN_PORT/health" >"$RAW/health-body.json"
echo "taskset -c $SERVER_CORE $BARE 127.0.0.1:$BARE_PORT $RAW/health-body.json" >>"$COMMANDS"
taskset -c "$SERVER_CORE" "$BARE" "127.0.0.1:$BARE_PORT" "$RAW/health-body.json" \
  >"$RAW/bare.log" 2>&1 &
PIDS+=("$!")
wait_up "http://127.0.0.1:$BARE_PORT/health"
for round in $(seq "$ROUNDS"); do
  for who in twin bare; do
    port=$TWIN_PORT
    [ "$who" = bare ] && port=$BARE_PORT
    run taskset -c "$LOAD_CORE" wrk -t1 -c"$HEALTH_CONNECTIONS" -d"${SECS}s" --latency \
      "http://127.0.0.1:$port/health" >"$RAW/health-$who-$round.txt"
    grep "Requests/sec" "$RAW/health-$who-$round.txt" | sed "s/^/  $who round $round: /"
  done
done
stop_twin

echo "== 2. batch ingest: 500-action Update batches, $BATCH_CONNECTIONS connections"
start_twin ingest
control /_gauntlet/status >"$RAW/ingest-status-before.json"
# The object every Update touches.
curl -fsS -X POST -H "x-api-key: $GAUNTLET_API_KEY" -H 'content-type: application/json' \
  -d '{"actions":[{"action_type":"Emit","object_id":"o-bench"}]}' \
  "http://127.0.0.1:$TWIN_PORT/ebus/actions/batch" >/dev/null
for round in $(seq "$ROUNDS"); do
  control /_gauntlet/oracle >"$RAW/ingest-oracle-before-$round.json"
  BENCH_RUN="round$round" run taskset -c "$LOAD_CORE" wrk -t1 -c"$BATCH_CONNECTIONS" -d"${SECS}s" --latency \
    -s benches/wrk/batch.lua "http://127.0.0.1:$TWIN_PORT" >"$RAW/batch-$round.txt"
  control /_gauntlet/oracle >"$RAW/ingest-oracle-after-$round.json"
  tail -1 "$RAW/batch-$round.txt" | sed "s/^/  round $round (wrk): /"
done
control /_gauntlet/status >"$RAW/ingest-status-after.json"
stop_twin

echo "== 3. the harness at 2,000 actions/s, the twin in another process"
start_twin harness
run taskset -c "$LOAD_CORE" "$GAUNTLET" run benches/harness.toml \
  --target "http://127.0.0.1:$TWIN_PORT" --out "$RAW/harness-run" \
  >"$RAW/harness-run.txt" 2>&1 || true
stop_twin

echo "== 5. JSON-RPC: the twin against anvil"
RPC_CONNECTIONS="${RPC_CONNECTIONS:-8}"
TXS="${TXS:-60000}"
ANVIL_PORT="${ANVIL_PORT:-9102}"
run target/release/examples/sign_txs "$TXS" "$RAW/txs.jsonl"
GETLOGS='{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"latest"}]}'
SUBGRAPH='{"query":"{ offers(first: 10) { id price sellerDeposit } exchanges(first: 10) { id state } }"}'
block_number() {
  curl -fsS -m 600 -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$1" |
    python3 -c 'import json,sys; print(int(json.load(sys.stdin)["result"], 16))'
}
rpc_rounds() { # who url path
  local who=$1 url=$2 path=$3
  if ! block_number "$url$path" >"$RAW/rpc-$who-blocks-before.txt"; then
    echo "  $who: not answering; its JSON-RPC rounds are skipped" | tee "$RAW/rpc-$who-failed.txt"
    return 0
  fi
  date +%s.%N >"$RAW/rpc-$who-time-before.txt"
  RPC_BODIES="$RAW/txs.jsonl" RPC_PATH="$path" run taskset -c "$LOAD_CORE" wrk -t"$RPC_CONNECTIONS" -c"$RPC_CONNECTIONS" \
    -d"${SECS}s" --latency -s benches/wrk/rpc.lua "$url" >"$RAW/rpc-$who-send.txt"
  # A node that admits faster than it mines is still mining when the load
  # stops (anvil is): its first answer after the load is when the backlog is
  # mined, so the rate is the blocks over the time until that answer.
  if ! block_number "$url$path" >"$RAW/rpc-$who-blocks-after.txt"; then
    # anvil has been seen to grow past its memory cap while it mines a backlog.
    echo "  $who: stopped answering after the sends (exit or memory cap; see $who.log)" |
      tee "$RAW/rpc-$who-failed.txt"
    rm -f "$RAW/rpc-$who-blocks-after.txt"
    return 0
  fi
  date +%s.%N >"$RAW/rpc-$who-time-after.txt"
  echo "  $who: $(($(cat "$RAW/rpc-$who-blocks-after.txt") - $(cat "$RAW/rpc-$who-blocks-before.txt"))) blocks mined"
  RPC_BODY="$GETLOGS" RPC_PATH="$path" run taskset -c "$LOAD_CORE" wrk -t"$RPC_CONNECTIONS" -c"$RPC_CONNECTIONS" \
    -d"${SECS}s" --latency -s benches/wrk/rpc.lua "$url" >"$RAW/rpc-$who-getlogs.txt"
  grep "Requests/sec" "$RAW/rpc-$who-getlogs.txt" | sed "s/^/  $who eth_getLogs: /"
}
GAUNTLET_BOSON_BUYER_KEYS="$(target/release/examples/sign_txs --keys)"
export GAUNTLET_BOSON_BUYER_KEYS
start_twin rpc benches/twin-rpc.toml
rpc_rounds twin "http://127.0.0.1:$TWIN_PORT" /rpc
RPC_BODY="$SUBGRAPH" RPC_PATH=/subgraphs/name/boson/corecomponents run taskset -c "$LOAD_CORE" wrk -t1 \
  -c"$RPC_CONNECTIONS" -d"${SECS}s" --latency -s benches/wrk/rpc.lua "http://127.0.0.1:$TWIN_PORT" \
  >"$RAW/subgraph-twin.txt"
grep "Requests/sec" "$RAW/subgraph-twin.txt" | sed "s/^/  twin subgraph: /"
curl -fsS -H 'content-type: application/json' -d "$SUBGRAPH" \
  "http://127.0.0.1:$TWIN_PORT/subgraphs/name/boson/corecomponents" >"$RAW/subgraph-answer.json"
stop_twin
unset GAUNTLET_BOSON_BUYER_KEYS
# anvil runs under a memory cap (ANVIL_MEM_GB, virtual memory): left alone it has
# grown past this machine's 24 GiB while mining the sends, and the kernel then
# kills whatever it picks.
ANVIL_MEM_GB="${ANVIL_MEM_GB:-8}"
echo "(ulimit -v $((ANVIL_MEM_GB * 1024 * 1024)); taskset -c $SERVER_CORE $ANVIL --port $ANVIL_PORT --silent)" >>"$COMMANDS"
(
  ulimit -v $((ANVIL_MEM_GB * 1024 * 1024))
  exec taskset -c "$SERVER_CORE" "$ANVIL" --port "$ANVIL_PORT" --silent
) >"$RAW/anvil.log" 2>&1 &
ANVIL_PID=$!
PIDS+=("$ANVIL_PID")
for _ in $(seq 100); do
  block_number "http://127.0.0.1:$ANVIL_PORT/" >/dev/null 2>&1 && break
  sleep 0.1
done
rpc_rounds anvil "http://127.0.0.1:$ANVIL_PORT" /
kill "$ANVIL_PID" 2>/dev/null || true
wait "$ANVIL_PID" 2>/dev/null || true

python3 benches/side_by_side_summary.py "$RAW" "$ROUNDS" "$SECS" >"$OUT/README.md"
cat "$OUT/README.md"
