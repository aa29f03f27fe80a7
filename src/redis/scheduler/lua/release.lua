-- Hands an entry its receiver still holds back unsettled: it stays pending, but with its idle
-- time set so that a claim sweep takes it over after the delay (IDLE = min idle − delay), and
-- with its delivery count one lower, so that the sweep's count brings it back where it was: a
-- release is not a delivery.
-- KEYS[1] operation stream. ARGV[1] group, ARGV[2] consumer, ARGV[3] entry id, ARGV[4] count,
-- ARGV[5] idle to set (ms).
-- Returns 1 if released, 0 if the entry is settled, -1 if another delivery holds it.
local held = holder(KEYS[1], ARGV[1], ARGV[3], ARGV[2], ARGV[4])
if held ~= 1 then
  return held
end
local count = math.max(tonumber(ARGV[4]) - 1, 0)
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[5], 'RETRYCOUNT', count, 'JUSTID')
return 1
