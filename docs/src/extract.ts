/** One TypeScript code block of a README, with what it needs declared around it. */
export interface Snippet {
  /** The README's path, relative to the repository root, e.g. `packages/core/README.md`. */
  readme: string;
  /** 1-based line of the block's first code line in the README. */
  line: number;
  code: string;
  /** The text of a `<!-- preamble: … -->` comment right above the block, else "". */
  preamble: string;
  /** 1-based line of the preamble comment, or 0 when there is none. */
  preambleLine: number;
}

const FENCE_OPEN = /^( {0,3})(`{3,}|~{3,})[ \t]*([^\s`]*)/;
const TS_LANGS = new Set(["ts", "typescript"]);
const PREAMBLE_START = /^\s*<!--\s*preamble:/;

/**
 * Every ```ts block of a Markdown file. A block may be preceded (on the line
 * right above it) by an HTML comment `<!-- preamble: … -->` holding the
 * imports and `declare`s it needs to compile on its own; the comment does not
 * show on a rendered README, so the block stays short for a reader.
 *
 * @example
 * extractSnippets("<!-- preamble: declare const rawBody: string; -->\n```ts\nJSON.parse(rawBody);\n```\n", "README.md");
 * // [{ readme: "README.md", line: 3, code: "JSON.parse(rawBody);", preamble: "declare const rawBody: string;", preambleLine: 1 }]
 */
export function extractSnippets(markdown: string, readme: string): Snippet[] {
  const lines = markdown.split(/\r?\n/);
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN.exec(lines[i]!);
    if (!open) continue;
    const [, indent = "", fence = "", lang = ""] = open;
    const close = new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end]!)) end++;
    if (TS_LANGS.has(lang.toLowerCase())) {
      const code = lines
        .slice(i + 1, end)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()))
        .join("\n");
      snippets.push({ readme, line: i + 2, code, ...preambleAbove(lines, i) });
    }
    i = end;
  }
  return snippets;
}

function preambleAbove(lines: string[], fenceIndex: number): { preamble: string; preambleLine: number } {
  const last = fenceIndex - 1;
  if (last < 0 || !lines[last]!.trimEnd().endsWith("-->")) return { preamble: "", preambleLine: 0 };
  let first = last;
  while (first > 0 && !lines[first]!.includes("<!--")) first--;
  if (!PREAMBLE_START.test(lines[first]!)) return { preamble: "", preambleLine: 0 };
  const text = lines
    .slice(first, last + 1)
    .join("\n")
    .replace(PREAMBLE_START, "")
    .replace(/-->\s*$/, "")
    .trim();
  return { preamble: text, preambleLine: first + 1 };
}
