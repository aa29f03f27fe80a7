-- Replays a dead letter: its operation becomes a new entry of its lane's stream (so no delivery
-- is counted), the operation id's dedup key points at that entry (a replay is not swallowed by
-- the dedup, and an enqueue of the id meanwhile is), and the dead letter goes — atomically, so
-- that concurrent replays have one winner.
-- KEYS[1] dead-letter stream, KEYS[2] operation stream, KEYS[3] dedup key.
-- ARGV[1] dead-letter entry id, ARGV[2] operation id, ARGV[3] payload, ARGV[4] dedup ttl (ms),
-- ARGV[5] stream cap (0: none).
-- Returns 1 if replayed, 0 if there is no such dead letter.
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return 0
end
local entry = add(KEYS[2], ARGV[5], ARGV[2], ARGV[3])
redis.call('SET', KEYS[3], entry, 'PX', ARGV[4])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
