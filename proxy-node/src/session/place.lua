-- Places one call in its session atomically; mirrors lineage.rs (`decide`).
-- KEYS: the sequence counter; prefix -> latest call containing it; prefix -> "seq:lineage:parent"
-- of the latest call whose whole conversation it was.
-- ARGV: ttl seconds, prefixes kept per session at most, server_state (0/1), then the call's
-- prefix hashes, shortest first (none for a call without a conversation).
-- Returns {seq, matched index (1-based, 0 = none), lineage (1 new, 2 continuation, 3 fork;
-- 0 = no conversation), parent seq (0 = none)}.
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local first = 4
local n = #ARGV - first + 1
if n < 1 then
  return {seq, 0, 0, 0}
end
local full = ARGV[#ARGV]

local found, last, tip = 0, 0, 0
if n > 1 then
  local proper = {}
  for i = first, #ARGV - 1 do
    proper[#proper + 1] = ARGV[i]
  end
  local lasts = redis.call('HMGET', KEYS[2], unpack(proper))
  for i = #lasts, 1, -1 do
    if lasts[i] then
      found = i
      last = tonumber(lasts[i])
      local t = redis.call('HGET', KEYS[3], proper[i])
      if t then
        tip = tonumber(string.match(t, '^(%d+)'))
      end
      break
    end
  end
end

local lineage, parent
local repeated = redis.call('HGET', KEYS[3], full)
if repeated then
  local _, l, p = string.match(repeated, '^(%d+):(%d+):(%d+)$')
  lineage, parent = tonumber(l), tonumber(p)
elseif found > 0 and tip > 0 then
  lineage, parent = 2, tip
elseif found > 0 then
  lineage, parent = 3, last
elseif ARGV[3] == '1' then
  lineage, parent = 2, 0
else
  lineage, parent = 1, 0
end

if redis.call('HLEN', KEYS[2]) + n > tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[2], KEYS[3])
end
local fields = {}
local value = tostring(seq)
for i = first, #ARGV do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('HSET', KEYS[3], full, value .. ':' .. lineage .. ':' .. parent)
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[1])
return {seq, found, lineage, parent}
