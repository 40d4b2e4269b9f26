// Residue: a marker held in a region is visible to a /proc/PID/mem scan while the
// region lives (mmap backend: the positive control that proves the scan sees region
// memory), gone from everywhere once the region is freed, never visible at all on the
// secretmem backend, and never written into a core file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import {
  coreDumpSupport,
  expectResidue,
  fileContains,
  findCoreFiles,
  heapMarkerCode,
  makeMarker,
  runNode,
  startChild,
} from '@strongroom/testkit';

import { CHILD, PACKAGE_DIR, plantMarker, PREAMBLE, SECRETMEM, SECRETMEM_SKIP_REASON, startPlantedThenFreed } from './helpers.js';

describe('memory scans of a child process', () => {
  it('mmap: the marker is found in the live region and nowhere after free()', async () => {
    const marker = makeMarker();
    await expectResidue(await startPlantedThenFreed(marker, 'mmap'), marker, [
      { at: 'planted', present: true, perms: '---' }, // noaccess pages
      { at: 'freed', present: false }, // and the scan read over 1 MiB (MIN_SCANNED_BYTES)
    ]);
  });

  it.skipIf(!SECRETMEM)('secretmem: a live region holding the marker cannot be read through /proc/PID/mem', async () => {
    const marker = makeMarker();
    const child = await startChild(
      `${PREAMBLE}
       ${plantMarker('secret', marker, 'secretmem')}
       const copy = sr.allocate(secret.size, { backend: 'mmap' });
       sr.copy(copy, secret);
       await checkpoint('copied');
       copy.free();
       await checkpoint('secretmem only');
       const again = sr.allocate(secret.size, { backend: 'mmap' });
       sr.copy(again, secret);
       await checkpoint('copied again');
       again.free(); secret.free();`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'copied', present: true }, // the mmap copy
      { at: 'secretmem only', present: false }, // held, but out of reach
      { at: 'copied again', present: true }, // it was still there
    ]);
  });
  if (!SECRETMEM) it.skip(`secretmem scan skipped: ${SECRETMEM_SKIP_REASON}`, () => {});
});

describe('wiping', () => {
  const shim = path.join(PACKAGE_DIR, 'test', 'native', 'build', 'Release', 'keepmaps.so');

  // With munmap suppressed for the addon, a freed region's pages stay mapped, so what
  // free() left in them can be read back: zeros, canary included, and no marker. The
  // spare list is filled first, so that this region is unmapped rather than kept as a
  // spare ('noaccess'; spares.test.ts checks that a spare holds no marker either).
  it.each(['mmap', ...(SECRETMEM ? ['secretmem'] : [])])('%s: free() wipes every byte before the pages go back', async (backend) => {
    const marker = makeMarker();
    const child = await startChild(
      `${PREAMBLE}
       ${plantMarker('secret', marker, backend as 'mmap', true)}
       for (const spare of Array.from({ length: 64 }, () => sr.allocate(1, { backend: '${backend}', isolated: true }))) spare.free();
       if (sr.stats().spareRegions - sr.stats().slabs.empty !== 64) throw new Error('the spare list is not full'); // empty slabs in reserve count as spares too
       const at = poke.addressOf(secret.view());
       await checkpoint('planted');
       secret.free();
       const left = [];
       for (let i = -16; i < ${marker.length}; i++) left.push(poke.readAt(at, i));
       await checkpoint('freed', left);`,
      { ...CHILD, env: { LD_PRELOAD: shim } },
    );
    await expectResidue(child, marker, [
      // the positive control where a scan can see the region; secretmem pages it cannot read
      { at: 'planted', present: backend === 'mmap' ? true : undefined },
      {
        at: 'freed',
        present: false,
        check: (_, left) => {
          expect((left as number[]).length).toBe(16 + marker.length);
          expect((left as number[]).every((b) => b === 0)).toBe(true);
        },
      },
    ]);
  });
});

describe('core dumps', () => {
  const support = coreDumpSupport();

  it.skipIf(!support.supported)('a crash with the core limit raised writes no region byte into the core file', async () => {
    const regionMarker = makeMarker();
    const heapMarker = makeMarker();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-core-'));
    try {
      const result = await runNode(
        `${PREAMBLE}
         ${plantMarker('secret', regionMarker, 'mmap')}
         // Positive control: the same kind of marker in an ordinary Buffer must reach the core.
         ${heapMarkerCode('control', heapMarker)}
         globalThis.keep = control;
         process.chdir(${JSON.stringify(dir)});
         process.abort();`,
        { ...CHILD, coreLimit: 'unlimited', timeoutMs: 120_000 },
      );
      expect(result.signal).toBe('SIGABRT');
      const cores = findCoreFiles(dir);
      expect(cores.length).toBe(1);
      expect(await fileContains(cores[0]!, heapMarker)).toBe(true);
      expect(await fileContains(cores[0]!, regionMarker)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  if (!support.supported) it.skip(`core dump test skipped: ${support.reason}`, () => {});
});

describe('fork', () => {
  // A forked child (a native library calling fork() without exec) must not see secrets:
  // anonymous regions are MADV_WIPEONFORK (the child sees zeros), secretmem regions
  // MADV_DONTFORK (the child has no mapping there at all and faults).
  it('a forked child sees zeros in an mmap region, and the bytes of ordinary memory (control)', async () => {
    const result = await runNode(
      `${PREAMBLE}
       const region = sr.allocate(64, { backend: 'mmap' });
       region.view().fill(0xab);
       const ordinary = Buffer.alloc(64, 0xab);
       const inRegion = poke.forkRead(poke.addressOf(region.view()), 64);
       const inHeap = poke.forkRead(poke.addressOf(ordinary), 64);
       console.log(JSON.stringify({
         region: [inRegion.signal, [...new Set(inRegion.bytes)]],
         heap: [inHeap.signal, [...new Set(inHeap.bytes)]],
       }));`,
      CHILD,
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ region: [0, [0]], heap: [0, [0xab]] });
  });

  it.skipIf(!SECRETMEM)('a forked child has no mapping of a secretmem region', async () => {
    const result = await runNode(
      `${PREAMBLE}
       const region = sr.allocate(64, { backend: 'secretmem' });
       region.view().fill(0xab);
       const seen = poke.forkRead(poke.addressOf(region.view()), 64);
       console.log(JSON.stringify({ signal: seen.signal, bytes: seen.bytes.length }));`,
      CHILD,
    );
    expect(JSON.parse(result.stdout)).toEqual({ signal: 11, bytes: 0 }); // SIGSEGV in the child
  });
});
