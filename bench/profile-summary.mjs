// Summarizes a V8 .cpuprofile (from `node --cpu-prof`, or `pnpm bench -- --profile`):
// self time by function and by package/file, as shares of the busy (non-idle) time.
//   node bench/profile-summary.mjs <file.cpuprofile> [--top 25]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "25" } },
});
const profile = JSON.parse(readFileSync(positionals[0], "utf8"));
const top = Number(values.top);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
// timeDeltas[i] is the time before samples[i]; attribute it to that sample.
profile.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

function where(url) {
  if (!url) return "(native/V8)";
  const path = url.replace(/^file:\/\//, "");
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pnpm) return pnpm[1];
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (nm) return nm[1];
  if (path.startsWith("node:")) return path;
  const repo = /\/work\/main\/(.+)$/.exec(path);
  return repo ? repo[1] : path;
}

let total = 0;
let idle = 0;
const fns = new Map();
const groups = new Map();
for (const [id, us] of self) {
  const node = byId.get(id);
  const { functionName, url, lineNumber } = node.callFrame;
  total += us;
  if (functionName === "(idle)") {
    idle += us;
    continue;
  }
  const file = where(url);
  const key = `${functionName || "(anonymous)"}  ${file}${url ? `:${lineNumber + 1}` : ""}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
  const group = file.startsWith("apps/") || file.startsWith("packages/") ? file : file.split("/")[0];
  groups.set(group, (groups.get(group) ?? 0) + us);
}
const busy = total - idle;

// Inclusive time per function (a recursive frame is counted once per stack).
const inclusive = new Map();
const keyOf = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || "(anonymous)"}  ${where(url)}${url ? `:${lineNumber + 1}` : ""}`;
};
function walk(node, open) {
  let sum = self.get(node.id) ?? 0;
  const key = keyOf(node);
  const counted = open.has(key);
  if (!counted) open.add(key);
  for (const child of node.children ?? []) sum += walk(byId.get(child), open);
  if (!counted) {
    open.delete(key);
    if (node.callFrame.functionName !== "(idle)" && node.callFrame.functionName !== "(root)") {
      inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
    }
  }
  return sum;
}
walk(profile.nodes[0], new Set());
const share = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
const rows = (map) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => `${share(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`)
    .join("\n");

console.log(
  `profile: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)} %)`,
);
console.log(`\nself time by package / file (share of busy time):\n${rows(groups)}`);
console.log(`\nself time by function:\n${rows(fns)}`);
console.log(`\ninclusive time by function:\n${rows(inclusive)}`);
