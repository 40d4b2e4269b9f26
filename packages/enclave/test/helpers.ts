// Shared pieces of the @strongroom/enclave tests.
import { fileURLToPath } from 'node:url';

import { stats } from '@strongroom/core-native';
import { maskMarker } from '@strongroom/testkit';

import type { SecretBuffer } from '../src/index.js';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Child snippets run from the package folder and import its built dist/ by package name. */
export const CHILD = { cwd: PACKAGE_DIR };

/**
 * Child code that declares `const name`, an mmap SecretBuffer holding the marker without the
 * marker in the JS heap: the buffer is made from the masked half (SecretBuffer.from wipes its
 * source) and the mask is XORed in inside a write scope. The child must import SecretBuffer.
 */
export function secretBufferMarker(name: string, marker: Uint8Array): string {
  const { masked, mask } = maskMarker(marker);
  return `
const ${name} = SecretBuffer.from(Buffer.from('${masked}', 'hex'), { backend: 'mmap' });
{
  const mask = Buffer.from('${mask}', 'hex');
  ${name}.write((view) => { for (let i = 0; i < view.length; i++) view[i] ^= mask[i]; });
}`;
}

/** A heap copy of a SecretBuffer's bytes, taken inside a read scope (tests only). */
export function copyOut(buffer: SecretBuffer): Buffer {
  return buffer.read((view) => Buffer.from(view));
}

// ---- the property tests (properties.test.ts, slab-properties.test.ts) ----------------

/** An integer from the environment variable `name`, or undefined when it is unset or empty. */
export function integerFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got '${text}'`);
  return value;
}

/** What a property test runs: its seed, fast-check's path to replay, and how many programs. */
export interface PropertySettings {
  seed: number;
  path: string | undefined;
  numRuns: number;
}

/**
 * A property test's settings: STRONGROOM_PROPERTY_SEED (else a fresh seed each call),
 * STRONGROOM_PROPERTY_PATH (a shrunk case from fast-check's report) and
 * STRONGROOM_PROPERTY_RUNS (else 100 programs).
 */
export function propertySettings(): PropertySettings {
  return {
    seed: integerFromEnv('STRONGROOM_PROPERTY_SEED') ?? (Math.random() * 2 ** 31) | 0,
    path: process.env.STRONGROOM_PROPERTY_PATH || undefined,
    numRuns: integerFromEnv('STRONGROOM_PROPERTY_RUNS') ?? 100,
  };
}

export type Backend = 'mmap' | 'secretmem';

/**
 * The backends a property runs on: each with whether this kernel lacks it (no memfd_secret)
 * and what its test's name then says.
 */
export const PROPERTY_BACKENDS = (['mmap', 'secretmem'] as const).map((backend: Backend) => {
  const unavailable = backend === 'secretmem' && !stats().secretmemAvailable;
  return { backend, unavailable, skipped: unavailable ? ' (skipped: this kernel has no memfd_secret)' : '' };
});

/** The names of the outcomes in `mustReach` that no key of `outcomes` (a child's report) matches. */
export function unreached(outcomes: Record<string, number>, mustReach: Record<string, RegExp>): string[] {
  const seen = Object.keys(outcomes);
  return Object.entries(mustReach)
    .filter(([, pattern]) => !seen.some((key) => pattern.test(key)))
    .map(([what]) => what);
}
