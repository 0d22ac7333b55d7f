import { createServer, type IncomingHttpHeaders } from "node:http";

/** One export request as the receiver got it. */
export interface OtlpRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A span of an OTLP/JSON export, with its attributes as a plain object and its resource's beside it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP `SpanKind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** OTLP `StatusCode`: 0 unset, 1 ok, 2 error. */
  status: number;
  resource: Record<string, string | number | boolean>;
}

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type OtlpAttribute = { key: string; value: OtlpValue };

function attributes(list: OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
  }
  return out;
}

/**
 * A loopback OTLP/HTTP receiver, as a collector would be: keeps every export
 * request as sent and answers it as the spec says (an empty
 * ExportTraceServiceResponse). `spans()` decodes the OTLP/JSON ones.
 */
export async function startOtlpReceiver() {
  const requests: OtlpRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) });
      const json = String(req.headers["content-type"]).startsWith("application/json");
      // An empty protobuf message is zero bytes; its JSON form is {}.
      res
        .writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf" })
        .end(json ? "{}" : "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  function spans(): ReceivedSpan[] {
    const out: ReceivedSpan[] = [];
    for (const request of requests) {
      if (!String(request.headers["content-type"]).startsWith("application/json")) continue;
      const body = JSON.parse(request.body.toString("utf8")) as {
        resourceSpans?: Array<{
          resource?: { attributes?: OtlpAttribute[] };
          scopeSpans?: Array<{
            spans?: Array<{
              traceId: string;
              spanId: string;
              parentSpanId?: string;
              name: string;
              kind: number;
              attributes?: OtlpAttribute[];
              status?: { code?: number };
            }>;
          }>;
        }>;
      };
      for (const resourceSpans of body.resourceSpans ?? []) {
        const resource = attributes(resourceSpans.resource?.attributes);
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            out.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? "",
              name: span.name,
              kind: span.kind,
              attributes: attributes(span.attributes),
              status: span.status?.code ?? 0,
              resource,
            });
          }
        }
      }
    }
    return out;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    spans,
    /** Every byte any exporter sent, as one string: what must never hold a secret. */
    everything: () => requests.map((r) => `${JSON.stringify(r.headers)}\n${r.body.toString("latin1")}`).join("\n"),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
