import pino from "pino";
import { describe, expect, it } from "vitest";
import { exportFailures, startTracing, tracingSettings } from "../src/tracing.js";

describe("when tracing is on (the OTEL_* rule)", () => {
  it("is off with no OTEL variables, or only empty ones", () => {
    expect(tracingSettings({})).toMatchObject({ on: false });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: " ", OTEL_TRACES_EXPORTER: "" })).toMatchObject({
      on: false,
    });
  });

  it("is off with only a service name or a protocol: they say how, not whether", () => {
    expect(tracingSettings({ OTEL_SERVICE_NAME: "relay", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })).toMatchObject({
      on: false,
    });
  });

  it("is on once an OTLP endpoint is set, with the spec's default protocol (http/protobuf)", () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toEqual({
      on: true,
      protocol: "http/protobuf",
      endpoint: "http://collector:4318/v1/traces",
    });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/custom" })).toEqual({
      on: true,
      protocol: "http/protobuf",
      endpoint: "http://collector:4318/custom",
    });
  });

  it("is on with OTEL_TRACES_EXPORTER=otlp alone, to the default localhost:4318", () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: "otlp" })).toEqual({
      on: true,
      protocol: "http/protobuf",
      endpoint: "http://localhost:4318/v1/traces",
    });
  });

  it("takes the traces protocol before the general one", () => {
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      }),
    ).toMatchObject({ on: true, protocol: "http/json" });
  });

  it("stays off when OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none, endpoint or not", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };
    expect(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: "TRUE" })).toEqual({
      on: false,
      reason: "OTEL_SDK_DISABLED is true",
    });
    expect(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: "false" })).toMatchObject({ on: true });
    expect(tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })).toEqual({
      on: false,
      reason: "OTEL_TRACES_EXPORTER is none",
    });
  });

  it("says what it cannot do: gRPC, or an exporter other than otlp", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317" };
    const grpc = tracingSettings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" });
    expect(grpc).toMatchObject({ on: false });
    expect(grpc.on === false && grpc.problem).toMatch(/"grpc" is not supported: set OTEL_EXPORTER_OTLP_PROTOCOL/);
    const zipkin = tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: "zipkin" });
    expect(zipkin.on === false && zipkin.problem).toMatch(/"zipkin" is not supported: imrelay exports OTLP only/);
    expect(tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: "console,otlp" })).toMatchObject({ on: true });
  });

  it("keeps credentials and the query out of the endpoint it logs", () => {
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://user:pa55@collector.example.com/v1/traces?key=k3y",
      }),
    ).toMatchObject({ endpoint: "https://collector.example.com/v1/traces" });
  });
});

describe("startTracing", () => {
  const logger = pino({ level: "silent" });

  it("gives no tracer while off, and its shutdown is a no-op", async () => {
    const tracing = startTracing({}, logger);
    expect(tracing.tracer).toBeUndefined();
    await expect(tracing.shutdown()).resolves.toBeUndefined();
  });
});

describe("a collector that fails every export", () => {
  it("is reported once, then at most once per 30 s with how many failed meanwhile", () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    let now = 1_000_000;
    const report = exportFailures(logger, () => now);
    report(new Error("connect ECONNREFUSED 127.0.0.1:4318"));
    for (let i = 0; i < 5; i++) {
      now += 1_000;
      report(new Error("connect ECONNREFUSED 127.0.0.1:4318"));
    }
    expect(lines).toHaveLength(1);
    now += 30_000;
    report(new Error("Service Unavailable"));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ reason: "connect ECONNREFUSED 127.0.0.1:4318" });
    expect(lines[0]).not.toHaveProperty("failedSinceLastReport");
    expect(lines[1]).toMatchObject({ reason: "Service Unavailable", failedSinceLastReport: 5 });
  });
});
