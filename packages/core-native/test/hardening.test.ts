// Process hardening is explicit, and the mlock policy: 'require' fails cleanly with the
// figures, 'best-effort' continues unlocked, counts it and warns once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import { coreDumpSupport, findCoreFiles, runNode } from '@strongroom/testkit';

import { stats } from '../src/index.js';
import { CHILD, PREAMBLE } from './helpers.js';

const ROOT = process.getuid?.() === 0;

// harden() lowers the core-file limit: watching it needs a limit above 0 to start from,
// which a user whose hard limit is 0 (core files off) cannot set.
const CORE_RAISABLE = ROOT || stats().coreLimit.hard !== 0;
const needsCore = (title: string) =>
  `${title} (skipped: needs a core-file limit above 0 to lower: root, or a hard RLIMIT_CORE above 0)`;

describe('harden()', () => {
  if (!CORE_RAISABLE) {
    it.skip(needsCore('importing changes nothing; harden() sets the core soft limit to 0 and dumpable off'), () => {});
    it.skip(needsCore('harden({ hardLimit: true }) lowers the hard limit too'), () => {});
  }

  it.runIf(!CORE_RAISABLE)('for a user with core files off: harden() still sets dumpable off and the soft limit stays 0', async () => {
    const result = await runNode(`${PREAMBLE} console.log(JSON.stringify(sr.harden()));`, CHILD);
    expect(JSON.parse(result.stdout)).toEqual({ coreLimit: { soft: 0, hard: 0 }, dumpable: false });
  });

  it.runIf(CORE_RAISABLE)('importing changes nothing; harden() sets the core soft limit to 0 and dumpable off', async () => {
    const result = await runNode(
      `${PREAMBLE}
       const before = sr.stats();
       const done = sr.harden();
       const after = sr.stats();
       console.log(JSON.stringify({ before: [before.coreLimit, before.dumpable], done, after: [after.coreLimit, after.dumpable] }));`,
      { ...CHILD, coreLimit: 'unlimited' },
    );
    expect(result.stderr).toBe('');
    const { before, done, after } = JSON.parse(result.stdout);
    expect(before).toEqual([{ soft: null, hard: null }, true]); // Infinity serialises as null
    expect(done).toEqual({ coreLimit: { soft: 0, hard: null }, dumpable: false });
    expect(after).toEqual([{ soft: 0, hard: null }, false]);
  });

  it.runIf(CORE_RAISABLE)('harden({ hardLimit: true }) lowers the hard limit too', async () => {
    const result = await runNode(
      `${PREAMBLE} console.log(JSON.stringify(sr.harden({ hardLimit: true })));`,
      { ...CHILD, coreLimit: 'unlimited' },
    );
    expect(JSON.parse(result.stdout)).toEqual({ coreLimit: { soft: 0, hard: 0 }, dumpable: false });
  });

  const support = coreDumpSupport();
  it.skipIf(!support.supported)('a hardened process that crashes leaves no core file (control: unhardened does)', async () => {
    for (const hardened of [false, true]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-harden-'));
      try {
        const result = await runNode(
          `${PREAMBLE} ${hardened ? 'sr.harden();' : ''} process.chdir(${JSON.stringify(dir)}); process.abort();`,
          { ...CHILD, coreLimit: 'unlimited', timeoutMs: 120_000 },
        );
        expect(result.signal).toBe('SIGABRT');
        expect(findCoreFiles(dir).length).toBe(hardened ? 0 : 1);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

describe('mlock policy under a small RLIMIT_MEMLOCK', () => {
  // Root holds CAP_IPC_LOCK, which ignores the limit: the child drops it.
  const limited = { ...CHILD, memlockBytes: 64 * 1024, dropIpcLock: true };

  it("'require' throws ERR_MLOCK_LIMIT with the figures and leaves nothing behind", async () => {
    const result = await runNode(
      `${PREAMBLE}
       import fs from 'node:fs';
       // Mappings the size of the data pages of a 128 KiB region (V8 never makes these):
       // a half-built region that leaked would leave one behind per failed call. A new
       // glibc malloc arena (a thread's first malloc) starts with the same size, but at a
       // 64 MiB boundary (HEAP_MAX_SIZE), which a region never has: those are left out.
       const maps = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((line) => {
         const [start, end] = line.split(' ')[0].split('-').map((h) => parseInt(h, 16));
         return end - start === 128 * 1024 + 4096 && start % (64 * 1024 * 1024) !== 0;
       }).length;
       const small = sr.allocate(1000); // fits under the limit
       const before = [sr.stats().regions, maps()];
       const codes = [];
       let message = '';
       for (let i = 0; i < 50; i++) {
         try { sr.allocate(128 * 1024, { backend: 'mmap' }); } catch (e) { codes.push(e.code); message = e.message; }
       }
       const after = [sr.stats().regions, maps()];
       small.free();
       console.log(JSON.stringify({ codes: [...new Set(codes)], count: codes.length, before, after, message }));`,
      limited,
    );
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout);
    expect(out.codes).toEqual(['ERR_MLOCK_LIMIT']);
    expect(out.count).toBe(50);
    expect(out.after).toEqual(out.before);
    expect(out.message).toContain('RLIMIT_MEMLOCK is soft 65536 bytes, hard 65536 bytes');
    expect(out.message).toMatch(/ulimit -l/);
    expect(out.message).toMatch(/best-effort/);
  });

  it("'best-effort' continues unlocked, counts it in stats() and warns once", async () => {
    const result = await runNode(
      `${PREAMBLE}
       const warnings = [];
       process.on('warning', (w) => warnings.push(w.code));
       sr.configure({ mlock: 'best-effort' });
       const regions = [];
       for (let i = 0; i < 3; i++) regions.push(sr.allocate(128 * 1024, { backend: 'mmap' }));
       sr.randomFill(regions[0]);
       const s = sr.stats();
       await new Promise((r) => setImmediate(r));
       const out = { locked: regions.map((r) => r.locked), unlocked: s.bytesUnlocked, failures: s.mlockFailures, warnings };
       regions.forEach((r) => r.free());
       out.unlockedAfter = sr.stats().bytesUnlocked;
       console.log(JSON.stringify(out));`,
      limited,
    );
    const out = JSON.parse(result.stdout);
    expect(out.locked).toEqual([false, false, false]);
    expect(out.unlocked).toBe(3 * (128 * 1024 + 4096));
    expect(out.failures).toBe(3);
    expect(out.warnings).toEqual(['STRONGROOM_MLOCK_BEST_EFFORT']);
    expect(out.unlockedAfter).toBe(0);
    expect(result.stderr).toContain('could not lock secret memory');
  });

  it.skipIf(!ROOT)('control: without the limit the same allocation locks', async () => {
    const result = await runNode(`${PREAMBLE} const r = sr.allocate(128 * 1024); console.log(r.locked);`, CHILD);
    expect(result.stdout.trim()).toBe('true');
  });

  it('stats() reports RLIMIT_MEMLOCK', () => {
    const { memlockLimit } = stats();
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max locked memory'));
    const soft = line?.split(/\s{2,}/)[1];
    expect(soft === 'unlimited' ? Infinity : Number(soft)).toBe(memlockLimit.soft);
  });
});
