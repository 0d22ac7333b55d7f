import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkSnippets, formatProblems } from "../src/check.js";
import { extractSnippets, type Snippet } from "../src/extract.js";

/**
 * Every ```ts block of the root README and of each package's README must
 * compile, with the repository's strict compiler options, against the
 * packages as built: a snippet a reader copies should work as written.
 */
const root = resolve(import.meta.dirname, "../..");
const docs = resolve(import.meta.dirname, "..");
const tsconfig = join(docs, "tsconfig.snippets.json");
const checked = join(docs, ".snippets", "readmes");
const scratch = join(docs, ".snippets", `scratch-${randomUUID()}`);
const PUBLISHED_READMES = [
  "README.md",
  "packages/core/README.md",
  "packages/tencent-adapter/README.md",
  "packages/openim-adapter/README.md",
];

const readmes = [
  "README.md",
  ...readdirSync(join(root, "packages"))
    .map((pkg) => `packages/${pkg}/README.md`)
    .filter((path) => existsSync(join(root, path))),
];
const snippets: Snippet[] = readmes.flatMap((readme) =>
  extractSnippets(readFileSync(join(root, readme), "utf8"), readme),
);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the READMEs' TypeScript snippets", () => {
  it("are found in the root README and the published packages' READMEs", () => {
    const withSnippets = new Set(snippets.map((s) => s.readme));
    for (const readme of PUBLISHED_READMES) {
      expect(withSnippets, `${readme} has no \`\`\`ts block`).toContain(readme);
    }
  });

  it("all type-check against the built packages", () => {
    const problems = checkSnippets(snippets, checked, tsconfig);
    expect(formatProblems(problems, root)).toBe("");
  });
});

describe("the snippet check", () => {
  const markdown = [
    "# Example",
    "",
    "<!-- preamble:",
    "declare const rawBody: string;",
    "-->",
    "```ts",
    "const parsed: unknown = JSON.parse(rawBody);",
    'const n: number = "not a number";',
    "```",
    "",
    "```js",
    "const notChecked = ;",
    "```",
    "",
    "```ts",
    'import { Webhook } from "standardwebhooks";',
    "new Webhook(process.env.SECRET);",
    "```",
  ].join("\n");

  it("reads ts blocks with their preamble and skips other languages", () => {
    expect(extractSnippets(markdown, "EXAMPLE.md")).toEqual([
      {
        readme: "EXAMPLE.md",
        line: 7,
        code: 'const parsed: unknown = JSON.parse(rawBody);\nconst n: number = "not a number";',
        preamble: "declare const rawBody: string;",
        preambleLine: 3,
      },
      {
        readme: "EXAMPLE.md",
        line: 16,
        code: 'import { Webhook } from "standardwebhooks";\nnew Webhook(process.env.SECRET);',
        preamble: "",
        preambleLine: 0,
      },
    ]);
  });

  it("reports a broken snippet at its README line, strict mode included", () => {
    const problems = checkSnippets(extractSnippets(markdown, "EXAMPLE.md"), scratch, tsconfig);
    expect(problems.map((p) => p.at)).toEqual(["EXAMPLE.md:8", "EXAMPLE.md:17"]);
    expect(problems[0]!.message).toMatch(/^TS2322: Type 'string' is not assignable to type 'number'/);
    // process.env values are `string | undefined`: only strict null checks catch this one.
    expect(problems[1]!.message).toMatch(/^TS2345: .*'string \| undefined'/);
  });
});
