// Shared pieces of the core-native tests: the backends this kernel can run, and the
// preamble of child-process snippets (the built package plus the test-only poke addon).
import { fileURLToPath } from 'node:url';

import { stats, type Backend } from '../src/index.js';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

export const SECRETMEM = stats().secretmemAvailable;
export const SECRETMEM_SKIP_REASON = 'memfd_secret is not available on this kernel (Linux 5.14+, secretmem enabled)';

/** Every backend, with whether this machine can run it. */
export const BACKENDS: ReadonlyArray<{ backend: Backend; available: boolean }> = [
  { backend: 'mmap', available: true },
  { backend: 'secretmem', available: SECRETMEM },
];

/** Child snippets run from the package folder and import its built dist/. */
export const CHILD = { cwd: PACKAGE_DIR };

export const PREAMBLE = `
import * as sr from '@strongroom/core-native';
import { createRequire } from 'node:module';
const poke = createRequire(process.cwd() + '/')('./test/native/build/Release/poke.node');
`;

/** Child code that builds region `name` holding the marker without the marker in the heap. */
export function plantMarker(name: string, masked: string, mask: string, backend: Backend): string {
  return `
const ${name} = sr.allocate(${masked.length / 2}, { backend: '${backend}' });
{
  ${name}.view().set(Buffer.from('${masked}', 'hex'));
  const maskRegion = sr.allocate(${mask.length / 2}, { backend: '${backend}' });
  maskRegion.view().set(Buffer.from('${mask}', 'hex'));
  sr.xor(${name}, maskRegion);
  maskRegion.free();
}
`;
}

export { errorCode } from '@strongroom/testkit';
