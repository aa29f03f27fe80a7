-- Settles an entry its receiver still holds: acknowledged and deleted, so the stream only holds
-- unfinished work.
-- KEYS[1] operation stream. ARGV[1] group, ARGV[2] consumer, ARGV[3] entry id, ARGV[4] count.
-- Returns 1 if settled now, 0 if it was settled already, -1 if another delivery holds it.
local held = holder(KEYS[1], ARGV[1], ARGV[3], ARGV[2], ARGV[4])
if held ~= 1 then
  return held
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return 1
