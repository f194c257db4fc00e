-- wrk script for the OIDC exchange benchmark: POST /api/oauth/token (the URL's path), the form a
-- CI system sends (RFC 8693 token exchange: an ID token in, an organization token out), with the
-- ID tokens of the file BENCH_OIDC_FILE (one a line, bench/oidc_tokens.mjs), one after another:
-- of BENCH_LUA_THREADS threads, thread k sends lines k, k + threads, k + 2 * threads, ... and
-- starts over at the end of the file (the exchange keeps no record of jti, so a repeat costs the
-- same; with enough lines there is none). wrk counts the non-2xx answers itself.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local PREFIX = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
  .. "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token"
  .. "&audience=urn%3Apulumi%3Aorg%3A" .. (os.getenv("BENCH_OIDC_ORG") or "bench-org")
  .. "&requested_token_type=urn%3Apulumi%3Atoken-type%3Aaccess_token%3Aorganization"
  .. "&subject_token="

local next_id = 1

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

local tokens, at, stride

function init(args)
  local path = os.getenv("BENCH_OIDC_FILE")
  local f = assert(io.open(path, "rb"), "cannot open BENCH_OIDC_FILE " .. tostring(path))
  tokens = {}
  for line in f:lines() do
    if #line > 0 then
      tokens[#tokens + 1] = line
    end
  end
  f:close()
  assert(#tokens > 0, "BENCH_OIDC_FILE is empty")
  stride = tonumber(os.getenv("BENCH_LUA_THREADS") or "1")
  at = (thread_id or 1) - 1
end

function request()
  local body = PREFIX .. tokens[at % #tokens + 1]
  at = at + stride
  return wrk.format(nil, nil, nil, body)
end
