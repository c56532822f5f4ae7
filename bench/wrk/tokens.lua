-- Sends each request with the next bearer token from $BENCH_TOKENS (one a
-- line), round robin: a file of 1,000 tokens is 1,000 clients reusing
-- theirs; a file of N tokens gives N unique tokens, then wraps (bench/run
-- reports how many times). Reports like report.lua.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local tokens = {}
local path = os.getenv("BENCH_TOKENS")
for line in io.lines(path) do
  if line ~= "" then tokens[#tokens + 1] = "Bearer " .. line end
end
if #tokens == 0 then error("no tokens in " .. path) end

local i = 0
request = function()
  i = i % #tokens + 1
  wrk.headers["Authorization"] = tokens[i]
  return wrk.format()
end
