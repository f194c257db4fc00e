-- wrk script for the scale benchmarks: GET (the URL's path) with `Authorization: token <value>`,
-- the value drawn uniformly at random, per request, from the file BENCH_TOKEN_FILE names (one
-- token a line, every line TOKEN_VALUE_LEN = 44 characters and a newline, as bench/bulk_tokens.c
-- writes them; a file of one line is the one-token baseline, so that both sides of a ratio run
-- the same Lua). Each wrk thread builds every request once, in init, and request() only picks
-- one: built per request, each a new string that LuaJIT hashed, interned and later collected,
-- wrk spent 10.3 us of CPU a request on one token, 14.4 on 100k and 17.4 on a million, a share
-- of the two cores the server lost only at scale (8.5-9.1, 9.4-10.4 and 9.5-11.0 built once).
-- A million requests take a thread about 2.3 s to build and about 225 MB.
--
-- wrk runs each thread's init in its main thread and starts that thread before the next one's
-- init, but starts its clock after the last: a thread's requests while the others built theirs
-- were counted against a shorter time (at a million tokens, its rate came out 6-11 % above the
-- node's own mid-run). So each thread waits, at its first request, until all BENCH_WRK_THREADS
-- of them (scripts/bench sets it to wrk's -t; unset, none waits) have built theirs: each init
-- adds a line to a file that setup names, in the main state. Each thread draws from its own
-- seeded generator. wrk counts the non-2xx answers itself (scripts/bench checks them).

local LINE = 45 -- 44 characters and "\n"
local requests, count
local started = false
local WAIT_SECONDS = 120 -- the others' init; then it goes on, and a line on stderr says so

local next_id = 1
local barrier_path -- in the main state: the file the threads' inits add their lines to

function setup(thread)
  barrier_path = barrier_path or os.tmpname()
  thread:set("barrier", barrier_path)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
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
  local ready = assert(io.open(barrier, "a"), "cannot open " .. tostring(barrier))
  ready:write("built\n")
  ready:close()
end

local function threads_built()
  local f = io.open(barrier, "r")
  if not f then
    return 0
  end
  local lines = select(2, f:read("*a"):gsub("\n", ""))
  f:close()
  return lines
end

-- Until every thread has built its requests; polled, since wrk's threads share nothing else.
local function wait_for_all()
  local expected = tonumber(os.getenv("BENCH_WRK_THREADS") or "1") or 1
  local deadline = os.time() + WAIT_SECONDS
  while threads_built() < expected do
    if os.time() > deadline then
      io.stderr:write("tokens.lua: the other threads did not build their requests in time\n")
      break
    end
    local until_clock = os.clock() + 0.005
    while os.clock() < until_clock do
    end
  end
  started = true
end

-- wrk calls the first thread's request() once in its main thread, right after that thread's init,
-- to see how many requests one call returns: that call must not wait for the others, whose inits
-- the main thread runs next.
local verified = false

function request()
  if not started then
    if thread_id == 1 and not verified then
      verified = true
    else
      wait_for_all()
    end
  end
  return requests[math.random(count)]
end

function done()
  os.remove(barrier_path)
end
