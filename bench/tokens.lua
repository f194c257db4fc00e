-- wrk script for the scale benchmarks: GET (the URL's path) with `Authorization: token <value>`,
-- the value drawn uniformly at random, per request, from the file BENCH_TOKEN_FILE names (one
-- token a line, every line TOKEN_VALUE_LEN = 44 characters and a newline, as bench/bulk_tokens.c
-- writes them; a file of one line is the one-token baseline, so that both sides of a ratio run
-- the same Lua). Each wrk thread builds every request once, in init (before wrk's clock starts),
-- and request() only picks one: built per request, each a new string that LuaJIT hashed, interned
-- and later collected, wrk spent 10.5-11.1 us a request on one token and 13.6-14.3 on a million
-- (measured with time(1) around wrk), a share of the two cores the server lost only at scale. A
-- million requests are about 130 MB a thread. Each thread draws from its own seeded generator.
-- wrk counts the non-2xx answers itself (scripts/bench checks them).

local LINE = 45 -- 44 characters and "\n"
local requests, count

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
  local data = f:read("*a")
  f:close()
  assert(#data > 0 and #data % LINE == 0, "BENCH_TOKEN_FILE: not lines of 44 characters")
  count = #data / LINE
  -- wrk.format once, around a marker the token then replaces: the same bytes it would build.
  local marker = "\0TOKEN\0"
  local template = wrk.format(nil, nil, {["Authorization"] = "token " .. marker})
  local at = assert(template:find(marker, 1, true), "wrk.format dropped the marker")
  local head, tail = template:sub(1, at - 1), template:sub(at + #marker)
  requests = {}
  for i = 0, count - 1 do
    requests[i + 1] = head .. data:sub(i * LINE + 1, i * LINE + 44) .. tail
  end
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

function request()
  return requests[math.random(count)]
end
