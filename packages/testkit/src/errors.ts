// The code of the StrongroomError a call throws, or a promise rejects with: the one assertion
// every package's argument-matrix tests make. Recognised by name and code, so testkit needs no
// dependency on the packages it tests.
import { inspect } from 'node:util';

/** The error's StrongroomError code; anything else that was thrown becomes a failure. */
function strongroomCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && error.name === 'StrongroomError' && typeof code === 'string') return code;
  throw new Error(`expected a StrongroomError, got ${inspect(error)}`, { cause: error });
}

/** fn()'s StrongroomError code, or undefined when fn returns; any other throw is re-thrown as a failure. */
export function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return strongroomCode(error);
  }
  return undefined;
}

/**
 * The code of the StrongroomError that the promise fn() returns rejects with, or undefined when
 * it resolves. A function that throws instead of returning a promise, or returns something that
 * is not a promise, fails: an async API reports every error by rejecting.
 */
export async function asyncErrorCode(fn: () => Promise<unknown>): Promise<string | undefined> {
  let promise: unknown;
  try {
    promise = fn();
  } catch (error) {
    throw new Error(`expected a promise that rejects, but the call threw ${inspect(error)}`, { cause: error });
  }
  if (!(promise instanceof Promise)) throw new Error(`expected a promise, got ${inspect(promise)}`);
  try {
    await promise;
  } catch (error) {
    return strongroomCode(error);
  }
  return undefined;
}

/**
 * What `promise` rejects with (to look at its code and message); fails when it resolves.
 */
export async function rejectionOf(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/**
 * The calls of a table that do NOT refuse an extra argument as strongroom does (a
 * StrongroomError ERR_INVALID_ARG whose message says `<name> takes at most`), each with
 * what happened instead; empty when every call refused. Each entry is the function's name
 * as its message gives it ('seal()', 'SecretBuffer.from()') and a call that passes one
 * argument too many.
 */
export function extraArgumentFailures(calls: ReadonlyArray<readonly [name: string, call: () => unknown]>): string[] {
  const failures: string[] = [];
  for (const [name, call] of calls) {
    let caught: unknown;
    try {
      call();
    } catch (error) {
      caught = error;
    }
    const { name: type, code, message } = (caught ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
    const refused =
      type === 'StrongroomError' && code === 'ERR_INVALID_ARG' && typeof message === 'string' && message.includes(`${name} takes at most`);
    if (!refused) failures.push(`${name}: ${caught === undefined ? 'returned' : `threw ${inspect(caught)}`}`);
  }
  return failures;
}
