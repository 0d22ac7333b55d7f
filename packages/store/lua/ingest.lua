--[[
The ingest script: everything a callback does to Redis, in one atomic call,
so presence, sequence and the stream can never disagree (docs/architecture.md).
No vendor names in here: what differs by vendor comes in as arguments, read
from the vendor's descriptor (renews, devices).

KEYS: 1 seen key, 2 presence hash, 3 ingest stream, 4 expiry sorted set,
      5 held sorted set (users whose offline is held, by when the grace ends)

ARGV:
   1 event JSON, as the adapter made it (no gateway fields, no raw)
   2 provider             3 platform          4 device key ("" = the vendor names none)
   5 occurredAt in ms     6 status ("online" | "offline" | "")
   7 kicked platforms, comma separated ("" = none)
   8 "1" when the vendor re-sends online as a renewal (its platforms expire), else ""
   9 expiry in ms         10 expiry member of this presence entry
  11 raw JSON or ""       12 guard: "" or the atMs the entry must still be online with
  13 seen TTL in seconds
  14 W3C traceparent of the enqueue span, or "" (tracing off)
  15 offline grace in ms ("0" = off)   16 receivedAt in ms (the gateway's clock)
  17 held member of this user ("" when the grace is off)

Presence hash fields: "seq", and one per presence entry, named
"provider:platform" or "provider:platform:device" (provider and platform never
hold ":"; a device may), valued "online|atMs|sinceMs" (online is 1 or 0).

Writes the stream entry { e = event JSON, g = gateway fields JSON, r = raw, t = traceparent }
(r and t only when given):
the gateway's fields ({"sequence","presence","changed","stale"}) are built
here, the event's own fields by the adapter, and @imrelay/store joins them
(stream-entry.ts).

Offline grace (presence.offlineGrace): an event that takes the user's last
platform offline is not XADDed but held in the presence hash's "held" field,
JSON { e = event JSON, s = its sequence, r = raw or absent, d = due ms,
m = held member }, with the member in the held set scored d. The hash itself
is updated at once. The user's next event that finds them online again XADDs
the held offline first: with changed false when it came before d (and then the
return is changed false too), else with changed true (the sweeper was late).
A hold not cancelled by then is released by lua/release-held.lua. Holds are
read and cleared whatever the grace is now, so turning it off strands none.

Returns { outcome, gatewayJson?, hold? }: outcome is "queued", "held", "duplicate",
"renewal" or "skipped"; hold is "cancelled" or "released" when this event let a
held offline go.
]]
local seenKey, presenceKey, streamKey, expiryKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local eventJson, provider, platform, device = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local at = tonumber(ARGV[5])
local status = ARGV[6]
local kicked = ARGV[7]
local renews = ARGV[8] == "1"
local expiryMs = tonumber(ARGV[9])
local member = ARGV[10]
local raw = ARGV[11]
local guard = ARGV[12]
local seenTtl = tonumber(ARGV[13])
local traceparent = ARGV[14] or ""
local heldKey = KEYS[5]
local graceMs = tonumber(ARGV[15]) or 0
local receivedAt = tonumber(ARGV[16])
local heldMember = ARGV[17]

local function parse(value)
  if not value then return nil end
  local o, a, s = string.match(value, "^(%d)|(%-?%d+)|(%-?%d+)$")
  if not o then return nil end
  return { online = o == "1", at = tonumber(a), since = tonumber(s) }
end

local function fmt(value)
  return (value.online and "1" or "0") .. "|" .. string.format("%d", value.at) .. "|" .. string.format("%d", value.since)
end

-- ISO-8601 from ms since the epoch (the Lua sandbox has no os.date).
local function iso(ms)
  local secs = math.floor(ms / 1000)
  local millis = ms - secs * 1000
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, millis)
end

local platformField = provider .. ":" .. platform
local field = platformField
if device ~= "" then field = platformField .. ":" .. device end
local devicePrefix = platformField .. ":"
local state = {}
local heldJson = nil
local flat = redis.call("HGETALL", presenceKey)
for i = 1, #flat, 2 do
  if flat[i] == "held" then
    heldJson = flat[i + 1]
  elseif flat[i] ~= "seq" then
    local parsed = parse(flat[i + 1])
    if parsed then state[flat[i]] = parsed end
  end
end

local function anyOnline()
  for _, value in pairs(state) do
    if value.online then return true end
  end
  return false
end

local current = state[field]

if guard ~= "" then
  -- The sweeper's event: only while the platform is still online since the time it read.
  if not current or not current.online or current.at ~= tonumber(guard) then
    if current and current.online then
      redis.call("ZADD", expiryKey, current.at + expiryMs, member)
    else
      redis.call("ZREM", expiryKey, member)
    end
    return { "skipped" }
  end
end

if redis.call("SET", seenKey, "1", "NX", "EX", seenTtl) == false then
  return { "duplicate" }
end

local stale = false
if current then
  if current.at > at then
    stale = true
  elseif current.at == at and status == "offline" and current.online then
    -- Same millisecond: the online wins, so a reconnect is never lost to its own disconnect.
    stale = true
  end
end
if device ~= "" and not stale then
  -- An offline that named no device took every device of the platform offline, and is remembered:
  -- an older event of any one device is stale.
  local whole = state[platformField]
  if whole and not whole.online and whole.at > at then stale = true end
end

if renews and status == "online" and current and current.online then
  -- A renewing vendor (OpenIM) re-sends online for every connected platform: a renewal,
  -- not news, even when its async senders deliver renewals out of order (then the
  -- newer time already stored is kept).
  if at > current.at then
    current.at = at
    redis.call("HSET", presenceKey, field, fmt(current))
    redis.call("ZADD", expiryKey, at + expiryMs, member)
  end
  return { "renewal" }
end

local onlineBefore = anyOnline()

if not stale then
  if status == "online" then
    local since = at
    if current and current.online then since = current.since end
    state[field] = { online = true, at = at, since = since }
    redis.call("HSET", presenceKey, field, fmt(state[field]))
  elseif status == "offline" then
    state[field] = { online = false, at = at, since = 0 }
    redis.call("HSET", presenceKey, field, fmt(state[field]))
    if device == "" then
      -- No device named: every device of the platform goes offline. Their entries are dropped,
      -- since the platform's own entry now remembers the time for all of them.
      for name, value in pairs(state) do
        if string.sub(name, 1, #devicePrefix) == devicePrefix and value.at <= at then
          state[name] = nil
          redis.call("HDEL", presenceKey, name)
        end
      end
    end
  end
  if kicked ~= "" then
    for name in string.gmatch(kicked, "[^,]+") do
      if name ~= platform then
        local kickedField = provider .. ":" .. name
        local prior = state[kickedField]
        if not prior or prior.at <= at then
          state[kickedField] = { online = false, at = at, since = 0 }
          redis.call("HSET", presenceKey, kickedField, fmt(state[kickedField]))
        end
      end
    end
  end
  if renews then
    if status == "online" then
      redis.call("ZADD", expiryKey, at + expiryMs, member)
    elseif status == "offline" then
      redis.call("ZREM", expiryKey, member)
    end
  end
end

local onlineAfter = anyOnline()
local platforms = {}
for name, value in pairs(state) do
  if value.online then
    local sep = string.find(name, ":", 1, true)
    local rest = string.sub(name, sep + 1)
    local sep2 = string.find(rest, ":", 1, true)
    platforms[#platforms + 1] = { key = name, provider = string.sub(name, 1, sep - 1),
      platform = sep2 and string.sub(rest, 1, sep2 - 1) or rest,
      device = sep2 and string.sub(rest, sep2 + 1) or nil, since = value.since }
  end
end
table.sort(platforms, function(a, b)
  if a.since ~= b.since then return a.since < b.since end
  return a.key < b.key
end)
local parts = {}
for i, p in ipairs(platforms) do
  parts[i] = '{"provider":' .. cjson.encode(p.provider) .. ',"platform":' .. cjson.encode(p.platform)
    .. ',"device":' .. (p.device and cjson.encode(p.device) or "null")
    .. ',"since":"' .. iso(p.since) .. '"}'
end

local sequence = redis.call("HINCRBY", presenceKey, "seq", 1)
local changed = (not stale) and (onlineBefore ~= onlineAfter)

-- Offline grace (see the header) ---------------------------------------------
local hold = nil
local held = nil
if heldJson and onlineAfter then
  local ok, decoded = pcall(cjson.decode, heldJson)
  if ok and type(decoded) == "table" and decoded.e and decoded.s and decoded.d and decoded.m then
    held = decoded
  else
    -- Not a hold this script wrote: dropped, so it can never block the user's events.
    redis.call("HDEL", presenceKey, "held")
  end
end
if held then
  -- The user is back: the held offline goes out first, then this event.
  local within = receivedAt < tonumber(held.d)
  local heldGateway = '{"sequence":' .. held.s .. ',"presence":{"online":false,"platforms":[]},"changed":'
    .. tostring(not within) .. ',"stale":false}'
  if held.r then
    redis.call("XADD", streamKey, "*", "e", held.e, "g", heldGateway, "r", held.r)
  else
    redis.call("XADD", streamKey, "*", "e", held.e, "g", heldGateway)
  end
  redis.call("HDEL", presenceKey, "held")
  redis.call("ZREM", heldKey, held.m)
  if within then
    changed = false
    hold = "cancelled"
  else
    hold = "released"
  end
elseif changed and not onlineAfter and graceMs > 0 then
  -- The user's last platform went offline: hold the event instead of queueing it.
  local due = receivedAt + graceMs
  redis.call("HSET", presenceKey, "held", cjson.encode({ e = eventJson, s = string.format("%d", sequence),
    r = raw ~= "" and raw or nil, d = string.format("%d", due), m = heldMember }))
  redis.call("ZADD", heldKey, due, heldMember)
  return { "held", '{"sequence":' .. string.format("%d", sequence)
    .. ',"presence":{"online":false,"platforms":[]},"changed":true,"stale":false}' }
end
-- -----------------------------------------------------------------------------

local gatewayJson = '{"sequence":' .. string.format("%d", sequence)
  .. ',"presence":{"online":' .. tostring(onlineAfter) .. ',"platforms":[' .. table.concat(parts, ",") .. ']}'
  .. ',"changed":' .. tostring(changed)
  .. ',"stale":' .. tostring(stale) .. '}'

if raw == "" and traceparent == "" then
  redis.call("XADD", streamKey, "*", "e", eventJson, "g", gatewayJson)
else
  local fields = { "e", eventJson, "g", gatewayJson }
  if raw ~= "" then
    fields[#fields + 1] = "r"
    fields[#fields + 1] = raw
  end
  if traceparent ~= "" then
    -- The worker's delivery spans join the callback's trace through it (only written while tracing is on).
    fields[#fields + 1] = "t"
    fields[#fields + 1] = traceparent
  end
  redis.call("XADD", streamKey, "*", unpack(fields))
end
if hold then return { "queued", gatewayJson, hold } end
return { "queued", gatewayJson }
