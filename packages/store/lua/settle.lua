--[[
Settles a partition's first attempts in one round trip (delivered-log.ts): logs
the deliveries that succeeded and acks + deletes the ingest entries whose every
delivery is settled. One command for a whole flush, where one XADD per delivery
cost a socket write each.

KEYS: 1 ingest stream, 2 delivered log (same partition, same hash tag)

ARGV: 1 consumer group, 2 the log's length cap (trimmed with ~), 3 n = how many
entry ids follow, 4 … 3+n the entry ids, then 4 per delivered record: id, meta
JSON, body, traceparent ("" for none)

Returns the number of records logged.
]]
local streamKey, logKey = KEYS[1], KEYS[2]
local group, cap = ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])

-- unpack() of more than a few thousand values overflows Lua's C stack: acks go in chunks.
local CHUNK = 500
for from = 4, 3 + n, CHUNK do
  local to = math.min(from + CHUNK - 1, 3 + n)
  redis.call("XACK", streamKey, group, unpack(ARGV, from, to))
  redis.call("XDEL", streamKey, unpack(ARGV, from, to))
end

local logged = 0
for i = 4 + n, #ARGV, 4 do
  local traceparent = ARGV[i + 3]
  if traceparent == "" then
    redis.call("XADD", logKey, "MAXLEN", "~", cap, "*", "i", ARGV[i], "m", ARGV[i + 1], "b", ARGV[i + 2])
  else
    redis.call("XADD", logKey, "MAXLEN", "~", cap, "*", "i", ARGV[i], "m", ARGV[i + 1], "b", ARGV[i + 2], "t", traceparent)
  end
  logged = logged + 1
end
return logged
