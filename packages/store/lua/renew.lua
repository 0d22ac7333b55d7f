--[[
Resets the idle time of the ingest entries a dispatcher holds, each only
while that consumer still owns it. A plain XCLAIM with min-idle 0 would also
take back an entry another dispatcher claimed while this one looked dead (a
pause longer than claimIdleMs), and both would then send its deliveries.

KEYS: 1 ingest stream
ARGV: 1 consumer group, 2 consumer, then the entry ids

Returns how many were renewed. JUSTID: an entry's delivery count (XPENDING's
fourth field) is not raised, and the entries' fields are not read.
]]
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local owned = {}
for i = 3, #ARGV do
  local pending = redis.call("XPENDING", stream, group, ARGV[i], ARGV[i], 1)
  if pending[1] and pending[1][2] == consumer then owned[#owned + 1] = ARGV[i] end
end
-- In runs of 1,000: unpack's values live on Lua's C stack (8,000 at most). The
-- arguments are one table, as only the last expression of a call expands.
for first = 1, #owned, 1000 do
  local args = { "XCLAIM", stream, group, consumer, 0 }
  for i = first, math.min(first + 999, #owned) do args[#args + 1] = owned[i] end
  args[#args + 1] = "JUSTID"
  redis.call(unpack(args))
end
return #owned
