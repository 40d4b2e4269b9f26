// The code of the StrongroomError a call throws: the one assertion every package's
// argument-matrix tests make. Recognised by name and code, so testkit needs no
// dependency on the packages it tests.
import { inspect } from 'node:util';

/** fn()'s StrongroomError code, or undefined when fn returns; any other throw is re-thrown as a failure. */
export function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (error instanceof Error && error.name === 'StrongroomError' && typeof code === 'string') return code;
    throw new Error(`expected a StrongroomError, got ${inspect(error)}`, { cause: error });
  }
  return undefined;
}
