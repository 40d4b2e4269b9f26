// Shared pieces of the kms-loaders residue tests (*-residue.test.ts): the child's code around
// a load (its start, the opened control, a planted heap copy) and the checks of the scans
// that go with it. Each child runs with --expose-gc and loads its secret as 's' of `store`.
import { heapMarkerCode, type ChildHandle, type MemoryMatch, type ResidueStage, type ScanResult } from '@strongroom/testkit';
import { expect } from 'vitest';

/**
 * The start of a child's code: the mmap backend, and `settle(label, data)`, which collects
 * garbage three times (letting pending callbacks run) and then waits at checkpoint(label, data).
 */
export const CHILD_START = `
import * as core from '@strongroom/core-native';
core.configure({ backend: 'mmap' }); // guarded pages a scan can read ('secretmem' pages it cannot)
async function settle(label, data) {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)); }
  await checkpoint(label, data);
}`;

/**
 * Child code once `store` holds 's': opens it, makes the deliberate heap copy of the control,
 * waits at 'opened' (with its size), then destroys both and closes the store. `key` names the
 * child's variable holding the caller's key: when it is an Enclave it is opened as well while
 * at 'opened' (the child imports Enclave).
 */
export function openedCode(key?: string): string {
  return `
const opened = store.get('s').open();
let copy = opened.read((view) => Buffer.from(view)); // the deliberate heap copy of the control
${key === undefined ? '' : `const keyOpened = ${key} instanceof Enclave ? ${key}.open() : undefined;`}
await settle('opened', opened.size);
opened.destroy();
${key === undefined ? '' : 'keyOpened?.destroy();'}
copy.fill(0);
copy = undefined;
store.close();`;
}

/** Child code: a heap Buffer `planted` holding `bytes` (never in the code as they are), then a wait at 'planted'. */
export function plantedCode(bytes: Uint8Array): string {
  return `${heapMarkerCode('planted', bytes)}\nawait settle('planted', planted.length);`;
}

/** The matches in guarded pages (---p). */
export const guarded = (found: ScanResult): MemoryMatch[] => found.matches.filter((m) => m.mapping.perms === '---p');

/** The matches in ordinary read-write memory. */
export const writable = (found: ScanResult): MemoryMatch[] => found.matches.filter((m) => m.mapping.perms.startsWith('rw'));

/** Copies of `needle` in the child: `count` of them, all in guarded (---p) pages; their addresses. */
export async function expectGuarded(child: ChildHandle, needle: Uint8Array, count: number, what: string): Promise<bigint[]> {
  const found = await child.scan(needle);
  expect(found.matches.length, `${what}: ${found.matches.map((m) => `${m.mapping.perms} ${m.mapping.path}`).join(', ')}`).toBe(count);
  expect(guarded(found).length, what).toBe(count);
  return found.matches.map((m) => m.address);
}

/**
 * The 'opened' stage of openedCode(), the positive control: the scan finds the secret (of
 * `size` bytes) twice, once in its guarded region (read at rest, PROT_NONE) and once in the
 * heap copy. `check`: more assertions at that stage.
 */
export function openedStage(size: number, check?: () => Promise<void>): ResidueStage {
  return {
    at: 'opened',
    data: size,
    count: 2,
    check: async (found) => {
      expect(guarded(found)).toHaveLength(1);
      expect(writable(found)).toHaveLength(1);
      await check?.();
    },
  };
}

/** The 'planted' stage of plantedCode(bytes), the control of a scan for those bytes: found, and only in read-write memory. */
export function plantedStage(child: ChildHandle, bytes: Uint8Array): ResidueStage {
  return {
    at: 'planted',
    data: bytes.length,
    count: 0,
    check: async () => {
      const found = await child.scan(bytes);
      expect(found.matches.length).toBeGreaterThan(0);
      expect(found.matches.every((m) => m.mapping.perms.startsWith('rw'))).toBe(true);
    },
  };
}
