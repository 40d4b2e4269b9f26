// Shared pieces of the core-native tests: the backends this kernel can run, the preamble of
// child-process snippets (the built package plus the test-only poke addon), and children
// that hold a marker in a region.
import { fileURLToPath } from 'node:url';

import { maskMarker, startChild, type ChildHandle } from '@strongroom/testkit';

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

/**
 * Child code that builds region `name` (on `backend`) holding the marker without the marker in
 * the heap: the masked halves go into two regions and are XORed natively.
 */
export function plantMarker(name: string, marker: Uint8Array, backend: Backend, isolated = false): string {
  const { masked, mask } = maskMarker(marker);
  return `
const ${name} = sr.allocate(${marker.length}, { backend: '${backend}', isolated: ${isolated} });
{
  ${name}.view().set(Buffer.from('${masked}', 'hex'));
  const maskRegion = sr.allocate(${marker.length}, { backend: '${backend}' });
  maskRegion.view().set(Buffer.from('${mask}', 'hex'));
  sr.xor(${name}, maskRegion);
  maskRegion.free();
}
`;
}

/**
 * A child with the marker planted in region `secret` on `backend`, made noaccess, waiting at
 * 'planted'; then freed, waiting at 'freed' with the value of the child expression `freedData`.
 */
export function startPlantedThenFreed(marker: Uint8Array, backend: Backend, freedData = 'undefined'): Promise<ChildHandle> {
  return startChild(
    `${PREAMBLE}
     ${plantMarker('secret', marker, backend)}
     secret.protect('noaccess');
     await checkpoint('planted');
     secret.free();
     await checkpoint('freed', ${freedData});`,
    CHILD,
  );
}
