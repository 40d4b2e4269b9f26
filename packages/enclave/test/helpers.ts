// Shared pieces of the @strongroom/enclave tests.
import { fileURLToPath } from 'node:url';

import type { SecretBuffer } from '../src/index.js';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Child snippets run from the package folder and import its built dist/ by package name. */
export const CHILD = { cwd: PACKAGE_DIR };

export { errorCode } from '@strongroom/testkit';

/**
 * The code of the StrongroomError that the promise fn() returns rejects with, undefined
 * when it resolves; any other rejection (or a synchronous throw) fails the test.
 */
export async function asyncErrorCode(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (error instanceof Error && error.name === 'StrongroomError' && typeof code === 'string') return code;
    throw new Error(`expected a StrongroomError, got ${String(error)}`, { cause: error });
  }
  return undefined;
}

/** A heap copy of a SecretBuffer's bytes, taken inside a read scope (tests only). */
export function copyOut(buffer: SecretBuffer): Buffer {
  return buffer.read((view) => Buffer.from(view));
}
