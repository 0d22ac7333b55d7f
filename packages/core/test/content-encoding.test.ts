import { request } from "node:http";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { CallbackError } from "../src/index.js";
import { bodyEncoding, type RawBodyRequest, readRawBody } from "../src/node.js";
import { sendJson, serve } from "./serve.js";

const LIMIT = 16 * 1024;
const JSON_BODY = '{"userID":"u1","platformID":5}';

/** Answers what `readRawBody` gave: the body's text, or the error's status, code and message. */
async function answerRead(req: RawBodyRequest, res: Parameters<Parameters<typeof serve>[0]>[1]) {
  try {
    const body = await readRawBody(req, LIMIT);
    sendJson(res, 200, { text: Buffer.from(body).toString("utf8") });
  } catch (err) {
    const error = err as CallbackError;
    sendJson(res, error.status, { code: error.code, message: error.message });
  }
}

async function postEncoded(body: Uint8Array, encoding: string) {
  const url = await serve(answerRead);
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": encoding },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("readRawBody with a Content-Encoding", () => {
  it.each([
    ["gzip", gzipSync],
    ["x-gzip", gzipSync],
    ["GZIP", gzipSync],
    ["deflate", deflateSync],
    ["br", brotliCompressSync],
  ])("decompresses a %s body", async (encoding, compress) => {
    const res = await postEncoded(compress(JSON_BODY), encoding);
    expect(res).toEqual({ status: 200, body: { text: JSON_BODY } });
  });

  it("takes an identity body as it is", async () => {
    expect(await postEncoded(Buffer.from(JSON_BODY), "identity")).toEqual({ status: 200, body: { text: JSON_BODY } });
  });

  it("takes a body that decompresses to exactly the limit", async () => {
    const text = "x".repeat(LIMIT);
    expect(await postEncoded(gzipSync(text), "gzip")).toEqual({ status: 200, body: { text } });
  });

  it("refuses a gzip bomb with 413 once the decompressed size passes the limit", async () => {
    // 10 MB of zeros is about 10 KB of gzip: under the limit on the wire, far over it decoded.
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(LIMIT);
    const started = Date.now();
    const res = await postEncoded(bomb, "gzip");
    expect(res).toEqual({
      status: 413,
      body: { code: "PAYLOAD_TOO_LARGE", message: "body is over the 16384-byte limit once decompressed" },
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("refuses bytes that are not the declared encoding with 400 MALFORMED_BODY", async () => {
    expect(await postEncoded(Buffer.from(JSON_BODY), "gzip")).toEqual({
      status: 400,
      body: { code: "MALFORMED_BODY", message: "body is not valid gzip (content-encoding)" },
    });
  });

  it("refuses an encoding it does not decode with 415, saying which it does", async () => {
    expect(await postEncoded(Buffer.from(JSON_BODY), "zstd")).toEqual({
      status: 415,
      body: {
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: "content-encoding zstd is not supported; send gzip, deflate, br or none",
      },
    });
  });

  it("refuses a body compressed twice with 415", async () => {
    const res = await postEncoded(gzipSync(gzipSync(JSON_BODY)), "gzip, gzip");
    expect(res).toMatchObject({ status: 415, body: { code: "UNSUPPORTED_MEDIA_TYPE" } });
  });

  it("refuses an unknown encoding before any of the body arrives", async () => {
    const url = new URL(await serve(answerRead));
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(url, {
        method: "POST",
        headers: { "content-length": "1000", "content-encoding": "compress" },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode);
        req.destroy();
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    expect(status).toBe(415);
  });
});

describe("bodyEncoding", () => {
  it("names the encoding, ignoring identity and case", () => {
    expect(bodyEncoding(undefined)).toBeUndefined();
    expect(bodyEncoding("identity")).toBeUndefined();
    expect(bodyEncoding(" Gzip ")).toBe("gzip");
    expect(bodyEncoding("identity, br")).toBe("br");
  });

  it("does not echo a long encoding name back whole", () => {
    const err = (() => {
      try {
        bodyEncoding("z".repeat(5000));
      } catch (caught) {
        return caught as CallbackError;
      }
      throw new Error("nothing thrown");
    })();
    expect(err).toBeInstanceOf(CallbackError);
    expect(err.message.length).toBeLessThan(120);
  });
});
