--[[
Settles a partition's first attempts in one round trip (delivered-log.ts): logs
the deliveries that succeeded and acks the ingest entries whose every delivery
is settled. One command for a whole flush, where one XADD per delivery cost a
socket write each.

An acked entry is deleted, unless a slow endpoint's batch job refers to it
(its delivery there is still to be made from the entry itself): such an entry
is acked and kept, and the batch deletes it ("released") once that delivery
is settled. The kept counter tracks how many are kept that way.

KEYS: 1 ingest stream, 2 delivered log, 3 kept counter (same partition, same
hash tag)

ARGV: 1 consumer group, 2 the log's length cap (trimmed with ~), then three
lists of entry ids, each as its length and the ids: acked and deleted, acked
and kept, released (deleted); then 4 per delivered record: id, meta JSON,
body, traceparent ("" for none)

Returns the number of records logged.
]]
local streamKey, logKey, keptKey = KEYS[1], KEYS[2], KEYS[3]
local group, cap = ARGV[1], ARGV[2]

-- unpack() of more than a few thousand values overflows Lua's C stack: ids go in chunks.
local CHUNK = 500
local function each_chunk(from, n, fn)
  for first = from, from + n - 1, CHUNK do
    fn(first, math.min(first + CHUNK - 1, from + n - 1))
  end
end

local at = 3
local acked = tonumber(ARGV[at])
each_chunk(at + 1, acked, function(first, last)
  redis.call("XACK", streamKey, group, unpack(ARGV, first, last))
  redis.call("XDEL", streamKey, unpack(ARGV, first, last))
end)
at = at + 1 + acked

local kept = tonumber(ARGV[at])
each_chunk(at + 1, kept, function(first, last)
  redis.call("XACK", streamKey, group, unpack(ARGV, first, last))
end)
if kept > 0 then redis.call("INCRBY", keptKey, kept) end
at = at + 1 + kept

local released = tonumber(ARGV[at])
each_chunk(at + 1, released, function(first, last)
  local gone = redis.call("XDEL", streamKey, unpack(ARGV, first, last))
  if gone > 0 then redis.call("DECRBY", keptKey, gone) end
end)
at = at + 1 + released

local logged = 0
for i = at, #ARGV, 4 do
  local traceparent = ARGV[i + 3]
  if traceparent == "" then
    redis.call("XADD", logKey, "MAXLEN", "~", cap, "*", "i", ARGV[i], "m", ARGV[i + 1], "b", ARGV[i + 2])
  else
    redis.call("XADD", logKey, "MAXLEN", "~", cap, "*", "i", ARGV[i], "m", ARGV[i + 1], "b", ARGV[i + 2], "t", traceparent)
  end
  logged = logged + 1
end
return logged
