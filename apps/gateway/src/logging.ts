import { VENDORS } from "@imrelay/vendors";

/** Names that hold secrets in any vendor's config section, query, headers or body, from the registry. */
const vendorSecretNames = [
  ...new Set(
    VENDORS.flatMap(({ secrets }) => [
      ...secrets.config,
      ...(secrets.query ?? []),
      ...(secrets.headers ?? []),
      ...(secrets.body ?? []),
    ]),
  ),
];

/**
 * Paths the gateway's logger blanks, on top of never logging them: credentials
 * ride in on headers and queries (Tencent `Sign`, Basic auth, the admin token),
 * and each vendor's descriptor names its own.
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
  "headers.authorization",
  "req.headers.authorization",
  ...vendorSecretNames.flatMap((name) => [`*.${name}`, `query.${name}`, `headers.${name}`, `body.${name}`]),
];
