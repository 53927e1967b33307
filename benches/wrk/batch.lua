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

function init(args)
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
  wrk.headers["x-api-key"] = os.getenv("GAUNTLET_API_KEY")
end

function request()
  counter = counter + 1
  local tag = tid .. "-" .. counter
  local parts = {}
  for i = 1, 500 do
    parts[i] = prefix[i] .. tag .. '"}}}'
  end
  local body = '{"actions":[' .. table.concat(parts, ",") .. ']}'
  local headers = { ["Idempotency-Key"] = "bench-" .. tag }
  return wrk.format(nil, "/ebus/actions/batch", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("batches/s %.1f actions/s %.0f errors %d\n",
    summary.requests / (summary.duration / 1e6),
    500 * summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
