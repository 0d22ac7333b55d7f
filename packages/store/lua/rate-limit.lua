--[[
Takes a turn for one delivery to an endpoint with `rateLimit.perSecond`, shared
by every worker process: a GCRA (generic cell rate algorithm) meter that
reserves, so each delivery asks once. The key holds the endpoint's
theoretical arrival time (TAT): when its next delivery may go out, in µs of
the Redis clock (one clock for all workers). A call takes the turn at
max(TAT, now) and moves TAT one interval past it, so turns are spaced exactly
one interval apart, with no burst.

KEYS: 1 the endpoint's rate key (keys.rateLimit)

ARGV: 1 interval between deliveries in µs (1e6 / perSecond, at least 1)

Returns the ms until the turn taken: 0 means send now; otherwise the delivery
waits that long (in the delayed set, holding no worker slot) and then sends
without asking again. The key expires a second after its TAT has passed, so
an endpoint left idle holds nothing.
]]
local key = KEYS[1]
local interval = tonumber(ARGV[1])

local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call("GET", key) or "0") or 0

local turn = math.max(tat, now)
local nextTat = turn + interval
-- %.0f: Lua 5.1 prints numbers this large in exponent form, which would lose microseconds.
redis.call("SET", key, string.format("%.0f", nextTat), "PX", math.ceil((nextTat - now) / 1000) + 1000)
return math.floor((turn - now) / 1000)
