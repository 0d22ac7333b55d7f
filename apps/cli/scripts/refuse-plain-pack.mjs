// `npm pack` of apps/cli as it stands would ship imports of private workspace
// packages that npm cannot install; the tarball that works is made by pack.mjs.
console.error(
  "imrelay: pack the CLI with `pnpm --filter @imrelay/cli pack:tarball` (it bundles the workspace packages into one installable tarball)",
);
process.exit(1);
