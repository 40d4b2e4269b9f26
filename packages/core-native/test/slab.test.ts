// Slabs (native/slab.h): small regions share guarded pages. Each guarantee of the layout is
// checked in a child process where a crash is the expected outcome: a one-byte overflow
// lands in the neighbour's canary (abort when either slot is freed), an overflow past slot 0
// faults on the trailing guard, an underflow into a slot's own canary aborts at its free.
// Protection is counted per page: a neighbour's scope opens the page for every slot on it,
// and the page closes again when the last scope on it does. A freed slot is wiped; a view
// moved out of its scope leaves a dead page that reads zeros, its neighbours moved off it.
import { describe, expect, it } from 'vitest';
import { expectCrash, expectResidue, makeMarker, runNode, startChild } from '@strongroom/testkit';

import { constants } from '../src/constants.js';
import { allocate, stats } from '../src/index.js';
import { BACKENDS, CHILD, PREAMBLE, SECRETMEM, SECRETMEM_SKIP_REASON, plantMarker } from './helpers.js';

const CLASSES = constants().slabClasses;

function classOf(size: number): number {
  return CLASSES.findIndex((c) => size <= c);
}

const inUse = (size: number): number => stats().slabs.classes[classOf(size)]?.slotsInUse ?? Number.NaN;

async function childJson<T>(body: string): Promise<T> {
  const result = await runNode(`${PREAMBLE}\n${body}`, CHILD);
  expect(result.signal, result.stderr).toBeNull();
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as T;
}

/** The crash must come at the step the body ends with, never later (at exit, say, when the addon's finalizers free every region). */
async function crash(body: string, signal: 'SIGSEGV' | 'SIGABRT') {
  const result = await expectCrash(`${PREAMBLE}\n${body}\nconsole.log('survived');`, { ...CHILD, signal });
  expect(result.stdout).not.toContain('survived');
  return result;
}

describe('placement', () => {
  it('the size classes come from the addon, smallest first, the largest 256 bytes', () => {
    expect(CLASSES).toEqual([16, 32, 64, 128, 256]);
  });

  it.each([1, 16, 17, 32, 33, 64, 100, 128, 200, 256])('a %i-byte region takes a slot of the smallest class that holds it', (size) => {
    const before = inUse(size);
    const region = allocate(size);
    expect(inUse(size)).toBe(before + 1);
    expect(region.size).toBe(size);
    expect(region.view().every((b) => b === 0)).toBe(true);
    region.free();
    expect(inUse(size)).toBe(before);
  });

  it('257 bytes and more, and { isolated: true }, get pages of their own', () => {
    const used = () => stats().slabs.classes.reduce((n, c) => n + c.slotsInUse, 0);
    const before = used();
    const regions = [allocate(257), allocate(4096), allocate(32, { isolated: true }), allocate(1, { isolated: true })];
    expect(used()).toBe(before);
    expect(stats().regions).toBeGreaterThanOrEqual(regions.length);
    for (const r of regions) r.free();
  });

  it('isolated must be a boolean', () => {
    expect(() => allocate(8, { isolated: 'yes' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });

  it('locked bytes and slabs go back to their baseline once every slot is freed (one empty slab kept per class, as a spare)', async () => {
    const report = await childJson<Record<string, number>>(`
      const base = sr.stats();
      const regions = Array.from({ length: 2000 }, () => sr.allocate(32));
      const full = sr.stats();
      for (const r of regions) r.free();
      const after = sr.stats();
      console.log(JSON.stringify({
        slabs: full.slabs.classes[1].slabs, inUse: full.slabs.classes[1].slotsInUse,
        locked: full.bytesLocked - base.bytesLocked, slabBytes: full.slabs.bytes,
        lockedAfter: after.bytesLocked - base.bytesLocked, slabsAfter: after.slabs.count, empty: after.slabs.empty,
        spareAfter: after.spareBytes - base.spareBytes, regionsAfter: after.regions - base.regions,
      }));`);
    const perSlab = Math.floor((constants().slabDataPages * 4096) / (32 + 16));
    expect(report).toEqual({
      slabs: Math.ceil(2000 / perSlab),
      inUse: 2000,
      locked: Math.ceil(2000 / perSlab) * constants().slabDataPages * 4096,
      slabBytes: Math.ceil(2000 / perSlab) * constants().slabDataPages * 4096,
      lockedAfter: 0,
      slabsAfter: 1,
      empty: 1,
      spareAfter: constants().slabDataPages * 4096,
      regionsAfter: 0,
    });
  });
});

describe('the reserve of empty slabs', () => {
  it.skipIf(!SECRETMEM)('keeps one per class and backend: an empty mmap slab never makes a secretmem one be unmapped and mapped again', async () => {
    const report = await childJson<Record<string, number>>(`
      sr.releaseSpareRegions();
      sr.allocate(32, { backend: 'mmap' }).free();
      sr.allocate(32, { backend: 'secretmem' }).free();
      const s = sr.stats();
      console.log(JSON.stringify({ empty: s.slabs.empty, count: s.slabs.count, slabs: s.slabs.classes[1].slabs }));`);
    expect(report).toEqual({ empty: 2, count: 2, slabs: 2 });
  });
});

describe.each(BACKENDS)('$backend slabs', ({ backend, available }) => {
  const test = available ? it : it.skip;
  if (!available) it.skip(`skipped: ${SECRETMEM_SKIP_REASON}`, () => {});

  test('slots are laid out from the trailing guard down, each ending against the next one', async () => {
    const report = await childJson<{ gaps: number[] }>(`
      const regions = Array.from({ length: 4 }, () => sr.allocate(32, { backend: '${backend}' }));
      const at = regions.map((r) => poke.addressOf(r.view()));
      console.log(JSON.stringify({ gaps: at.slice(1).map((a, i) => Number(at[i] - a)) }));`);
    expect(report.gaps).toEqual([48, 48, 48]); // stride: 32 bytes and a 16-byte canary
  });

  test('a one-byte overflow past slot 0 faults on the trailing guard page', async () => {
    const result = await crash(
      `const r = sr.allocate(32, { backend: '${backend}' });
       const at = poke.addressOf(r.view());
       poke.writeAt(at, 31, 1);
       process.stderr.write('last byte written\\n');
       poke.writeAt(at, 32, 1);`,
      'SIGSEGV',
    );
    expect(result.stderr).toContain('last byte written');
  });

  // Each writes one byte where it must not, then does the step that must abort: never sooner, never later.
  const CANARY_LINE = /^strongroom: the canary of a slab slot was overwritten.*aborting$/m;
  const ZEROS_LINE = /^strongroom: the zeros before a slot's canary were written.*aborting$/m;
  for (const { name, sizes, offset, then, line } of [
    // slot 1's data ends against slot 0's canary (both 32 bytes: no zeros before it)
    { name: "a one-byte overflow into the neighbour's canary aborts when the overflowing slot is freed", sizes: [32, 32], offset: 32, then: 'b.free();', line: CANARY_LINE },
    { name: "a one-byte overflow into the neighbour's canary aborts when the neighbour is freed", sizes: [32, 32], offset: 32, then: "b.protect('noaccess'); a.free();", line: CANARY_LINE },
    // slot 0 holds 20 bytes of a 32-byte class: 12 zeros before its canary
    { name: 'a one-byte overflow into the zeros before a shorter neighbour aborts at free', sizes: [20, 32], offset: 32, then: 'b.free();', line: ZEROS_LINE },
    { name: "a one-byte underflow into a slot's own canary aborts at its free", sizes: [32, 32], offset: -1, then: 'b.free();', line: CANARY_LINE },
  ]) {
    test(name, async () => {
      const result = await crash(
        `const a = sr.allocate(${sizes[0]}, { backend: '${backend}' }); // slot 0
         const b = sr.allocate(${sizes[1]}, { backend: '${backend}' }); // slot 1
         const at = poke.addressOf(b.view());
         poke.writeAt(at, ${offset}, poke.readAt(at, ${offset}) ^ 0xff);
         process.stderr.write('stray byte written\\n');
         ${then}`,
        'SIGABRT',
      );
      expect(result.stderr).toContain('stray byte written');
      expect(result.stderr).toMatch(line);
    });
  }

  test('a control: slots written to their last byte free without complaint', async () => {
    const report = await childJson<{ freed: boolean }>(`
      const regions = Array.from({ length: 50 }, (_, i) => sr.allocate(1 + (i % 32), { backend: '${backend}' }));
      for (const r of regions) r.view().fill(0xff);
      for (const r of regions) r.free();
      console.log(JSON.stringify({ freed: regions.every((r) => r.freed) }));`);
    expect(report).toEqual({ freed: true });
  });

  test('a noaccess slot faults through a leaked view while no slot on its page is open', async () => {
    const result = await crash(
      `const a = sr.allocate(16, { backend: '${backend}' });
       const b = sr.allocate(16, { backend: '${backend}' });
       b.protect('noaccess');
       const at = poke.addressOf(a.view());
       a.protect('noaccess');
       const leaked = poke.leakedView(at, 16);
       process.stderr.write('leaked view made\\n');
       console.log(leaked[0]);`,
      'SIGSEGV',
    );
    expect(result.stderr).toContain('leaked view made');
  });

  test("the neighbour trade: a slot is as accessible as the most open scope on its page (README, 'Small secrets')", async () => {
    const report = await childJson<Record<string, unknown>>(`
      const a = sr.allocate(16, { backend: '${backend}' });
      const b = sr.allocate(16, { backend: '${backend}' });
      a.view().fill(7);
      const atA = poke.addressOf(a.view());
      a.protect('noaccess');
      b.protect('readonly');
      const readWhileNeighbourReads = poke.leakedView(atA, 16)[0]; // a is noaccess, but its page is readable
      b.protect('readwrite');
      a.protect('readonly');
      const viewA = a.view();
      viewA[0] = 9; // a is readonly, but its page is writable while b is open read-write
      b.protect('noaccess');
      const after = a.view()[0];
      console.log(JSON.stringify({ readWhileNeighbourReads, after, aState: a.protection, bState: b.protection }));`);
    expect(report).toEqual({ readWhileNeighbourReads: 7, after: 9, aState: 'readonly', bState: 'noaccess' });
  });

  test('a readonly slot refuses a write once its neighbour closes its read-write scope', async () => {
    const result = await crash(
      `const a = sr.allocate(16, { backend: '${backend}' });
       const b = sr.allocate(16, { backend: '${backend}' });
       a.protect('readonly');
       const view = a.view();
       view[0] = view[0]; // b is still readwrite (new): the page is writable
       b.protect('noaccess');
       process.stderr.write('neighbour closed\\n');
       view[0] = 1;`,
      'SIGSEGV',
    );
    expect(result.stderr).toContain('neighbour closed');
  });

  test('a view moved out of its scope leaves a dead page: zeros for the moved view, the neighbours moved off it intact', async () => {
    const report = await childJson<Record<string, unknown>>(`
      const moveOut = async (view) => {
        let ctrl;
        const stream = new ReadableStream({ type: 'bytes', start(c) { ctrl = c; } });
        ctrl.enqueue(view);
        return (await stream.getReader().read()).value;
      };
      const neighbours = Array.from({ length: 20 }, (_, i) => { const r = sr.allocate(32, { backend: '${backend}' }); r.view().fill(i + 1); r.protect('noaccess'); return r; });
      const before = neighbours.map((r) => { r.protect('readonly'); const at = poke.addressOf(r.view()); r.protect('noaccess'); return at; });
      const r = sr.allocate(32, { backend: '${backend}' });
      r.view().fill(0x42);
      const moved = await moveOut(r.view());
      let code;
      try { r.protect('noaccess'); } catch (e) { code = e.code; }
      const dead = sr.stats().slabs.classes[1].deadSlots;
      const after = neighbours.map((n) => { n.protect('readonly'); const at = poke.addressOf(n.view()); n.protect('noaccess'); return at; });
      const intact = neighbours.every((n, i) => { n.protect('readonly'); const ok = n.view().every((b) => b === i + 1); n.protect('noaccess'); return ok; });
      r.protect('readonly');
      const secretKept = r.view().every((b) => b === 0x42);
      console.log(JSON.stringify({
        code, dead: dead > 0, movedZeros: moved.every((b) => b === 0), movedLength: moved.length,
        neighboursMoved: after.every((a, i) => a !== before[i]), intact, secretKept,
      }));`);
    expect(report).toEqual({
      code: 'ERR_VIEW_ESCAPED',
      dead: true,
      movedZeros: true,
      movedLength: 32,
      neighboursMoved: true,
      intact: true,
      secretKept: true,
    });
  });

  test('a freed slot is wiped: read back through a neighbour that keeps the page open', async () => {
    const report = await childJson<{ left: number[] }>(`
      const keeper = sr.allocate(32, { backend: '${backend}' }); // slot 0, left open
      const r = sr.allocate(32, { backend: '${backend}' });
      r.view().fill(0x5a);
      const at = poke.addressOf(r.view());
      r.free();
      const left = [];
      for (let i = -16; i < 32; i++) left.push(poke.readAt(at, i));
      console.log(JSON.stringify({ left }));`);
    expect(report.left).toHaveLength(48);
    expect(report.left.every((b) => b === 0)).toBe(true);
  });
});

describe('residue', () => {
  // mmap pages only: a scan cannot read secretmem pages at all.
  it("a freed slot's marker is nowhere in the process; while live it is seen (positive control)", async () => {
    const marker = makeMarker();
    const child = await startChild(
      `${PREAMBLE}
       const neighbours = Array.from({ length: 8 }, () => sr.allocate(${marker.length}, { backend: 'mmap' }));
       ${plantMarker('secret', marker, 'mmap')}
       secret.protect('noaccess');
       await checkpoint('planted');
       secret.free();
       neighbours[0].protect('readonly'); // the page open again: the scan sees what is there
       await checkpoint('freed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'planted', present: true },
      { at: 'freed', present: false },
    ]);
  });
});
