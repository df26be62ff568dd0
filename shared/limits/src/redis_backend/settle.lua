-- Ends a reservation: each budget counter it holds moves by `actual - reserved` (never below
-- zero).
--
-- KEYS[1] token budget counter   KEYS[2] project budget counter
-- ARGV[1] delta tokens   ARGV[2] delta nano-dollars (both may be negative)
-- ARGV[3] token budget applies (1/0)  ARGV[4] its TTL
-- ARGV[5] project budget applies (1/0)  ARGV[6] its TTL

local dt = tonumber(ARGV[1])
local dc = tonumber(ARGV[2])
local scopes = {
  {present = ARGV[3] == '1', key = KEYS[1], ttl = tonumber(ARGV[4])},
  {present = ARGV[5] == '1', key = KEYS[2], ttl = tonumber(ARGV[6])},
}
for _, s in ipairs(scopes) do
  if s.present then
    local t, c = budget_load(s.key, 0, 0)
    budget_store(s.key, t + dt, c + dc, s.ttl)
  end
end
return 1
