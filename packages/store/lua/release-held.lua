--[[
Releases one user's held offline once its grace is over (presence.offlineGrace;
lua/ingest.lua holds it). Any number of gateways sweep the held set at once:
the ZREM is the guard, so exactly one of them XADDs the event.

KEYS: 1 held sorted set, 2 the user's presence hash, 3 ingest stream

ARGV: 1 held member (["tenant","userId"] JSON), 2 now in ms

The held event is the presence hash's "held" field, JSON { e = event JSON,
s = its sequence, r = raw or absent, d = due ms, m = held member }. It goes out
as it was held: presence offline with no platforms (what it was after that
event), changed true. A user online again has had the hold cleared by the
ingest script already; were one left, it would go out with changed false,
never claiming a flip presence does not show.

Returns { "released", event JSON, gatewayJson }, or { "gone" } (released or
cancelled by someone else) or { "early" } (a newer hold of the user, not due yet).
]]
local heldKey, presenceKey, streamKey = KEYS[1], KEYS[2], KEYS[3]
local member = ARGV[1]
local now = tonumber(ARGV[2])

local score = redis.call("ZSCORE", heldKey, member)
if not score then return { "gone" } end
if tonumber(score) > now then return { "early" } end
redis.call("ZREM", heldKey, member)

local heldJson = redis.call("HGET", presenceKey, "held")
if not heldJson then return { "gone" } end
redis.call("HDEL", presenceKey, "held")
local ok, held = pcall(cjson.decode, heldJson)
-- Not a hold lua/ingest.lua wrote: dropped, nothing to send.
if not (ok and type(held) == "table" and held.e and held.s) then return { "gone" } end

local online = false
local flat = redis.call("HGETALL", presenceKey)
for i = 1, #flat, 2 do
  if flat[i] ~= "seq" and string.sub(flat[i + 1], 1, 2) == "1|" then online = true end
end

local gatewayJson = '{"sequence":' .. held.s .. ',"presence":{"online":false,"platforms":[]},"changed":'
  .. tostring(not online) .. ',"stale":false}'
if held.r then
  redis.call("XADD", streamKey, "*", "e", held.e, "g", gatewayJson, "r", held.r)
else
  redis.call("XADD", streamKey, "*", "e", held.e, "g", gatewayJson)
end
return { "released", held.e, gatewayJson }
