// Packs @imrelay/cli into one tarball that `npm install -g` turns into a
// working `imrelay`, outside the repository.
//
// The CLI is made of workspace packages, some of them private (gateway,
// worker, store, config, vendors), which npm cannot install. So the built
// JavaScript of the CLI and of every workspace package it reaches is bundled
// into one `dist/cli.js`, and everything else stays an ordinary dependency:
// the packed manifest lists the third-party packages those workspace
// packages declare, with the same version ranges. Assets read at run time
// sit beside the bundle in the layout they have in their package.
//
// Run it through `pnpm --filter @imrelay/cli pack:tarball`, which builds
// first. Options: --pack-destination <dir> (default: the directory the
// command was started from).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "rolldown";

const cliDir = resolve(import.meta.dirname, "..");
const root = resolve(cliDir, "../..");
const CLI = "@imrelay/cli";
/** Files read at run time by path, copied beside the bundle as they sit in their package (`dist/` and `lua/` are siblings). */
const ASSETS = [{ from: "@imrelay/store", dir: "lua" }];
/** Fields of the CLI's manifest that the packed one keeps. */
const KEEP = ["name", "version", "description", "license", "keywords", "repository", "homepage", "bugs", "type"];

const { values } = parseArgs({ options: { "pack-destination": { type: "string" } } });
// pnpm and npm set INIT_CWD to where the command was typed; a tarball left there is where the user looks.
const destination = resolve(values["pack-destination"] ?? process.env.INIT_CWD ?? process.cwd());

/** Every package of the workspace by name. */
function workspacePackages() {
  const found = new Map();
  for (const group of ["packages", "apps"]) {
    for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
      const file = join(root, group, entry.name, "package.json");
      if (!entry.isDirectory() || !existsSync(file)) continue;
      const manifest = JSON.parse(readFileSync(file, "utf8"));
      found.set(manifest.name, { dir: join(root, group, entry.name), manifest });
    }
  }
  return found;
}

/** The package a bare import names: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** The CLI and the workspace packages it reaches, and the third-party dependencies they declare. */
function dependencyClosure(workspace) {
  const bundled = new Set();
  const thirdParty = new Map();
  const visit = (name) => {
    if (bundled.has(name)) return;
    bundled.add(name);
    const { manifest } = workspace.get(name);
    for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) {
      if (range.startsWith("workspace:")) {
        visit(dep);
        continue;
      }
      const seen = thirdParty.get(dep);
      // One bundle loads one copy of each library: two ranges for it would leave one package untested against it.
      if (seen && seen.range !== range) {
        throw new Error(`${dep} is "${seen.range}" in ${seen.by} but "${range}" in ${name}: make them one range`);
      }
      thirdParty.set(dep, seen ?? { range, by: name });
    }
  };
  visit(CLI);
  return { bundled, thirdParty };
}

async function bundle(workspace, outFile) {
  const isWorkspace = (id) => workspace.has(packageName(id));
  const result = await build({
    input: join(cliDir, "dist/cli.js"),
    platform: "node",
    // Relative and resolved paths are our own code; a bare name is bundled only when it is a workspace package.
    external: (id) => !(id.startsWith(".") || isAbsolute(id) || isWorkspace(id)),
    output: { file: outFile, format: "esm" },
    logLevel: "warn",
  });
  const imports = new Set(result.output.flatMap((chunk) => (chunk.type === "chunk" ? chunk.imports : [])));
  return [...imports];
}

async function main() {
  const workspace = workspacePackages();
  const cli = workspace.get(CLI);
  if (!existsSync(join(cliDir, "dist/cli.js"))) {
    throw new Error("apps/cli/dist/cli.js is missing: build first (pnpm --filter @imrelay/cli pack:tarball does)");
  }
  const { thirdParty } = dependencyClosure(workspace);
  const stage = mkdtempSync(join(tmpdir(), "imrelay-cli-pack-"));
  try {
    const imports = await bundle(workspace, join(stage, "dist/cli.js"));
    const builtins = new Set(builtinModules);
    const undeclared = imports
      .filter((id) => !id.startsWith("node:") && !builtins.has(id))
      .map(packageName)
      .filter((name) => !thirdParty.has(name));
    if (undeclared.length > 0) {
      throw new Error(`the bundle imports ${[...new Set(undeclared)].join(", ")}, which no bundled package declares`);
    }

    cpSync(join(cliDir, "bin"), join(stage, "bin"), { recursive: true });
    for (const asset of ASSETS) {
      cpSync(join(workspace.get(asset.from).dir, asset.dir), join(stage, asset.dir), { recursive: true });
    }
    cpSync(join(cliDir, "README.md"), join(stage, "README.md"));
    cpSync(join(root, "LICENSE"), join(stage, "LICENSE"));

    const manifest = Object.fromEntries(
      KEEP.filter((k) => cli.manifest[k] !== undefined).map((k) => [k, cli.manifest[k]]),
    );
    Object.assign(manifest, {
      bin: cli.manifest.bin,
      engines: cli.manifest.engines,
      dependencies: Object.fromEntries(
        [...thirdParty].sort(([a], [b]) => a.localeCompare(b)).map(([n, d]) => [n, d.range]),
      ),
    });
    writeFileSync(join(stage, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);

    mkdirSync(destination, { recursive: true });
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--loglevel=error", "--pack-destination", destination], {
        cwd: stage,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      }),
    );
    const tarball = join(destination, packed[0].filename);
    console.log(`packed ${tarball}\ninstall it with: npm install -g ${tarball}`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`pack: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
