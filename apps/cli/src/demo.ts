import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { ImrelayConfigInput } from "@imrelay/config";
import type { Logger } from "pino";
import { Webhook } from "standardwebhooks";

export interface DemoSink {
  url: string;
  secret: string;
  close(): Promise<void>;
}

/**
 * The built-in sink of the demo tenant: a loopback endpoint that verifies the
 * Standard Webhooks signature and logs what arrived, so a first run shows the
 * whole path without any other service.
 */
export async function startDemoSink(logger: Logger): Promise<DemoSink> {
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  const webhook = new Webhook(secret);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      try {
        const payload = webhook.verify(body, req.headers as Record<string, string>) as {
          type: string;
          data: { userId: string; platform: string; reason: string; presence: { online: boolean } };
        };
        logger.info(
          {
            sink: "demo",
            webhookId: req.headers["webhook-id"],
            type: payload.type,
            userId: payload.data.userId,
            platform: payload.data.platform,
            reason: payload.data.reason,
            online: payload.data.presence.online,
            payload,
          },
          `demo sink received ${payload.type} for ${payload.data.userId} (signature verified)`,
        );
        res.writeHead(204).end();
      } catch (err) {
        logger.warn({ sink: "demo", err: (err as Error).message }, "demo sink refused a delivery");
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/demo/sink`,
    secret,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The config `imrelay start` runs with when there is no config file. */
export function demoConfig(sink: { url: string; secret: string }): ImrelayConfigInput {
  return {
    tenants: {
      demo: {
        tencent: { sdkAppId: "1400000000" },
        openim: { appId: "demo-openim" },
        netease: { appKey: "0123456789abcdef0123456789abcdef" },
        agora: { appKey: "61000000#demo" },
        endpoints: [{ id: "sink", url: sink.url, secret: sink.secret }],
      },
    },
    // The sink is on loopback, which the SSRF guard refuses by default.
    delivery: { allowPrivateNetworks: true },
  };
}
