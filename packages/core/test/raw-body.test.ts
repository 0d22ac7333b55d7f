import { type IncomingMessage, request } from "node:http";
import { describe, expect, it } from "vitest";
import { CallbackError } from "../src/index.js";
import { type RawBodyRequest, readRawBody } from "../src/node.js";
import { chunked, sendJson, serve } from "./serve.js";

const LIMIT = 16;

/** Answers what `readRawBody` gave: the body's kind and text, or the error's status, code and message. */
async function answerRead(req: RawBodyRequest, res: Parameters<Parameters<typeof serve>[0]>[1]) {
  try {
    const body = await readRawBody(req, LIMIT);
    const kind = typeof body === "string" ? "string" : Buffer.isBuffer(body) ? "buffer" : "bytes";
    sendJson(res, 200, { kind, text: Buffer.from(body).toString("utf8") });
  } catch (err) {
    const error = err as CallbackError;
    sendJson(res, error.status, { code: error.code, message: error.message });
  }
}

/** Plays a body parser in front: reads the stream, then sets `req.body` to what `parse` makes of it. */
async function parsedBy(req: IncomingMessage, parse: (raw: Buffer) => unknown): Promise<RawBodyRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Object.assign(req, { body: parse(Buffer.concat(chunks)) });
}

function post(url: string, body: string): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
}

describe("readRawBody", () => {
  it("reads the body exactly as sent", async () => {
    const url = await serve(answerRead);
    const res = await post(url, '{"a": "ü"}');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ kind: "buffer", text: '{"a": "ü"}' });
  });

  it("reads a body of exactly the limit", async () => {
    const url = await serve(answerRead);
    expect(await (await post(url, "x".repeat(LIMIT))).json()).toEqual({ kind: "buffer", text: "x".repeat(LIMIT) });
  });

  it("answers 413 PAYLOAD_TOO_LARGE when content-length is over the limit", async () => {
    const url = await serve(answerRead);
    const res = await post(url, "x".repeat(LIMIT + 1));
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ code: "PAYLOAD_TOO_LARGE", message: "body is over the 16-byte limit" });
  });

  it("refuses a declared content-length before any of the body arrives", async () => {
    const url = new URL(await serve(answerRead));
    // The client promises 1000 bytes and sends none: only the header can have refused it.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(url, { method: "POST", headers: { "content-length": "1000" } }, (res) => {
        res.resume();
        resolve(res.statusCode);
        req.destroy();
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    expect(status).toBe(413);
  });

  it("answers 413 while a chunked body with no content-length grows over the limit", async () => {
    const url = await serve(answerRead);
    const res = await fetch(url, chunked("x".repeat(10), "x".repeat(10), "x".repeat(10)));
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ code: "PAYLOAD_TOO_LARGE", message: "body is over the 16-byte limit" });
  });

  it("keeps the connection answering after a body over the limit", async () => {
    const url = await serve(answerRead);
    expect((await fetch(url, chunked("x".repeat(40_000)))).status).toBe(413);
    expect(await (await post(url, "{}")).json()).toEqual({ kind: "buffer", text: "{}" });
  });

  it("takes a Buffer a raw parser left in req.body", async () => {
    const url = await serve(async (req, res) => answerRead(await parsedBy(req, (raw) => raw), res));
    expect(await (await post(url, '{"a":1}')).json()).toEqual({ kind: "buffer", text: '{"a":1}' });
  });

  it("takes a string a text parser left in req.body", async () => {
    const url = await serve(async (req, res) => answerRead(await parsedBy(req, (raw) => raw.toString("utf8")), res));
    expect(await (await post(url, '{"a": 1}')).json()).toEqual({ kind: "string", text: '{"a": 1}' });
  });

  it("re-encodes an object a JSON parser left in req.body once the stream has ended", async () => {
    const url = await serve(async (req, res) =>
      answerRead(await parsedBy(req, (raw) => JSON.parse(raw.toString("utf8"))), res),
    );
    expect(await (await post(url, '{ "a" : 1 }')).json()).toEqual({ kind: "string", text: '{"a":1}' });
  });

  it.each([
    ["a Buffer", (raw: Buffer) => raw],
    ["a string", (raw: Buffer) => raw.toString("utf8")],
    ["an object", (raw: Buffer) => JSON.parse(raw.toString("utf8"))],
  ])("answers 413 when %s already parsed is over the limit", async (_, parse) => {
    const url = await serve(async (req, res) => answerRead(await parsedBy(req, parse), res));
    const res = await post(url, JSON.stringify({ pad: "x".repeat(LIMIT) }));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });

  it("reads the stream itself when a parser set an object but skipped the body", async () => {
    const url = await serve((req, res) => answerRead(Object.assign(req, { body: {} }), res));
    expect(await (await post(url, "plain")).json()).toEqual({ kind: "buffer", text: "plain" });
  });

  it("gives an empty body when the stream ended with nothing kept", async () => {
    const url = await serve(async (req, res) => answerRead(await parsedBy(req, () => undefined), res));
    expect(await (await post(url, "gone")).json()).toEqual({ kind: "string", text: "" });
  });

  it("refuses with 400 MALFORMED_BODY when the sender aborts mid-body", async () => {
    // Wrapped, so the outer promise settles when reading starts rather than when it ends.
    let reading!: (started: { read: Promise<unknown> }) => void;
    const started = new Promise<{ read: Promise<unknown> }>((resolve) => {
      reading = resolve;
    });
    const url = new URL(await serve((req) => reading({ read: readRawBody(req, 1000).catch((err: unknown) => err) })));
    const client = request(url, { method: "POST", headers: { "content-length": "100" } });
    client.on("error", () => {});
    client.write("x".repeat(10));
    const { read } = await started;
    client.destroy();

    const err = await read;
    expect(err).toBeInstanceOf(CallbackError);
    expect(err).toMatchObject({ code: "MALFORMED_BODY", status: 400, message: "the request body could not be read" });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });
});
