// Every native path through every failure point (ARCHITECTURE.md invariants 6 and 9): a
// child runs one operation once to count the system calls the addon makes in it, then
// again with each of those calls failing in turn (testkit's fault shim). Each time the
// operation must either succeed (a failure it may absorb: a fallback, a best-effort lock),
// or throw a StrongroomError with one of the path's codes; and afterwards live regions,
// locked and unlocked bytes, orphaned regions, descriptors and mappings must be back at
// their baseline. The only failures allowed to end the process are a failed restore or
// wipe of a region's protection (the one-line abort of invariant 4), where going on would
// leave a secret readable.
import crypto from 'node:crypto';
import fs from 'node:fs';

import { faultsEnv, faultsPreamble, runNode, softHsm, SOFTHSM_MODULE } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { CHILD, SECRETMEM } from './helpers.js';

// The errno each call fails with.
const ERRNO = {
  mmap: 'ENOMEM',
  mprotect: 'ENOMEM',
  mlock: 'EAGAIN',
  madvise: 'EAGAIN',
  memfd_secret: 'EMFILE',
  ftruncate: 'ENOSPC',
  read: 'EIO',
  getrandom: 'EIO',
  pthread_create: 'EAGAIN',
  new: 'ENOMEM', // not used: a failed operator new throws std::bad_alloc
} as const;

interface Path {
  name: string;
  /** Child code run once before the walk (declarations the operation uses). */
  prepare: string;
  /** The body of an async function: the operation; it may return a function that undoes it. */
  op: string;
  /** The codes a failure may give. */
  codes: string[];
  /** Calls whose failure may abort the process (a failed restore of a region's protection). */
  aborts?: string[];
  /** One failure point per child: the operation works once per process (the coffer's creation). */
  once?: boolean;
  /** Child code run before the counting run and before each failure point (default: drop the spares, so every run takes the same path). */
  each?: string;
  /** Regions a successful run leaves for good (the coffer's). */
  keeps?: number;
  skip?: boolean;
}

const ALLOCATION = ['ERR_NO_MEMORY', 'ERR_SYSTEM', 'ERR_MLOCK_LIMIT'];

const PATHS: Path[] = [
  {
    name: 'allocate() on mmap',
    prepare: '',
    op: `const r = sr.allocate(32, { backend: 'mmap' }); return () => r.free();`,
    codes: ALLOCATION,
  },
  {
    name: 'allocate() on mmap under best-effort',
    prepare: '',
    op: `const r = sr.allocate(5000, { backend: 'mmap', mlock: 'best-effort' }); return () => r.free();`,
    codes: ALLOCATION,
  },
  {
    name: 'allocate() on secretmem',
    prepare: '',
    op: `const r = sr.allocate(32, { backend: 'secretmem' }); return () => r.free();`,
    codes: [...ALLOCATION, 'ERR_BACKEND_UNAVAILABLE'],
    skip: !SECRETMEM,
  },
  {
    name: 'allocate() from a spare region',
    prepare: '',
    each: `sr.releaseSpareRegions(); sr.allocate(32, { backend: 'mmap' }).free();`,
    op: `const r = sr.allocate(32, { backend: 'mmap' }); return () => r.free();`,
    codes: ALLOCATION,
  },
  {
    name: 'protect() and view()',
    prepare: `const r = sr.allocate(32, { backend: 'mmap' });`,
    op: `r.protect('noaccess'); r.protect('readonly'); r.view(); r.protect('readwrite');`,
    codes: ['ERR_SYSTEM'],
  },
  {
    name: 'randomFill() of a noaccess region',
    prepare: `const r = sr.allocate(300, { backend: 'mmap' }); r.protect('noaccess');`,
    op: `sr.randomFill(r);`,
    codes: ['ERR_SYSTEM'],
    aborts: ['mprotect'],
  },
  {
    name: 'seal() and open() under a key region',
    prepare: `const key = sr.allocate(32, { backend: 'mmap' }); sr.randomFill(key); key.protect('noaccess');
              const plain = sr.allocate(64, { backend: 'mmap' });`,
    op: `const opened = sr.open(key, sr.seal(key, plain), { backend: 'mmap' }); return () => opened.free();`,
    codes: [...ALLOCATION, 'ERR_SYSTEM'],
    aborts: ['mprotect'],
  },
  {
    name: 'the coffer creation',
    prepare: `sr.configure({ backend: 'mmap' });`,
    op: `sr.cofferStats();`,
    codes: [...ALLOCATION, 'ERR_SYSTEM'],
    once: true,
    keeps: 1,
  },
  {
    name: 'cofferSeal() and cofferOpen()',
    prepare: `sr.configure({ backend: 'mmap' }); sr.cofferStats(); const plain = sr.allocate(64, { backend: 'mmap' });`,
    op: `const opened = sr.cofferOpen(sr.cofferSeal(plain)); return () => opened.free();`,
    codes: [...ALLOCATION, 'ERR_SYSTEM'],
    aborts: ['mprotect'],
  },
  {
    name: 'hashPassword() and verifyPassword() (the private copy, the salt, Argon2 on a worker)',
    prepare: `const password = sr.allocate(16, { backend: 'mmap' }); password.protect('noaccess');`,
    op: `const encoded = await sr.hashPassword(password, { timeCost: 1, memoryCost: 64 });
         if (!(await sr.verifyPassword(password, encoded))) throw new Error('the hash did not verify');`,
    codes: [...ALLOCATION, 'ERR_SYSTEM'],
    aborts: ['mprotect'],
  },
  {
    name: 'readFile()',
    prepare: `const file = path.join(os.tmpdir(), 'strongroom-faults-' + process.pid);
              fs.writeFileSync(file, Buffer.alloc(9000, 1)); process.on('exit', () => fs.rmSync(file, { force: true }));`,
    op: `const r = sr.readFile(file, { backend: 'mmap' }); return () => r.free();`,
    codes: [...ALLOCATION, 'ERR_IO'],
  },
  {
    name: 'readFd() growing its region',
    prepare: `const file = path.join(os.tmpdir(), 'strongroom-faults-fd-' + process.pid);
              fs.writeFileSync(file, Buffer.alloc(9000, 2)); process.on('exit', () => fs.rmSync(file, { force: true }));`,
    op: `const fd = fs.openSync(file, 'r');
         try { const r = sr.readFd(fd, { backend: 'mmap' }); return () => r.free(); } finally { fs.closeSync(fd); }`,
    codes: [...ALLOCATION, 'ERR_IO'],
  },
  {
    name: 'readEnv()',
    prepare: '',
    op: `process.env.STRONGROOM_FAULT_SECRET = 'x'.repeat(40);
         try { const r = sr.readEnv('STRONGROOM_FAULT_SECRET', { backend: 'mmap' }); return () => r.free(); }
         finally { delete process.env.STRONGROOM_FAULT_SECRET; }`,
    codes: ALLOCATION,
  },
];

function program(path: Path, start: number): string {
  return `${faultsPreamble()}
import * as sr from '@strongroom/core-native';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const ERRNO = ${JSON.stringify(ERRNO)};
const say = (line) => fs.writeSync(1, JSON.stringify(line) + '\\n');
// Bytes mapped MADV_DONTDUMP ('dd' in smaps): strongroom's regions and spares, none of V8's.
const dontDump = () => {
  let bytes = 0, size = 0;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
    if (line.startsWith('Size:')) size = Number(line.split(/\\s+/)[1]) * 1024;
    else if (line.startsWith('VmFlags:') && (line + ' ').includes(' dd ')) bytes += size;
  }
  return bytes;
};
const measure = () => {
  const s = sr.stats();
  return { regions: s.regions, bytesLocked: s.bytesLocked, bytesUnlocked: s.bytesUnlocked, orphaned: s.orphanedRegions,
           spares: s.spareRegions, spareBytes: s.spareBytes, page: s.pageSize, fds: fs.readdirSync('/proc/self/fd').length - 1,
           maps: dontDump() };
};
${path.prepare}
const each = () => { ${path.each ?? 'sr.releaseSpareRegions();'} };
const op = async () => { ${path.op} };
const countingRun = async () => {
  each();
  faults.watch();
  const undo = await op();
  const counts = faults.counts();
  faults.stop();
  await undo?.();
  // Each counted call failing alone, then each kind failing every time (so fallbacks fail too).
  return Object.entries(counts).flatMap(([call, n]) => [
    ...Array.from({ length: n }, (_, i) => [call, i + 1, false]),
    ...(n > 0 ? [[call, 1, true]] : []),
  ]);
};
// A path that works once per process counts in one child and fails each point in another.
const points = ${path.once && start >= 0 ? "JSON.parse(process.env.FAULT_POINTS)" : "await countingRun()"};
say({ points });
for (let k = ${Math.max(start, 0)}; k < ${path.once && start < 0 ? 0 : 'points.length'}; k++) {
  const [call, nth, every] = points[k];
  say({ trying: k });
  each();
  const before = measure();
  faults.watch();
  faults.fail(call, nth, errno[ERRNO[call]], every);
  let outcome;
  try {
    const undo = await op();
    faults.stop();
    outcome = { kind: 'ok' };
    await undo?.();
  } catch (error) {
    faults.stop();
    outcome = { kind: 'error', name: error?.name, code: error?.code, message: String(error?.message) };
  }
  say({ k, call, nth, every, outcome, before, after: measure() });
  ${path.once ? 'break;' : ''}
}
`;
}

interface Point {
  k: number;
  call: string;
  nth: number;
  every?: boolean;
  outcome: { kind: 'ok' | 'error' | 'abort'; name?: string; code?: string; message?: string; stderr?: string };
  before?: Record<string, number>;
  after?: Record<string, number>;
}

/** Walks every failure point of a path, restarting the child after an abort (or after each point with `once`). */
async function walk(path: Path): Promise<{ points: Point[]; total: number }> {
  const points: Point[] = [];
  let total = Number.POSITIVE_INFINITY;
  let known: unknown;
  if (path.once) {
    const counting = await runNode(program(path, -1), { ...CHILD, env: faultsEnv(), timeoutMs: 60_000 });
    expect(counting.code, counting.stderr).toBe(0);
    known = (JSON.parse(counting.stdout.trim().split('\n')[0] as string) as { points: unknown }).points;
  }
  for (let start = 0; start < total; ) {
    const env = { ...faultsEnv(), ...(known === undefined ? {} : { FAULT_POINTS: JSON.stringify(known) }) };
    const result = await runNode(program(path, start), { ...CHILD, env, timeoutMs: 60_000 });
    const lines = result.stdout
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const counted = lines.find((line) => Array.isArray(line.points));
    if (counted === undefined) throw new Error(`${path.name}: the counting run failed: ${result.stderr}`);
    total = (counted.points as unknown[]).length;
    const done = lines.filter((line) => typeof line.k === 'number') as unknown as Point[];
    points.push(...done);
    const trying = lines.filter((line) => typeof line.trying === 'number').at(-1)?.trying as number | undefined;
    if (result.code !== 0) {
      // An abort: the point being tried when the child died.
      expect(result.signal, `${path.name}: ${result.stderr}`).toBe('SIGABRT');
      const [call, nth, every] = (counted.points as Array<[string, number, boolean]>)[trying as number] as [string, number, boolean];
      points.push({ k: trying as number, call, nth, every, outcome: { kind: 'abort', stderr: result.stderr } });
      start = (trying as number) + 1;
    } else {
      start = path.once ? start + 1 : total;
    }
  }
  return { points, total };
}

describe('fault injection: every failure point of every native path', () => {
  it.each(PATHS.filter((p) => !p.skip).map((p) => [p.name, p] as const))('%s', async (_, path) => {
    const { points, total } = await walk(path);
    expect(total, 'the path makes system calls the shim can fail').toBeGreaterThan(0);
    expect(points.map((p) => p.k).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, k) => k));
    const problems: string[] = [];
    for (const { call, nth, every, outcome, before, after } of points) {
      const where = `${call} #${nth}${every ? ' and every later one' : ''} (${outcome.kind})`;
      if (outcome.kind === 'error') {
        if (outcome.name !== 'StrongroomError') problems.push(`${where}: threw ${outcome.name}: ${outcome.message}`);
        // A failed operator new is ERR_NO_MEMORY on every path (binding.h's Guarded, WorkPromise).
        else if (!path.codes.includes(outcome.code as string) && !(call === 'new' && outcome.code === 'ERR_NO_MEMORY')) {
          problems.push(`${where}: unexpected ${outcome.code}: ${outcome.message}`);
        }
      }
      if (outcome.kind === 'abort') {
        const line = /^strongroom: could not (restore a region's protection|make a region writable to wipe it)/m;
        if (!(path.aborts ?? []).includes(call) || !line.test(outcome.stderr ?? '')) {
          problems.push(`${where}: aborted: ${outcome.stderr}`);
        }
        continue;
      }
      const b = before as Record<string, number>;
      const a = after as Record<string, number>;
      const kept = outcome.kind === 'ok' ? (path.keeps ?? 0) : 0;
      if (a.regions !== (b.regions as number) + kept) problems.push(`${where}: regions ${b.regions} -> ${a.regions}`);
      for (const figure of ['orphaned', 'fds'] as const) {
        if (a[figure] !== b[figure]) problems.push(`${where}: ${figure} ${b[figure]} -> ${a[figure]}`);
      }
      if (kept === 0) {
        for (const figure of ['bytesLocked', 'bytesUnlocked'] as const) {
          if (a[figure] !== b[figure]) problems.push(`${where}: ${figure} ${b[figure]} -> ${a[figure]}`);
        }
        // A freed region may stay as a spare (zeros: its data pages and two guard pages); nothing else may stay mapped.
        const spareMapped =
          (a.spareBytes as number) - (b.spareBytes as number) + 2 * (a.page as number) * ((a.spares as number) - (b.spares as number));
        if ((a.maps as number) - (b.maps as number) !== spareMapped) {
          problems.push(`${where}: mapped ${b.maps} -> ${a.maps} bytes with spares ${b.spares} -> ${a.spares}`);
        }
      }
    }
    expect(problems).toEqual([]);
    // The shim reached the path: at least one failure point gave a typed error.
    expect(points.some((p) => p.outcome.kind === 'error')).toBe(true);
  });
});

// The shim's `new`: operator new (or new[]) called from the addon's own code throws
// std::bad_alloc. Beyond the walk above (every path, each allocation failing in turn), two
// places no entry point's body covers.
describe('a C++ allocation that fails in native code', () => {
  const maxMapCount = Number(fs.readFileSync('/proc/sys/vm/max_map_count', 'utf8'));

  it('in the arguments of an export (more than 6: node-addon-api allocates them before any code of ours runs): ERR_NO_MEMORY, not an abort', async () => {
    const result = await runNode(
      `${faultsPreamble()}
       import * as sr from '@strongroom/core-native';
       import { createRequire } from 'node:module';
       sr.stats();
       const binding = createRequire(process.cwd() + '/')('./build/Release/strongroom.node');
       binding.setErrorClass(sr.StrongroomError);
       const counted = (call) => { faults.watch(); call(); const n = faults.counts().new; faults.stop(); return n; };
       const plain = counted(() => binding.stats());
       const seven = counted(() => binding.stats(1, 2, 3, 4, 5, 6, 7));
       faults.watch();
       faults.fail('new', 1, errno.ENOMEM);
       let caught;
       try { binding.stats(1, 2, 3, 4, 5, 6, 7); caught = 'none'; } catch (e) { caught = { name: e.name, code: e.code, message: e.message }; }
       faults.stop();
       console.log(JSON.stringify({ plain, seven, caught, later: binding.stats(1, 2, 3, 4, 5, 6, 7).regions }));`,
      { ...CHILD, env: faultsEnv() },
    );
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout.trim()) as { plain: number; seven: number; caught: Record<string, string>; later: number };
    // The control: the seven arguments are the only C++ allocation of the call.
    expect(out.plain).toBe(0);
    expect(out.seven).toBe(1);
    expect(out.caught).toMatchObject({ name: 'StrongroomError', code: 'ERR_NO_MEMORY' });
    expect(out.caught.message).toContain(`vm.max_map_count = ${maxMapCount}`);
    expect(out.caught.message).toMatch(/Destroy secrets and other objects you no longer need/);
    expect(out.later).toBe(0);
  });

  it.skipIf(!fs.existsSync(SOFTHSM_MODULE))(
    "in async work, on the pool thread and in the completion (pkcs11Decrypt): each rejects the promise with ERR_NO_MEMORY, none aborts or leaves it pending, nothing leaks",
    async () => {
      const hsm = softHsm();
      try {
        const pin = '4715-2093';
        hsm.initToken('strongroom-faults', pin, '8830-1127');
        const kek = crypto.randomBytes(32);
        hsm.addAesKey({ label: 'strongroom-faults', pin }, kek, 'kek');
        const iv = crypto.randomBytes(12);
        const cipher = crypto.createCipheriv('aes-256-gcm', kek, iv);
        const wrapped = Buffer.concat([iv, cipher.update(Buffer.alloc(32, 9)), cipher.final(), cipher.getAuthTag()]);
        const result = await runNode(
          `${faultsPreamble()}
           import * as sr from '@strongroom/core-native';
           import fs from 'node:fs';
           const pin = sr.allocate(${pin.length}, { backend: 'mmap' });
           pin.view().set(Buffer.from('${pin}'));
           pin.protect('noaccess');
           const options = { module: '${SOFTHSM_MODULE}', tokenLabel: 'strongroom-faults', pin, key: { label: 'kek' },
                             mechanism: 'aes-gcm', ciphertext: Buffer.from('${wrapped.toString('hex')}', 'hex'), backend: 'mmap' };
           const figures = () => { const s = sr.stats(); return [s.regions, s.mappings, fs.readdirSync('/proc/self/fd').length].join(); };
           // The decryption alone is watched (a view() allocates too).
           const check = (r) => { faults.stop(); try { return r.view().every((b) => b === 9); } finally { r.free(); } };
           const run = async () => check(await sr.pkcs11Decrypt(options));
           await run(); // SoftHSM's first load
           sr.releaseSpareRegions();
           faults.watch();
           const pending = sr.pkcs11Decrypt(options);
           const sync = faults.counts().new;  // made in the entry, before the promise is returned
           const done = await pending;
           const total = faults.counts().new; // then on the pool thread and in the completion
           const ok = check(done);
           sr.releaseSpareRegions();
           const baseline = figures();
           const outcomes = [];
           for (let k = 1; k <= total; k++) {
             sr.releaseSpareRegions();
             faults.watch();
             faults.fail('new', k, errno.ENOMEM);
             let outcome;
             try { outcome = (await run()) ? 'ok' : 'wrong bytes'; } catch (e) { outcome = e.name + ' ' + e.code; }
             faults.stop();
             sr.releaseSpareRegions();
             const now = figures();
             outcomes.push({ k, outcome, leaked: now !== baseline && now + ' (was ' + baseline + ')' });
           }
           console.log(JSON.stringify({ ok, sync, total, outcomes }));`,
          { ...CHILD, env: { ...faultsEnv(), SOFTHSM2_CONF: hsm.conf }, timeoutMs: 60_000 },
        );
        expect(result.signal, result.stderr).toBeNull();
        expect(result.code, result.stderr).toBe(0);
        const out = JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as {
          ok: boolean;
          sync: number;
          total: number;
          outcomes: Array<{ k: number; outcome: string; leaked: false | string }>;
        };
        expect(out.ok).toBe(true);
        // Allocations after the entry returned: the work's own on the pool thread and the
        // completion's (the region handle of the result, the last one).
        expect(out.total).toBeGreaterThan(out.sync);
        expect(out.outcomes).toHaveLength(out.total);
        // regions, mappings and descriptors are back after each (a leak shows them, and what they were)
        expect(out.outcomes.filter((o) => !/^(ok|StrongroomError ERR_NO_MEMORY)$/.test(o.outcome) || o.leaked !== false)).toEqual([]);
        expect(out.outcomes.at(-1)?.outcome).toBe('StrongroomError ERR_NO_MEMORY');
      } finally {
        hsm.close();
      }
    },
  );
});
