// Spare regions: a freed region of up to 1 MiB is wiped, made PROT_NONE
// and kept mapped (and locked) for the next allocation of its shape. The reused region
// must be as good as a new one: zero-filled, canary in place for its new size, guard
// pages intact. Spares give their locked memory back when RLIMIT_MEMLOCK needs it.
// Figures are read in children: in this process the garbage collector frees regions
// (and so makes spares) at any moment.
import { describe, expect, it } from 'vitest';
import { expectCrash, expectResidue, lockableMemory, makeMarker, runNode } from '@strongroom/testkit';

import { BACKENDS, CHILD, PREAMBLE, startPlantedThenFreed } from './helpers.js';

const MiB = 1024 * 1024;

async function json<T>(code: string, options: Parameters<typeof runNode>[1] = CHILD): Promise<T> {
  const { code: exit, stdout, stderr } = await runNode(code, options);
  expect(stderr).toBe('');
  expect(exit).toBe(0);
  return JSON.parse(stdout) as T;
}

describe.each(BACKENDS)('spare regions ($backend)', ({ backend, available }) => {
  it.skipIf(!available)('a freed small region is kept, wiped, and reused by the next allocation of its shape', async () => {
    const out = await json<Record<string, unknown>>(
      `${PREAMBLE}
       sr.releaseSpareRegions();
       const figures = () => { const s = sr.stats(); return [s.regions, s.spareRegions, s.spareBytes, s.bytesLocked]; };
       const start = figures();
       const a = sr.allocate(100, { backend: '${backend}', isolated: true });
       a.view().fill(0xab);
       const address = poke.addressOf(a.view());
       a.free();
       const freed = figures();
       const b = sr.allocate(100, { backend: '${backend}', isolated: true });
       const reused = poke.addressOf(b.view()) === address;
       const zeros = b.view().every((byte) => byte === 0);
       const protection = b.protection;
       const taken = figures();
       const c = sr.allocate(2 * 1024 * 1024, { backend: '${backend}' });
       c.free();
       const big = figures();
       b.free();
       const released = sr.releaseSpareRegions();
       console.log(JSON.stringify({ start, freed, taken, big, reused, zeros, protection, released, after: figures() }));`,
    );
    const [regions, spares, spareBytes, locked] = out.start as number[];
    expect(spares).toBe(0);
    expect(spareBytes).toBe(0);
    expect(out.freed).toEqual([regions, 1, 4096, locked]);
    expect(out.taken).toEqual([regions! + 1, 0, 0, locked! + 4096]);
    expect(out.big).toEqual(out.taken); // 2 MiB is more than 1 MiB: not kept
    expect(out.reused).toBe(true);
    expect(out.zeros).toBe(true);
    expect(out.protection).toBe('readwrite');
    expect(out.released).toBe(1);
    expect(out.after).toEqual(out.start);
  });

  it.skipIf(!available)('a reused region of another size has its canary and guard in the right place', async () => {
    // 32 bytes freed, then 100 reused from the same one-page shape: the data moves.
    const underflow = await expectCrash(
      `${PREAMBLE}
       sr.allocate(32, { backend: '${backend}', isolated: true }).free();
       const r = sr.allocate(100, { backend: '${backend}', isolated: true });
       if (sr.stats().spareRegions !== 0) throw new Error('the spare was not reused');
       const at = poke.addressOf(r.view());
       poke.writeAt(at, -1, poke.readAt(at, -1) ^ 0xff); // a fixed value would match a random canary 1 time in 256
       r.free();`,
      { ...CHILD, signal: 'SIGABRT' },
    );
    expect(underflow.stderr).toMatch(/canary/);
    await expectCrash(
      `${PREAMBLE}
       sr.allocate(32, { backend: '${backend}', isolated: true }).free();
       const r = sr.allocate(100, { backend: '${backend}', isolated: true });
       if (sr.stats().spareRegions !== 0) throw new Error('the spare was not reused');
       poke.writeAt(poke.addressOf(r.view()), 100, 0x41);`,
      { ...CHILD, signal: ['SIGSEGV', 'SIGBUS'] },
    );
  });
});

describe('spare regions and their limits', () => {
  // Filling the pool to its 8 MiB cap takes more than 8 MiB locked at once.
  if (lockableMemory() < 16 * MiB) {
    it.skip('keep at most 8 MiB (skipped: needs 16 MiB of lockable memory: root, or RLIMIT_MEMLOCK of 16 MiB or more)', () => {});
  } else {
    it('keep at most 8 MiB, and regions of up to 1 MiB', keepsAtMost8MiB);
  }

  it('under exactly an 8 MiB limit, without CAP_IPC_LOCK: the pool gives way to a real allocation', async () => {
    const out = await json<{ spares: number; code: string; after: number[] }>(
      `${PREAMBLE}
       const regions = Array.from({ length: 7 }, () => sr.allocate(1024 * 1024, { backend: 'mmap' }));
       for (const region of regions) region.free();
       const spares = sr.stats().spareRegions;
       let code = 'ok';
       try { sr.allocate(2 * 1024 * 1024, { backend: 'mmap' }).free(); } catch (error) { code = error.code; }
       console.log(JSON.stringify({ spares, code, after: [sr.stats().regions, sr.stats().bytesLocked] }));`,
      { ...CHILD, memlockBytes: 8 * MiB, dropIpcLock: true },
    );
    // Seven freed 1 MiB regions fill the pool; the 2 MiB allocation drops them and succeeds.
    expect(out).toEqual({ spares: 7, code: 'ok', after: [0, 0] });
  });

  async function keepsAtMost8MiB(): Promise<void> {
    const out = await json<{ spares: number; bytes: number; exact: number }>(
      `${PREAMBLE}
       const regions = Array.from({ length: 10 }, () => sr.allocate(1024 * 1024, { backend: 'mmap' }));
       for (const region of regions) region.free();
       const { spareRegions, spareBytes } = sr.stats();
       sr.releaseSpareRegions();
       sr.allocate(1024 * 1024 + 4096, { backend: 'mmap' }).free(); // one page more: not kept
       console.log(JSON.stringify({ spares: spareRegions, bytes: spareBytes, exact: sr.stats().spareRegions }));`,
    );
    // Each 1 MiB region has 1 MiB + 4 KiB of data pages (the canary's page): 7 fit in 8 MiB.
    expect(out).toEqual({ spares: 7, bytes: 7 * (1024 * 1024 + 4096), exact: 0 });
  }

  it('keep at most 64 regions', async () => {
    const out = await json<{ spares: number }>(
      `${PREAMBLE}
       const regions = Array.from({ length: 80 }, () => sr.allocate(64, { backend: 'mmap', isolated: true }));
       for (const region of regions) region.free();
       console.log(JSON.stringify({ spares: sr.stats().spareRegions }));`,
    );
    expect(out.spares).toBe(64);
  });

  it('give their locked memory back when an allocation hits RLIMIT_MEMLOCK', async () => {
    const out = await json<{ spares: number; code: string; after: number }>(
      `${PREAMBLE}
       // 14 one-page regions lock 56 KiB of the 64 KiB limit; freed, they stay locked as spares.
       const regions = Array.from({ length: 14 }, () => sr.allocate(1000, { backend: 'mmap', isolated: true }));
       for (const region of regions) region.free();
       const spares = sr.stats().spareRegions;
       let code = 'ok';
       try { sr.allocate(20000, { backend: 'mmap' }).free(); } catch (error) { code = error.code; }
       console.log(JSON.stringify({ spares, code, after: [sr.stats().spareRegions, sr.stats().spareBytes] }));`,
      { ...CHILD, memlockBytes: 64 * 1024, dropIpcLock: true },
    );
    // The 14 were dropped to make room; the 20000-byte region (5 pages) is the one spare left.
    expect(out).toEqual({ spares: 14, code: 'ok', after: [1, 5 * 4096] });
  });

  it('hold no secret: a marker freed into a spare is gone from memory while the spare is mapped', async () => {
    const marker = makeMarker();
    await expectResidue(await startPlantedThenFreed(marker, 'mmap', 'sr.stats().spareRegions'), marker, [
      { at: 'planted', present: true }, // positive control
      { at: 'freed', present: false, check: (_, spares) => expect(spares).toBeGreaterThanOrEqual(1) },
    ]);
  });
});
