import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { createDeliveryAgent, send } from "../src/index.js";

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

describe("the delivery agent", () => {
  it("keeps at most `connections` keep-alive sockets per origin, and reuses them", async () => {
    const agent = createDeliveryAgent({ allowPrivateNetworks: true, timeoutMs: 5_000, connections: 4 });
    const once = () =>
      send({
        url,
        headers: { "content-type": "application/json" },
        body: "{}",
        timeoutMs: 5_000,
        dispatcher: agent,
        allowPrivateNetworks: true,
        now: Date.now,
      });
    const results = await Promise.all(Array.from({ length: 40 }, once));
    expect(results.every((r) => r.outcome === "2xx")).toBe(true);
    expect(sockets).toBe(4);
    await Promise.all(Array.from({ length: 8 }, once));
    expect(sockets).toBe(4);
    await agent.close();
  });
});
