// The model-based property of slabs (issue 12), run by slab-properties.test.ts in a child
// process per backend. Plain JavaScript, because it runs from the built dist/: each child
// configures its backend before it allocates anything, so that stats() counts only what
// the model knows about.
//
// A program is a list of commands over SecretBuffers of sizes across and around the slab
// size classes (constants().slabClasses), shared or isolated: create (alloc, random, from),
// bulk creation up to and past a slab's capacity, destroy, read and write scopes, scopes
// held open across commands, two scopes at once on two buffers (a read scope on one, a
// write scope on another inside it: neighbours on one page, slab.h's per-page counting),
// freeze and melt (a write is then ERR_FROZEN), copyFrom, equals, and configure({ isolated }).
// After every command: every live buffer holds what the model says (read through a scope,
// or through the held write scope's view), every held view is as long as its scope says,
// and stats() agrees: regions, slots in use per class, no dead slots, the slabs' figures
// with one another, the slabs in use between what the live slots need and what the peak
// needed, and locked bytes = dedicated regions' pages + busy slabs' pages. At the end of a
// program everything is destroyed and every figure is back to its baseline, with at most
// one empty slab per class kept; after the last program, once the spares are given back,
// no region, byte, slab or mapping (counted in /proc/self/smaps) is left either.
//
// What the two models share (comparing bytes, making patterns and programs, ModelRun with the
// library's error rules and the model's scopes) is properties-model.mjs's.
import { readFileSync } from 'node:fs';

import fc from 'fast-check';
import * as core from '@strongroom/core-native';
import { SecretBuffer } from '@strongroom/enclave';

import {
  ModelRun,
  assertParameters,
  attempt,
  command,
  expectBytes,
  expectEqual,
  fail,
  pattern,
  placePatch,
  programsOf,
  sameBytes,
  writePatch,
} from './properties-model.mjs';

// ---- the layout, from the addon (slab.h) ---------------------------------------------

// The addon's constants are not part of core-native's public API: read them from the
// module that maps them (the one instance the package itself uses), as core-native's own
// tests do from src/constants.ts.
const { constants } = await import(new URL('./constants.js', import.meta.resolve('@strongroom/core-native')).href);
const { slabClasses: CLASSES, slabDataPages, canaryBytes: CANARY } = constants();
const PAGE = core.stats().pageSize;
const SLAB_BYTES = slabDataPages * PAGE;
const LARGEST = CLASSES[CLASSES.length - 1];
/** Slots per slab of each class: stride = class + canary (slab.h). */
const PER_SLAB = CLASSES.map((c) => Math.floor(SLAB_BYTES / (c + CANARY)));
/**
 * Empty slabs kept per class for the next allocation (README, "Small secrets: slabs"; slab.h's
 * kSlabReserve, per class, backend and lock state: one backend, always locked, here).
 */
const KEPT = 1;
/** Bulk creation fills a slab (and opens the next) only in classes this small per slab. */
const BULK_FILL_MAX = 256;
const BULK_DEFAULT = 24;

/** The class a shared region of `size` bytes takes, or -1 (pages of its own). */
function classOf(size) {
  return CLASSES.findIndex((c) => size <= c);
}

/** Bytes of data pages of a dedicated region: data and canary, rounded up to pages. */
function dedicatedBytes(size) {
  return Math.ceil((size + CANARY) / PAGE) * PAGE;
}

// ---- the commands -------------------------------------------------------------------

// Sizes 1..300 (the largest class and 44 more), with each class's edges (c - 1, c, c + 1) weighted.
const MAX_SIZE = LARGEST + 44;
const EDGES = [...new Set([1, ...CLASSES.flatMap((c) => [c - 1, c, c + 1])])].filter((n) => n >= 1 && n <= MAX_SIZE);
const size = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGES) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: MAX_SIZE }) },
);
const how = fc.constantFrom('alloc', 'random', 'from');
// Explicit, or left to configure()'s default ('default').
const isolated = fc.oneof(
  { weight: 3, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
  { weight: 2, arbitrary: fc.constant('default') },
);
/** A buffer or a held scope, by number (ProgramRun's buffer() and heldScope()). */
const ref = fc.nat(99);
const kind = fc.constantFrom('read', 'write');
// A few bytes somewhere, the last bytes (against the neighbour's canary or the guard page), or all of them.
const patch = fc.record({
  at: fc.oneof({ weight: 3, arbitrary: fc.nat(MAX_SIZE) }, { weight: 1, arbitrary: fc.constant('end') }),
  length: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.constant(MAX_SIZE) }),
  fill: fc.nat(),
});
const offset = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(MAX_SIZE) });

const COMMANDS = [
  command('create', { how, size, isolated, fill: fc.nat() }, 7),
  command('bulk', {
    how,
    size,
    count: fc.oneof(fc.integer({ min: 2, max: BULK_DEFAULT }), fc.constant('fill')),
    extra: fc.integer({ min: -1, max: 2 }), // one short of a full slab, full, or one or two past
    fill: fc.nat(),
  }, 2),
  command('destroy', { b: ref }, 3),
  command('read', { b: ref }, 3),
  command('write', { b: ref, patch, via: fc.constantFrom('write', 'writer') }, 4),
  command('pair', {
    a: ref,
    b: ref,
    kinds: fc.oneof(
      { weight: 3, arbitrary: fc.constant(['read', 'write']) },
      { weight: 1, arbitrary: fc.constant(['write', 'read']) },
      { weight: 1, arbitrary: fc.constant(['read', 'read']) },
      { weight: 1, arbitrary: fc.constant(['write', 'write']) },
    ),
    patch,
  }, 5),
  command('hold', { b: ref, kind }, 3),
  command('heldWrite', { h: ref, patch }, 3),
  command('release', { h: ref }, 3),
  command('freeze', { b: ref }, 2),
  command('melt', { b: ref }, 1),
  command('copy', {
    b: ref,
    src: ref,
    offset,
    range: fc.option(fc.record({ from: fc.nat(MAX_SIZE), length: fc.nat(MAX_SIZE) }), { freq: 3 }),
  }, 2),
  command('equals', { a: ref, b: ref }, 2),
  command('defaults', { isolated: fc.boolean() }, 2),
];

/** A program starts with two to four of these (programsOf). */
const MAKERS = new Set(['create']);

/** Where a patch lands in a buffer of `size` bytes ('end': its last bytes), and its bytes. */
function place(p, size) {
  const length = Math.min(p.length, size);
  return placePatch({ at: p.at === 'end' ? size - length : p.at, length, fill: p.fill }, size);
}

// ---- the process: what exists outside the model -------------------------------------

/**
 * Measured once per process, before the first program: every figure of stats() that the
 * programs change, and configure()'s isolated default (STRONGROOM_ISOLATED=1 starts the
 * process with true), which every program starts from. Measured again after a program
 * failed (ProgramRun.abandon), so that fast-check's shrinking judges each smaller program
 * on its own rather than by what the failed one left behind.
 */
let world;

function measureWorld(backend) {
  if (world !== undefined) {
    if (world.backend !== backend) fail(`one process runs one backend (${world.backend}), not also ${backend}`);
    return;
  }
  const { isolated: isolatedDefault } = core.configure({ backend });
  const live = SecretBuffer.live();
  if (live.buffers !== 0) fail(`the first program must start with no live SecretBuffer, found ${live.buffers}`);
  world = baseline(backend, isolatedDefault);
}

function baseline(backend, isolatedDefault) {
  const s = core.stats();
  return {
    backend,
    isolatedDefault,
    regions: s.regions,
    mine: backend === 'mmap' ? s.mmapRegions : s.secretmemRegions,
    orphaned: s.orphanedRegions,
    memory: s.bytesLocked + s.bytesUnlocked,
    busySlabs: s.slabs.count - s.slabs.empty,
    slotsInUse: s.slabs.classes.map((c) => c.slotsInUse),
    deadSlots: s.slabs.classes.map((c) => c.deadSlots),
    spareRegions: s.spareRegions,
    slabs: s.slabs.count,
    mappings: guardedMappings(),
  };
}

/** strongroom's mappings: its MADV_DONTDUMP flag ('dd' in smaps), which no mapping of Node or V8 has. */
function guardedMappings() {
  return readFileSync('/proc/self/smaps', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('VmFlags:') && / dd( |$)/.test(line)).length;
}

/**
 * After the last program: once the spares (the empty slabs kept, the freed regions kept)
 * are given back, the process holds exactly what it held before the first one: regions,
 * bytes, slabs and mappings, counted by the kernel as well as by stats().
 */
function expectNothingLeft() {
  const spares = core.releaseSpareRegions();
  const s = core.stats();
  const left = {
    regions: s.regions - world.regions,
    bytes: s.bytesLocked + s.bytesUnlocked - world.memory,
    spareRegions: s.spareRegions - world.spareRegions,
    slabs: s.slabs.count - world.slabs,
    mappings: guardedMappings() - world.mappings,
  };
  if (Object.values(left).some((n) => n !== 0)) {
    fail(`after the last program and releaseSpareRegions() (${spares} given back), left beyond the baseline: ${JSON.stringify(left)}`);
  }
}

// ---- one program --------------------------------------------------------------------

/**
 * Model of each buffer (buffers): { id, real, size, klass (its slab class, -1: pages of its own),
 * bytes, frozen, destroyed, scope: { kind, depth } | undefined }; of each scope left open across
 * commands by reader()/writer() (held): { buffer, kind, view }.
 */
class ProgramRun extends ModelRun {
  isolatedDefault = world.isolatedDefault;
  /** Per class: the most slots in use at once since the program started. */
  peak;

  constructor(outcomes) {
    super(outcomes);
    this.peak = core.stats().slabs.classes.map((c) => c.slotsInUse);
  }

  // -- picking --

  /**
   * A buffer by number: below 20, one with a held scope (if any is live); below 80, a live
   * one; else any, destroyed ones included.
   */
  buffer(n) {
    const live = this.buffers.filter((b) => !b.destroyed);
    const held = n < 20 ? live.filter((b) => this.held.some((h) => h.buffer === b)) : [];
    const from = held.length > 0 ? held : n < 80 && live.length > 0 ? live : this.buffers;
    return from.length === 0 ? undefined : from[n % from.length];
  }

  /** Another live buffer than `a`: of a's class (likely on its page) when there is one. */
  neighbour(a, n) {
    const others = this.buffers.filter((b) => !b.destroyed && b !== a);
    const same = a.klass >= 0 ? others.filter((b) => b.klass === a.klass) : [];
    const from = n < 80 && same.length > 0 ? same : others;
    return from.length === 0 ? undefined : from[n % from.length];
  }

  liveIn(k) {
    let n = 0;
    for (const b of this.buffers) if (!b.destroyed && b.klass === k) n++;
    return n;
  }

  // -- the commands --

  step(c) {
    switch (c.op) {
      case 'create':
        return this.create(c.how, c.size, c.isolated, c.fill, 'create');
      case 'bulk':
        return this.bulk(c);
      case 'destroy': {
        const b = this.buffer(c.b);
        if (b === undefined) return this.count('destroy:skip');
        const what = b.destroyed ? 'destroy again' : b.scope !== undefined ? `destroy in a ${b.scope.kind} scope` : 'destroy';
        return this.destroy(b, what);
      }
      case 'read':
        return this.read(c);
      case 'write':
        return this.write(c);
      case 'pair':
        return this.pair(c);
      case 'hold':
        return this.hold(c);
      case 'heldWrite':
        return this.heldWrite(c);
      case 'release':
        return this.release(c);
      case 'freeze':
      case 'melt':
        return this.freezeOrMelt(c);
      case 'copy':
        return this.copy(c);
      case 'equals':
        return this.equals(c);
      case 'defaults': {
        const value = this.expectOutcome('configure', attempt(() => core.configure({ isolated: c.isolated })), undefined);
        expectEqual(value.isolated, c.isolated, 'configure() returns the new default');
        this.isolatedDefault = c.isolated;
        return;
      }
      default:
        fail(`unknown command ${JSON.stringify(c)}`);
    }
  }

  create(how, size, isolated, fill, what) {
    const shared = !(isolated === 'default' ? this.isolatedDefault : isolated);
    const options = isolated === 'default' ? [] : [{ isolated }];
    let expected;
    let real;
    if (how === 'from') {
      expected = pattern(size, fill || 1);
      const source = Uint8Array.from(expected);
      real = this.expectOutcome(what, attempt(() => SecretBuffer.from(source, ...options)), undefined);
      expectBytes(Array.from(source), new Array(size).fill(0), `${what}: from()'s source afterwards`);
    } else {
      real = this.expectOutcome(what, attempt(() => SecretBuffer[how](size, ...options)), undefined);
      expected = how === 'alloc' ? new Array(size).fill(0) : null;
    }
    const klass = shared ? classOf(size) : -1;
    const b = { id: this.buffers.length, real, size, klass, bytes: expected, frozen: false, destroyed: false, scope: undefined };
    this.buffers.push(b);
    expectEqual(real.size, size, `${what}: size`);
    if (klass >= 0) {
      this.count(`${what}: a slot of class ${CLASSES[klass]}`);
      this.peak[klass] = Math.max(this.peak[klass], world.slotsInUse[klass] + this.liveIn(klass));
    } else {
      const why = !shared ? (isolated === true ? 'isolated' : 'isolated by default') : 'larger than a class';
      this.count(`${what}: pages of its own (${why})`);
    }
    if (expected === null) {
      b.bytes = this.contents(b); // random: learn them
      if (size >= 16 && b.bytes.every((x) => x === 0)) fail(`${what}: ${size} random bytes are all zero`);
    }
    return b;
  }

  /** Many shared buffers of one size: in a class with few slots a slab, up to its capacity and past it (a new slab). */
  bulk(c) {
    const k = classOf(c.size);
    let count = c.count === 'fill' ? BULK_DEFAULT : c.count;
    if (c.count === 'fill' && k >= 0 && PER_SLAB[k] <= BULK_FILL_MAX) {
      const used = (world.slotsInUse[k] + this.liveIn(k)) % PER_SLAB[k];
      count = Math.max(1, PER_SLAB[k] - used + c.extra);
    }
    for (let i = 0; i < count; i++) this.create(c.how, c.size, false, c.fill + i, 'bulk');
  }

  read(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('read:skip');
    let view;
    let seen;
    const result = attempt(() =>
      b.real.read((v) => {
        view = v;
        seen = Array.from(v);
        return 'from fn';
      }),
    );
    if (this.expectOutcome('read', result, this.enterCode(b, 'read')) === undefined) return;
    expectBytes(seen, b.bytes, `read of buffer #${b.id}`);
    this.expectView(b, view, 'read');
  }

  write(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('write:skip');
    const placed = place(c.patch, b.size);
    const code = this.enterCode(b, 'write');
    let view;
    const body = (v) => {
      view = v;
      expectBytes(Array.from(v), b.bytes, `write scope of buffer #${b.id}`);
      writePatch(v, placed);
      return 'from fn';
    };
    const result =
      c.via === 'write'
        ? attempt(() => b.real.write(body))
        : attempt(() => {
            const v = b.real.writer();
            try {
              return body(v);
            } finally {
              v[Symbol.dispose]();
            }
          });
    const what = `${c.via}${b.frozen ? ' (frozen)' : ''}`;
    if (this.expectOutcome(what, result, code) === undefined) return;
    writePatch(b.bytes, placed);
    this.expectView(b, view, c.via);
  }

  /**
   * A scope on `a` and, inside it, a scope on another buffer `b` (of a's class when there is
   * one: most likely on the same page). Inside both, each view shows its own buffer's bytes;
   * after the inner scope ends, the outer view still reads (and writes) what it should.
   */
  pair(c) {
    const a = this.buffer(c.a);
    const b = a === undefined ? undefined : this.neighbour(a, c.b);
    if (b === undefined) return this.count('pair:skip');
    const [outer, inner] = c.kinds;
    const same = a.klass >= 0 && a.klass === b.klass ? ' (one class)' : '';
    const what = `pair ${outer} > ${inner}${same}`;
    const placedA = place({ ...c.patch, fill: c.patch.fill + 1 }, a.size);
    const placedB = place(c.patch, b.size);
    let outerView;
    let innerView;
    let innerResult;
    const outerCode = this.enterCode(a, outer);
    const innerCode = this.enterCode(b, inner);
    const result = attempt(() =>
      a.real[outer]((v) => {
        outerView = v;
        this.enterModel(a, outer);
        try {
          expectBytes(Array.from(v), a.bytes, `${what}: the outer view of #${a.id}`);
          innerResult = attempt(() =>
            b.real[inner]((w) => {
              innerView = w;
              this.enterModel(b, inner);
              try {
                expectBytes(Array.from(w), b.bytes, `${what}: the inner view of #${b.id}`);
                if (inner === 'write') writePatch(w, placedB);
                expectBytes(Array.from(v), a.bytes, `${what}: the outer view of #${a.id} inside the inner scope`);
              } finally {
                this.leaveModel(b);
              }
              return 'inner';
            }),
          );
          if (this.expectOutcome(`${what} (inner)`, innerResult, innerCode) !== undefined) {
            if (inner === 'write') writePatch(b.bytes, placedB);
            this.expectView(b, innerView, `${what}: the inner view after its scope`);
          }
          expectEqual(v.length, a.size, `${what}: the outer view after the inner scope`);
          expectBytes(Array.from(v), a.bytes, `${what}: the outer view of #${a.id} after the inner scope`);
          if (outer === 'write') {
            writePatch(v, placedA); // the page must still be writable for a
            writePatch(a.bytes, placedA);
          }
        } finally {
          this.leaveModel(a);
        }
        return 'outer';
      }),
    );
    if (this.expectOutcome(what, result, outerCode) === undefined) return;
    this.expectView(a, outerView, `${what}: the outer view after its scope`);
  }

  hold(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('hold:skip');
    const code = this.enterCode(b, c.kind);
    const view = this.expectOutcome(`hold ${c.kind}`, attempt(() => (c.kind === 'read' ? b.real.reader() : b.real.writer())), code);
    if (view === undefined) return;
    this.enterModel(b, c.kind);
    expectBytes(Array.from(view), b.bytes, `hold ${c.kind}: the view of #${b.id}`);
    this.held.push({ buffer: b, kind: c.kind, view });
  }

  heldWrite(c) {
    const h = this.heldScope(c.h);
    if (h === undefined) return this.count('heldWrite:skip');
    const b = h.buffer;
    if (b.destroyed) {
      this.count('heldWrite:destroyed');
      expectEqual(h.view.length, 0, 'the held view of a destroyed buffer');
      return;
    }
    if (h.kind !== 'write') {
      // A JS write through a read scope's view faults (SIGSEGV): read it instead.
      this.count('heldWrite:a read scope, read');
      expectBytes(Array.from(h.view), b.bytes, `held read view of #${b.id}`);
      return;
    }
    this.writeHeld(h, place(c.patch, b.size));
  }

  release(c) {
    const h = this.heldScope(c.h);
    if (h === undefined) return this.count('release:skip');
    this.releaseHeld(h);
  }

  releaseHeld(h) {
    this.held.splice(this.held.indexOf(h), 1);
    const b = h.buffer;
    const what = `release ${h.kind}${b.destroyed ? ' (destroyed)' : ''}`;
    this.expectOutcome(
      what,
      attempt(() => {
        h.view[Symbol.dispose]();
        h.view[Symbol.dispose](); // a second dispose changes nothing
      }),
      undefined,
    );
    if (!b.destroyed) this.leaveModel(b);
    this.expectView(b, h.view, what);
  }

  copy(c) {
    const b = this.buffer(c.b);
    const s = this.buffer(c.src);
    if (b === undefined || s === undefined) return this.count('copy:skip');
    let sourceOffset = 0;
    let length = s.size;
    const args = [s.real, c.offset];
    if (c.range !== null) {
      sourceOffset = c.range.from % (s.size + 1);
      length = c.range.length % (s.size - sourceOffset + 1);
      args.push({ sourceOffset, length });
    }
    // The library's order: a mutable target, a readable source, then the offset where it fits.
    const code = this.mutableCode(b) ?? this.readableCode(s) ?? (length > b.size - c.offset ? 'ERR_INVALID_ARG' : undefined);
    const what = `copy${s === b ? ' (itself)' : ''}`;
    const value = this.expectOutcome(what, attempt(() => b.real.copyFrom(...args)), code);
    if (value === undefined) return;
    expectEqual(value, b.real, 'copyFrom() returns the buffer');
    const moved = s.bytes.slice(sourceOffset, sourceOffset + length);
    b.bytes.splice(c.offset, moved.length, ...moved);
  }

  equals(c) {
    const a = this.buffer(c.a);
    const b = this.buffer(c.b);
    if (a === undefined || b === undefined) return this.count('equals:skip');
    const value = this.expectOutcome('equals', attempt(() => a.real.equals(b.real)), this.readableCode(a) ?? this.readableCode(b));
    if (value === undefined) return;
    const expected = sameBytes(a.bytes, b.bytes);
    expectEqual(value, expected, `equals(#${a.id}, #${b.id})`);
    this.count(`equals:${expected}`);
  }

  /** Everything the model knows, compared with the real buffers and stats(). */
  verify(where) {
    let live = 0;
    let dedicated = 0;
    const slots = CLASSES.map(() => 0);
    for (const b of this.buffers) {
      const what = `${where}: buffer #${b.id}`;
      expectEqual(b.real.destroyed, b.destroyed, `${what} destroyed`);
      if (b.destroyed) continue;
      live++;
      if (b.klass >= 0) slots[b.klass]++;
      else dedicated += dedicatedBytes(b.size);
      expectEqual(b.real.frozen, b.frozen, `${what} frozen`);
      expectBytes(this.contents(b), b.bytes, what);
    }
    for (const h of this.held) this.expectView(h.buffer, h.view, `${where}: a held ${h.kind} view of #${h.buffer.id}`);
    const s = core.stats();
    expectEqual(s.regions, world.regions + live, `${where}: stats().regions (${world.regions} at the baseline)`);
    const mine = world.backend === 'mmap' ? s.mmapRegions : s.secretmemRegions;
    expectEqual(mine, world.mine + live, `${where}: stats().${world.backend}Regions`);
    expectEqual(s.orphanedRegions, world.orphaned, `${where}: stats().orphanedRegions`);
    const { count, empty, bytes, classes } = s.slabs;
    expectEqual(classes.length, CLASSES.length, `${where}: stats().slabs.classes.length`);
    let slabs = 0;
    for (const [k, c] of classes.entries()) {
      const what = `${where}: stats().slabs.classes[${k}] (${CLASSES[k]} bytes)`;
      const inUse = world.slotsInUse[k] + slots[k];
      expectEqual(c.size, CLASSES[k], `${what}.size`);
      expectEqual(c.slotsInUse, inUse, `${what}.slotsInUse (${world.slotsInUse[k]} at the baseline)`);
      expectEqual(c.deadSlots, world.deadSlots[k], `${what}.deadSlots`);
      expectEqual(c.slots, c.slabs * PER_SLAB[k], `${what}.slots (${PER_SLAB[k]} a slab)`);
      // Enough slabs for the slots in use; no more than the program's peak needed (a new slab
      // is made only when every slab of the class is full), or than the empty one kept.
      const least = Math.ceil(inUse / PER_SLAB[k]);
      const most = Math.max(KEPT, Math.ceil(this.peak[k] / PER_SLAB[k]));
      if (c.slabs < least || c.slabs > most) {
        fail(`${what}.slabs: ${c.slabs}, the model says ${least} to ${most} (${inUse} slots in use, at most ${this.peak[k]})`);
      }
      if (c.slabs > 1) this.count(`slabs: ${c.slabs} of class ${CLASSES[k]}`);
      slabs += c.slabs;
    }
    expectEqual(count, slabs, `${where}: stats().slabs.count, the sum over the classes`);
    expectEqual(bytes, count * SLAB_BYTES, `${where}: stats().slabs.bytes`);
    if (empty > count) fail(`${where}: stats().slabs.empty ${empty} > count ${count}`);
    if (s.spareRegions < empty || s.spareBytes < empty * SLAB_BYTES) {
      fail(`${where}: ${empty} empty slabs, but stats() has ${s.spareRegions} spares of ${s.spareBytes} bytes`);
    }
    const busy = count - empty - world.busySlabs;
    expectEqual(
      s.bytesLocked + s.bytesUnlocked,
      world.memory + dedicated + busy * SLAB_BYTES,
      `${where}: stats().bytesLocked + bytesUnlocked (${dedicated} bytes of dedicated regions, ${busy} busy slabs)`,
    );
    const sb = SecretBuffer.live();
    expectEqual(sb.buffers, live, `${where}: SecretBuffer.live().buffers`);
  }

  /** Ends the program: held scopes released, every buffer destroyed, every figure back to its baseline. */
  finish() {
    while (this.held.length > 0) this.releaseHeld(this.held[0]);
    this.verify('after releasing the held scopes');
    const live = this.buffers.filter((b) => !b.destroyed).length;
    expectEqual(SecretBuffer.destroyAll(), live, 'SecretBuffer.destroyAll() at the end');
    for (const b of this.buffers) this.destroyModel(b);
    this.verify('after destroyAll()');
    const s = core.stats();
    expectEqual(s.slabs.count - s.slabs.empty, world.busySlabs, 'at the end: busy slabs (stats().slabs.count - empty)');
    // Empty slabs are unmapped, but KEPT per class are kept for the next allocation.
    for (const [k, c] of s.slabs.classes.entries()) {
      if (c.slabs > KEPT) fail(`at the end: ${c.slabs} slabs of class ${CLASSES[k]} are left, all empty (${KEPT} kept)`);
      if (this.peak[k] > PER_SLAB[k]) this.count('slabs given back at the end');
    }
    core.configure({ isolated: world.isolatedDefault });
  }

  /**
   * After a failure (reported already): leave the process as clean as it can be for the
   * next (shrinking) run, and take what is left as the next run's baseline.
   */
  abandon() {
    for (const h of this.held.splice(0)) {
      try {
        h.view[Symbol.dispose]();
      } catch {
        // the failure is reported already
      }
    }
    SecretBuffer.destroyAll();
    core.releaseSpareRegions();
    core.configure({ isolated: world.isolatedDefault });
    world = baseline(world.backend, world.isolatedDefault);
  }
}

// ---- the property -------------------------------------------------------------------

/**
 * Runs the property with fast-check and resolves with a report of what ran; rejects with
 * fast-check's error (seed, path and the shrunk counterexample) when a program breaks it.
 *
 * options: { backend: 'mmap' | 'secretmem', numRuns, maxCommands, seed?, path?, timeLimit?,
 *            onProgram?, onCommand?: called with each program and each command's index before
 *            they run (a crash leaves no report) }
 * timeLimit (ms) interrupts the runs and the shrinking, and reports a failure found so far.
 */
export async function checkProperty(options) {
  const { backend, numRuns, maxCommands, seed, path, timeLimit, onProgram, onCommand } = options;
  measureWorld(backend);
  const outcomes = {};
  let runs = 0;
  let commands = 0;
  const property = fc.property(programsOf(COMMANDS, MAKERS, maxCommands), (program) => {
    runs++;
    onProgram?.(program);
    const run = new ProgramRun(outcomes);
    let passed = false;
    try {
      run.verify('before the program');
      for (const [i, c] of program.entries()) {
        commands++;
        onCommand?.(i);
        run.step(c);
        run.verify(`after command ${i} ${JSON.stringify(c)}`);
      }
      run.finish();
      passed = true;
    } finally {
      if (!passed) run.abandon();
    }
  });
  const parameters = assertParameters({ numRuns, seed, path });
  if (timeLimit !== undefined) Object.assign(parameters, { interruptAfterTimeLimit: timeLimit, markInterruptAsFailure: true });
  fc.assert(property, parameters);
  expectNothingLeft();
  const { backend: used } = core.stats();
  return { runs, commands, backend: used, viewMode: SecretBuffer.viewMode, isolatedDefault: world.isolatedDefault, outcomes };
}
