-- Removes a task's failed notifications: the records and their places in the list. Run inside
-- the MULTI that deletes the task, so that nothing of it is left behind.
-- KEYS[1] the task's set of notification ids, KEYS[2] the records (hash), KEYS[3] the order (zset).
-- Returns how many were removed.
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
redis.call('DEL', KEYS[1])
return #ids
