import { allPartitions, type RedisKeys } from "@imrelay/store";

export interface PartitionSweep {
  /** Sweeps every partition once; a caller during a sweep waits for that sweep. Resolves with the sum. */
  sweepOnce(): Promise<number>;
  /** Resolves when no sweep is running (a failed one included). */
  idle(): Promise<void>;
}

/**
 * Runs one partition's sweep on every partition side by side (on a cluster they
 * live on different masters), one sweep at a time per process. A partition that
 * fails (its slot has no master for a moment) holds up none of the others; the
 * sweep then rejects with its error, after the others are done.
 *
 * @example
 * const { sweepOnce, idle } = partitionSweep(keys, (p) => expirePartition(p));
 */
export function partitionSweep(keys: RedisKeys, sweepPartition: (p: number) => Promise<number>): PartitionSweep {
  let running: Promise<number> | undefined;

  async function sweep(): Promise<number> {
    const results = await Promise.allSettled(allPartitions(keys).map(sweepPartition));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return results.reduce((sum, r) => sum + (r.status === "fulfilled" ? r.value : 0), 0);
  }

  return {
    sweepOnce() {
      running ??= sweep().finally(() => {
        running = undefined;
      });
      return running;
    },
    async idle() {
      await running?.catch(() => {});
    },
  };
}
