// Shared pieces of the @strongroom/enclave tests.
import { fileURLToPath } from 'node:url';

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
