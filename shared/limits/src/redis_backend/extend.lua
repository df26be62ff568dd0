-- More output tokens for a running call (a stream outgrowing its reservation): as many as
-- every budget that applies has room for, between ARGV[1] and ARGV[2], or nothing.
--
-- KEYS[1] token budget counter   KEYS[2] project budget counter
-- ARGV[1] min   ARGV[2] max   ARGV[3] nano-dollars per output token
-- ARGV[4] token budget applies (1/0)    ARGV[5] max tokens   ARGV[6] max cost   ARGV[7] TTL
-- ARGV[8] project budget applies (1/0)  ARGV[9] max tokens   ARGV[10] max cost  ARGV[11] TTL
--
-- Returns {granted or -1, tb_tokens, tb_cost, pb_tokens, pb_cost} (-1: no such budget).

local min_out = tonumber(ARGV[1])
local grant = tonumber(ARGV[2])
local per_token = tonumber(ARGV[3])
local scopes = {
  {present = ARGV[4] == '1', key = KEYS[1], max_t = tonumber(ARGV[5]), max_c = tonumber(ARGV[6]), ttl = tonumber(ARGV[7])},
  {present = ARGV[8] == '1', key = KEYS[2], max_t = tonumber(ARGV[9]), max_c = tonumber(ARGV[10]), ttl = tonumber(ARGV[11])},
}
local out = {-1, -1, -1, -1, -1}
for i, s in ipairs(scopes) do
  if s.present then
    s.t, s.c = budget_load(s.key, 0, 0)
    out[i * 2], out[i * 2 + 1] = s.t, s.c
    local room = budget_room(s.t, s.c, s.max_t, s.max_c, 0, 0, per_token)
    if room < grant then grant = room end
  end
end
if grant < min_out then
  return out
end
for i, s in ipairs(scopes) do
  if s.present then
    s.t = s.t + grant
    s.c = s.c + grant * per_token
    budget_store(s.key, s.t, s.c, s.ttl)
    out[i * 2], out[i * 2 + 1] = s.t, s.c
  end
end
out[1] = grant
return out
