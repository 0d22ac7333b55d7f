import type { IncomingMessage } from "node:http";
import { bodyEncoding, decodeBody } from "./content-encoding.js";
import { CallbackError } from "./errors.js";

/**
 * A Node request. `body` is set when a parser in front (Express's `json()`,
 * `raw()`, `text()`) already read the stream.
 */
export type RawBodyRequest = IncomingMessage & { body?: unknown; readableEnded: boolean };

/**
 * The request body as received, refused as soon as it passes `limitBytes`:
 * adapters verify and parse the exact bytes, and a flood of large bodies must
 * not be buffered. A `content-length` over the limit is refused before any
 * read. A body sent with `Content-Encoding: gzip`, `deflate` or `br` is
 * decompressed, and the limit holds for the decompressed size too (a zip bomb
 * is refused once it passes it); `identity` is taken as it is. When a parser
 * in front already read the stream, its result is used (it has already
 * decoded the body): a Buffer or string as it is, a parsed object re-encoded
 * as JSON.
 *
 * Throws `CallbackError` PAYLOAD_TOO_LARGE (413) over the limit,
 * UNSUPPORTED_MEDIA_TYPE (415) for another content encoding, and
 * MALFORMED_BODY (400) when the stream fails or closes before it ends or the
 * bytes do not decode.
 *
 * @example
 * import { createServer } from "node:http";
 * import { readRawBody } from "@imrelay/core/node";
 *
 * createServer(async (req, res) => {
 *   const body = await readRawBody(req, 64 * 1024); // Buffer, or throws PAYLOAD_TOO_LARGE
 *   res.end(String(body.length));
 * });
 */
export async function readRawBody(req: RawBodyRequest, limitBytes: number): Promise<Uint8Array | string> {
  const parsed = req.body;
  if (parsed instanceof Uint8Array || typeof parsed === "string") {
    if (Buffer.byteLength(parsed) > limitBytes) throw tooLarge(req, limitBytes);
    return parsed;
  }
  if (parsed !== null && typeof parsed === "object" && req.readableEnded) {
    // A JSON parser consumed the stream, so re-encoding is all that is left to read.
    const text = JSON.stringify(parsed);
    if (Buffer.byteLength(text) > limitBytes) throw tooLarge(req, limitBytes);
    return text;
  }

  let encoding: ReturnType<typeof bodyEncoding>;
  try {
    encoding = bodyEncoding(req.headers["content-encoding"]);
  } catch (err) {
    // As for a body too large: drain it into nothing, so the answer can still reach the sender.
    req.resume();
    throw err;
  }
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(req, limitBytes);
  if (req.readableEnded) return "";
  if (req.destroyed) throw unreadable(new Error("the request closed before its body was read"));

  const body = await readStream(req, limitBytes);
  return encoding === undefined ? body : decodeBody(body, encoding, limitBytes);
}

function readStream(req: RawBodyRequest, limitBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        reject(tooLarge(req, limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(unreadable(err));
    };
    // A request cut off mid-body closes without `end` (and not always with `error`).
    const onClose = () => onError(new Error("the request closed before its body ended"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

function tooLarge(req: RawBodyRequest, limitBytes: number): CallbackError {
  // Drain the rest of the upload into nothing, so the answer can still reach the sender.
  req.resume();
  return new CallbackError("PAYLOAD_TOO_LARGE", `body is over the ${limitBytes}-byte limit`);
}

function unreadable(cause: Error): CallbackError {
  return new CallbackError("MALFORMED_BODY", "the request body could not be read", { cause });
}
