-- Takes over (for ARGV[2]) one entry whose receiver has been silent for the min idle time,
-- scanning at most ARGV[7] XAUTOCLAIM rounds (10 pending entries each) from cursor ARGV[4].
-- XAUTOCLAIM counts the delivery. Past the delivery limit (ARGV[5]) an entry is delivered once
-- more, for its receiver to settle; after that one it is dead-lettered instead.
-- KEYS[1] operation stream, KEYS[2] dead-letter stream.
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle (ms), ARGV[4] cursor, ARGV[5] max deliveries,
-- ARGV[6] dead-letter cap (0: none), ARGV[7] rounds.
-- Returns {cursor} when nothing was idle, {cursor, 'claimed', id, deliveries, fields}, or
-- {cursor, 'dead', id, deliveries}.
local cursor = ARGV[4]
for _ = 1, tonumber(ARGV[7]) do
  local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', 1)
  cursor = reply[1]
  local entry = reply[2][1]
  if entry then
    local id, fields = entry[1], entry[2]
    if not fields then
      -- Deleted while pending (Redis 6.2 still returns these): nothing left to deliver.
      redis.call('XACK', KEYS[1], ARGV[1], id)
    else
      local deliveries = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1][4]
      if deliveries > tonumber(ARGV[5]) + 1 then
        local done = deliveries - 1
        local reason = 'not settled after ' .. done .. ' deliveries'
        bury(KEYS[1], KEYS[2], ARGV[1], id, fields, reason, done, ARGV[2], ARGV[6])
        return {cursor, 'dead', id, done}
      end
      return {cursor, 'claimed', id, deliveries, fields}
    end
  end
  if cursor == '0-0' then
    break
  end
end
return {cursor}
