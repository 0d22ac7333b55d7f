/**
 * Resolves with the promise's value, or false once `ms` have passed; the timer
 * does not keep the process alive. For waits on Redis that must not hold a
 * shutdown forever.
 *
 * @example
 * const finished = await within(loop.then(() => true), 3000);
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
