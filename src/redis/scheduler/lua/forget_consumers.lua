-- Removes the group's consumers that have been idle for ARGV[2] ms and hold nothing. Checked and
-- removed atomically, so a consumer that holds an entry is never removed (that would drop the
-- entry from the pending list, and it would never be delivered again).
-- KEYS[1] operation stream. ARGV[1] group, ARGV[2] idle (ms).
-- Returns how many were removed.
local removed = 0
for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local consumer = {}
  for i = 1, #info, 2 do
    consumer[info[i]] = info[i + 1]
  end
  if consumer['pending'] == 0 and consumer['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], consumer['name'])
    removed = removed + 1
  end
end
return removed
