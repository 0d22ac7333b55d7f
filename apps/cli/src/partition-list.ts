/**
 * Reads a `--partitions` list: numbers and ranges, comma-separated
 * (`0-7,12`), each below `count`. Returns the sorted, distinct partitions,
 * or a message saying what is wrong.
 *
 * @example
 * parsePartitionList("0-3,8", 16); // { partitions: [0, 1, 2, 3, 8] }
 * parsePartitionList("16", 16);    // { error: "--partitions: 16 is not a partition (they are 0 to 15)" }
 */
export function parsePartitionList(text: string, count: number): { partitions: number[] } | { error: string } {
  const found = new Set<number>();
  for (const part of text.split(",").map((p) => p.trim())) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) return { error: `--partitions: "${part}" is not a number or a range like 0-7` };
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) return { error: `--partitions: ${part} runs backwards` };
    for (const p of [from, to]) {
      if (p >= count) return { error: `--partitions: ${p} is not a partition (they are 0 to ${count - 1})` };
    }
    for (let p = from; p <= to; p++) found.add(p);
  }
  return { partitions: [...found].sort((a, b) => a - b) };
}
