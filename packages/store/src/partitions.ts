import { MAX_PARTITIONS } from "@imrelay/config";
import { CLUSTER_SLOTS, keySlot } from "./slot.js";

/** The first slot of partition `n`'s share of the 16,384 (its share ends where `n + 1`'s begins). */
export function partitionSlotStart(n: number, partitions: number): number {
  return Math.floor((n * CLUSTER_SLOTS) / partitions);
}

/** Tags already searched for, by partition count: the search for 1,024 takes a fraction of a second. */
const found = new Map<number, string[]>();

/**
 * The hash tags of the partitions, `p<n>.<s>`: for each partition the first
 * suffix `s` whose slot falls in that partition's own 1/P of the slots. A
 * cluster created with even slot ranges then holds an even share of the
 * partitions on each master, where arbitrary tags would land unevenly.
 * Deterministic: every process (and every version) finds the same tags.
 *
 * @example
 * partitionTags(16).slice(0, 2); // ["p0.41", "p1.42"]: slots 907 (of 0–1023) and 1372 (of 1024–2047)
 */
export function partitionTags(partitions: number): string[] {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new RangeError(`partitions must be a whole number from 1 to ${MAX_PARTITIONS}, not ${partitions}`);
  }
  const known = found.get(partitions);
  if (known) return [...known];
  const tags: string[] = [];
  for (let n = 0; n < partitions; n++) {
    const start = partitionSlotStart(n, partitions);
    const end = partitionSlotStart(n + 1, partitions);
    for (let s = 0; ; s++) {
      const tag = `p${n}.${s}`;
      const slot = keySlot(tag);
      if (slot >= start && slot < end) {
        tags.push(tag);
        break;
      }
    }
  }
  found.set(partitions, tags);
  return [...tags];
}

/**
 * The partition of a user: FNV-1a over the tenant and user id (UTF-16 code
 * units, a NUL between them) with a final avalanche, mod the partition count.
 * Stable across processes and versions, so a user's presence, sequence and
 * events always live in one partition.
 *
 * @example
 * partitionOf("acme", "alice", 16); // a number from 0 to 15, always the same one
 */
export function partitionOf(tenant: string, userId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < tenant.length; i++) h = Math.imul(h ^ tenant.charCodeAt(i), 0x01000193);
  h = Math.imul(h, 0x01000193); // the NUL separator: "ab"+"c" and "a"+"bc" differ
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 0x01000193);
  // fmix32 (MurmurHash3's finalizer): FNV's low bits alone are weak for a small modulus.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % partitions;
}
