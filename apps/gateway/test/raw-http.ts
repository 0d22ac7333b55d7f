import { connect, type Socket } from "node:net";

/** What came back on a raw connection: the parsed answer (if any) and when the server closed it. */
export interface RawAnswer {
  /** Everything the server sent, as text. */
  text: string;
  status: number | undefined;
  headers: Record<string, string>;
  /** The body parsed as JSON; undefined when empty or not JSON. */
  json: Record<string, unknown> | undefined;
  /** ms from the first byte sent to the server closing the connection. */
  closedAfterMs: number;
}

/** Opens a TCP connection to a loopback port and resolves once it is up. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Reads a socket to its close and parses the one HTTP answer in it. */
export function answerOf(socket: Socket, started = Date.now()): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.once("close", () => resolve(parseAnswer(Buffer.concat(chunks).toString("utf8"), Date.now() - started)));
  });
}

function parseAnswer(text: string, closedAfterMs: number): RawAnswer {
  const end = text.indexOf("\r\n\r\n");
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1];
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(end === -1 ? "" : text.slice(end + 4)) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { text, status: status ? Number(status) : undefined, headers, json, closedAfterMs };
}

/**
 * Sends raw bytes on a fresh connection, then (optionally) one more byte every
 * `trickleMs` until the server closes it, as a slow client would; resolves
 * with what the server answered.
 */
export async function rawRequest(port: number, data: string | Buffer, trickleMs?: number): Promise<RawAnswer> {
  const socket = await openSocket(port);
  const started = Date.now();
  const answer = answerOf(socket, started);
  socket.write(data);
  const trickle = trickleMs === undefined ? undefined : setInterval(() => socket.write("x"), trickleMs);
  try {
    return await answer;
  } finally {
    clearInterval(trickle);
    socket.destroy();
  }
}
