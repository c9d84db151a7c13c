-- wrk script for the gateway benchmark (bench/gateway/run.py starts wrk with it).
--
-- Environment (set by run.py):
--   WRK_BODY_FILE  file whose bytes are POSTed as the request body (a chat completion request)
--   WRK_KEY        bearer key for the Authorization header (default sk-bench-master)
--   WRK_RATE       if > 0: requests per second per connection, paced with wrk's delay() hook
--                  (each connection sends request k at t0 + k/rate; latency is still measured
--                  from the moment the request is written, as wrk does)
--
--   WRK_RAW        "1": time every request in Lua as well (see below); only with one connection
--                  per thread, since request() and response() do not say which connection
--
-- Without WRK_RAW there is no response() hook on purpose: one makes wrk hand every response's
-- headers and body to Lua, which costs the load generator CPU. Non-2xx counts come from
-- summary.errors.status (wrk counts status > 399 there).
--
-- done() prints one line "BENCH_JSON {...}" with the summary, latency percentiles (µs) and errors.
--
-- wrk corrects its latency histogram for coordinated omission before done() runs (stats_correct:
-- each sample longer than two mean request intervals of a connection adds synthetic samples below
-- it), so its percentiles count a stall once per request that *would* have been sent during it.
-- With WRK_RAW=1 (one connection per thread only: c1 and paced) the script also times each
-- request itself, from request() to response(), and reports the raw percentiles as "raw_p".

local body_file = os.getenv("WRK_BODY_FILE")
assert(body_file, "WRK_BODY_FILE is not set")
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("WRK_KEY") or "sk-bench-master")

local rate = tonumber(os.getenv("WRK_RATE") or "0") or 0
local raw = os.getenv("WRK_RAW") == "1"

-- wrk is built with LuaJIT: read CLOCK_MONOTONIC through the FFI (os.clock() is CPU time).
local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]])
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

if raw then
  local req = nil
  local t_start = nil
  rawlat = {} -- global, so that done() can fetch it with thread:get(): µs -> count
  rawslow = {} -- the first 200 requests over 5 ms: {ms since the first request, latency ms}
  local t_first = nil
  function request()
    if req == nil then
      req = wrk.format()
    end
    t_start = now_ms()
    if t_first == nil then
      t_first = t_start
    end
    return req
  end
  function response(status, headers, body)
    if t_start ~= nil then
      local us = math.floor((now_ms() - t_start) * 1000 + 0.5)
      rawlat[us] = (rawlat[us] or 0) + 1
      if us > 5000 and #rawslow < 200 then
        rawslow[#rawslow + 1] = string.format("[%.1f,%.2f]", t_start - t_first, us / 1000)
      end
      t_start = nil
    end
  end
end

if rate > 0 then
  local period = 1000 / rate
  local next_t = nil

  -- Called before each request is written. wrk's timers have 1 ms resolution, so the delay is
  -- rounded, but the schedule (next_t) is exact: the mean rate is kept. A connection that fell
  -- more than one period behind (a slow response) restarts its schedule instead of bursting.
  function delay()
    local t = now_ms()
    if next_t == nil then
      next_t = t
      return 0
    end
    next_t = next_t + period
    local d = next_t - t
    if d < -period then
      next_t = t
      return 0
    end
    if d <= 0 then
      return 0
    end
    return math.floor(d + 0.5)
  end
end

local QS = { 50, 75, 90, 99, 99.9 }

local function raw_percentiles()
  local hist, total, slow = {}, 0, {}
  for _, t in ipairs(threads) do
    local sl = t:get("rawslow")
    if type(sl) == "table" then
      for _, v in ipairs(sl) do
        slow[#slow + 1] = v
      end
    end
    local h = t:get("rawlat")
    if type(h) == "table" then
      for us, n in pairs(h) do
        hist[us] = (hist[us] or 0) + n
        total = total + n
      end
    end
  end
  if total == 0 then
    return '"raw_count":0'
  end
  local keys = {}
  for us in pairs(hist) do
    keys[#keys + 1] = us
  end
  table.sort(keys)
  local out = {}
  for _, q in ipairs(QS) do
    local rank = math.floor(q / 100 * total + 1) -- as wrk's stats_percentile
    local acc = 0
    for _, us in ipairs(keys) do
      acc = acc + hist[us]
      if acc >= rank then
        out[#out + 1] = string.format('"%g":%d', q, us)
        break
      end
    end
  end
  local over = 0
  for _, us in ipairs(keys) do
    if us > 5000 then
      over = over + hist[us]
    end
  end
  return string.format('"raw_count":%d,"raw_max":%d,"raw_over_5ms":%d,"raw_p":{%s},"raw_slow":[%s]',
    total, keys[#keys], over, table.concat(out, ","), table.concat(slow, ","))
end

function done(summary, latency, requests)
  local e = summary.errors
  local ps = {}
  for _, q in ipairs(QS) do
    ps[#ps + 1] = string.format('"%g":%d', q, latency:percentile(q))
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"p":{%s}},%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(ps, ","),
    raw_percentiles()
  ))
end
