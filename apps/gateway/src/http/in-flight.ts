import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { CallbackError } from "@imrelay/core";
import type { CallbackRoute, RequestLine } from "./callback-route.js";
import {
  type ClientError,
  type ClientErrorRefusal,
  clientErrorRefusal,
  rawJsonResponse,
  requestLineOf,
} from "./client-error.js";

export interface InFlightOptions {
  /** The callback route of a request line, as the listener matches it. */
  matchRoute(line: RequestLine): CallbackRoute | undefined;
  /** The body of a refusal: the vendor's FAIL envelope on a callback route, else `{ error: { code, message } }`. */
  envelope(route: CallbackRoute | undefined, refusal: ClientErrorRefusal): unknown;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  /** Told of every refusal made here (for a metric). */
  onRefusal?(refusal: ClientErrorRefusal): void;
}

export interface InFlightRequests {
  /**
   * Notes the request as its connection's latest. A callback route gets a
   * promise that rejects with the refusal (a `CallbackError`) when the
   * request times out or breaks mid-body, so its handler answers in the
   * vendor's envelope and counts it; other routes are answered here.
   */
  track(req: IncomingMessage, res: ServerResponse, route: CallbackRoute | undefined): Promise<never> | undefined;
  /** The server's `clientError` listener: answers what Node refused, in the route's envelope, and closes. */
  clientError(err: ClientError, socket: Socket): void;
}

interface InFlight {
  req: IncomingMessage;
  res: ServerResponse;
  stop: ((refusal: CallbackError) => void) | undefined;
}

const ignore = () => {};

/**
 * Node answers its own refusals (oversized headers, malformed HTTP, its
 * request timeout) with an empty body, or none. With a `clientError`
 * listener the answer is the gateway's: this tracks the latest request of
 * each connection, so a refusal is answered in that request's envelope, and
 * a request whose head never completed is answered in the envelope of the
 * request line Node hands over, when it holds one.
 *
 * @example
 * const requests = inFlightRequests({ matchRoute: matchCallbackRoute, envelope, requestTimeoutMs: 10_000, headersTimeoutMs: 10_000 });
 * server.on("clientError", requests.clientError);
 * // in the request listener:
 * const signal = requests.track(req, res, route);
 */
export function inFlightRequests(options: InFlightOptions): InFlightRequests {
  // Keyed by connection: an entry lives until the connection's next request replaces it, or the socket is gone.
  const latest = new WeakMap<Socket, InFlight>();
  // llhttp stays in its error state and may report the same error again as more bytes arrive: answer once.
  const answered = new WeakSet<Socket>();

  function refuse(socket: Socket, refusal: ClientErrorRefusal, answer: () => void) {
    answered.add(socket);
    options.onRefusal?.(refusal);
    answer();
  }

  return {
    track(req, res, route) {
      if (!route) {
        latest.set(req.socket, { req, res, stop: undefined });
        return undefined;
      }
      // A bare promise, not an AbortController: this runs for every callback, and a controller with its listener costs ~4 µs.
      let stop!: (refusal: CallbackError) => void;
      const stopped = new Promise<never>((_, reject) => {
        stop = reject;
      });
      // Rejected only while the handler waits on it (mid-body); never an unhandled rejection otherwise.
      stopped.catch(ignore);
      latest.set(req.socket, { req, res, stop });
      return stopped;
    },

    clientError(err, socket) {
      if (answered.has(socket)) return;
      const current = latest.get(socket);
      // A request whose head arrived is late with its body; one without an entry (or after a finished one) with its head.
      const midBody = current !== undefined && !current.req.complete;
      const refusal = clientErrorRefusal(
        err,
        midBody ? "the request body" : "the request headers",
        midBody ? options.requestTimeoutMs : options.headersTimeoutMs,
      );
      if (!refusal || !socket.writable) {
        socket.destroy();
        return;
      }
      if (midBody) {
        const { res, stop } = current;
        if (res.headersSent) {
          // Already answered (say, 404 before the body was read): nothing more can be said on this connection.
          socket.destroy();
        } else if (stop) {
          refuse(socket, refusal, () => stop(new CallbackError(refusal.code, refusal.message)));
        } else {
          refuse(socket, refusal, () => {
            const text = JSON.stringify(options.envelope(undefined, refusal));
            res.writeHead(refusal.status, {
              "content-type": "application/json; charset=utf-8",
              "content-length": Buffer.byteLength(text),
              connection: "close",
            });
            res.end(text);
          });
        }
        return;
      }
      if (current && !current.res.writableFinished) {
        // The answer to an earlier request on this connection is still being written: a raw answer would garble it.
        socket.destroy();
        return;
      }
      const line = requestLineOf(err.rawPacket);
      const route = line && options.matchRoute(line);
      refuse(socket, refusal, () => {
        socket.end(rawJsonResponse(refusal.status, options.envelope(route, refusal)));
        // A half-open socket would linger for a client that never closes its side.
        socket.once("finish", () => socket.destroy());
      });
    },
  };
}
