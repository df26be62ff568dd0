-- One admission, atomically: lifetime quota, token rate, project rate (sliding-window logs).
-- Every key shares the project's hash tag, so this runs on one Redis Cluster slot.
--
-- KEYS[1] token lifetime counter   KEYS[2] token window (zset)   KEYS[3] project window (zset)
-- ARGV[1] used per the store (seed)   ARGV[2] max_requests (-1: none)
-- ARGV[3] token rpm (-1: none)        ARGV[4] project rpm (-1: none)
-- ARGV[5] window in microseconds      ARGV[6] unique member for this request
-- ARGV[7] counter TTL in seconds
--
-- Returns {status, used, t_count, t_reset_us, p_count, p_reset_us, retry_us}; status 0 admitted,
-- 1 quota exceeded, 2 token rate, 3 project rate; a count of -1 means "not evaluated".
-- A rejected request writes nothing (trimming expired entries is not counting).

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local seed = tonumber(ARGV[1])
local max_requests = tonumber(ARGV[2])
local token_rpm = tonumber(ARGV[3])
local project_rpm = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local member = ARGV[6]
local counter_ttl = tonumber(ARGV[7])

local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if seed > used then
  used = seed
end
if max_requests >= 0 and used >= max_requests then
  return {1, used, -1, 0, -1, 0, 0}
end

-- Trims a window; returns count, reset_us (oldest leaves) and retry_us (0 when not full).
local function check(key, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local reset = 0
  if count > 0 then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    reset = tonumber(oldest[2]) + window - now
  end
  if count < limit then
    return count, reset, 0
  end
  local retry = window
  local leaving = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
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
    return {2, used, t_count, t_reset, -1, 0, retry}
  end
end
if project_rpm >= 0 then
  local retry
  p_count, p_reset, retry = check(KEYS[3], project_rpm)
  if retry > 0 then
    return {3, used, t_count, t_reset, p_count, p_reset, retry}
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
return {0, used, t_count, t_reset, p_count, p_reset, 0}
