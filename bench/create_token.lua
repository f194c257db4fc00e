-- wrk script for the token-creation benchmark: POST /api/user/tokens with a fixed body.
-- The Authorization header comes from the command line (wrk -H); the URL carries the path.
-- At the end it prints how many responses had status 200 (parsed by scripts/bench):
--   status 200: N
--   status other: M

wrk.method = "POST"
wrk.body = '{"description":"bench"}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

ok = 0
other = 0

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
  end
  io.write(string.format("status 200: %d\nstatus other: %d\n", total_ok, total_other))
end
