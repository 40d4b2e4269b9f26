// Regions in-process: layout-independent behaviour of allocate/protect/view/free on
// every backend, and the argument matrix of allocate().
import { inspect } from 'node:util';

import { describe, expect, it } from 'vitest';
import { errorCode, runNode } from '@strongroom/testkit';

import { allocate, configure, harden, MAX_REGION_SIZE, Region, stats, StrongroomError } from '../src/index.js';
import { BACKENDS, CHILD } from './helpers.js';


describe.each(BACKENDS)('$backend backend', ({ backend, available }) => {
  const test = available ? it : it.skip;

  test('a new isolated region is readwrite, zero-filled, exactly the size asked, and counted', () => {
    const before = stats();
    const region = allocate(100, { backend, isolated: true });
    expect(region.size).toBe(100);
    expect(region.backend).toBe(backend);
    expect(region.protection).toBe('readwrite');
    expect(region.locked).toBe(true);
    const view = region.view();
    expect(view.length).toBe(100);
    expect(view.every((b) => b === 0)).toBe(true);
    const after = stats();
    expect(after.regions).toBe(before.regions + 1);
    expect(after[backend === 'mmap' ? 'mmapRegions' : 'secretmemRegions']).toBe(
      before[backend === 'mmap' ? 'mmapRegions' : 'secretmemRegions'] + 1,
    );
    expect(after.bytesLocked).toBe(before.bytesLocked + 4096);
    region.free();
    expect(stats().regions).toBe(before.regions);
    expect(stats().bytesLocked).toBe(before.bytesLocked);
  });

  test('an exact page multiple gets the extra page its canary needs', () => {
    const before = stats().bytesLocked;
    const region = allocate(4096, { backend });
    expect(stats().bytesLocked - before).toBe(8192);
    region.free();
  });

  test('view() is the region itself, not a copy', () => {
    const region = allocate(8, { backend });
    region.view().set([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(region.view())).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const a = region.view();
    const b = region.view();
    a[0] = 42;
    expect(b[0]).toBe(42);
    region.free();
  });

  test('noaccess detaches every view; readonly keeps them readable', () => {
    const region = allocate(16, { backend });
    const first = region.view();
    const second = region.view();
    first[0] = 9;
    region.protect('readonly');
    expect(region.protection).toBe('readonly');
    expect(first[0]).toBe(9);
    region.protect('noaccess');
    expect(region.protection).toBe('noaccess');
    expect(first.length).toBe(0);
    expect(second.length).toBe(0);
    expect(first[0]).toBeUndefined();
    expect(errorCode(() => region.view())).toBe('ERR_NOACCESS');
    region.protect('readwrite');
    expect(region.view()[0]).toBe(9);
    region.free();
  });

  test('free() detaches views, is idempotent, and everything after it throws ERR_FREED', () => {
    const region = allocate(16, { backend });
    const view = region.view();
    region.free();
    region.free();
    expect(region.freed).toBe(true);
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined();
    expect(() => view.subarray(0, 1)).toThrow(TypeError); // V8's own error for a detached buffer
    expect(errorCode(() => region.view())).toBe('ERR_FREED');
    expect(errorCode(() => region.protect('readonly'))).toBe('ERR_FREED');
    expect(errorCode(() => region.protection)).toBe('ERR_FREED');
  });

  test('a view keeps the pages mapped after its Region is collected; the last one out wipes and unmaps', async () => {
    const result = await runNode(
      `import * as sr from '@strongroom/core-native';
       const tick = () => new Promise((resolve) => setImmediate(resolve));
       async function collect() { for (let i = 0; i < 6; i++) { globalThis.gc(); await tick(); } }
       const base = sr.stats().regions;
       let region = sr.allocate(32, { backend: '${backend}' });
       let view = region.view();
       view[0] = 7;
       region = null;
       await collect();
       const afterRegionGone = [sr.stats().regions - base, view[0]];
       view = null;
       await collect();
       console.log(JSON.stringify([...afterRegionGone, sr.stats().regions - base]));`,
      { ...CHILD, args: ['--expose-gc'] },
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([1, 7, 0]);
  });

  test('using disposes the region', () => {
    const before = stats().regions;
    {
      using region = allocate(8, { backend });
      expect(region.size).toBe(8);
      expect(stats().regions).toBe(before + 1);
    }
    expect(stats().regions).toBe(before);
  });
});

describe('allocate() arguments', () => {
  const bad: Array<[string, unknown]> = [
    ['zero', 0],
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['too large', MAX_REGION_SIZE + 1],
    ['a string', '32'],
    ['a bigint', 32n],
    ['undefined', undefined],
    ['null', null],
  ];
  // (The exact mapping count is checked where native failure paths run, in a child:
  // hardening.test.ts. In this process V8's heap growth moves it.)
  it.each(bad)('a size that is %s gets ERR_INVALID_ARG and builds no region', (_, size) => {
    const regions = stats().regions;
    expect(errorCode(() => allocate(size as number))).toBe('ERR_INVALID_ARG');
    expect(stats().regions).toBe(regions);
  });

  it('rejects unknown backends, mlock policies and options', () => {
    expect(errorCode(() => allocate(8, { backend: 'swap' as never }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => allocate(8, { mlock: 'maybe' as never }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => allocate(8, 'mmap' as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => allocate(8, { backnd: 'mmap' } as never))).toBe('ERR_INVALID_ARG'); // misspelt
    expect(() => allocate(8, { backnd: 'mmap' } as never)).toThrow(/^allocate\(\) has no option 'backnd'; its options are: backend, mlock, isolated$/);
    expect(errorCode(() => harden({ hardlimit: true } as never))).toBe('ERR_INVALID_ARG');
  });

  it('rejects an unknown protection without changing it', () => {
    const region = allocate(8);
    expect(errorCode(() => region.protect('none' as never))).toBe('ERR_INVALID_ARG');
    expect(region.protection).toBe('readwrite');
    region.free();
  });

  it('errors are instances of the exported StrongroomError', () => {
    expect(() => allocate(0)).toThrow(StrongroomError);
  });

  it('cannot be constructed directly', () => {
    expect(errorCode(() => new Region(Symbol('x'), {} as never, 8, 'mmap'))).toBe('ERR_INVALID_ARG');
  });

  it('the maximum size is 1 GiB and the error message says so', () => {
    try {
      allocate(MAX_REGION_SIZE + 1);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain(String(MAX_REGION_SIZE));
    }
  });

  it("'auto' picks secretmem where the kernel has it, else mmap, and stats() says which", () => {
    const region = allocate(8);
    expect(region.backend).toBe(stats().secretmemAvailable ? 'secretmem' : 'mmap');
    expect(stats().backend).toBe(region.backend);
    region.free();
  });

  it('configure() sets and reports the defaults', () => {
    const previous = configure();
    try {
      expect(configure({ backend: 'mmap' }).backend).toBe('mmap');
      expect(allocate(8).backend).toBe('mmap');
      expect(configure({ mlock: 'best-effort' }).mlock).toBe('best-effort');
      expect(stats().mlockPolicy).toBe('best-effort');
      expect(errorCode(() => configure({ mlock: 'never' as never }))).toBe('ERR_INVALID_ARG');
    } finally {
      configure(previous);
    }
  });
});

describe('disclosure', () => {
  it('inspect, toString, JSON and template literals show the shape, never the bytes', () => {
    const region = allocate(4, { backend: 'mmap' });
    region.view().set([0x41, 0x42, 0x43, 0x44]);
    for (const text of [inspect(region), String(region), `${region}`, JSON.stringify(region)]) {
      expect(text).toContain('4');
      expect(text).not.toMatch(/ABCD|65|41424344/);
    }
    expect(inspect(region)).toBe('Region(4 bytes, mmap, readwrite)');
    region.free();
    expect(inspect(region)).toBe('Region(4 bytes, mmap, freed)');
  });
});

describe('worker threads', () => {
  // In a child of its own, so no region collected meanwhile in this process moves the count.
  it('a worker loads the addon, allocates, and stats() counts it process-wide', async () => {
    const result = await runNode(
      `import * as sr from '@strongroom/core-native';
       import { Worker } from 'node:worker_threads';
       const url = new URL('./dist/index.js', 'file://' + process.cwd() + '/').href;
       const worker = new Worker(
         \`import { parentPort } from 'node:worker_threads';
          const sr = await import(\${JSON.stringify(url)});
          const r = sr.allocate(64);
          sr.randomFill(r);
          parentPort.postMessage('allocated');
          parentPort.once('message', () => { r.free(); parentPort.postMessage('freed'); });\`,
         { eval: true, execArgv: ['--input-type=module'] },
       );
       const next = () => new Promise((resolve) => worker.once('message', resolve));
       const counts = [sr.stats().regions];
       await next();
       counts.push(sr.stats().regions);
       worker.postMessage('free');
       await next();
       counts.push(sr.stats().regions);
       await worker.terminate();
       console.log(JSON.stringify(counts));`,
      CHILD,
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([0, 1, 0]);
  });
});
