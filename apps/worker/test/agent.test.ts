import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Agent } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { createDeliveryAgent, type ResolveAll, send } from "../src/index.js";

const server = createServer((req, res) => {
  req.resume();
  // Answered late, so the sends overlap and each would want a connection of its own.
  req.on("end", () => setTimeout(() => res.end("ok"), 20));
});
let sockets = 0;
server.on("connection", () => sockets++);
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** One delivery of `{}` through `agent` to the test server, its host written as `host`. */
function sendVia(agent: Agent, { host = "127.0.0.1", allowPrivateNetworks = true } = {}) {
  return send({
    url: url.replace("127.0.0.1", host),
    headers: { "content-type": "application/json" },
    body: "{}",
    timeoutMs: 5_000,
    dispatcher: agent,
    allowPrivateNetworks,
    now: Date.now,
  });
}

describe("the delivery agent", () => {
  it("keeps at most `connections` keep-alive sockets per origin, and reuses them", async () => {
    const agent = createDeliveryAgent({ allowPrivateNetworks: true, timeoutMs: 5_000, connections: 4 });
    const once = () => sendVia(agent);
    const results = await Promise.all(Array.from({ length: 40 }, once));
    expect(results.every((r) => r.outcome === "2xx")).toBe(true);
    expect(sockets).toBe(4);
    await Promise.all(Array.from({ length: 8 }, once));
    expect(sockets).toBe(4);
    await agent.close();
  });

  it("resolves names through the guarded, cached lookup: a name answering loopback is refused, and asked again next time", async () => {
    const asked: string[] = [];
    const resolve: ResolveAll = (hostname, _options, callback) => {
      asked.push(hostname);
      setImmediate(() => callback(null, [{ address: "127.0.0.1", family: 4 }]));
    };
    const agent = createDeliveryAgent({ allowPrivateNetworks: false, timeoutMs: 5_000, dnsCacheMs: 30_000, resolve });
    const before = sockets;
    const once = () => sendVia(agent, { host: "receiver.example.com", allowPrivateNetworks: false });
    for (const result of [await once(), await once()]) {
      expect(result).toMatchObject({ outcome: "refused", errorCode: "DESTINATION_REFUSED" });
    }
    // Each connection asked DNS: a refusal is never kept.
    expect(asked).toEqual(["receiver.example.com", "receiver.example.com"]);
    expect(sockets).toBe(before);
    await agent.close();
  });

  it("does not use the guarded lookup when private networks are allowed", async () => {
    const asked: string[] = [];
    const resolve: ResolveAll = (hostname, _options, callback) => {
      asked.push(hostname);
      callback(null, [{ address: "127.0.0.1", family: 4 }]);
    };
    const agent = createDeliveryAgent({ allowPrivateNetworks: true, timeoutMs: 5_000, dnsCacheMs: 30_000, resolve });
    const result = await sendVia(agent, { host: "localhost" });
    expect(result.outcome).toBe("2xx");
    expect(asked).toEqual([]);
    await agent.close();
  });
});
