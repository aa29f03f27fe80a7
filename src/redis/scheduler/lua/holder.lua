-- Shared by the scripts that act for one delivery: whether `consumer` still holds entry `id` as
-- it was delivered to it (with delivery count `count`). Returns 1 and the pending entry if so; 0
-- if the entry is settled (not pending); -1 if another consumer holds it, or this one got it
-- again in a later delivery (its count moved on), so that a receiver whose delivery was taken
-- over can neither settle nor extend the new holder's.
local function holder(stream, group, id, consumer, count)
  local pending = redis.call('XPENDING', stream, group, id, id, 1)[1]
  if not pending then
    return 0, nil
  end
  if pending[2] ~= consumer or pending[4] ~= tonumber(count) then
    return -1, pending
  end
  return 1, pending
end
