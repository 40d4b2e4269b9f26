// Resource limits (ARCHITECTURE.md invariant 9): a full RLIMIT_MEMLOCK under 'best-effort'
// falls back to unlocked mmap pages whatever the default backend, and meeting the limit at
// the first allocation never downgrades the process's default backend for good. Children
// run without CAP_IPC_LOCK, so that root obeys the limit too.
import { runNode } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { CHILD, SECRETMEM } from './helpers.js';

const LIMITED = { ...CHILD, memlockBytes: 64 * 1024, dropIpcLock: true };

async function report(body: string): Promise<Record<string, unknown>> {
  const result = await runNode(
    `import * as sr from '@strongroom/core-native';
     ${body}`,
    LIMITED,
  );
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

describe('a full RLIMIT_MEMLOCK', () => {
  // 40 isolated regions of a page each pass 64 KiB; slabs lock 32 KiB at a time, so 3,000
  // slots of 32 bytes (five slabs) do.
  describe.each([
    { placement: 'isolated', count: 40 },
    { placement: 'slab', count: 3000 },
  ])('$placement regions', ({ placement, count }) => {
    const options = placement === 'isolated' ? ', isolated: true' : '';
    it.skipIf(!SECRETMEM)("'best-effort' falls back to unlocked mmap pages when the default backend is secretmem", async () => {
      const result = await report(`
        const regions = [];
        for (let i = 0; i < ${count}; i++) regions.push(sr.allocate(32, { mlock: 'best-effort'${options} }));
        const backends = [...new Set(regions.map((r) => r.backend))].sort();
        const unlocked = regions.filter((r) => !r.locked).every((r) => r.backend === 'mmap');
        const s = sr.stats();
        console.log(JSON.stringify({ count: regions.length, backends, unlocked, mlockFailures: s.mlockFailures > 0, bytesUnlocked: s.bytesUnlocked > 0 }));`);
      expect(result).toEqual({ count, backends: ['mmap', 'secretmem'], unlocked: true, mlockFailures: true, bytesUnlocked: true });
    });

    it.skipIf(!SECRETMEM)("a control: under 'require' the same loop meets ERR_MLOCK_LIMIT", async () => {
      const result = await report(`
        let code;
        const regions = [];
        try { for (let i = 0; i < ${count}; i++) regions.push(sr.allocate(32${options ? `, { ${options.slice(2)} }` : ''})); } catch (e) { code = e.code; }
        console.log(JSON.stringify({ code, below: regions.length < ${count} }));`);
      expect(result).toEqual({ code: 'ERR_MLOCK_LIMIT', below: true });
    });
  });

  it.skipIf(!SECRETMEM)('at the first default allocation does not downgrade the default backend for good', async () => {
    // Fill the limit with mmap regions before anything asked which backend 'auto' means.
    const result = await report(`
      const filler = [];
      try { for (;;) filler.push(sr.allocate(4096, { backend: 'mmap' })); } catch (e) { if (e.code !== 'ERR_MLOCK_LIMIT') throw e; }
      let first;
      try { sr.allocate(32).free(); first = 'allocated'; } catch (e) { first = e.code; }
      for (const r of filler) r.free();
      sr.releaseSpareRegions();
      const later = sr.allocate(32);
      console.log(JSON.stringify({ first, later: later.backend, stats: sr.stats().backend, available: sr.stats().secretmemAvailable }));`);
    expect(result).toEqual({ first: 'ERR_MLOCK_LIMIT', later: 'secretmem', stats: 'secretmem', available: true });
  });
});

// Limits a child sets on itself once Node is running (Node needs descriptors and address
// space to start), through util-linux prlimit.
const SELF_LIMIT = `
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
const limitSelf = (resource, value) => execFileSync('prlimit', ['--pid', String(process.pid), '--' + resource + '=' + value]);
`;

async function selfLimited(body: string): Promise<Record<string, unknown>> {
  const result = await runNode(`import * as sr from '@strongroom/core-native';\n${SELF_LIMIT}\n${body}`, CHILD);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

describe('other resource limits', () => {
  it('RLIMIT_NOFILE used up: memfd_secret and readFile give typed errors, nothing leaks, and all works once a descriptor is free', async () => {
    const result = await selfLimited(`
      const open = [];
      sr.stats(); // the addon loads (dlopen needs a descriptor) before the limit
      limitSelf('nofile', fs.readdirSync('/proc/self/fd').length + 8);
      try { for (;;) open.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
      const codeOf = (fn) => { try { fn(); return 'none'; } catch (e) { return e.code; } };
      const secretmem = ${SECRETMEM} ? codeOf(() => sr.allocate(32, { backend: 'secretmem' })) : 'ERR_SYSTEM';
      const file = codeOf(() => sr.readFile('/etc/hostname'));
      const regions = sr.stats().regions;
      fs.closeSync(open.pop());
      const after = sr.readFile('/etc/hostname', { backend: 'mmap' }).size > 0;
      console.log(JSON.stringify({ secretmem, file, regions, after }));`);
    expect(result).toEqual({ secretmem: 'ERR_SYSTEM', file: 'ERR_IO', regions: 0, after: true });
  });

  it('RLIMIT_AS nearly used up: a large region is ERR_NO_MEMORY, and a small one still works', async () => {
    const result = await selfLimited(`
      sr.stats(); // the addon loaded first: the limit is about regions, not about mapping the library
      const vmSize = Number(/VmSize:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
      limitSelf('as', vmSize + 64 * 1024 * 1024);
      const codeOf = (fn) => { try { fn(); return 'none'; } catch (e) { return e.code; } };
      const large = codeOf(() => sr.allocate(256 * 1024 * 1024, { backend: 'mmap', mlock: 'best-effort' }));
      const small = sr.allocate(32, { backend: 'mmap' });
      console.log(JSON.stringify({ large, small: small.size, regions: sr.stats().regions }));`);
    expect(result).toEqual({ large: 'ERR_NO_MEMORY', small: 32, regions: 1 });
  });
});

describe('the thread limit', () => {
  // RLIMIT_NPROC binds no root process (the kernel exempts uid 0 whatever its capabilities);
  // as root, testkit's fault shim fails pthread_create instead (faults.test.ts, the coffer's
  // creation). This runs for a contributor who is not root, and in CI's unprivileged run.
  it.skipIf(process.getuid?.() === 0)('RLIMIT_NPROC met at the coffer creation gives ERR_SYSTEM, not an abort', async () => {
    const result = await selfLimited(`
      const mine = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).reduce((n, pid) => {
        try {
          const status = fs.readFileSync('/proc/' + pid + '/status', 'utf8');
          return /^Uid:\\s+(\\d+)/m.exec(status)[1] === String(process.getuid()) ? n + Number(/^Threads:\\s+(\\d+)/m.exec(status)[1]) : n;
        } catch { return n; }
      }, 0);
      sr.stats();
      limitSelf('nproc', mine);
      let code;
      try { sr.cofferStats(); code = 'none'; } catch (e) { code = e.code; }
      console.log(JSON.stringify({ code, regions: sr.stats().regions }));`);
    expect(result).toEqual({ code: 'ERR_SYSTEM', regions: 0 });
  });
});
