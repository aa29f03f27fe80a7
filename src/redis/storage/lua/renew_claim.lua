-- Renews a claim still held under the token: its lease now ends ARGV[2] ms from now, on the
-- server's clock, and the task's place in the due set moves with it. Touches nothing else (not
-- the task), and nothing at all once the claim is gone.
-- KEYS[1] claim hash, KEYS[2] due set.
-- ARGV[1] token, ARGV[2] lease (ms), ARGV[3] task id, ARGV[4] the latest lease end there is (ms).
-- Returns the new end of the lease (ms), or -1 when the claim is gone.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return -1
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
-- Formatted as an integer: Lua would print a large number in exponent notation.
local lease_until = string.format('%d', math.min(now + tonumber(ARGV[2]), tonumber(ARGV[4])))
redis.call('HSET', KEYS[1], 'lease_until', lease_until)
redis.call('ZADD', KEYS[2], lease_until, ARGV[3])
return tonumber(lease_until)
