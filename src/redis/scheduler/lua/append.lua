-- Shared by the scripts that append to a stream: XADD of `fields` (field, value, …) to `stream`,
-- approximately capped at `cap` entries unless it is 0; returns the new entry's id.
local function append(stream, cap, fields)
  local args = {stream}
  if tonumber(cap) > 0 then
    args[#args + 1] = 'MAXLEN'
    args[#args + 1] = '~'
    args[#args + 1] = cap
  end
  args[#args + 1] = '*'
  for i = 1, #fields do args[#args + 1] = fields[i] end
  return redis.call('XADD', unpack(args))
end

-- An operation's entry: its `id` and `op` (payload) fields.
local function add(stream, cap, id, payload)
  return append(stream, cap, {'id', id, 'op', payload})
end
