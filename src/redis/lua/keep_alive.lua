-- Resets the idle time of an entry its consumer is still working on, without counting a
-- delivery (XCLAIM … JUSTID), and only while that consumer still holds it: a keep-alive must not
-- take an entry back from the receiver it was handed to after a timeout.
-- KEYS[1] operation stream. ARGV[1] group, ARGV[2] consumer, ARGV[3] entry id.
-- Returns 1 if reset, 0 if the entry is settled, -1 if another consumer holds it now.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if not pending then
  return 0
end
if pending[2] ~= ARGV[2] then
  return -1
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
