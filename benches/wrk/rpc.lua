-- Posts JSON-RPC bodies read from the file named by RPC_BODIES, one per line,
-- each once and in order (benches/sign_txs.rs writes them); past the last it
-- sends eth_blockNumber, so a run longer than the file still measures something
-- and sends no transaction twice. With RPC_BODY set, it posts that one body
-- every time instead. RPC_PATH is the path ("/rpc" for the twin, "/" for anvil).
local bodies = {}
local path = os.getenv("RPC_PATH") or "/"
local file = os.getenv("RPC_BODIES")
if file then
  for line in io.lines(file) do
    bodies[#bodies + 1] = line
  end
end
local i = 0
local fallback = os.getenv("RPC_BODY")
  or '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
local headers = { ["Content-Type"] = "application/json" }

request = function()
  i = i + 1
  local body = bodies[i] or fallback
  return wrk.format("POST", path, headers, body)
end
