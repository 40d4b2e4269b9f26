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
  fileContains,
  findCoreFiles,
  makeMarker,
  maskMarker,
  runNode,
  startChild,
} from '@strongroom/testkit';

import { CHILD, PACKAGE_DIR, plantMarker, PREAMBLE, SECRETMEM, SECRETMEM_SKIP_REASON } from './helpers.js';

describe('memory scans of a child process', () => {
  it('mmap: the marker is found in the live region and nowhere after free()', async () => {
    const marker = makeMarker();
    const { masked, mask } = maskMarker(marker);
    const child = await startChild(
      `${PREAMBLE}
       ${plantMarker('secret', masked, mask, 'mmap')}
       secret.protect('noaccess');
       await checkpoint('planted');
       secret.free();
       await checkpoint('freed');`,
      CHILD,
    );
    await child.waitFor('planted');
    const live = await child.scan(marker);
    expect(live.matches.length).toBeGreaterThanOrEqual(1);
    expect(live.matches.every((m) => m.mapping.perms.startsWith('---'))).toBe(true); // noaccess pages
    child.resume();
    await child.waitFor('freed');
    const after = await child.scan(marker);
    expect(after.scannedBytes).toBeGreaterThan(1 << 20);
    expect(after.matches).toEqual([]);
    child.resume();
    expect((await child.exited).code).toBe(0);
  });

  it.skipIf(!SECRETMEM)('secretmem: a live region holding the marker cannot be read through /proc/PID/mem', async () => {
    const marker = makeMarker();
    const { masked, mask } = maskMarker(marker);
    const child = await startChild(
      `${PREAMBLE}
       ${plantMarker('secret', masked, mask, 'secretmem')}
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
    await child.waitFor('copied');
    expect((await child.scan(marker)).matches.length).toBeGreaterThanOrEqual(1); // the mmap copy
    child.resume();
    await child.waitFor('secretmem only');
    expect((await child.scan(marker)).matches).toEqual([]); // held, but out of reach
    child.resume();
    await child.waitFor('copied again');
    expect((await child.scan(marker)).matches.length).toBeGreaterThanOrEqual(1); // it was still there
    child.resume();
    expect((await child.exited).code).toBe(0);
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
    const { masked, mask } = maskMarker(marker);
    const child = await startChild(
      `${PREAMBLE}
       ${plantMarker('secret', masked, mask, backend as 'mmap')}
       for (const spare of Array.from({ length: 64 }, () => sr.allocate(1, { backend: '${backend}' }))) spare.free();
       if (sr.stats().spareRegions !== 64) throw new Error('the spare list is not full');
       const at = poke.addressOf(secret.view());
       await checkpoint('planted');
       secret.free();
       const left = [];
       for (let i = -16; i < ${marker.length}; i++) left.push(poke.readAt(at, i));
       await checkpoint('freed', left);`,
      { ...CHILD, env: { LD_PRELOAD: shim } },
    );
    await child.waitFor('planted');
    if (backend === 'mmap') expect((await child.scan(marker)).matches.length).toBeGreaterThanOrEqual(1);
    child.resume();
    const left = (await child.waitFor('freed')) as number[];
    expect(left.length).toBe(16 + marker.length);
    expect(left.every((b) => b === 0)).toBe(true);
    expect((await child.scan(marker)).matches).toEqual([]);
    child.resume();
    expect((await child.exited).code).toBe(0);
  });
});

describe('core dumps', () => {
  const support = coreDumpSupport();

  it.skipIf(!support.supported)('a crash with the core limit raised writes no region byte into the core file', async () => {
    const regionMarker = makeMarker();
    const heapMarker = makeMarker();
    const region = maskMarker(regionMarker);
    const heap = maskMarker(heapMarker);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-core-'));
    try {
      const result = await runNode(
        `${PREAMBLE}
         ${plantMarker('secret', region.masked, region.mask, 'mmap')}
         // Positive control: the same kind of marker in an ordinary Buffer must reach the core.
         const control = Buffer.from('${heap.masked}', 'hex');
         const controlMask = Buffer.from('${heap.mask}', 'hex');
         for (let i = 0; i < control.length; i++) control[i] ^= controlMask[i];
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
