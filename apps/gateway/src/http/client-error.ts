import { STATUS_CODES } from "node:http";
import type { CallbackErrorCode } from "@imrelay/core";
import type { RequestLine } from "./callback-route.js";

/** The largest request head (request line and headers) the server reads; larger gets 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** A refusal the HTTP server makes before (or instead of) a route. */
export interface ClientErrorRefusal {
  status: number;
  code: Extract<CallbackErrorCode, "REQUEST_TIMEOUT" | "HEADERS_TOO_LARGE" | "PAYLOAD_TOO_LARGE" | "MALFORMED_HTTP">;
  message: string;
}

/** What Node hands to the server's `clientError` listener. */
export type ClientError = Error & { code?: string; reason?: string; rawPacket?: Buffer };

/**
 * What to answer for an error Node's HTTP server raised on a connection:
 * its own request timeout, or an llhttp parse error (`HPE_*`). Undefined for
 * a socket error (ECONNRESET, EPIPE, …): the peer is gone or going, nothing
 * is to be written. `waitedFor` names what was late, for the timeout's text.
 *
 * @example
 * clientErrorRefusal(err, "the request headers", 10_000);
 * // { status: 431, code: "HEADERS_TOO_LARGE", message: "the request headers are over the 16384-byte limit" }
 */
export function clientErrorRefusal(
  err: ClientError,
  waitedFor: string,
  timeoutMs: number,
): ClientErrorRefusal | undefined {
  switch (err.code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, code: "REQUEST_TIMEOUT", message: `${waitedFor} did not arrive within ${timeoutMs} ms` };
    case "HPE_HEADER_OVERFLOW":
      return {
        status: 431,
        code: "HEADERS_TOO_LARGE",
        message: `the request headers are over the ${MAX_HEADER_BYTES}-byte limit`,
      };
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return { status: 413, code: "PAYLOAD_TOO_LARGE", message: "the body's chunk extensions are over the limit" };
    default:
      if (!err.code?.startsWith("HPE_")) return undefined;
      // llhttp's reason is a fixed phrase ("Invalid header value char"), never the request's bytes.
      return {
        status: 400,
        code: "MALFORMED_HTTP",
        message: `the request is not valid HTTP: ${(err.reason ?? err.code).slice(0, 100)}`,
      };
  }
}

// `POST /v1/tenants/acme/tencent?… HTTP/1.1`: the target is printable ASCII without spaces.
const REQUEST_LINE = /^([A-Z]{1,20}) ([\x21-\x7e]{1,8192}) HTTP\/1\.[01]\r?\n/;

/**
 * The method and target of the request line at the start of a raw packet,
 * when it is there: Node gives the bytes it was parsing when it refused a
 * request, which hold the request line when the request arrived in one piece.
 *
 * @example
 * requestLineOf(Buffer.from("POST /v1/tenants/acme/tencent HTTP/1.1\r\nHost: …")); // { method: "POST", url: "/v1/tenants/acme/tencent" }
 */
export function requestLineOf(rawPacket: Buffer | undefined): RequestLine | undefined {
  if (!rawPacket) return undefined;
  const match = REQUEST_LINE.exec(rawPacket.subarray(0, 8300).toString("latin1"));
  return match ? { method: match[1]!, url: match[2]! } : undefined;
}

/**
 * A complete HTTP/1.1 response with a JSON body that closes the connection,
 * for writing straight to a socket that has no `ServerResponse`.
 *
 * @example
 * socket.end(rawJsonResponse(408, { error: { code: "REQUEST_TIMEOUT", message: "…" } }));
 */
export function rawJsonResponse(status: number, body: unknown): string {
  const text = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
    "Content-Type: application/json; charset=utf-8\r\n" +
    `Content-Length: ${Buffer.byteLength(text)}\r\n` +
    "Connection: close\r\n\r\n" +
    text
  );
}
