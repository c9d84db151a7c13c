"""The one Lua script that decides admissions and books usage in Redis, atomically.

Each flush of a worker sends one ``EVALSHA`` whose arguments are a list of operations, one
string each (words separated by spaces; key names never contain spaces):

``A slot g...``
    admit one request. Groups: ``r KEY CAP RATE`` (requests bucket: takes 1), ``t KEY CAP RATE``
    (tokens bucket: needs more than 0, takes nothing now), ``c KEY CAP`` (concurrency: a sorted
    set of slots scored by their expiry), ``b KEY LIMIT`` (a budget: the spend counter must be
    below LIMIT). Everything is checked first, then taken: all or nothing. Answers ``1``, or
    ``"<kind> <group number> <value>"`` for the first budget spent, else the bucket with the
    longest wait (value: seconds), else the full concurrency cap.
``D KEY CAP RATE N ...``
    take N tokens from token buckets (after the answer; a bucket may go below zero).
``R slot KEY ...``
    release a concurrency slot.
``K slot KEY ...``
    push a held slot's expiry forward (requests that run longer than the slot TTL).
``S KEY AMOUNT EXPIREAT ...``
    add spend (USD) to a day's or month's counter, gone after the period.
``H KEY ID WINDOW``
    this worker's heartbeat; answers the number of workers seen within WINDOW seconds.

Buckets are strings ``"<tokens> <stamp>"`` on Redis's own clock (``TIME``), so replicas'
clocks never disagree; an idle bucket expires once it would be full again (absent = full). A
concurrency set gets its expiry (twice the slot TTL) when created and on each refresh; expired
slots are dropped only when the set looks full, so a busy set costs one ``ZCARD``.

Redis calls per admission, the measured cost on the Redis side: one ``GET`` per budget and per
bucket, one ``ZCARD`` per concurrency cap, then one ``SET`` per requests bucket and one
``ZADD`` per cap.
The answer holds one entry per ``A`` and ``H`` operation, in order.
"""

SCRIPT = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[1])
local out = {}

local function fill(key, cap, rate)
  local v = redis.call('GET', key)
  if not v then return cap end
  local tokens, stamp = string.match(v, '^(%S+) (%S+)$')
  tokens = tonumber(tokens) + (now - tonumber(stamp)) * rate
  if tokens > cap then tokens = cap end
  return tokens
end

local function store(key, tokens, cap, rate)
  redis.call('SET', key, string.format('%.17g %.17g', tokens, now),
             'PX', math.ceil(((cap - tokens) / rate + 1) * 1000))
end

local function admit(f)
  local n = #f
  local i, g = 3, 0
  local wait, wg, wkind = 0, 0, ''
  local full = 0
  local fills = {}
  while i <= n do
    local kind = f[i]
    g = g + 1
    if kind == 'b' then
      local spent = tonumber(redis.call('GET', f[i + 1]) or '0')
      if spent >= tonumber(f[i + 2]) then return 'b ' .. g .. ' ' .. spent end
      i = i + 3
    elseif kind == 'c' then
      local cap = tonumber(f[i + 2])
      local held = redis.call('ZCARD', f[i + 1])
      if held >= cap then  -- full: first drop the slots that expired (replicas that died)
        redis.call('ZREMRANGEBYSCORE', f[i + 1], '-inf', now)
        held = redis.call('ZCARD', f[i + 1])
      end
      if full == 0 and held >= cap then full = g end
      fills[g] = held
      i = i + 3
    else
      local cap, rate = tonumber(f[i + 2]), tonumber(f[i + 3])
      local tokens = fill(f[i + 1], cap, rate)
      local need = 1
      if kind == 't' then need = 1e-9 end
      if tokens < need then
        local w = (need - tokens) / rate
        if w > wait then wait, wg, wkind = w, g, kind end
      end
      fills[g] = tokens
      i = i + 4
    end
  end
  if wg > 0 then return wkind .. ' ' .. wg .. ' ' .. wait end
  if full > 0 then return 'c ' .. full .. ' 1' end
  i, g = 3, 0
  while i <= n do
    local kind = f[i]
    g = g + 1
    if kind == 'r' then
      store(f[i + 1], fills[g] - 1, tonumber(f[i + 2]), tonumber(f[i + 3]))
      i = i + 4
    elseif kind == 't' then
      i = i + 4
    elseif kind == 'c' then
      redis.call('ZADD', f[i + 1], now + ttl, f[2])
      if fills[g] == 0 then redis.call('PEXPIRE', f[i + 1], math.ceil(ttl * 2000)) end
      i = i + 3
    else
      i = i + 3
    end
  end
  return 1
end

for a = 2, #ARGV do
  local f = {}
  for w in string.gmatch(ARGV[a], '%S+') do f[#f + 1] = w end
  local op = f[1]
  if op == 'A' then
    out[#out + 1] = admit(f)
  elseif op == 'D' then
    for i = 2, #f, 4 do
      local cap, rate = tonumber(f[i + 1]), tonumber(f[i + 2])
      store(f[i], fill(f[i], cap, rate) - tonumber(f[i + 3]), cap, rate)
    end
  elseif op == 'R' then
    for i = 3, #f do redis.call('ZREM', f[i], f[2]) end
  elseif op == 'K' then
    for i = 3, #f do
      redis.call('ZADD', f[i], 'XX', now + ttl, f[2])
      redis.call('PEXPIRE', f[i], math.ceil(ttl * 2000))
    end
  elseif op == 'S' then
    for i = 2, #f, 3 do
      redis.call('INCRBYFLOAT', f[i], f[i + 1])
      redis.call('EXPIREAT', f[i], f[i + 2])
    end
  elseif op == 'H' then
    local window = tonumber(f[4])
    redis.call('ZADD', f[2], now, f[3])
    redis.call('ZREMRANGEBYSCORE', f[2], '-inf', now - window)
    redis.call('PEXPIRE', f[2], math.ceil(window * 2000))
    out[#out + 1] = redis.call('ZCARD', f[2])
  end
end
return out
"""
