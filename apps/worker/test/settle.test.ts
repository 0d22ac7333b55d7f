import {
  countDelivered,
  countKept,
  createSettleEntries,
  type DeliveredRecord,
  findDelivered,
  joinEventJson,
  payloadJson,
  readDelivered,
} from "@imrelay/store";
import { describe, expect, it } from "vitest";
import { redisKeys, testFile } from "./helpers.js";

const { redis, nextPrefix } = testFile();

/** `n` entries in partition `p`'s ingest stream, read by a consumer so that they are pending. */
async function pendingEntries(keys: ReturnType<typeof redisKeys>, p: number, n: number): Promise<string[]> {
  const stream = keys.ingest(p);
  await redis.xgroup("CREATE", stream, keys.ingestGroup, "0", "MKSTREAM");
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from({ length: Math.min(500, n - i) }, (_, k) => ["*", "e", `{"n":${i + k}}`]);
    await Promise.all(batch.map((args) => redis.xadd(stream, ...args)));
  }
  const reply = (await redis.call(
    "XREADGROUP",
    "GROUP",
    keys.ingestGroup,
    "test",
    "COUNT",
    n,
    "STREAMS",
    stream,
    ">",
  )) as [string, Array<[string, string[]]>][];
  return reply[0]![1].map(([id]) => id);
}

const record = (id: string, traceparent?: string): DeliveredRecord => ({
  id,
  tenant: "acme",
  endpointId: "presence",
  body: `{"type":"user.online","timestamp":"2026-12-01T00:00:00.000Z","data":{"id":"${id}","quote":"\\"x\\""}}`,
  status: 204,
  durationMs: 3,
  readAt: 1_764_547_200_000,
  finishedAt: 1_764_547_200_003,
  ...(traceparent ? { traceparent } : {}),
});

describe("settling a partition's entries in one script call", () => {
  it("acks and deletes more entries than one unpack takes, and logs each record as it was", async () => {
    const keys = redisKeys(nextPrefix());
    const p = 2;
    const ids = await pendingEntries(keys, p, 1_203);
    expect(ids).toHaveLength(1_203);
    const settle = createSettleEntries({ redis, keys });
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await settle(p, [record("evt_1.presence"), record("evt_2.presence", traceparent), record("evt_3.presence")], ids);

    const pending = (await redis.xpending(keys.ingest(p), keys.ingestGroup)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    expect(await redis.xlen(keys.ingest(p))).toBe(0);
    expect(await countDelivered(redis, keys, p)).toBe(3);
    const newestFirst = await readDelivered(redis, keys, p, 0, 10);
    expect(newestFirst.map((r) => r.id)).toEqual(["evt_3.presence", "evt_2.presence", "evt_1.presence"]);
    expect(await findDelivered(redis, keys, p, "evt_2.presence")).toEqual(record("evt_2.presence", traceparent));
    const plain = await findDelivered(redis, keys, p, "evt_1.presence");
    expect(plain).toEqual(record("evt_1.presence"));
    expect(plain).not.toHaveProperty("traceparent");
  });

  it("acks without logging, logs without acking, and sends nothing when there is nothing", async () => {
    const keys = redisKeys(nextPrefix());
    const p = 0;
    const ids = await pendingEntries(keys, p, 3);
    const settle = createSettleEntries({ redis, keys });
    await settle(p, [], ids.slice(0, 2));
    await settle(p, [record("evt_9.presence")], []);
    await settle(p, [], []);
    const pending = (await redis.xpending(keys.ingest(p), keys.ingestGroup)) as [number, ...unknown[]];
    expect(pending[0]).toBe(1);
    expect(await redis.xlen(keys.ingest(p))).toBe(1);
    expect(await countDelivered(redis, keys, p)).toBe(1);
  });

  it("acks and keeps the entries a batch refers to, and deletes them once released", async () => {
    const keys = redisKeys(nextPrefix());
    const p = 1;
    const ids = await pendingEntries(keys, p, 1_005);
    const settle = createSettleEntries({ redis, keys });
    // One acked and deleted; the rest (more than one unpack takes) acked and kept for a batch.
    await settle(p, [], ids.slice(0, 1), { kept: ids.slice(1) });
    const pending = (await redis.xpending(keys.ingest(p), keys.ingestGroup)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    expect(await redis.xlen(keys.ingest(p))).toBe(1_004);
    expect(await countKept(redis, keys, p)).toBe(1_004);

    // The batch releases them as their deliveries settle, with a record or without.
    await settle(p, [record("evt_5.presence")], [], { released: ids.slice(1, 3) });
    await settle(p, [], [], { released: ids.slice(3) });
    expect(await redis.xlen(keys.ingest(p))).toBe(0);
    expect(await countKept(redis, keys, p)).toBe(0);
    expect(await countDelivered(redis, keys, p)).toBe(1);
    // Released twice (a batch taken over): counted once.
    await settle(p, [], [], { released: ids.slice(1, 3) });
    expect(await countKept(redis, keys, p)).toBe(0);
  });

  it("logs a body built from its ingest entry by copying the entry inside Redis, before the entry is acked", async () => {
    const keys = redisKeys(nextPrefix());
    const p = 3;
    const stream = keys.ingest(p);
    await redis.xgroup("CREATE", stream, keys.ingestGroup, "0", "MKSTREAM");
    const e = '{"id":"evt_c","type":"user.offline","tenant":"acme","occurredAt":"2026-12-01T00:00:00.000Z"}';
    const g = '{"sequence":7,"changed":true}';
    const r = '{"body":"{\\"CallbackCommand\\":\\"State.StateChange\\"}","query":{}}';
    await redis.xadd(stream, "*", "e", e, "g", g, "r", r);
    await redis.xadd(stream, "*", "e", e, "g", g, "r", r);
    const reply = (await redis.call("XREADGROUP", "GROUP", keys.ingestGroup, "t", "STREAMS", stream, ">")) as [
      string,
      Array<[string, string[]]>,
    ][];
    const [first, second] = reply[0]![1].map(([id]) => id) as [string, string];
    const json = joinEventJson(e, g);
    const event = JSON.parse(json) as { type: string; occurredAt: string };
    const plain = payloadJson(event, json);
    const withRaw = payloadJson(event, json, r);
    const settle = createSettleEntries({ redis, keys });
    // The body is not sent ("" here would be logged as it is if it were): the entry's fields are.
    await settle(
      p,
      [
        { ...record("evt_c.crm"), body: "", fromEntry: { raw: false }, entry: first },
        { ...record("evt_c.audit"), body: "", fromEntry: { raw: true }, entry: first },
        // Its entry gone: logged without a body.
        { ...record("evt_c.late"), body: "", fromEntry: { raw: false }, entry: "1-1" },
      ],
      [first, second],
    );
    expect(await redis.xlen(stream)).toBe(0);
    expect((await findDelivered(redis, keys, p, "evt_c.crm"))?.body).toBe(plain);
    expect((await findDelivered(redis, keys, p, "evt_c.audit"))?.body).toBe(withRaw);
    expect(JSON.parse(withRaw).data.raw).toEqual(JSON.parse(r));
    expect((await findDelivered(redis, keys, p, "evt_c.late"))?.body).toBe("");
    const [fields] = (await redis.xrange(keys.delivered(p), "-", "+", "COUNT", 1))[0]!.slice(1) as [string[]];
    expect(fields).not.toContain("b");
  });
});
