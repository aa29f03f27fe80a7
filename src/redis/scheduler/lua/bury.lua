-- Shared by the scripts that dead-letter (after append.lua): moves entry `id` of `stream` to the
-- `dead` stream with why and how often it was delivered, followed by its own fields, then settles
-- it (XACK + XDEL). At most 64 of the entry's field-value pairs are copied, so a giant poison
-- entry cannot make the XADD fail and keep the entry pending forever.
local function bury(stream, dead, group, id, fields, reason, deliveries, consumer, dead_cap)
  local letter = {'reason', reason, 'deliveries', deliveries, 'entry', id, 'consumer', consumer}
  for i = 1, math.min(#fields, 128) do letter[#letter + 1] = fields[i] end
  append(dead, dead_cap, letter)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
end
