-- Resets the idle time of an entry its receiver is still working on, without counting a
-- delivery (XCLAIM … JUSTID), and only while that receiver still holds it: a keep-alive must not
-- take an entry back from the receiver it was handed to after a timeout.
-- KEYS[1] operation stream. ARGV[1] group, ARGV[2] consumer, ARGV[3] entry id, ARGV[4] count.
-- Returns 1 if reset, 0 if the entry is settled, -1 if another delivery holds it now.
local held = holder(KEYS[1], ARGV[1], ARGV[3], ARGV[2], ARGV[4])
if held ~= 1 then
  return held
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
