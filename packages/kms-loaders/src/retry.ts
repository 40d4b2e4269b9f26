// Retries for remote sources: exponential backoff with full jitter, within one deadline
// for the whole load. Only ERR_SOURCE_UNAVAILABLE is retried (a refused credential or a
// missing secret will not change by asking again).
import { isStrongroomError } from '@strongroom/core-native';
import { checkInteger, checkOptions } from '@strongroom/core-native/validate';

import { sourceError, type Source } from './source.js';

export interface RetryOptions {
  /** Attempts after the first (default 4). */
  retries?: number;
  /** The first delay in ms (default 100); each next one doubles, up to maxDelay. */
  minDelay?: number;
  /** The longest delay in ms (default 2,000). */
  maxDelay?: number;
  /** The most ms one load may take, retries included (default 10,000). */
  deadline?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ retries: 4, minDelay: 100, maxDelay: 2000, deadline: 10_000 });

export function retryPolicy(value: unknown): RetryPolicy {
  const given = checkOptions(value, 'loadSecrets() retry', ['retries', 'minDelay', 'maxDelay', 'deadline']);
  const policy: RetryPolicy = {
    retries: given.retries === undefined ? DEFAULT_RETRY.retries : checkInteger(given.retries, 'retries', 0, 100),
    minDelay: given.minDelay === undefined ? DEFAULT_RETRY.minDelay : checkInteger(given.minDelay, 'minDelay', 1, 60_000),
    maxDelay: given.maxDelay === undefined ? DEFAULT_RETRY.maxDelay : checkInteger(given.maxDelay, 'maxDelay', 1, 600_000),
    deadline: given.deadline === undefined ? DEFAULT_RETRY.deadline : checkInteger(given.deadline, 'deadline', 1, 3_600_000),
  };
  return Object.freeze(policy);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref(); // a retry's wait never keeps the process alive on its own
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

// Settles with `promise`, or rejects once `signal` aborts: a source that ignores the signal
// cannot hold a load past its deadline.
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('deadline passed'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Loads `source` once (local) or with retries within the deadline (remote). `stop` (the
 * store's close()) ends the load and its retries at once, as the deadline does.
 */
export async function loadWithRetry<T>(
  source: Source,
  load: (signal: AbortSignal) => Promise<T>,
  policy: RetryPolicy,
  stop?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), policy.deadline);
  deadline.unref();
  const stopped = (): void => controller.abort();
  if (stop?.aborted === true) controller.abort();
  stop?.addEventListener('abort', stopped, { once: true });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await untilAborted(load(controller.signal), controller.signal);
      } catch (error) {
        const retryable = source.remote && isStrongroomError(error) && error.code === 'ERR_SOURCE_UNAVAILABLE';
        if (controller.signal.aborted) {
          throw sourceError('ERR_SOURCE_UNAVAILABLE', source, `no answer within the deadline of ${policy.deadline} ms (${attempt + 1} attempts)`, error);
        }
        if (!retryable || attempt >= policy.retries) throw error;
        const cap = Math.min(policy.maxDelay, policy.minDelay * 2 ** attempt);
        await sleep(Math.floor(Math.random() * cap) + 1, controller.signal);
        if (controller.signal.aborted) {
          throw sourceError('ERR_SOURCE_UNAVAILABLE', source, `no answer within the deadline of ${policy.deadline} ms (${attempt + 1} attempts)`, error);
        }
      }
    }
  } finally {
    clearTimeout(deadline);
    stop?.removeEventListener('abort', stopped);
  }
}
