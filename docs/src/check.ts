import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import type { Snippet } from "./extract.js";

/** A compile error, placed at its line in the README. */
export interface SnippetProblem {
  /** `README.md:243`: the README line the error is on (the preamble comment's line for an error in it). */
  at: string;
  /** `TS2345: Argument of type …`, on one line. */
  message: string;
  /** The checked file the snippet was written to, for a closer look. */
  file: string;
}

let previous: ts.Program | undefined;

/**
 * Writes each snippet as a module of its own (its preamble, then its code)
 * under `outDir`, emptied first, and type-checks them all in one program
 * with the compiler options of `tsconfigPath`. Packages resolve from
 * `outDir`'s `node_modules` ancestors, so the snippets see the packages'
 * built declarations, as a user of the published packages would.
 *
 * @example
 * checkSnippets(extractSnippets(readFileSync("README.md", "utf8"), "README.md"), "docs/.snippets", "docs/tsconfig.snippets.json");
 * // [] when every snippet compiles
 */
export function checkSnippets(snippets: Snippet[], outDir: string, tsconfigPath: string): SnippetProblem[] {
  const options = compilerOptions(tsconfigPath);
  const files = new Map<string, { snippet: Snippet; codeStart: number }>();
  rmSync(outDir, { recursive: true, force: true });
  for (const snippet of snippets) {
    const file = join(outDir, snippet.readme.replace(/\.md$/i, `.L${snippet.line}.ts`));
    const head = snippet.preamble ? `${snippet.preamble}\n` : "";
    mkdirSync(dirname(file), { recursive: true });
    // `export {}` makes every snippet a module: its names stay its own, and top-level await is allowed.
    writeFileSync(file, `${head}${snippet.code}\nexport {};\n`);
    files.set(file, { snippet, codeStart: head.split("\n").length });
  }
  // The previous program's unchanged files (lib, @types/node, the packages) are reused, not parsed again.
  const program = ts.createProgram([...files.keys()], options, undefined, previous);
  previous = program;
  const problems: Array<SnippetProblem & { order: [string, number] }> = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`;
    const entry = diagnostic.file ? files.get(diagnostic.file.fileName) : undefined;
    if (!diagnostic.file || !entry) {
      const at = diagnostic.file?.fileName ?? tsconfigPath;
      problems.push({ at, message, file: diagnostic.file?.fileName ?? "", order: [at, 0] });
      continue;
    }
    const { snippet, codeStart } = entry;
    const line = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1;
    const readmeLine = line >= codeStart ? snippet.line + (line - codeStart) : snippet.preambleLine;
    problems.push({
      at: `${snippet.readme}:${readmeLine}`,
      message,
      file: diagnostic.file.fileName,
      order: [snippet.readme, readmeLine],
    });
  }
  // In README order, so the first problem listed is the first one a reader meets.
  problems.sort((a, b) => a.order[0].localeCompare(b.order[0]) || a.order[1] - b.order[1]);
  return problems.map(({ order: _, ...problem }) => problem);
}

function compilerOptions(tsconfigPath: string): ts.CompilerOptions {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    tsconfigPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, " "));
      },
    },
  );
  if (!parsed) throw new Error(`cannot read ${tsconfigPath}`);
  return { ...parsed.options, noEmit: true };
}

/** `problems` as lines a person can act on: `README.md:243 TS2345: …`. */
export function formatProblems(problems: SnippetProblem[], root: string): string {
  return problems.map((p) => `${p.at} ${p.message} (checked as ${relative(root, p.file) || p.file})`).join("\n");
}
