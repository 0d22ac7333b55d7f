--[[
Settles a partition's first attempts in one round trip (delivered-log.ts): logs
the deliveries that succeeded and acks the ingest entries whose every delivery
is settled. One command for a whole flush, where one XADD per delivery cost a
socket write each.

A record whose body was built from its event's ingest entry names the entry:
the entry's fields (`e`, `g`, and `r` for a delivery with the raw copy) are
copied into the log here, so the body is not sent back over the socket; the
reader builds it again from them. Records are logged first, while their
entries are still in the stream.

An acked entry is deleted, unless a slow endpoint's batch job refers to it
(its delivery there is still to be made from the entry itself): such an entry
is acked and kept, and the batch deletes it ("released") once that delivery
is settled. The kept counter tracks how many are kept that way.

KEYS: 1 ingest stream, 2 delivered log, 3 kept counter (same partition, same
hash tag)

ARGV: 1 consumer group, 2 the log's length cap (trimmed with ~), then three
lists of entry ids, each as its length and the ids: acked and deleted, acked
and kept, released (deleted); then 6 per delivered record: id, meta JSON,
body ("" when copied), traceparent ("" for none), entry id to copy from (""
for none), "1" to copy the raw copy too

Returns the number of records logged.
]]
local streamKey, logKey, keptKey = KEYS[1], KEYS[2], KEYS[3]
local group, cap = ARGV[1], ARGV[2]

-- Where each list starts: its length, then its ids.
local acksAt = 3
local keptAt = acksAt + 1 + tonumber(ARGV[acksAt])
local releasedAt = keptAt + 1 + tonumber(ARGV[keptAt])
local recordsAt = releasedAt + 1 + tonumber(ARGV[releasedAt])

local logged = 0
for i = recordsAt, #ARGV, 6 do
  local fields = { "i", ARGV[i], "m", ARGV[i + 1] }
  local entry = ARGV[i + 4]
  if entry ~= "" then
    local found = redis.call("XRANGE", streamKey, entry, entry)[1]
    if found then
      local copy = found[2]
      for k = 1, #copy, 2 do
        local name = copy[k]
        if name == "e" or name == "g" or (name == "r" and ARGV[i + 5] == "1") then
          fields[#fields + 1] = name
          fields[#fields + 1] = copy[k + 1]
        end
      end
    end
  else
    fields[#fields + 1] = "b"
    fields[#fields + 1] = ARGV[i + 2]
  end
  if ARGV[i + 3] ~= "" then
    fields[#fields + 1] = "t"
    fields[#fields + 1] = ARGV[i + 3]
  end
  redis.call("XADD", logKey, "MAXLEN", "~", cap, "*", unpack(fields))
  logged = logged + 1
end

-- unpack() of more than a few thousand values overflows Lua's C stack: ids go in chunks.
local CHUNK = 500
local function each_chunk(at, fn)
  local from, n = at + 1, tonumber(ARGV[at])
  for first = from, from + n - 1, CHUNK do
    fn(first, math.min(first + CHUNK - 1, from + n - 1))
  end
end

each_chunk(acksAt, function(first, last)
  redis.call("XACK", streamKey, group, unpack(ARGV, first, last))
  redis.call("XDEL", streamKey, unpack(ARGV, first, last))
end)

each_chunk(keptAt, function(first, last)
  redis.call("XACK", streamKey, group, unpack(ARGV, first, last))
end)
local kept = tonumber(ARGV[keptAt])
if kept > 0 then redis.call("INCRBY", keptKey, kept) end

each_chunk(releasedAt, function(first, last)
  local gone = redis.call("XDEL", streamKey, unpack(ARGV, first, last))
  if gone > 0 then redis.call("DECRBY", keptKey, gone) end
end)

return logged
