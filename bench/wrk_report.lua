-- wrk script of bench/bench_served.py: sends the caller's credentials, counts every answer that is not
-- 2xx (wrk itself counts only status >= 400), and prints one line "WRK_JSON {...}" with the figures.
--   WRK_AUTHORIZATION  the Authorization header (e.g. "Bearer ar_..."), when set
--   WRK_COOKIE         the Cookie header (a page's session), when set
-- Usage: WRK_AUTHORIZATION="Bearer ..." wrk -t2 -c8 -d15s -s bench/wrk_report.lua http://127.0.0.1:PORT/path

local authorization = os.getenv("WRK_AUTHORIZATION")
local cookie = os.getenv("WRK_COOKIE")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

-- Per thread (each thread runs this file in a Lua state of its own): read back in done().
non2xx = 0
first_bad = 0

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == 0 then
      first_bad = status
    end
  end
end

function done(summary, latency, requests)
  local bad, bad_status = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    if bad_status == 0 then
      bad_status = thread:get("first_bad")
    end
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "req_per_s": %.2f, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, ' ..
    '"non2xx": %d, "first_non2xx_status": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    bad, bad_status, e.connect, e.read, e.write, e.status, e.timeout))
end
