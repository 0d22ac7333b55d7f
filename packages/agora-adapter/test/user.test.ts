import { USER_ID_MAX_LENGTH } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { AgoraCallbackError, parseUser } from "../src/index.js";
import { APP_KEY, accept, sampleWith, thrown } from "./helpers.js";

const SHAPES = [
  ["prefix, domain and resource", "61000000#acme_alice@easemob.com/ios_6d58", "alice", "ios_6d58"],
  ["prefix and resource", "61000000#acme_alice/android_b069", "alice", "android_b069"],
  ["prefix and domain", "61000000#acme_alice@easemob.com", "alice", null],
  ["prefix only", "61000000#acme_alice", "alice", null],
  ["no prefix, with domain and resource", "alice@easemob.com/webim_1778336119529", "alice", "webim_1778336119529"],
  ["no prefix, with resource", "alice/ios_6d58", "alice", "ios_6d58"],
  ["no prefix, with domain", "alice@easemob.com", "alice", null],
  ["a bare user id", "alice", "alice", null],
  ["underscores in the user id", "61000000#acme_bob_smith/ios_6d58", "bob_smith", "ios_6d58"],
  ["underscores in the user id and a domain", "61000000#acme_bob_smith@easemob.com", "bob_smith", null],
  ["a bare user id with underscores", "bob_smith", "bob_smith", null],
  ["dots and dashes in the user id", "61000000#acme_a.b-c/ios_1", "a.b-c", "ios_1"],
  ["another appkey's prefix", "12345#beta_carol_x@easemob.com/win_9", "carol_x", "win_9"],
  ["another appkey's prefix in upper case", "61000000#ACME_dave/ios_1", "dave", "ios_1"],
  ["a slash in the resource", "61000000#acme_alice/ios_a/b", "alice", "ios_a/b"],
  ["an empty resource", "61000000#acme_alice/", "alice", null],
  ["another domain", "61000000#acme_alice@chat.example.com/ios_1", "alice", "ios_1"],
] as const;

describe("parseUser", () => {
  for (const [shape, user, userId, resource] of SHAPES) {
    it(`reads ${shape}: ${user}`, () => {
      expect(parseUser(user, APP_KEY)).toEqual({ userId, resource });
    });
  }

  it("strips the configured appkey's prefix even when the app name has characters a user id may have", () => {
    expect(parseUser("org#my-app.v2_erin/ios_1", "org#my-app.v2")).toEqual({ userId: "erin", resource: "ios_1" });
  });

  it("gives the user id and resource to the event", () => {
    const [event] = accept(sampleWith({ user: "61000000#acme_bob_smith@easemob.com/android_b069" })).events;
    expect(event).toMatchObject({ userId: "bob_smith", connectionId: "android_b069" });
  });

  const EMPTY = [
    ["only a prefix", "61000000#acme_"],
    ["only a prefix and a domain", "61000000#acme_@easemob.com/ios_1"],
    ["only a resource", "/ios_1"],
    ["only a domain", "@easemob.com"],
  ] as const;

  for (const [what, user] of EMPTY) {
    it(`answers 400 MALFORMED_BODY when user has ${what}`, () => {
      expect(thrown(() => parseUser(user, APP_KEY))).toMatchObject({
        code: "MALFORMED_BODY",
        status: 400,
        message: "user names no user id",
      });
    });
  }

  it("answers 400 MALFORMED_BODY when user is an appkey with no user id after it", () => {
    expect(thrown(() => parseUser("61000000#acme@easemob.com/ios_1", APP_KEY))).toMatchObject({
      code: "MALFORMED_BODY",
      message: "user has an appkey (org#app) but no _ before a user id",
    });
  });

  it("answers 400 MALFORMED_BODY, without echoing it, for a user id over core's limit", () => {
    const long = "x".repeat(USER_ID_MAX_LENGTH + 1);
    const err = thrown(() => accept(sampleWith({ user: `${APP_KEY}_${long}/ios_1` })));
    expect(err).toBeInstanceOf(AgoraCallbackError);
    expect(err).toMatchObject({
      code: "MALFORMED_BODY",
      status: 400,
      message: `the user id in user is longer than ${USER_ID_MAX_LENGTH} characters`,
    });
    expect(JSON.stringify((err as AgoraCallbackError).response)).not.toContain(long);
  });

  it("takes a user id exactly at core's limit", () => {
    const longest = "x".repeat(USER_ID_MAX_LENGTH);
    expect(parseUser(`${APP_KEY}_${longest}`, APP_KEY).userId).toBe(longest);
  });

  it("answers 400 MALFORMED_BODY for a control character in the user id", () => {
    expect(thrown(() => accept(sampleWith({ user: `${APP_KEY}_al\nice/ios_1` })))).toMatchObject({
      code: "MALFORMED_BODY",
      message: "the user id in user contains a control character",
    });
  });

  it("answers 400 MALFORMED_BODY for a resource over the same limits", () => {
    expect(thrown(() => parseUser(`${APP_KEY}_alice/ios_${"d".repeat(USER_ID_MAX_LENGTH)}`, APP_KEY))).toMatchObject({
      code: "MALFORMED_BODY",
      message: `the resource in user is longer than ${USER_ID_MAX_LENGTH} characters`,
    });
    expect(thrown(() => parseUser(`${APP_KEY}_alice/ios_\u0000`, APP_KEY))).toMatchObject({
      code: "MALFORMED_BODY",
      message: "the resource in user contains a control character",
    });
  });
});
