-- Dead-letters a pending entry with a reason. Idempotent: an entry already settled (acknowledged
-- or dead-lettered) is left alone.
-- KEYS[1] operation stream, KEYS[2] dead-letter stream.
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] reason, ARGV[4] dead-letter cap (0: none).
-- Returns 1 if dead-lettered, 0 if it was settled already.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1]
if not pending then
  return 0
end
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])[1]
local fields = entry and entry[2] or {}
bury(KEYS[1], KEYS[2], ARGV[1], ARGV[2], fields, ARGV[3], pending[4], pending[2], ARGV[4])
return 1
