-- Dead-letters an entry its receiver still holds, with a reason.
-- KEYS[1] operation stream, KEYS[2] dead-letter stream.
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] entry id, ARGV[4] count, ARGV[5] reason,
-- ARGV[6] dead-letter cap (0: none).
-- Returns 1 if dead-lettered now, 0 if it was settled already, -1 if another delivery holds it.
local held, pending = holder(KEYS[1], ARGV[1], ARGV[3], ARGV[2], ARGV[4])
if held ~= 1 then
  return held
end
local entry = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])[1]
local fields = entry and entry[2] or {}
bury(KEYS[1], KEYS[2], ARGV[1], ARGV[3], fields, ARGV[5], pending[4], pending[2], ARGV[6])
return 1
