import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  baseline,
  compareBaselines,
  findCoreFiles,
  heapMarkerCode,
  makeMarker,
  startChild,
  strongroomMatchers,
  toCrashWith,
  toLeaveNoResidue,
  toRestoreBaseline,
  type Baseline,
  type ChildHandle,
  type ChildResult,
  type ScanResult,
} from '../src/index.js';
import '../src/vitest.js';
import { removeTempDirs, tempDir } from './helpers.js';

expect.extend(strongroomMatchers);

const handles: ChildHandle[] = [];
afterEach(() => {
  for (const handle of handles.splice(0)) handle.kill();
  removeTempDirs();
});

async function child(code: string, env: Record<string, string> = {}): Promise<ChildHandle> {
  const handle = await startChild(code, { env, timeoutMs: 20_000 });
  handles.push(handle);
  return handle;
}

const exitedZero: ChildResult = { code: 0, signal: null, stdout: '', stderr: 'all went well\n' };

describe('toCrashWith', () => {
  it('passes for a snippet that dies by the signal, or by one of an array of them', async () => {
    await expect(`process.kill(process.pid, 'SIGSEGV');`).toCrashWith('SIGSEGV');
    await expect(`process.kill(process.pid, 'SIGBUS');`).toCrashWith(['SIGSEGV', 'SIGBUS']);
  });

  it("'abort' means SIGABRT", async () => {
    await expect('process.abort();').toCrashWith('abort');
    await expect('process.abort();').toCrashWith('SIGABRT');
    await expect('process.abort();').toCrashWith(['SIGSEGV', 'abort']);
  });

  it('FAILS for a child that exits 0, saying how it ended and what it wrote to stderr', async () => {
    const snippet = `console.error('nothing to see'); process.exit(0);`;
    await expect(expect(snippet).toCrashWith('SIGSEGV')).rejects.toThrow(
      /^expected the snippet to die by SIGSEGV, but it exited with code 0\nchild stderr:\nnothing to see$/,
    );
    const result = await toCrashWith(snippet, 'SIGSEGV');
    expect(result.pass).toBe(false);
    expect(result.actual).toBe('exit code 0');
  });

  it('FAILS for a child killed by another signal', async () => {
    await expect(expect(`process.kill(process.pid, 'SIGTERM');`).toCrashWith('SIGSEGV')).rejects.toThrow(
      /die by SIGSEGV, but it was killed by SIGTERM/,
    );
    await expect(expect('process.abort();').toCrashWith(['SIGSEGV', 'SIGBUS'])).rejects.toThrow(
      /die by one of SIGSEGV, SIGBUS, but it was killed by SIGABRT/,
    );
  });

  it('.not passes for a clean exit and fails for the crash, with a message for that direction', async () => {
    await expect('process.exitCode = 3;').not.toCrashWith('SIGSEGV');
    await expect(expect('process.abort();').not.toCrashWith('abort')).rejects.toThrow(/^expected the snippet not to die by SIGABRT, but it was killed by SIGABRT/);
  });

  it('runs the snippet with the options given, always with core dumps off', async () => {
    const cwd = tempDir();
    await expect(`if (process.env.CRASH === 'yes') process.abort();`).toCrashWith('abort', { env: { CRASH: 'yes' }, cwd, coreLimit: 'unlimited' });
    await expect(`if (process.env.CRASH === 'yes') process.abort();`).not.toCrashWith('abort', { env: { CRASH: 'no' } });
    expect(findCoreFiles(cwd)).toEqual([]);
  });

  it('judges a ChildResult as it is, and awaits a promise of one', async () => {
    await expect({ ...exitedZero, code: null, signal: 'SIGBUS' } satisfies ChildResult).toCrashWith('SIGBUS');
    await expect(Promise.resolve({ ...exitedZero, code: null, signal: 'SIGABRT' })).toCrashWith('abort');
    await expect(expect(exitedZero).toCrashWith('SIGSEGV')).rejects.toThrow(/^expected the child to die by SIGSEGV, but it exited with code 0\nchild stderr:\nall went well$/);
  });

  it('waits for a ChildHandle to end and names it by pid', async () => {
    const crashing = await child(`await checkpoint('ready'); process.kill(process.pid, 'SIGSEGV');`);
    await crashing.waitFor('ready');
    crashing.resume();
    await expect(crashing).toCrashWith('SIGSEGV');
    const clean = await child(`await checkpoint('ready');`);
    await clean.waitFor('ready');
    clean.resume();
    await expect(expect(clean).toCrashWith('SIGSEGV')).rejects.toThrow(new RegExp(`^expected the child ${clean.pid} to die by SIGSEGV, but it exited with code 0`));
  });

  it('refuses what it cannot judge, whether or not .not is used', async () => {
    await expect(expect('1').toCrashWith('SIGTERM' as never)).rejects.toThrow(RangeError);
    await expect(expect('1').not.toCrashWith([] as never)).rejects.toThrow(/signal must be one or more of SIGSEGV/);
    await expect(expect(exitedZero).toCrashWith('SIGSEGV', { env: {} })).rejects.toThrow(/options apply to a snippet only/);
    await expect(expect({ exit: 0 }).not.toCrashWith('SIGSEGV')).rejects.toThrow(TypeError);
    await expect(expect(42).not.toCrashWith('SIGSEGV')).rejects.toThrow(TypeError);
  });
});

describe('toLeaveNoResidue', () => {
  // A heap Buffer holding the marker at 'planted', zero-filled at 'wiped'.
  async function planted(marker: Uint8Array): Promise<ChildHandle> {
    return child(`${heapMarkerCode('secret', marker)}
      await checkpoint('planted');
      secret.fill(0);
      await checkpoint('wiped');`);
  }

  it('FAILS while the child holds the marker, and the message says where it is; .not passes (positive control)', async () => {
    const marker = makeMarker();
    const holder = await planted(marker);
    await holder.waitFor('planted');
    await expect(holder).not.toLeaveNoResidue(marker);
    await expect(expect(holder).toLeaveNoResidue(marker)).rejects.toThrow(
      new RegExp(`^expected no copy of the marker in the memory of child ${holder.pid}, found (once|\\d+ times): 0x[0-9a-f]+ in rw`),
    );
    holder.resume();
    await holder.waitFor('wiped');
    await expect(holder).toLeaveNoResidue(marker);
    holder.resume();
    expect((await holder.exited).code).toBe(0);
  });

  it('passes for a marker the child never had; .not fails then, with the size of the scan', async () => {
    const holder = await planted(makeMarker());
    await holder.waitFor('planted');
    const other = makeMarker();
    await expect(holder).toLeaveNoResidue(other);
    await expect(expect(holder).not.toLeaveNoResidue(other)).rejects.toThrow(
      /^expected the marker in the memory of child \d+ \(a positive control\), found none in \d+ mappings \(\d+ bytes\)$/,
    );
  });

  it('lists at most five places, then how many more', async () => {
    const address = (n: number): ScanResult['matches'][number] => ({
      address: BigInt(0x1000 * n),
      mapping: { start: 0n, end: 0x10000n, perms: 'rw-p', offset: 0n, path: '[heap]' },
    });
    const found: ScanResult = { matches: [1, 2, 3, 4, 5, 6, 7].map(address), scannedMappings: 9, scannedBytes: 50 << 20, unreadable: [] };
    const result = await toLeaveNoResidue({ pid: 7, scan: () => Promise.resolve(found) }, makeMarker());
    expect(result.pass).toBe(false);
    expect(result.message()).toBe(
      'expected no copy of the marker in the memory of child 7, found 7 times: 0x1000 in rw-p [heap], 0x2000 in rw-p [heap], ' +
        '0x3000 in rw-p [heap], 0x4000 in rw-p [heap], 0x5000 in rw-p [heap], and 2 more',
    );
  });

  it('throws, with or without .not, when a scan that found nothing read too little to prove absence', async () => {
    const tiny = { pid: 7, scan: () => Promise.resolve({ matches: [], scannedMappings: 1, scannedBytes: 4096, unreadable: [] }) };
    await expect(expect(tiny).toLeaveNoResidue(makeMarker())).rejects.toThrow(/read only 4096 bytes \(1 mappings\): too little/);
    await expect(expect(tiny).not.toLeaveNoResidue(makeMarker())).rejects.toThrow(/too little/);
  });

  it('refuses something that is not a live child, and a bad marker', async () => {
    await expect(expect(1234).toLeaveNoResidue(makeMarker())).rejects.toThrow(/expected a live child from startChild/);
    const holder = await planted(makeMarker());
    await expect(expect(holder).toLeaveNoResidue('SRMK' as never)).rejects.toThrow(TypeError);
    await expect(expect(holder).toLeaveNoResidue(new Uint8Array(0))).rejects.toThrow(RangeError);
  });
});

describe('baseline', () => {
  it('measures descriptors, mappings, locked memory and threads from /proc', () => {
    const now = baseline();
    expect(now.pid).toBe(process.pid);
    expect(now.fds).toBe(Object.keys(now.descriptors).length);
    expect(now.fds).toBeGreaterThanOrEqual(3);
    expect(now.descriptors[0]).toBeTypeOf('string');
    expect(now.mappings).toBeGreaterThan(10);
    expect(now.vmLck).toBeGreaterThanOrEqual(0);
    expect(now.vmLck % 1024).toBe(0);
    expect(now.threads).toBeGreaterThanOrEqual(1);
    expect(now).not.toHaveProperty('regions');
  });

  it("takes strongroom's figures from a stats() object and ignores its other fields", () => {
    const stats = { regions: 2, bytesLocked: 8192, spareRegions: 1, orphanedRegions: 0, backend: 'mmap', memlockLimit: { soft: 1, hard: 1 } };
    const now = baseline('self', stats);
    expect(now).toMatchObject({ regions: 2, bytesLocked: 8192, spareRegions: 1, orphanedRegions: 0 });
    expect(now).not.toHaveProperty('backend');
  });

  it('refuses a bad pid, a process that does not exist and a stats object without figures', () => {
    expect(() => baseline(-1)).toThrow(RangeError);
    expect(() => baseline(2_147_483_647)).toThrow(/cannot list \/proc\/2147483647\/fd/);
    expect(() => baseline('self', {})).toThrow(/stats has none of the figures/);
    expect(() => baseline('self', { regions: Number.NaN })).toThrow(/stats.regions must be a finite number/);
    expect(() => baseline('self', null as never)).toThrow(TypeError);
  });
});

describe('toRestoreBaseline', () => {
  // A child that waits at 'before', runs `between`, then waits at 'after'.
  async function around(between: string, env: Record<string, string> = {}, setup = ''): Promise<{ before: Baseline; after: Baseline }> {
    const handle = await child(
      `import fs from 'node:fs';
       ${setup}
       await checkpoint('before');
       ${between}
       await checkpoint('after');`,
      env,
    );
    await handle.waitFor('before');
    const before = baseline(handle.pid);
    handle.resume();
    await handle.waitFor('after');
    const after = baseline(handle.pid);
    handle.resume();
    return { before, after };
  }

  it('passes when the child holds what it held before; .not then fails and lists the figures', async () => {
    const { before, after } = await around('const fd = fs.openSync(process.execPath, "r"); fs.closeSync(fd);');
    expect(after).toRestoreBaseline(before, { mappings: 64 });
    expect(() => expect(after).not.toRestoreBaseline(before, { mappings: 64 })).toThrow(
      new RegExp(`^expected some figure of pid \\d+ to move from its baseline, but every one is back: fds ${before.fds}, mappings \\d+`),
    );
  });

  it('FAILS for a leaked descriptor and names it', async () => {
    const dir = tempDir();
    const { before, after } = await around('globalThis.leak = fs.openSync(process.env.LEAK, "w");', { LEAK: path.join(dir, 'leaked-file') });
    expect(after.fds).toBe(before.fds + 1);
    expect(() => expect(after).toRestoreBaseline(before, { mappings: 64 })).toThrow(
      new RegExp(`^expected pid \\d+ to be back at its baseline, but 1 of 4 figures moved:\\n  fds ${before.fds} → ${after.fds} \\(\\+1; opened \\d+ \\(${dir}/leaked-file\\)\\)\\nback: mappings`),
    );
    expect(after).not.toRestoreBaseline(before, { mappings: 64 });
  });

  it('FAILS when a descriptor was replaced by another: the same count, another set', async () => {
    const dir = tempDir();
    for (const name of ['a', 'b', 'c']) fs.writeFileSync(path.join(dir, name), '');
    const { before, after } = await around(
      `const b = fs.openSync(process.env.DIR + '/b', 'r'); fs.closeSync(globalThis.a);`,
      { DIR: dir },
      `globalThis.a = fs.openSync(process.env.DIR + '/a', 'r'); globalThis.c = fs.openSync(process.env.DIR + '/c', 'r');`,
    );
    expect(after.fds).toBe(before.fds);
    expect(() => expect(after).toRestoreBaseline(before, { mappings: 64 })).toThrow(
      new RegExp(`fds ${before.fds} → ${after.fds} \\(0; opened \\d+ \\(${dir}/b\\); closed \\d+ \\(${dir}/a\\)\\)`),
    );
    expect(after).toRestoreBaseline(before, { mappings: 64, fds: 2 });
  });

  it('FAILS for another thread, and for strongroom figures that moved; a tolerance allows a change', async () => {
    const { before, after } = await around(
      `const { Worker } = await import('node:worker_threads');
       globalThis.worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
       await new Promise((resolve) => globalThis.worker.once('online', resolve));`,
    );
    expect(() => expect(after).toRestoreBaseline(before, { mappings: Infinity })).toThrow(/\n  threads \d+ → \d+ \(\+\d+\)/);
    // A worker also holds descriptors of its own (its event loop's epoll, eventfd and pipes).
    expect(after).toRestoreBaseline(before, { mappings: Infinity, threads: Infinity, fds: Infinity });

    const was = baseline('self', { regions: 1, bytesLocked: 4096, orphanedRegions: 0 });
    const is = { ...baseline('self', { regions: 3, bytesLocked: 12288, orphanedRegions: 0 }), mappings: was.mappings, fds: was.fds, descriptors: was.descriptors };
    const message = toRestoreBaseline(is, was).message();
    expect(message).toContain('2 of 7 figures moved:\n  regions 1 → 3 (+2)\n  bytesLocked 4096 → 12288 (+8192)\nback: ');
    expect(message).toContain('orphanedRegions 0');
    expect(is).toRestoreBaseline(was, { regions: 2, bytesLocked: 8192 });
    expect(() => expect(is).toRestoreBaseline(was, { regions: 1, bytesLocked: 8192 })).toThrow(/regions 1 → 3 \(\+2, allowed ±1\)/);
  });

  it('refuses snapshots it cannot compare, whether or not .not is used', () => {
    const mine = baseline('self', { regions: 1 });
    const plain = baseline('self');
    expect(() => expect({ ...mine, pid: 1 }).toRestoreBaseline(mine)).toThrow(/two processes/);
    expect(() => expect(plain).not.toRestoreBaseline(mine)).toThrow(/regions measured in only one snapshot/);
    expect(() => expect({ fds: 3 }).not.toRestoreBaseline(mine)).toThrow(/must be a snapshot from baseline\(\)/);
    expect(() => expect(mine).toRestoreBaseline(mine, { leaks: 1 } as never)).toThrow(/no figure 'leaks'/);
    expect(() => expect(mine).toRestoreBaseline(mine, { fds: -1 })).toThrow(RangeError);
  });
});

describe('compareBaselines', () => {
  it('gives every shared figure with what it was, is and may be', () => {
    const was = baseline('self', { regions: 1 });
    const changes = compareBaselines(was, { ...was, regions: 2 }, { mappings: 10 });
    expect(changes.map((change) => change.figure)).toEqual(['fds', 'mappings', 'vmLck', 'threads', 'regions']);
    expect(changes.find((change) => change.figure === 'regions')).toEqual({ figure: 'regions', before: 1, after: 2, allowed: 0, moved: true });
    expect(changes.find((change) => change.figure === 'mappings')).toMatchObject({ allowed: 10, moved: false });
  });
});

describe('types (checked by tsc, not run)', () => {
  it('the augmentation from @strongroom/testkit/vitest types each matcher and its arguments', () => {
    const typed = async (handle: ChildHandle, before: Baseline): Promise<void> => {
      await expect('process.abort()').toCrashWith('abort', { timeoutMs: 1000 });
      await expect(handle).not.toLeaveNoResidue(makeMarker());
      expect(baseline()).toRestoreBaseline(before, { mappings: 64 });
      // @ts-expect-error SIGTERM is not a crash signal
      await expect('').toCrashWith('SIGTERM');
      // @ts-expect-error a marker is bytes, not text
      await expect(handle).toLeaveNoResidue('SRMK');
      // @ts-expect-error no such figure
      expect(baseline()).toRestoreBaseline(before, { leaks: 1 });
    };
    expect(typed).toBeTypeOf('function');
  });
});
