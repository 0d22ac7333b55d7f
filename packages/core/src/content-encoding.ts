import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from "node:zlib";
import { CallbackError } from "./errors.js";

/** A `Content-Encoding` imrelay decodes. */
export type BodyEncoding = "gzip" | "deflate" | "br";

type Decode = (body: Buffer, options: ZlibOptions) => Promise<Buffer>;

const DECODERS: Record<BodyEncoding, Decode> = {
  gzip: promisify(gunzip) as Decode,
  // HTTP's "deflate" is the zlib format (RFC 9110 8.4.1.2), which is what `inflate` reads.
  deflate: promisify(inflate) as Decode,
  br: promisify(brotliDecompress) as Decode,
};

const NAMES: Record<string, BodyEncoding | "identity"> = {
  gzip: "gzip",
  "x-gzip": "gzip",
  deflate: "deflate",
  br: "br",
  identity: "identity",
};

/**
 * The body's `Content-Encoding`, or undefined when there is none (or only
 * `identity`). Vendors do not compress callbacks, but a proxy in front may.
 * Throws `CallbackError` UNSUPPORTED_MEDIA_TYPE (415) for an encoding imrelay
 * does not decode, and for more than one (a body compressed twice).
 *
 * @example
 * bodyEncoding("gzip");      // "gzip"
 * bodyEncoding("identity");  // undefined
 * bodyEncoding("zstd");      // throws UNSUPPORTED_MEDIA_TYPE
 */
export function bodyEncoding(header: string | string[] | undefined): BodyEncoding | undefined {
  if (header === undefined) return undefined;
  const codings = (Array.isArray(header) ? header.join(",") : header)
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  if (codings.length === 0) return undefined;
  if (codings.length > 1) {
    throw new CallbackError("UNSUPPORTED_MEDIA_TYPE", "more than one content-encoding; send one of gzip, deflate, br");
  }
  const name = NAMES[codings[0]!];
  if (name === undefined || name === "identity") {
    throw new CallbackError(
      "UNSUPPORTED_MEDIA_TYPE",
      `content-encoding ${codings[0]!.slice(0, 50)} is not supported; send gzip, deflate, br or none`,
    );
  }
  return name;
}

/**
 * Decompresses a body, stopping as soon as the output passes `limitBytes`:
 * a few kilobytes of gzip can inflate to gigabytes (a zip bomb), so the
 * limit holds for what is decoded, not only for what was sent. Runs on
 * zlib's thread pool, off the event loop.
 *
 * Throws `CallbackError` PAYLOAD_TOO_LARGE (413) when the decoded body is over
 * the limit, and MALFORMED_BODY (400) when the bytes are not that encoding.
 *
 * @example
 * await decodeBody(gzipSync('{"a":1}'), "gzip", 64 * 1024); // <Buffer 7b 22 61 22 3a 31 7d>
 */
export async function decodeBody(body: Buffer, encoding: BodyEncoding, limitBytes: number): Promise<Buffer> {
  if (body.length === 0) return body;
  try {
    // zlib refuses a maxOutputLength below 1; a 0-byte limit still refuses any output below.
    const decoded = await DECODERS[encoding](body, { maxOutputLength: Math.max(1, limitBytes) });
    if (decoded.length > limitBytes) throw tooLargeDecoded(limitBytes);
    return decoded;
  } catch (err) {
    if (err instanceof CallbackError) throw err;
    if ((err as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw tooLargeDecoded(limitBytes);
    throw new CallbackError("MALFORMED_BODY", `body is not valid ${encoding} (content-encoding)`, { cause: err });
  }
}

function tooLargeDecoded(limitBytes: number): CallbackError {
  return new CallbackError("PAYLOAD_TOO_LARGE", `body is over the ${limitBytes}-byte limit once decompressed`);
}
