// The 'heap' backend: Region's contract in pure JS, for where the addon cannot load.
// A child with no addon to find proves that allocate(…, { backend: 'heap' }) and the
// operations never load it; in-process tests pin emulated protection (views detached by
// 'noaccess' and free()), the operations, ERR_FREED, the refusal by native-only functions
// and mixes, and configure(); a memory scan proves free() wipes the bytes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';

import { afterEach, describe, expect, it } from 'vitest';
import { bytesOf, errorCode, expectResidue, makeMarker, runNode } from '@strongroom/testkit';

import {
  allocate,
  blake2b,
  cofferOpen,
  cofferSeal,
  configure,
  copy,
  copyIn,
  copyOut,
  equals,
  MAX_REGION_SIZE,
  open,
  openInto,
  randomFill,
  readEnv,
  readFile,
  seal,
  stats,
  xor,
  zero,
  type Region,
} from '../src/index.js';
import { PACKAGE_DIR, startPlantedThenFreed } from './helpers.js';

const live: Region[] = [];

/** A heap region holding `bytes`, freed after the test. */
function heapRegion(bytes: number[] | number): Region {
  const region = allocate(typeof bytes === 'number' ? bytes : bytes.length, { backend: 'heap' });
  if (typeof bytes !== 'number') region.view().set(bytes);
  live.push(region);
  return region;
}

afterEach(() => {
  for (const region of live.splice(0)) region.free();
});

describe('without the addon', () => {
  it('heap regions and every operation work, and the addon is never even looked for', async () => {
    // A copy of dist/ with no build/ or prebuilds/ beside it: the addon cannot load there.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-no-addon-'));
    try {
      fs.cpSync(path.join(PACKAGE_DIR, 'dist'), path.join(dir, 'dist'), { recursive: true });
      fs.cpSync(path.join(PACKAGE_DIR, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      const url = pathToFileURL(path.join(dir, 'dist', 'index.js')).href;
      const result = await runNode(
        `const sr = await import(${JSON.stringify(url)});
         const codeOf = (fn) => { try { fn(); } catch (e) { return e.code; } };
         const out = {};
         const a = sr.allocate(32, { backend: 'heap', mlock: 'require' });
         const b = sr.allocate(32, { backend: 'heap' });
         out.fresh = [a.backend, a.locked, a.protection, a.view().every((x) => x === 0)];
         sr.randomFill(a);
         out.randomised = a.view().some((x) => x !== 0);
         sr.copy(b, a);
         out.copied = sr.equals(a, b);
         sr.xor(b, a);
         out.xorZero = b.view().every((x) => x === 0);
         sr.copyIn(b, new Uint8Array([1, 2, 3]), 4);
         const back = new Uint8Array(3);
         sr.copyOut(back, b, 4);
         out.copyInOut = Array.from(back);
         const view = a.view();
         a.protect('noaccess');
         out.detached = view.length;
         sr.zero(a);
         out.zeroed = sr.equals(a, new Uint8Array(32));
         const tag = sr.hmac('sha256', b, 'message');
         out.hmac = [tag.length, sr.hmacVerify('sha256', b, 'message', tag.subarray(0, sr.HMAC_MIN_TAG_BYTES)),
           sr.hmacVerify('sha256', b, 'message', tag.subarray(0, sr.HMAC_MIN_TAG_BYTES - 1))];
         out.sealCode = codeOf(() => sr.seal(a, b));
         out.configured = sr.configure({ backend: 'heap', mlock: 'best-effort' }).backend;
         out.defaultBackend = sr.allocate(8).backend;
         a.free();
         b.free();
         out.freedCode = codeOf(() => a.view());
         out.loadTried = sr.nativeLoadError() !== undefined;
         sr.configure({ backend: 'auto' });
         out.nativeCode = codeOf(() => sr.allocate(8));
         out.available = sr.isNativeAvailable();
         console.log(JSON.stringify(out));`,
        { cwd: dir },
      );
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout)).toEqual({
        fresh: ['heap', false, 'readwrite', true],
        randomised: true,
        copied: true,
        xorZero: true,
        copyInOut: [1, 2, 3],
        detached: 0,
        zeroed: true,
        hmac: [32, true, false],
        sealCode: 'ERR_INVALID_ARG',
        configured: 'heap',
        defaultBackend: 'heap',
        freedCode: 'ERR_FREED',
        loadTried: false,
        nativeCode: 'ERR_NATIVE_UNAVAILABLE',
        available: false,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('heap regions', () => {
  it('a new region is heap, readwrite, unlocked, zero-filled, exactly the size asked, and not a native region', () => {
    const before = stats().regions;
    const region = heapRegion(100);
    expect(region.size).toBe(100);
    expect(region.backend).toBe('heap');
    expect(region.protection).toBe('readwrite');
    expect(region.locked).toBe(false);
    expect(region.freed).toBe(false);
    const view = region.view();
    expect(view.length).toBe(100);
    expect(view.every((b) => b === 0)).toBe(true);
    expect(stats().regions).toBe(before);
  });

  it("takes the size rules of native regions, checks mlock, and ignores mlock 'require'", () => {
    for (const size of [0, -1, 1.5, MAX_REGION_SIZE + 1, '8']) {
      expect(errorCode(() => allocate(size as number, { backend: 'heap' }))).toBe('ERR_INVALID_ARG');
    }
    expect(errorCode(() => allocate(8, { backend: 'heap', mlock: 'maybe' as never }))).toBe('ERR_INVALID_ARG');
    const region = allocate(8, { backend: 'heap', mlock: 'require' });
    live.push(region);
    expect(region.locked).toBe(false);
  });

  it('view() is the region itself, not a copy', () => {
    const region = heapRegion(8);
    const a = region.view();
    const b = region.view();
    a[0] = 42;
    expect(b[0]).toBe(42);
    expect(bytesOf(region)[0]).toBe(42);
  });

  it("noaccess detaches every view and view() is ERR_NOACCESS; the bytes come back with readwrite", () => {
    const region = heapRegion([9, 8, 7, 6]);
    const first = region.view();
    const second = region.view();
    region.protect('noaccess');
    expect(region.protection).toBe('noaccess');
    expect(first.length).toBe(0);
    expect(second.length).toBe(0);
    expect(first[0]).toBeUndefined();
    expect(errorCode(() => region.view())).toBe('ERR_NOACCESS');
    region.protect('readwrite');
    expect(Array.from(region.view())).toEqual([9, 8, 7, 6]);
  });

  it("readonly is only a label on the heap: views stay readable (and, unenforced, writable)", () => {
    const region = heapRegion([1, 2]);
    const view = region.view();
    region.protect('readonly');
    expect(region.protection).toBe('readonly');
    expect(view[1]).toBe(2);
    region.view()[0] = 5; // documented: JS cannot make a view read-only
    expect(view[0]).toBe(5);
    expect(errorCode(() => region.protect('none' as never))).toBe('ERR_INVALID_ARG');
    expect(region.protection).toBe('readonly');
  });

  it('free() detaches views, is idempotent, and every use after it throws ERR_FREED', () => {
    const region = allocate(16, { backend: 'heap' });
    const view = region.view();
    view.fill(0xaa);
    region.free();
    region.free();
    expect(region.freed).toBe(true);
    expect(region.locked).toBe(false);
    expect(view.length).toBe(0);
    expect(() => view.subarray(0, 1)).toThrow(TypeError);
    expect(errorCode(() => region.view())).toBe('ERR_FREED');
    expect(errorCode(() => region.protect('readonly'))).toBe('ERR_FREED');
    expect(errorCode(() => region.protection)).toBe('ERR_FREED');
    const other = heapRegion(16);
    const bytes = new Uint8Array(16);
    for (const op of [
      () => randomFill(region),
      () => zero(region),
      () => copy(region, other),
      () => copy(other, region),
      () => xor(other, region),
      () => equals(region, other),
      () => equals(other, region),
      () => equals(region, bytes),
      () => copyIn(region, bytes),
      () => copyOut(bytes, region),
    ]) {
      expect(errorCode(op)).toBe('ERR_FREED');
    }
  });

  it('using disposes a heap region', () => {
    let escaped: Region | undefined;
    {
      using region = allocate(8, { backend: 'heap' });
      escaped = region;
      expect(region.freed).toBe(false);
    }
    expect(escaped.freed).toBe(true);
  });

  it("inspect, toString and JSON say 'heap' and never show the bytes", () => {
    const region = heapRegion([0x41, 0x42, 0x43, 0x44]);
    for (const text of [inspect(region), String(region), JSON.stringify(region)]) {
      expect(text).toContain('heap');
      expect(text).not.toMatch(/ABCD|65|41424344/);
    }
    expect(inspect(region)).toBe('Region(4 bytes, heap, readwrite)');
    expect(String(region)).toBe('Region(4 bytes, heap)');
    expect(JSON.parse(JSON.stringify(region))).toEqual({ type: 'Region', size: 4, backend: 'heap' });
    region.protect('noaccess');
    expect(inspect(region)).toBe('Region(4 bytes, heap, noaccess)');
    region.free();
    expect(inspect(region)).toBe('Region(4 bytes, heap, freed)');
  });
});

describe('operations on heap regions', () => {
  it('randomFill fills the whole region, differently each time', () => {
    const region = heapRegion(64);
    randomFill(region);
    const first = bytesOf(region);
    expect(first.slice(0, 32).some((b) => b !== 0)).toBe(true);
    expect(first.slice(32).some((b) => b !== 0)).toBe(true);
    randomFill(region);
    expect(bytesOf(region)).not.toEqual(first);
  });

  it('zero wipes the whole region', () => {
    const region = heapRegion([1, 2, 3, 4, 5]);
    zero(region);
    expect(bytesOf(region)).toEqual([0, 0, 0, 0, 0]);
  });

  it('copy and xor honour offsets and lengths', () => {
    const target = heapRegion([1, 1, 1, 1, 1, 1]);
    const source = heapRegion([10, 20, 30, 40]);
    copy(target, source, { targetOffset: 2, sourceOffset: 1, length: 2 });
    expect(bytesOf(target)).toEqual([1, 1, 20, 30, 1, 1]);
    copy(target, source, { targetOffset: 2 }); // the rest of the source
    expect(bytesOf(target)).toEqual([1, 1, 10, 20, 30, 40]);
    xor(target, source, { targetOffset: 1, sourceOffset: 2, length: 2 });
    expect(bytesOf(target)).toEqual([1, 1 ^ 30, 10 ^ 40, 20, 30, 40]);
    xor(target, source, { length: 0 });
    expect(bytesOf(target)).toEqual([1, 1 ^ 30, 10 ^ 40, 20, 30, 40]);
    expect(errorCode(() => copy(source, target))).toBe('ERR_INVALID_ARG'); // 6 bytes into 4
    expect(errorCode(() => xor(target, source, { sourceOffset: 5 }))).toBe('ERR_INVALID_ARG');
  });

  it('copy within one region handles overlap like memmove; xor runs forwards like the native loop', () => {
    const region = heapRegion([1, 2, 3, 4, 5, 6]);
    copy(region, region, { targetOffset: 1, sourceOffset: 0, length: 5 });
    expect(bytesOf(region)).toEqual([1, 1, 2, 3, 4, 5]);
    copy(region, region, { targetOffset: 0, sourceOffset: 2, length: 4 });
    expect(bytesOf(region)).toEqual([2, 3, 4, 5, 4, 5]);
    const native = allocate(6, { backend: 'mmap' });
    try {
      const heap = heapRegion([1, 2, 3, 4, 5, 6]);
      native.view().set([1, 2, 3, 4, 5, 6]);
      xor(native, native, { targetOffset: 1, length: 5 });
      xor(heap, heap, { targetOffset: 1, length: 5 });
      expect(bytesOf(heap)).toEqual(Array.from(native.view()));
    } finally {
      native.free();
    }
  });

  it('equals: true for equal bytes, false for any differing byte or a different length', () => {
    const a = heapRegion([1, 2, 3, 4]);
    const b = heapRegion([1, 2, 3, 4]);
    expect(equals(a, b)).toBe(true);
    expect(equals(a, new Uint8Array([1, 2, 3, 4]))).toBe(true);
    expect(equals(a, a)).toBe(true);
    b.view()[3] = 5;
    expect(equals(a, b)).toBe(false);
    b.view().set([0, 2, 3, 4]);
    expect(equals(a, b)).toBe(false);
    expect(equals(a, new Uint8Array([1, 2, 3]))).toBe(false);
    expect(equals(a, heapRegion([1, 2, 3, 4, 0]))).toBe(false);
    expect(equals(a, new Uint8Array([1, 2, 3, 4, 0]))).toBe(false);
  });

  it('copyIn and copyOut honour the offset and refuse what does not fit', () => {
    const region = heapRegion(6);
    copyIn(region, new Uint8Array([7, 8, 9]), 2);
    expect(bytesOf(region)).toEqual([0, 0, 7, 8, 9, 0]);
    const out = new Uint8Array(2);
    copyOut(out, region, 3);
    expect(Array.from(out)).toEqual([8, 9]);
    expect(errorCode(() => copyIn(region, new Uint8Array(3), 4))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => copyOut(new Uint8Array(7), region))).toBe('ERR_INVALID_ARG');
  });

  it("work while the region is 'noaccess', leave it 'noaccess' and hand out no view", () => {
    const a = heapRegion([1, 2, 3, 4]);
    const b = heapRegion(4);
    const stale = a.view();
    a.protect('noaccess');
    b.protect('noaccess');
    copy(b, a);
    xor(b, a, { targetOffset: 3, length: 1 });
    expect(equals(a, b)).toBe(false);
    xor(b, a, { targetOffset: 3, length: 1 });
    expect(equals(a, b)).toBe(true);
    copyIn(a, new Uint8Array([5]), 0);
    const out = new Uint8Array(4);
    copyOut(out, a);
    expect(Array.from(out)).toEqual([5, 2, 3, 4]);
    randomFill(b);
    zero(b);
    expect(equals(b, new Uint8Array(4))).toBe(true);
    expect([a.protection, b.protection]).toEqual(['noaccess', 'noaccess']);
    expect(stale.length).toBe(0);
    expect(errorCode(() => a.view())).toBe('ERR_NOACCESS');
  });

  it('a heap region and a native region do not mix: ERR_INVALID_ARG that says why', () => {
    const heap = heapRegion([1, 2, 3, 4]);
    const native = allocate(4, { backend: 'mmap' });
    try {
      native.view().set([1, 2, 3, 4]);
      for (const op of [
        () => copy(native, heap),
        () => copy(heap, native),
        () => xor(heap, native),
        () => equals(heap, native),
        () => equals(native, heap),
      ]) {
        expect(errorCode(op)).toBe('ERR_INVALID_ARG');
        expect(op).toThrow(/'heap' region and a native region.*same backend/);
      }
      expect(Array.from(native.view())).toEqual([1, 2, 3, 4]);
      // Bytes, not regions, cross on purpose:
      expect(equals(native, heap.view())).toBe(true);
      expect(equals(heap, native.view())).toBe(true);
    } finally {
      native.free();
    }
  });
});

describe('functions that run in native code refuse heap regions', () => {
  it('seal, open, openInto, blake2b and cofferSeal: ERR_INVALID_ARG naming the argument', () => {
    const heapKey = heapRegion(32);
    const heapData = heapRegion(32);
    const key = allocate(32, { backend: 'mmap' });
    const data = allocate(32, { backend: 'mmap' });
    try {
      randomFill(key);
      const sealed = seal(key, data);
      const regions = stats().regions;
      const cases: Array<[string, () => unknown]> = [
        ['key', () => seal(heapKey, data)],
        ['plaintext', () => seal(key, heapData)],
        ['key', () => open(heapKey, sealed)],
        ['target', () => openInto(key, sealed, heapData)],
        ['target', () => blake2b(heapData, data)],
        ['source', () => blake2b(data, heapData)],
        ['source', () => cofferSeal(heapData)],
      ];
      for (const [what, call] of cases) {
        expect(errorCode(call)).toBe('ERR_INVALID_ARG');
        expect(call).toThrow(new RegExp(`^${what} is a 'heap' region, which is not accepted here`));
      }
      expect(stats().regions).toBe(regions);
      expect(bytesOf(heapData).every((b) => b === 0)).toBe(true); // nothing was opened into it
    } finally {
      key.free();
      data.free();
    }
  });

  it("the readers refuse an explicit 'heap' backend", () => {
    const file = path.join(os.tmpdir(), `strongroom-heap-${process.pid}`);
    fs.writeFileSync(file, 'secret');
    try {
      expect(errorCode(() => readFile(file, { backend: 'heap' }))).toBe('ERR_INVALID_ARG');
      expect(() => readFile(file, { backend: 'heap' })).toThrow(/'heap' is not accepted here/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});

describe("configure({ backend: 'heap' })", () => {
  it("makes allocate() default to heap; 'auto', the readers, open() and cofferOpen() stay native", () => {
    const previous = configure();
    const name = 'STRONGROOM_HEAP_TEST_VALUE';
    process.env[name] = 'value';
    try {
      expect(configure({ backend: 'heap' }).backend).toBe('heap');
      expect(stats().backend).toBe('heap');
      const region = allocate(8);
      live.push(region);
      expect(region.backend).toBe('heap');
      const key = allocate(32, { backend: 'auto' });
      live.push(key);
      const sealed = seal(key, key);
      const opened = open(key, sealed); // native although the default is 'heap'
      live.push(opened);
      expect(opened.backend).not.toBe('heap');
      expect(equals(opened, key)).toBe(true);
      const fromCoffer = cofferOpen(cofferSeal(key));
      live.push(fromCoffer);
      expect(fromCoffer.backend).not.toBe('heap');
      expect(errorCode(() => open(key, sealed, { backend: 'heap' }))).toBe('ERR_INVALID_ARG');
      const auto = allocate(8, { backend: 'auto' });
      const read = readEnv(name);
      try {
        expect(auto.backend).not.toBe('heap');
        expect(read.backend).toBe(auto.backend);
        expect(read.size).toBe(5);
      } finally {
        auto.free();
        read.free();
      }
    } finally {
      configure(previous);
      delete process.env[name];
    }
    const after = allocate(8);
    live.push(after);
    expect(after.backend).not.toBe('heap');
  });
});

describe('memory scan of a child process', () => {
  it('the marker is in the live heap region, and nowhere after free()', async () => {
    const marker = makeMarker();
    await expectResidue(await startPlantedThenFreed(marker, 'heap'), marker, [
      { at: 'planted', present: true },
      { at: 'freed', present: false }, // and the scan read over 1 MiB (MIN_SCANNED_BYTES)
    ]);
  });
});
