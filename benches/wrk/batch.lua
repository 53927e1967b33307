-- 500-action Update batches, each unique (a per-thread counter in every action's
-- payload), so the twin's exactly-once ledger books 500 new actions per request
-- as it would under a real load. Each request carries its own Idempotency-Key,
-- so the idempotency store works as it does for a client that retries.
-- Used by benches/side-by-side.sh: wrk -s benches/wrk/batch.lua ...
local counter = 0
local thread_id = 0
local prefix = {}
for i = 0, 499 do
  prefix[i + 1] = '{"action_type":"Update","object_id":"o-bench","payload":{"properties":{"n":' .. i .. ',"r":"'
end

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

local api_key = os.getenv("GAUNTLET_API_KEY")
-- Unique per wrk run: a run that reused an earlier run's keys would be answered
-- from the twin's stored replies, applying nothing.
local run = os.getenv("BENCH_RUN") or tostring(os.time())

function request()
  counter = counter + 1
  local tag = run .. "-" .. tid .. "-" .. counter
  local parts = {}
  for i = 1, 500 do
    parts[i] = prefix[i] .. tag .. '"}}}'
  end
  local body = '{"actions":[' .. table.concat(parts, ",") .. ']}'
  -- wrk.format's headers replace wrk.headers: every header goes here.
  local headers = {
    ["content-type"] = "application/json",
    ["x-api-key"] = api_key,
    ["Idempotency-Key"] = "bench-" .. tag,
  }
  return wrk.format("POST", "/ebus/actions/batch", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("batches/s %.1f actions/s %.0f errors %d\n",
    summary.requests / (summary.duration / 1e6),
    500 * summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
