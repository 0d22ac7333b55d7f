import { CallbackError } from "@imrelay/core";
import { TencentCallbackError } from "@imrelay/tencent-adapter";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorToAnswer } from "../src/callbacks/errors-to-answer.js";
import { findVendor } from "../src/callbacks/vendor.js";
import { fixture, newPrefix, post, startTestGateway, type TestGateway, testConfig } from "./helpers.js";

const tencentVendor = findVendor("tencent")!;
const openimVendor = findVendor("openim")!;

describe("errorToAnswer", () => {
  it("keeps an adapter's own FAIL body and status", () => {
    const err = new TencentCallbackError("SIGNATURE_MISMATCH", "Sign does not match");
    expect(errorToAnswer(err, tencentVendor)).toEqual({
      status: 401,
      code: "SIGNATURE_MISMATCH",
      body: { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "Sign does not match" },
      unexpected: false,
    });
  });

  it("builds the vendor's envelope for the gateway's own refusals", () => {
    const answer = errorToAnswer(new CallbackError("RATE_LIMITED", "tenant acme is over its rate"), openimVendor);
    expect(answer.body).toEqual({
      actionCode: 1,
      errCode: 429,
      errMsg: "tenant acme is over its rate",
      errDlt: "RATE_LIMITED",
      nextCode: 0,
    });
  });

  it("turns anything else into a 500 that says nothing of the cause", () => {
    const answer = errorToAnswer(new Error("secret detail at /srv/app.js:12"), tencentVendor);
    expect(answer).toMatchObject({ status: 500, code: "INTERNAL", unexpected: true });
    expect(JSON.stringify(answer.body)).not.toContain("secret detail");
  });
});

describe("an unexpected fault while taking a callback", () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway(testConfig({ tenants: { acme: { openim: { appId: "a" } } } }, newPrefix()), {
      ingest: async () => {
        throw new Error("boom at /srv/ingest.js:1");
      },
    });
  });

  afterAll(() => gw.close());

  it("answers 500 INTERNAL in the vendor's envelope, logs the error, and keeps serving", async () => {
    const res = await post(
      `${gw.url}/v1/tenants/acme/openim/callbackAfterUserOnlineCommand`,
      fixture("openim-online.json"),
    );
    expect(res).toMatchObject({ status: 500, body: { actionCode: 1, errCode: 500, errDlt: "INTERNAL" } });
    expect(JSON.stringify(res.body)).not.toContain("boom");
    const line = gw.log.json().find((l) => l.outcome === "internal");
    expect(line).toMatchObject({ level: 50, status: 500, err: { message: "boom at /srv/ingest.js:1" } });
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });
});
