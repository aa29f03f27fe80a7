-- Ends the lease of a claim still held under the token now, on the server's clock, so that the
-- next claim takes the task over at once; the task stays `working`. Nothing once the claim is
-- gone.
-- KEYS[1] claim hash, KEYS[2] due set. ARGV[1] token, ARGV[2] task id.
-- Returns 1 if the lease was ended, 0 when the claim is gone.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local current = tonumber(redis.call('HGET', KEYS[1], 'lease_until')) or now
local lease_until = string.format('%d', math.min(now, current))
redis.call('HSET', KEYS[1], 'lease_until', lease_until)
redis.call('ZADD', KEYS[2], lease_until, ARGV[2])
return 1
