--[[
Reads ingest entries by id (a slow endpoint's batch job refers to the entries
its deliveries are made from): one round trip for a whole batch.

KEYS: 1 ingest stream
ARGV: the entry ids

Returns, per id in order, the entry's fields, or false for an entry no longer
in the stream (its delivery was settled another way: see batch.ts).
]]
local out = {}
for i = 1, #ARGV do
  local found = redis.call("XRANGE", KEYS[1], ARGV[i], ARGV[i])
  if found[1] then out[i] = found[1][2] else out[i] = false end
end
return out
