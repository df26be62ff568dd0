-- One admission, atomically: lifetime quota, token budget, project budget, token rate, project
-- rate (sliding-window logs). Every key shares the project's hash tag, so this runs on one Redis
-- Cluster slot. budget.lua is prepended.
--
-- KEYS[1] token lifetime counter   KEYS[2] token window (zset)   KEYS[3] project window (zset)
-- KEYS[4] token budget counter     KEYS[5] project budget counter (hashes)
-- ARGV[1] used per the store (seed)   ARGV[2] max_requests (-1: none)
-- ARGV[3] token rpm (-1: none)        ARGV[4] project rpm (-1: none)
-- ARGV[5] window in microseconds      ARGV[6] unique member for this request
-- ARGV[7] counter TTL in seconds
-- ARGV[8] prompt tokens   ARGV[9] prompt nano-dollars   ARGV[10] min output   ARGV[11] max output
-- ARGV[12] nano-dollars per output token
-- ARGV[13] token budget applies (1/0)  ARGV[14] max tokens (-1)  ARGV[15] max cost (-1)
-- ARGV[16] spent tokens per the ledger (seed)  ARGV[17] spent cost (seed)  ARGV[18] TTL
-- ARGV[19..24] the same for the project budget
-- ARGV[25] expired window entries removed per window and call at most
--
-- Returns {status, used, t_count, t_reset_us, p_count, p_reset_us, retry_us, granted_output,
-- tb_tokens, tb_cost, pb_tokens, pb_cost}; status 0 admitted, 1 quota exceeded, 2 token rate,
-- 3 project rate, 4 token budget, 5 project budget; -1 means "not evaluated".
-- A rejected request writes nothing (trimming expired entries is not counting).
--
-- Expired entries leave a window a bounded number per call: after a burst, everything it added
-- expires within one window, and removing it all in the next call held Redis (and every
-- node's admissions) for ~10 ms per 40,000 entries. The counts below skip what is left.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local seed = tonumber(ARGV[1])
local max_requests = tonumber(ARGV[2])
local token_rpm = tonumber(ARGV[3])
local project_rpm = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local member = ARGV[6]
local counter_ttl = tonumber(ARGV[7])
local trim_max = tonumber(ARGV[25])

local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if seed > used then
  used = seed
end
if max_requests >= 0 and used >= max_requests then
  return {1, used, -1, 0, -1, 0, 0, -1, -1, -1, -1, -1}
end

-- Budgets: as many output tokens as every budget has room for, at least min_out.
local base_t = tonumber(ARGV[8])
local base_c = tonumber(ARGV[9])
local min_out = tonumber(ARGV[10])
local grant = tonumber(ARGV[11])
local per_token = tonumber(ARGV[12])
local budgets = {
  {present = ARGV[13] == '1', key = KEYS[4], max_t = tonumber(ARGV[14]), max_c = tonumber(ARGV[15]),
   seed_t = tonumber(ARGV[16]), seed_c = tonumber(ARGV[17]), ttl = tonumber(ARGV[18]), status = 4},
  {present = ARGV[19] == '1', key = KEYS[5], max_t = tonumber(ARGV[20]), max_c = tonumber(ARGV[21]),
   seed_t = tonumber(ARGV[22]), seed_c = tonumber(ARGV[23]), ttl = tonumber(ARGV[24]), status = 5},
}
local any_budget = budgets[1].present or budgets[2].present
local counters = {-1, -1, -1, -1}
for i, b in ipairs(budgets) do
  if b.present then
    b.t, b.c = budget_load(b.key, b.seed_t, b.seed_c)
    counters[i * 2 - 1], counters[i * 2] = b.t, b.c
    local room = budget_room(b.t, b.c, b.max_t, b.max_c, base_t, base_c, per_token)
    if room < min_out then
      return {b.status, used, -1, 0, -1, 0, 0, -1, counters[1], counters[2], counters[3], counters[4]}
    end
    if room < grant then grant = room end
  end
end

-- Trims a window (at most trim_max entries); returns the live count, reset_us (oldest live
-- entry leaves) and retry_us (0 when not full). Live entries are the ranks from `expired` on.
local function check(key, limit)
  local expired = redis.call('ZCOUNT', key, '-inf', now - window)
  if expired > 0 then
    local trim = math.min(expired, trim_max)
    redis.call('ZREMRANGEBYRANK', key, 0, trim - 1)
    expired = expired - trim
  end
  local count = redis.call('ZCARD', key) - expired
  local reset = 0
  if count > 0 then
    local oldest = redis.call('ZRANGE', key, expired, expired, 'WITHSCORES')
    reset = tonumber(oldest[2]) + window - now
  end
  if count < limit then
    return count, reset, 0
  end
  local retry = window
  local leaving = expired + count - limit
  leaving = redis.call('ZRANGE', key, leaving, leaving, 'WITHSCORES')
  if leaving[2] then
    retry = tonumber(leaving[2]) + window - now
  end
  return count, reset, retry
end

local t_count, t_reset, p_count, p_reset = -1, 0, -1, 0
if token_rpm >= 0 then
  local retry
  t_count, t_reset, retry = check(KEYS[2], token_rpm)
  if retry > 0 then
    return {2, used, t_count, t_reset, -1, 0, retry, -1, -1, -1, -1, -1}
  end
end
if project_rpm >= 0 then
  local retry
  p_count, p_reset, retry = check(KEYS[3], project_rpm)
  if retry > 0 then
    return {3, used, t_count, t_reset, p_count, p_reset, retry, -1, -1, -1, -1, -1}
  end
end

-- Admitted: count it everywhere at once.
used = used + 1
redis.call('SET', KEYS[1], used, 'EX', counter_ttl)
local window_ms = math.ceil(window / 1000)
if token_rpm >= 0 then
  redis.call('ZADD', KEYS[2], now, member)
  redis.call('PEXPIRE', KEYS[2], window_ms)
  t_count = t_count + 1
  if t_count == 1 then t_reset = window end
end
if project_rpm >= 0 then
  redis.call('ZADD', KEYS[3], now, member)
  redis.call('PEXPIRE', KEYS[3], window_ms)
  p_count = p_count + 1
  if p_count == 1 then p_reset = window end
end
local granted = -1
if any_budget then
  granted = grant
  for i, b in ipairs(budgets) do
    if b.present then
      b.t = b.t + base_t + grant
      b.c = b.c + base_c + grant * per_token
      budget_store(b.key, b.t, b.c, b.ttl)
      counters[i * 2 - 1], counters[i * 2] = b.t, b.c
    end
  end
end
return {0, used, t_count, t_reset, p_count, p_reset, 0, granted, counters[1], counters[2], counters[3], counters[4]}
