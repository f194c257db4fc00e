-- wrk script for the scale benchmarks: GET (the URL's path) with `Authorization: token <value>`,
-- the value drawn uniformly at random, per request, from the file BENCH_TOKEN_FILE names (one
-- token a line, every line TOKEN_VALUE_LEN = 44 characters and a newline, as bench/bulk_tokens.c
-- writes them; a file of one line is the one-token baseline, so that both sides of a ratio pay
-- the same Lua cost). The file is read once per wrk thread as a single string (1M tokens = 45 MB,
-- no table of a million strings); each thread draws from its own seeded generator. wrk counts
-- the non-2xx answers itself (scripts/bench checks them).

local LINE = 45 -- 44 characters and "\n"
local data, count

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("BENCH_TOKEN_FILE")
  local f = assert(io.open(path, "rb"), "cannot open BENCH_TOKEN_FILE " .. tostring(path))
  data = f:read("*a")
  f:close()
  assert(#data > 0 and #data % LINE == 0, "BENCH_TOKEN_FILE: not lines of 44 characters")
  count = #data / LINE
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

function request()
  local at = math.random(0, count - 1) * LINE
  return wrk.format(nil, nil, {["Authorization"] = "token " .. data:sub(at + 1, at + 44)})
end
