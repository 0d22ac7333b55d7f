import { describe, expect, it } from "vitest";
import { type ConfigError, parseConfig } from "../src/index.js";

const tenants = { acme: { tencent: { sdkAppId: "1400000000" } } };
const parse = (redis: unknown, env: Record<string, string> = {}) => parseConfig({ redis, tenants }, "test", env).redis;
const problems = (redis: unknown, env: Record<string, string> = {}) => {
  try {
    parseConfig({ redis, tenants }, "test", env);
  } catch (err) {
    return (err as ConfigError).problems;
  }
  throw new Error("the config was accepted");
};

describe("the redis section", () => {
  it("defaults to one local node, 16 partitions and no replica acks", () => {
    expect(parse(undefined)).toEqual({
      url: "redis://127.0.0.1:6379",
      prefix: "imrelay",
      partitions: 16,
      replicaAcks: 0,
    });
  });

  it("takes a cluster's seed nodes instead of url, as URLs or bare host:port", () => {
    const redis = parse({ cluster: { nodes: ["redis://10.0.0.1:7000", "10.0.0.2:7000"] }, partitions: 32 });
    expect(redis).toEqual({
      cluster: { nodes: ["redis://10.0.0.1:7000", "10.0.0.2:7000"] },
      prefix: "imrelay",
      partitions: 32,
      replicaAcks: 0,
    });
    expect(redis.url).toBeUndefined();
  });

  it("refuses url and cluster together, bad seed nodes, and out-of-range counts, all at once", () => {
    expect(
      problems({ url: "redis://a:1", cluster: { nodes: ["http://x:1", "b"] }, partitions: 0, replicaAcks: -1 }),
    ).toEqual([
      "redis.cluster.nodes[0]: must be redis://host:port (or rediss://, or a bare host:port)",
      "redis.cluster.nodes[1]: must be redis://host:port (or rediss://, or a bare host:port)",
      "redis.partitions: Too small: expected number to be >=1",
      "redis.replicaAcks: Too small: expected number to be >=0",
      "redis.cluster: set redis.url (one node) or redis.cluster.nodes (a cluster), not both",
    ]);
    expect(problems({ cluster: { nodes: [] }, partitions: 2000 })).toEqual([
      "redis.cluster.nodes: name at least one seed node",
      "redis.partitions: Too big: expected number to be <=1024",
    ]);
  });

  it("lets REDIS_CLUSTER_NODES replace the file's url with a cluster", () => {
    const redis = parse(
      { url: "redis://${REDIS_HOST}:6379", partitions: 8 },
      { REDIS_CLUSTER_NODES: "redis://10.0.0.1:7000, 10.0.0.2:7001" },
    );
    expect(redis).toEqual({
      cluster: { nodes: ["redis://10.0.0.1:7000", "10.0.0.2:7001"] },
      prefix: "imrelay",
      partitions: 8,
      replicaAcks: 0,
    });
  });

  it("lets REDIS_URL replace the file's cluster with one node; REDIS_CLUSTER_NODES wins over it", () => {
    const file = { cluster: { nodes: ["10.0.0.1:7000"] }, replicaAcks: 1 };
    expect(parse(file, { REDIS_URL: "redis://10.9.9.9:6379" })).toEqual({
      url: "redis://10.9.9.9:6379",
      prefix: "imrelay",
      partitions: 16,
      replicaAcks: 1,
    });
    expect(parse(file, { REDIS_URL: "redis://10.9.9.9:6379", REDIS_CLUSTER_NODES: "10.0.0.5:7000" }).cluster).toEqual({
      nodes: ["10.0.0.5:7000"],
    });
  });
});
