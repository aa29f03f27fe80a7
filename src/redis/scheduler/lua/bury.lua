-- Shared by the scripts that dead-letter: moves entry `id` of `stream` to the `dead` stream with
-- why and how often it was delivered, followed by its own fields, then settles it (XACK + XDEL).
-- At most 64 of the entry's field-value pairs are copied, so a giant poison entry cannot make
-- the XADD fail and keep the entry pending forever.
local function bury(stream, dead, group, id, fields, reason, deliveries, consumer, dead_cap)
  local args = {dead}
  if tonumber(dead_cap) > 0 then
    args[#args + 1] = 'MAXLEN'
    args[#args + 1] = '~'
    args[#args + 1] = dead_cap
  end
  local meta = {'*', 'reason', reason, 'deliveries', deliveries, 'entry', id, 'consumer', consumer}
  for i = 1, #meta do args[#args + 1] = meta[i] end
  for i = 1, math.min(#fields, 128) do args[#args + 1] = fields[i] end
  redis.call('XADD', unpack(args))
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
end
