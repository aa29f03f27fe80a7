-- Shared by the scripts that add an operation to a stream: XADD of its `id` and `op` fields
-- (approximately capped at `cap` entries unless it is 0); returns the new entry's id.
local function add(stream, cap, id, payload)
  local args = {stream}
  if tonumber(cap) > 0 then
    args[#args + 1] = 'MAXLEN'
    args[#args + 1] = '~'
    args[#args + 1] = cap
  end
  local fields = {'*', 'id', id, 'op', payload}
  for i = 1, #fields do args[#args + 1] = fields[i] end
  return redis.call('XADD', unpack(args))
end
