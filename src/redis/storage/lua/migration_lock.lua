-- Extends (ARGV[2] > 0: for ARGV[2] ms) or releases (ARGV[2] = 0) the migration lock, only if
-- this process still holds it (ARGV[1] is its token).
-- KEYS[1] lock. Returns 1 if the lock was held, 0 otherwise.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
