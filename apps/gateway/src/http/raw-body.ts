import type { IncomingMessage } from "node:http";
import { CallbackError } from "@imrelay/core";

/**
 * Reads the raw request body, refusing it as soon as it passes `limit` bytes:
 * adapters verify the exact bytes, and a flood of large bodies must not be
 * buffered. A `content-length` over the limit is refused before any read.
 *
 * @example
 * const body = await readRawBody(req, 64 * 1024); // Buffer, or throws PAYLOAD_TOO_LARGE
 */
export function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Keep the stream flowing into nothing, so the answer can still be written.
        req.resume();
        reject(tooLarge(limit));
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
      reject(new CallbackError("MALFORMED_BODY", "the request body could not be read", { cause: err }));
    };
    const onAborted = () => onError(new Error("request aborted"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

function tooLarge(limit: number) {
  return new CallbackError("PAYLOAD_TOO_LARGE", `the body is over the gateway's limit of ${limit} bytes`);
}
