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

/** Child code: moveOut(view) moves a view out of its scope through a byte stream, as a user's stream would. */
const MOVE_OUT = `const moveOut = async (view) => {
  let ctrl;
  const stream = new ReadableStream({ type: 'bytes', start(c) { ctrl = c; } });
  ctrl.enqueue(view);
  return (await stream.getReader().read()).value;
};`;

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

  it.skipIf(!SECRETMEM)(
    "a secretmem slab that fell back to unlocked mmap pages ('best-effort', memlock full) is shared like any other: 40 secrets, one slab",
    async () => {
      const result = await runNode(
        `${PREAMBLE}
         const rs = Array.from({ length: 40 }, () => sr.allocate(32, { backend: 'secretmem', mlock: 'best-effort' }));
         const s = sr.stats();
         console.log(JSON.stringify({ backends: [...new Set(rs.map((r) => r.backend))], slabs: s.slabs.classes[1].slabs, inUse: s.slabs.classes[1].slotsInUse }));`,
        { ...CHILD, memlockBytes: 16 * 1024, dropIpcLock: true },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout.trim().split('\n').at(-1) as string)).toEqual({ backends: ['mmap'], slabs: 1, inUse: 40 });
    },
  );
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

  // The move of a neighbour: a slot that spans two pages (every class but 16) has one of
  // them dead and the other noaccess; both are opened to copy it out and wipe it.
  test.each(CLASSES.map((size) => ({ size })))(
    'a view moved out of a slot on the last page: every neighbour moves intact, one spanning two pages too ($size B)',
    async ({ size }) => {
      const perPage = Math.floor(4096 / (size + 16));
      const report = await childJson<{ intact: boolean; moved: number; count: number }>(`
        ${MOVE_OUT}
        const n = ${perPage + 2}; // slots 0..perPage-1 on the last page, slot perPage across two, one more
        const rs = Array.from({ length: n }, (_, i) => { const r = sr.allocate(${size}, { backend: '${backend}' }); r.view().fill(i + 1); r.protect('noaccess'); return r; });
        const before = rs.map((r) => { r.protect('readonly'); const at = poke.addressOf(r.view()); r.protect('noaccess'); return at; });
        rs[0].protect('readwrite');
        const moved = await moveOut(rs[0].view());
        rs[0].free(); // the escaped view: the slot is orphaned, its page dead, the neighbours moved
        const after = rs.map((r, i) => { if (i === 0) return 0n; r.protect('readonly'); const at = poke.addressOf(r.view()); r.protect('noaccess'); return at; });
        const intact = rs.slice(1).every((r, k) => { r.protect('readonly'); const ok = r.view().every((b) => b === k + 2); r.protect('noaccess'); return ok; });
        console.log(JSON.stringify({ intact, moved: after.filter((a, i) => i > 0 && a !== before[i]).length, count: n }));`);
      expect(report.intact).toBe(true);
      // every neighbour on the dead page: the others of the last page and the one across two
      expect(report.moved).toBe(size === 16 ? report.count - 3 : report.count - 2); // 16: 4096 / 32 leaves no slot across two pages
    },
  );

  test('a write through a moved view is harmless: its neighbours still close and free, and get checked as ever', async () => {
    const report = await childJson<Record<string, unknown>>(`
      ${MOVE_OUT}
      const a = sr.allocate(32, { backend: '${backend}' }); // slot 0
      const b = sr.allocate(32, { backend: '${backend}' }); // slot 1: its data ends against slot 0
      b.view().fill(7);
      const moved = await moveOut(a.view());
      let code;
      try { a.protect('noaccess'); } catch (e) { code = e.code; }
      moved.fill(1); // as a BYOB read would
      b.protect('noaccess');
      b.protect('readonly');
      const intact = b.view().every((x) => x === 7);
      b.free();
      console.log(JSON.stringify({ code, intact, moved: moved.every((x) => x === 1) }));`);
    expect(report).toEqual({ code: 'ERR_VIEW_ESCAPED', intact: true, moved: true });
  });

  test("a stray write before a moved view (where its wiped canary was) still aborts at the neighbour's free", async () => {
    const result = await crash(
      `${MOVE_OUT}
       const a = sr.allocate(32, { backend: '${backend}' });
       const b = sr.allocate(32, { backend: '${backend}' });
       const moved = await moveOut(a.view());
       try { a.protect('noaccess'); } catch {}
       moved.fill(1);
       poke.writeAt(poke.addressOf(moved), -1, 1);
       process.stderr.write('written\\n');
       b.free();`,
      'SIGABRT',
    );
    expect(result.stderr).toContain('written');
    expect(result.stderr).toMatch(/^strongroom: the zeros before a slot's canary were written.*aborting$/m);
  });

  test('at the memlock limit a neighbour that cannot get a new slot moves to pages of its own, intact', async () => {
    const result = await runNode(
      `${PREAMBLE}
       ${MOVE_OUT}
       const options = { backend: '${backend}', mlock: 'require' };
       const rs = Array.from({ length: 120 }, (_, i) => { const r = sr.allocate(200, options); r.view().fill(i + 1); r.protect('noaccess'); return r; });
       const full = sr.stats().slabs.classes[4];
       rs[1].protect('readonly');
       const old = poke.addressOf(rs[1].view());
       rs[1].protect('noaccess');
       rs[0].protect('readwrite');
       const moved = await moveOut(rs[0].view());
       try { rs[0].protect('noaccess'); } catch {}
       const after = sr.stats().slabs;
       rs[1].protect('readonly');
       const now = poke.addressOf(rs[1].view());
       const intact = rs[1].view().every((b) => b === 2);
       rs[1].protect('noaccess');
       console.log(JSON.stringify({ full: full.slots === full.slotsInUse, slabs: after.classes[4].slabs, inUse: after.classes[4].slotsInUse,
         away: now !== old, oldWiped: poke.readAt(old, 0) === 0 && poke.readAt(old, 199) === 0, intact }));`,
      { ...CHILD, memlockBytes: 40 * 1024, dropIpcLock: true }, // the slab (32 KiB), the escaped secret's new page, and one more
    );
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.trim().split('\n').at(-1) as string);
    // One slab (no second fits under 40 KiB); the slot orphaned and rs[1] gone from it: to pages of its own.
    expect(report).toEqual({ full: true, slabs: 1, inUse: 118, away: true, oldWiped: true, intact: true });
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
