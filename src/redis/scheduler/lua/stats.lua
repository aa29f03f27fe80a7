-- The state of each operation stream for one group, and the dead-letter count, in one snapshot.
-- KEYS[1..n-1] operation streams, KEYS[n] dead-letter stream. ARGV[1] group.
-- Returns {now (ms), dead letters, per stream: entries, pending, oldest undelivered entry id or ''}.
-- Settled entries are deleted, so a stream holds what is pending (delivered, unsettled) and what
-- the group has not read yet, which starts right after its last-delivered-id.
local time = redis.call('TIME')
local reply = {tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000), redis.call('XLEN', KEYS[#KEYS])}
for k = 1, #KEYS - 1 do
  local stream = KEYS[k]
  local last = nil
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for i = 1, #group, 2 do
      info[group[i]] = group[i + 1]
    end
    if info['name'] == ARGV[1] then
      last = info['last-delivered-id']
    end
  end
  local oldest = ''
  if last then
    local first = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)[1]
    if first then
      oldest = first[1]
    end
  end
  reply[#reply + 1] = redis.call('XLEN', stream)
  reply[#reply + 1] = redis.call('XPENDING', stream, ARGV[1])[1]
  reply[#reply + 1] = oldest
end
return reply
