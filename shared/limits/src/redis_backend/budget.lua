-- Budget counters, shared by admit.lua, extend.lua and settle.lua (prepended to each): one hash
-- per scope and period, `t` tokens and `c` nano-dollars, each the period's spend plus its
-- outstanding reservations. Values are written with %d: Lua numbers are doubles, exact to
-- 2^53, but their default string form turns large ones into exponents.

-- The counter, raised to what the ledger says was spent.
local function budget_load(key, seed_t, seed_c)
  local v = redis.call('HMGET', key, 't', 'c')
  local t = tonumber(v[1]) or 0
  local c = tonumber(v[2]) or 0
  if seed_t > t then t = seed_t end
  if seed_c > c then c = seed_c end
  return t, c
end

-- Output tokens that still fit after `base_t` tokens and `base_c` nano-dollars more, at
-- `per_token` each; -1 when not even the base fits. Limits of -1 are unlimited.
local function budget_room(t, c, max_t, max_c, base_t, base_c, per_token)
  local room = 9007199254740991
  if max_t >= 0 then
    room = math.min(room, max_t - t - base_t)
  end
  if max_c >= 0 then
    local left = max_c - c - base_c
    if left < 0 then return -1 end
    if per_token > 0 then
      room = math.min(room, math.floor(left / per_token))
    end
  end
  if room < 0 then return -1 end
  return room
end

local function budget_store(key, t, c, ttl)
  if t < 0 then t = 0 end
  if c < 0 then c = 0 end
  redis.call('HSET', key, 't', string.format('%d', t), 'c', string.format('%d', c))
  redis.call('EXPIRE', key, ttl)
end
