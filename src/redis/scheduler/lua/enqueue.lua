-- Enqueues an operation unless its id was enqueued within the dedup ttl, atomically, so that a
-- replay after an uncertain failure is a no-op.
-- KEYS[1] dedup key, KEYS[2] operation stream.
-- ARGV[1] dedup ttl (ms), ARGV[2] operation id, ARGV[3] payload, ARGV[4] stream cap (0: none).
-- Returns 1 if enqueued, 0 if it was a duplicate.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
-- XADD first: if it fails nothing is remembered, and the enqueue can be retried.
local entry = add(KEYS[2], ARGV[4], ARGV[2], ARGV[3])
redis.call('SET', KEYS[1], entry, 'PX', ARGV[1])
return 1
