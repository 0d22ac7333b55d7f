import type { IncomingMessage } from "node:http";
import { readRawBody as readBody } from "@imrelay/core/node";

/**
 * Reads the raw request body with `@imrelay/core`'s `readRawBody`, refusing
 * it as soon as it passes `limit` bytes (a `content-length` over the limit
 * before any read): adapters verify the exact bytes, and a flood of large
 * bodies must not be buffered. A gzip, deflate or br body is decompressed under
 * the same limit. When `stopped` rejects first (the server gave up on the
 * request), so does this, with its error. Always a Buffer, which the vendors'
 * handlers take.
 *
 * @example
 * const body = await readRawBody(req, 64 * 1024); // Buffer, or throws PAYLOAD_TOO_LARGE
 */
export async function readRawBody(req: IncomingMessage, limit: number, stopped?: Promise<never>): Promise<Buffer> {
  const reading = readBody(req, limit);
  let body: Uint8Array | string;
  if (stopped) {
    // When `stopped` wins, the read fails later as the connection closes: nobody is waiting for it then.
    reading.catch(() => {});
    body = await Promise.race([reading, stopped]);
  } else {
    body = await reading;
  }
  // Only a body parser in front hands over a string; the callback routes have none.
  return typeof body === "string" ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}
