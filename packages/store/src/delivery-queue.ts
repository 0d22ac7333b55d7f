import type { ImrelayConfig } from "@imrelay/config";
import { type JobsOptions, Queue } from "bullmq";
import type { RedisClient } from "./connection.js";
import {
  BACKOFF_TYPE,
  type DELIVERY_BATCH_JOB_NAME,
  type DELIVERY_JOB_NAME,
  type DeliveryBatchData,
  type DeliveryJobData,
} from "./delivery-job.js";
import { allPartitions, type RedisKeys } from "./keys.js";
import { within } from "./within.js";

export type DeliveryQueue = Queue<DeliveryJobData, unknown, typeof DELIVERY_JOB_NAME>;
export type BatchQueue = Queue<DeliveryBatchData, unknown, typeof DELIVERY_BATCH_JOB_NAME>;

/**
 * The options of every delivery job. Failed jobs are kept: they are the dead
 * letters the admin API lists and replays.
 *
 * @example
 * queue.add(DELIVERY_JOB_NAME, data, { ...deliveryJobOptions(config.delivery), jobId });
 */
export function deliveryJobOptions(delivery: Pick<ImrelayConfig["delivery"], "retrySchedule">): JobsOptions {
  return {
    attempts: delivery.retrySchedule.length + 1,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: false,
  };
}

/**
 * Partition `p`'s delivery queue (`keys.deliveryQueue` under BullMQ prefix
 * `keys.partitionPrefix(p)`, which carries the partition's hash tag, so on a
 * cluster the queue lives beside its partition's stream), for adding jobs,
 * listing dead letters and replaying them. The connection stays the caller's:
 * closing the queue does not close it.
 *
 * @example
 * const queue = createDeliveryQueue(redis, redisKeys("imrelay"), 3, config);
 * const deadLetters = await queue.getFailed(0, 49);
 * await deadLetters[0]?.retry("failed", { resetAttemptsMade: true });
 */
export function createDeliveryQueue(
  connection: RedisClient,
  keys: RedisKeys,
  partition: number,
  config?: Pick<ImrelayConfig, "delivery">,
): DeliveryQueue {
  return new Queue<DeliveryJobData, unknown, typeof DELIVERY_JOB_NAME>(keys.deliveryQueue, {
    connection,
    prefix: keys.partitionPrefix(partition),
    ...(config ? { defaultJobOptions: deliveryJobOptions(config.delivery) } : {}),
  });
}

/**
 * Partition `p`'s queue of batches (`keys.batchQueue`, same prefix and hash tag as its delivery
 * queue: a batch and the acks of its entries are written to one node, and `WAIT` covers both).
 *
 * @example
 * const batches = createBatchQueues(redis, keys);
 * const waiting = await batches[3]!.getWaitingCount();
 */
export function createBatchQueues(connection: RedisClient, keys: RedisKeys): BatchQueue[] {
  // Beside the delivery queues on the same connection, as a rule: twice as many listeners.
  connection.setMaxListeners(Math.max(connection.getMaxListeners(), 8 + 8 * keys.partitions));
  return allPartitions(keys).map(
    (p) =>
      new Queue<DeliveryBatchData, unknown, typeof DELIVERY_BATCH_JOB_NAME>(keys.batchQueue, {
        connection,
        prefix: keys.partitionPrefix(p),
      }),
  );
}

/** How long closing a queue waits for BullMQ's start-up commands on a connection that is up. */
const QUEUE_CLOSE_WAIT_MS = 2000;

/**
 * The delivery queue of every partition (or of those given), index = partition.
 *
 * @example
 * const queues = createDeliveryQueues(redis, keys, config);
 * const failed = await Promise.all(queues.map((q) => q.getFailedCount()));
 */
export function createDeliveryQueues(
  connection: RedisClient,
  keys: RedisKeys,
  config?: Pick<ImrelayConfig, "delivery">,
): DeliveryQueue[] {
  // Each queue listens on the shared connection; sixteen or more are expected, not a leak.
  connection.setMaxListeners(Math.max(connection.getMaxListeners(), 8 + 4 * keys.partitions));
  return allPartitions(keys).map((p) => createDeliveryQueue(connection, keys, p, config));
}

/**
 * Closes a delivery queue safely at any moment of its life: BullMQ's
 * connection start-up is a chain of commands, and one sent after the caller
 * QUITs the shared connection would reject unhandled, so wait for it first —
 * but only while Redis answers: with Redis away that start-up never ends.
 *
 * @example
 * await closeDeliveryQueue(queue);
 * await closeRedis(connection);
 */
export async function closeDeliveryQueue(queue: Queue): Promise<void> {
  // Its start-up fails once the caller drops the connection; that is expected now, not an error to print.
  queue.on("error", () => {});
  const connection = queue.opts.connection as { status?: string };
  if (connection.status === "ready") {
    await within(
      queue.waitUntilReady().catch(() => {}),
      QUEUE_CLOSE_WAIT_MS,
    );
  }
  await within(
    queue.close().catch(() => {}),
    QUEUE_CLOSE_WAIT_MS,
  );
}
