/**
 * True for JSON media types: `application/json`, `text/json` and any
 * `*\/*+json`, parameters such as `charset` allowed. Vendors send JSON; a
 * missing content type is the caller's call (the gateway accepts it).
 *
 * @example
 * isJsonContentType("application/json; charset=utf-8"); // true
 * isJsonContentType("text/plain"); // false
 */
export function isJsonContentType(value: string): boolean {
  const mediaType = value.split(";", 1)[0]!.trim().toLowerCase();
  if (mediaType === "application/json" || mediaType === "text/json") return true;
  const slash = mediaType.indexOf("/");
  return slash > 0 && mediaType.endsWith("+json") && mediaType.length > slash + "+json".length + 1;
}
