/**
 * Paths the gateway's logger blanks, on top of never logging them: credentials
 * ride in on headers and queries (Tencent `Sign`, Basic auth, the admin token).
 */
export const GATEWAY_REDACT_PATHS = [
  "token",
  "secret",
  "password",
  "authorization",
  "*.token",
  "*.secret",
  "*.password",
  "*.authorization",
  "*.Authorization",
  "*.Sign",
  "*.callbackToken",
  "*.basicAuth",
  "query.Sign",
  "headers.authorization",
  "req.headers.authorization",
];
