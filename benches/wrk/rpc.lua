-- Posts JSON-RPC bodies read from the file named by RPC_BODIES, one per line
-- (benches/sign_txs.rs writes them, the senders in turn). Run it with as many
-- threads as connections (-tN -cN, N at most 10): thread k sends only sender k's
-- lines, in order, so each sender's nonces arrive in order on one connection and
-- no transaction waits in a node's pool for a gap. Each line is sent once; past
-- its last, a thread sends eth_blockNumber, so a run longer than the file still
-- measures something and sends no transaction twice. With RPC_BODY set, every
-- thread posts that one body every time instead. RPC_PATH is the path ("/rpc"
-- for the twin, "/" for anvil).
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local bodies = {}
local i = 0
local path = os.getenv("RPC_PATH") or "/"
local fallback = os.getenv("RPC_BODY")
  or '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
local headers = { ["Content-Type"] = "application/json" }
local senders = 10

function init(args)
  local file = os.getenv("RPC_BODIES")
  if not file or os.getenv("RPC_BODY") then
    return
  end
  local n = 0
  for line in io.lines(file) do
    if n % senders == id then
      bodies[#bodies + 1] = line
    end
    n = n + 1
  end
end

request = function()
  i = i + 1
  local body = bodies[i] or fallback
  return wrk.format("POST", path, headers, body)
end
