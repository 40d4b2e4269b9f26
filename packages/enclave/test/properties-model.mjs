// The model-based property of SecretBuffer and Enclave (issue 9), shared by every variant
// that properties.test.ts runs. Plain JavaScript, because it runs in child processes from
// the built dist/: each child starts in the view mode it tests (copy mode is chosen once,
// by STRONGROOM_NO_EXTERNAL_BUFFERS=1 at process start) and configures its backend before
// it allocates anything.
//
// A program is a list of commands, plain data that fast-check generates and shrinks. Each
// command runs against the real objects and against a model of what they must hold: every
// buffer's bytes, frozen and destroyed state and open scopes; every enclave's plaintext,
// the purge it was sealed before and whether its sealed bytes were forged. After every
// command the results, the thrown StrongroomError codes, SecretBuffer.live() and
// core-native's stats() must match the model.
//
// Residue runs (`plant`) start every program with a buffer holding the marker, copied
// natively from a guarded master region. The model then never puts a buffer's bytes into a
// contiguous byte array: it keeps them as arrays of small integers (one tagged word per
// byte), so a scan that finds the marker found a copy the library left.
import fc from 'fast-check';
import * as core from '@strongroom/core-native';
import { Enclave, SecretBuffer, StrongroomError, purge, rekeyCoffer } from '@strongroom/enclave';
import { cofferOpenBuffer } from '@strongroom/buffer';

const OVERHEAD = core.SEAL_OVERHEAD; // nonce and MAC before the ciphertext

// ---- the commands -------------------------------------------------------------------

// Sizes: many of 32 bytes (the residue marker's size), so that copies between buffers fit
// often; some around an exact page, which gets an extra page for its canary.
const SMALL = [1, 2, 7, 16, 31, 33, 64, 100];
const LARGE = [4095, 4096, 4097];
const size = fc.oneof(
  { weight: 4, arbitrary: fc.constant(32) },
  { weight: 5, arbitrary: fc.constantFrom(...SMALL) },
  { weight: 1, arbitrary: fc.constantFrom(...LARGE) },
);
/** Bytes described by a size and a seed (0: zeros), made fresh for every use. */
const content = fc.record({ size, fill: fc.nat() });
const shortContent = fc.record({ size: fc.oneof(fc.constant(32), fc.constantFrom(...SMALL)), fill: fc.nat() });
/** A buffer, an enclave or a held scope, by number (ProgramRun's buffer(), enclave(), heldScope()). */
const ref = fc.nat(99);
const kind = fc.constantFrom('read', 'write');
const patch = fc.record({ at: fc.nat(5000), length: fc.integer({ min: 1, max: 8 }), fill: fc.nat() });
const offset = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(120) });
const source = fc.oneof(
  { weight: 3, arbitrary: fc.record({ buffer: ref }) },
  { weight: 1, arbitrary: fc.record({ bytes: shortContent }) },
);

/** A command of a program: its op, its weight among the others and fast-check's arbitrary of its fields. */
export const command = (op, fields, weight) => ({ op, weight, arbitrary: fc.record({ op: fc.constant(op), ...fields }) });

const COMMANDS = [
  // making buffers
  command('alloc', { size }, 3),
  command('random', { size }, 2),
  command('from', { content, wipeSource: fc.constantFrom('default', true, false) }, 3),
  // scopes that end within the command
  command('read', { b: ref }, 3),
  command('write', { b: ref, patch }, 3),
  command('nested', { b: ref, kind, patch, inner: fc.constantFrom('fn', 'using') }, 2),
  command('cross', { b: ref, kind, probe: fc.constantFrom('scope', 'disposable', 'wipe', 'equals', 'seal', 'destroy') }, 3),
  command('throws', { b: ref, kind, patch }, 2),
  command('async', { b: ref, kind, patch, during: fc.constantFrom('probe', 'probe', 'destroy', 'purge') }, 3),
  command('rejects', { b: ref, kind, patch, how: fc.constantFrom('async', 'thenable') }, 2),
  // scopes that stay open across commands
  command('hold', { b: ref, kind, how: fc.constantFrom('using', 'promise', 'thenable') }, 4),
  command('heldWrite', { h: ref, patch }, 3),
  command('heldRead', { h: ref }, 2),
  command('release', { h: ref, outcome: fc.constantFrom('resolve', 'reject') }, 3),
  // state and operations
  command('freeze', { b: ref }, 2),
  command('melt', { b: ref }, 2),
  command('copyFrom', { b: ref, src: source, offset }, 4),
  command('moveFrom', { b: ref, src: source, offset }, 3),
  command('scramble', { b: ref }, 1),
  command('wipe', { b: ref }, 1),
  command('equals', {
    b: ref,
    other: fc.oneof(fc.record({ buffer: ref }), fc.record({ bytes: shortContent }), fc.constant({ own: true })),
  }, 3),
  command('destroy', { b: ref }, 2),
  // enclaves
  command('seal', { b: ref }, 3),
  command('encFrom', { content: shortContent }, 2),
  command('encRandom', { size: fc.oneof(fc.constant(32), fc.constantFrom(...SMALL)) }, 1),
  command('open', { e: ref }, 4),
  command(
    'transport',
    {
      e: ref,
      tamper: fc.oneof(
        { weight: 3, arbitrary: fc.constant({ none: true }) },
        { weight: 1, arbitrary: fc.record({ flip: fc.nat(200), bit: fc.nat(7) }) },
        { weight: 1, arbitrary: fc.record({ keep: fc.constantFrom(0, 39, 40, 41) }) }, // the edges of the format
        { weight: 1, arbitrary: fc.record({ keep: fc.nat(200) }) },
      ),
    },
    3,
  ),
  command('purge', {}, 1),
  command('rekey', {}, 1),
  command('misuse', { which: fc.nat(99), b: ref }, 1),
];

const MAKERS = new Set(['alloc', 'random', 'from', 'encFrom', 'encRandom']);
const oneOf = (commands) => fc.oneof(...commands.map(({ weight, arbitrary }) => ({ weight, arbitrary })));

/**
 * Programs of `commands`: two to four whose op is in `makers` (commands that make buffers,
 * so that fewer of the rest find nothing to work on), then up to `maxCommands` of any kind.
 */
export function programsOf(commands, makers, maxCommands) {
  const setup = fc.array(oneOf(commands.filter(({ op }) => makers.has(op))), { minLength: 2, maxLength: 4 });
  const rest = fc.array(oneOf(commands), { maxLength: maxCommands, size: 'max' });
  return fc.tuple(setup, rest).map(([first, then]) => [...first, ...then]);
}

// ---- helpers ------------------------------------------------------------------------
// (the exported ones are shared with slab-properties-model.mjs)

class PropertyFailure extends Error {
  name = 'PropertyFailure';
}
/** What a scope's fn throws or rejects with: the caller must get this very object back. */
class Sentinel extends Error {
  name = 'Sentinel';
}

export function fail(message) {
  throw new PropertyFailure(message);
}

export function describe(error) {
  if (error instanceof Error) return `${error.name}${error.code ? ` ${error.code}` : ''}: ${error.message}`;
  return String(error);
}

export function attempt(fn) {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

async function settle(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Deterministic bytes as an array of small integers (xorshift32; seed 0 gives zeros). */
export function pattern(size, seed) {
  const out = new Array(size).fill(0);
  if (seed === 0) return out;
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 255;
  }
  return out;
}

/** Whether `bytes` holds `marker` somewhere (residue runs track where the marker went). */
function holds(bytes, marker) {
  outer: for (let i = 0; i + marker.length <= bytes.length; i++) {
    for (let j = 0; j < marker.length; j++) if (bytes[i + j] !== marker[j]) continue outer;
    return true;
  }
  return false;
}

export function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function show(bytes) {
  const head = Array.from(bytes.slice(0, 16), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return `${bytes.length} bytes [${head}${bytes.length > 16 ? ' …' : ''}]`;
}

export function expectBytes(actual, expected, what) {
  if (!sameBytes(actual, expected)) fail(`${what}: holds ${show(actual)}, the model says ${show(expected)}`);
}

export function expectEqual(actual, expected, what) {
  if (actual !== expected) fail(`${what}: got ${String(actual)}, the model says ${String(expected)}`);
}

/** Where a patch lands in a buffer of `size` bytes, and its bytes. */
export function placePatch(patch, size) {
  const at = patch.at % size;
  return { at, bytes: pattern(Math.min(patch.length, size - at), patch.fill || 1) };
}

export function writePatch(view, placed) {
  for (let i = 0; i < placed.bytes.length; i++) view[placed.at + i] = placed.bytes[i];
}

const other = (kind) => (kind === 'read' ? 'write' : 'read');

// Misuse that every strongroom entry point refuses with ERR_INVALID_ARG whatever the state
// of the buffer it is called on (the arguments are checked first), changing nothing.
const MISUSE = [
  ['SecretBuffer.alloc(0)', () => SecretBuffer.alloc(0)],
  ['SecretBuffer.alloc(1.5)', () => SecretBuffer.alloc(1.5)],
  ['SecretBuffer.random(-1)', () => SecretBuffer.random(-1)],
  ["SecretBuffer.from('text')", () => SecretBuffer.from('text')],
  ['SecretBuffer.from(bytes, { nope: true })', () => SecretBuffer.from(new Uint8Array(1), { nope: true })],
  ["Enclave.from('text')", () => Enclave.from('text')],
  ['Enclave.seal(bytes)', () => Enclave.seal(new Uint8Array(4))],
  ['Enclave.random(0)', () => Enclave.random(0)],
  ['buffer.read(42)', (b) => b.read(42)],
  ['buffer.write(null)', (b) => b.write(null)],
  ['buffer.freeze(1)', (b) => b.freeze(1)],
  ['buffer.destroy(1)', (b) => b.destroy(1)],
];

// ---- what both models' runs share ---------------------------------------------------

/**
 * One program run against a model of its SecretBuffers: the outcome counts, the library's
 * rules for which error a call must give, the model's scope bookkeeping and the reads of a
 * buffer's bytes. A subclass (ProgramRun here and in slab-properties-model.mjs) adds its
 * commands and defines buffer(n), the pick of a buffer by number.
 *
 * Model of each buffer: at least { id, real, size, bytes, frozen, destroyed,
 * scope: { kind, depth } | undefined }; of each held scope: at least { buffer, kind, view }.
 */
export class ModelRun {
  /** Model of each buffer. */
  buffers = [];
  /** Scopes left open across commands. */
  held = [];

  constructor(outcomes) {
    this.outcomes = outcomes;
  }

  count(key) {
    this.outcomes[key] = (this.outcomes[key] ?? 0) + 1;
  }

  /** Checks the result of a call against the model's expected error code (undefined: success). */
  expectOutcome(what, result, code) {
    this.count(`${what}:${code ?? 'ok'}`);
    if (code === undefined) {
      if (!result.ok) fail(`${what}: expected success, got ${describe(result.error)}`);
      return result.value;
    }
    if (result.ok) fail(`${what}: expected ${code}, but it succeeded`);
    if (!(result.error instanceof StrongroomError)) fail(`${what}: expected a StrongroomError ${code}, got ${describe(result.error)}`);
    if (result.error.code !== code) fail(`${what}: expected ${code}, got ${describe(result.error)}`);
    return undefined;
  }

  // -- the library's rules: which error a call must give, checked in its order
  //    (SecretBuffer's #live, #enter, #mutable, #readable) --

  liveCode(b) {
    return b.destroyed ? 'ERR_DESTROYED' : undefined;
  }

  /** Opening a scope: destroyed, then frozen (write), then a scope of the other kind. */
  enterCode(b, kind) {
    return (
      this.liveCode(b) ??
      (kind === 'write' && b.frozen ? 'ERR_FROZEN' : b.scope !== undefined && b.scope.kind !== kind ? 'ERR_BUSY' : undefined)
    );
  }

  /** A mutation (copyFrom's target, moveFrom's both sides, scramble, wipe): no scope of any kind. */
  mutableCode(b) {
    return this.liveCode(b) ?? (b.frozen ? 'ERR_FROZEN' : b.scope !== undefined ? 'ERR_BUSY' : undefined);
  }

  /** A native read (equals, a copy's source): not during a write scope. */
  readableCode(b) {
    return this.liveCode(b) ?? (b.scope?.kind === 'write' ? 'ERR_BUSY' : undefined);
  }

  // -- the model's scopes --

  enterModel(b, kind) {
    if (b.scope === undefined) b.scope = { kind, depth: 1 };
    else b.scope.depth++;
  }

  leaveModel(b) {
    if (b.scope !== undefined && --b.scope.depth === 0) b.scope = undefined;
  }

  destroyModel(b) {
    b.destroyed = true;
    b.scope = undefined; // destroy() abandons open scopes: their views are empty now
  }

  /** destroy(), twice (the second changes nothing): succeeds whatever the buffer's state, counted as `what`. */
  destroy(b, what) {
    this.expectOutcome(
      what,
      attempt(() => {
        b.real.destroy();
        b.real.destroy();
      }),
      undefined,
    );
    this.destroyModel(b);
  }

  /** A held scope by number: below 50 a write scope (if any), else any. */
  heldScope(n) {
    const writes = this.held.filter((h) => h.kind === 'write');
    const from = n < 50 && writes.length > 0 ? writes : this.held;
    return from.length === 0 ? undefined : from[n % from.length];
  }

  /** A view must be as long as its buffer while a scope is open on it, and empty after. */
  expectView(b, view, what) {
    expectEqual(view.length, b.destroyed || b.scope === undefined ? 0 : b.size, `${what}: the view's length`);
  }

  /** The bytes of a live buffer, through a read scope (or the held write scope's view). */
  contents(b) {
    if (b.scope?.kind === 'write') {
      const h = this.held.find((x) => x.buffer === b);
      if (h === undefined) fail(`buffer #${b.id}: a write scope is open, but no held scope has it`);
      return Array.from(h.view);
    }
    return b.real.read((view) => Array.from(view));
  }

  /**
   * Writes a patch through a held write scope's view and into the model. freeze() refuses new
   * write scopes; one opened before it keeps writing.
   */
  writeHeld(h, placed) {
    this.count(h.buffer.frozen ? 'heldWrite:ok (frozen since)' : 'heldWrite:ok');
    writePatch(h.view, placed);
    writePatch(h.buffer.bytes, placed);
  }

  /** The 'freeze' and 'melt' commands: refused only once the buffer is destroyed. */
  freezeOrMelt(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count(`${c.op}:skip`);
    const code = this.liveCode(b);
    const value = this.expectOutcome(c.op, attempt(() => b.real[c.op]()), code);
    if (value === undefined) return;
    expectEqual(value, b.real, `${c.op}() returns the buffer`);
    b.frozen = c.op === 'freeze';
  }
}

/** fast-check's parameters for checkProperty's options (seed and path replay a run). */
export function assertParameters({ numRuns, seed, path }) {
  const parameters = { numRuns, includeErrorInReport: true };
  if (seed !== undefined) parameters.seed = seed;
  if (path !== undefined) parameters.path = path;
  return parameters;
}

// ---- the process: what exists outside the model -------------------------------------

/**
 * Measured once per process, before the first program: the regions that exist outside
 * the model (none in a fresh child; the residue test's master), and whether the coffer
 * (one region for the key halves, made by the first call that seals, opens or purges) was
 * made yet. The coffer must not exist before the first program (the residue test's
 * planting makes it, through the coffer).
 */
let world;

function measureWorld(backend) {
  if (world !== undefined) {
    if (world.backend !== backend) fail(`one process runs one backend (${world.backend}), not also ${backend}`);
    return;
  }
  core.configure({ backend });
  const live = SecretBuffer.live();
  if (live.buffers !== 0) fail(`the first program must start with no live SecretBuffer, found ${live.buffers}`);
  const s = core.stats();
  world = { backend, regions: s.regions, mmap: s.mmapRegions, secretmem: s.secretmemRegions, cofferMade: false };
}

// ---- one program --------------------------------------------------------------------

/**
 * Model of each buffer (buffers): { id, real, size, bytes, frozen, destroyed, scope: { kind, depth } | undefined };
 * of each scope left open across commands (held): { buffer, kind, how, view, release(outcome) }.
 */
class ProgramRun extends ModelRun {
  /** Model of each enclave: { id, real, size, secret: { bytes | null }, epoch, forged } */
  enclaves = [];
  /** Purges so far in this program: an enclave opens only in the epoch it was sealed in. */
  epoch = 0;
  /** Residue runs: the planted marker's bytes (then the picks favour what holds it). */
  marker = undefined;

  constructor(config, outcomes) {
    super(outcomes);
    this.config = config;
  }

  /** The expected code is worked out before the call: the call may change the state. */
  expectCall(what, code, fn) {
    return this.expectOutcome(what, attempt(fn), code);
  }

  expectSentinel(what, result, sentinel) {
    this.count(`${what}:rethrown`);
    if (result.ok) fail(`${what}: fn threw or rejected, but the call succeeded`);
    if (result.error !== sentinel) fail(`${what}: expected fn's own error back, got ${describe(result.error)}`);
  }

  /** Enclave.seal: no scope of any kind; frozen is fine. */
  idleCode(b) {
    return this.liveCode(b) ?? (b.scope !== undefined ? 'ERR_BUSY' : undefined);
  }

  /** fn for a synchronous scope, with the model's scope open while it runs. */
  inScope(b, kind, body) {
    return (view) => {
      this.enterModel(b, kind);
      try {
        return body(view);
      } finally {
        this.leaveModel(b);
      }
    };
  }

  // -- picking --

  /**
   * A buffer by number: below 25, one with a held scope (if any is live); in residue runs,
   * below 50, one that holds the marker (if any; not for a copy's target, which would
   * overwrite it); below 80, a live one; else any, destroyed ones included.
   */
  buffer(n, { target = false } = {}) {
    const live = this.buffers.filter((b) => !b.destroyed);
    const held = n < 25 ? live.filter((b) => this.held.some((h) => h.buffer === b)) : [];
    const marked = n < 50 && !target && this.marker !== undefined ? live.filter((b) => holds(b.bytes, this.marker)) : [];
    const from = held.length > 0 ? held : marked.length > 0 ? marked : n < 80 && live.length > 0 ? live : this.buffers;
    return from.length === 0 ? undefined : from[n % from.length];
  }

  /**
   * An enclave by number: below 50 the newest (just sealed or moved); in residue runs,
   * below 80, one that holds the marker (if any); else any.
   */
  enclave(n) {
    if (this.enclaves.length === 0) return undefined;
    if (n < 50) return this.enclaves[this.enclaves.length - 1];
    const holdsMarker = (e) => e.secret.bytes !== null && holds(e.secret.bytes, this.marker);
    const marked = n < 80 && this.marker !== undefined ? this.enclaves.filter(holdsMarker) : [];
    const from = marked.length > 0 ? marked : this.enclaves;
    return from[n % from.length];
  }

  addBuffer(real, bytes, frozen, what) {
    const b = { id: this.buffers.length, real, size: real.size, bytes, frozen, destroyed: false, scope: undefined };
    this.buffers.push(b);
    expectEqual(real.frozen, frozen, `${what}: frozen`);
    expectEqual(real.destroyed, false, `${what}: destroyed`);
    if (bytes === null) b.bytes = this.contents(b); // random: learn them
    expectEqual(b.bytes.length, real.size, `${what}: size`);
    return b;
  }

  addEnclave(real, size, secret, epoch, forged) {
    const e = { id: this.enclaves.length, real, size, secret, epoch, forged };
    this.enclaves.push(e);
    expectEqual(real.size, size, 'enclave size');
    return e;
  }

  /** Random bytes of at least 16 must not be all zero, nor what was there before. */
  expectRandom(bytes, before, what) {
    if (bytes.length < 16) return;
    if (bytes.every((x) => x === 0)) fail(`${what}: ${bytes.length} random bytes are all zero`);
    if (before !== undefined && sameBytes(bytes, before)) fail(`${what}: scramble() left the bytes as they were`);
  }

  // -- the commands --

  async step(c) {
    switch (c.op) {
      case 'alloc': {
        const real = this.expectOutcome('alloc', attempt(() => SecretBuffer.alloc(c.size)), undefined);
        this.addBuffer(real, new Array(c.size).fill(0), false, 'alloc');
        return;
      }
      case 'random': {
        const real = this.expectOutcome('random', attempt(() => SecretBuffer.random(c.size)), undefined);
        const b = this.addBuffer(real, null, false, 'random');
        this.expectRandom(b.bytes, undefined, 'random');
        return;
      }
      case 'from': {
        const expected = pattern(c.content.size, c.content.fill);
        const source = Uint8Array.from(expected);
        const options = c.wipeSource === 'default' ? [] : [{ wipeSource: c.wipeSource }];
        const real = this.expectCall('from', undefined, () => SecretBuffer.from(source, ...options));
        const left = c.wipeSource === false ? expected : new Array(expected.length).fill(0);
        expectBytes(Array.from(source), left, 'from: the source afterwards');
        this.addBuffer(real, expected, false, 'from');
        return;
      }
      case 'read':
        return this.read(c);
      case 'write':
        return this.write(c);
      case 'nested':
        return this.nested(c);
      case 'cross':
        return this.cross(c);
      case 'throws':
        return this.throws(c);
      case 'async':
        return this.asyncScope(c);
      case 'rejects':
        return this.rejects(c);
      case 'hold':
        return this.hold(c);
      case 'heldWrite':
        return this.heldWrite(c);
      case 'heldRead':
        return this.heldRead(this.heldScope(c.h));
      case 'release':
        return this.release(c);
      case 'freeze':
      case 'melt':
        return this.freezeOrMelt(c);
      case 'copyFrom':
      case 'moveFrom':
        return this.copy(c);
      case 'scramble': {
        const b = this.buffer(c.b);
        if (b === undefined) return this.count('scramble:skip');
        const value = this.expectCall('scramble', this.mutableCode(b), () => b.real.scramble());
        if (value === undefined) return;
        expectEqual(value, b.real, 'scramble() returns the buffer');
        const before = b.bytes;
        b.bytes = this.contents(b);
        this.expectRandom(b.bytes, before, 'scramble');
        return;
      }
      case 'wipe': {
        const b = this.buffer(c.b);
        if (b === undefined) return this.count('wipe:skip');
        const value = this.expectCall('wipe', this.mutableCode(b), () => b.real.wipe());
        if (value === undefined) return;
        expectEqual(value, b.real, 'wipe() returns the buffer');
        b.bytes = new Array(b.size).fill(0);
        return;
      }
      case 'equals':
        return this.equals(c);
      case 'destroy': {
        const b = this.buffer(c.b);
        if (b === undefined) return this.count('destroy:skip');
        return this.destroy(b, b.destroyed ? 'destroy again' : 'destroy');
      }
      case 'seal': {
        const b = this.buffer(c.b);
        if (b === undefined) return this.count('seal:skip');
        const code = this.idleCode(b);
        const real = this.expectOutcome('seal', attempt(() => Enclave.seal(b.real)), code);
        if (real === undefined) return;
        world.cofferMade = true;
        this.addEnclave(real, b.size, { bytes: b.bytes.slice() }, this.epoch, false);
        if (this.marker !== undefined && holds(b.bytes, this.marker)) this.count('marker:sealed');
        this.destroyModel(b);
        return;
      }
      case 'encFrom': {
        const expected = pattern(c.content.size, c.content.fill);
        const source = Uint8Array.from(expected);
        const real = this.expectOutcome('Enclave.from', attempt(() => Enclave.from(source)), undefined);
        world.cofferMade = true;
        expectBytes(Array.from(source), new Array(expected.length).fill(0), 'Enclave.from: the source afterwards');
        this.addEnclave(real, expected.length, { bytes: expected }, this.epoch, false);
        return;
      }
      case 'encRandom': {
        const real = this.expectOutcome('Enclave.random', attempt(() => Enclave.random(c.size)), undefined);
        world.cofferMade = true;
        this.addEnclave(real, c.size, { bytes: null }, this.epoch, false); // learnt at the first open
        return;
      }
      case 'open': {
        const e = this.enclave(c.e);
        if (e === undefined) return this.count('open:skip');
        const code = e.forged || e.epoch !== this.epoch ? 'ERR_AUTH' : undefined;
        const result = attempt(() => e.real.open());
        world.cofferMade = true;
        const real = this.expectOutcome(e.forged ? 'open forged' : e.epoch !== this.epoch ? 'open after purge' : 'open', result, code);
        if (real === undefined) return;
        const b = this.addBuffer(real, e.secret.bytes?.slice() ?? null, true, 'open');
        if (this.marker !== undefined && holds(b.bytes, this.marker)) this.count('marker:opened');
        if (e.secret.bytes === null) {
          e.secret.bytes = b.bytes.slice();
          this.expectRandom(b.bytes, undefined, 'Enclave.random');
        }
        return;
      }
      case 'transport':
        return this.transport(c);
      case 'purge': {
        const live = this.buffers.filter((b) => !b.destroyed).length;
        const value = this.expectOutcome('purge', attempt(() => purge()), undefined);
        world.cofferMade = true;
        expectEqual(value.buffers, live, 'purge(): buffers destroyed');
        for (const b of this.buffers) this.destroyModel(b);
        this.epoch++;
        return;
      }
      case 'rekey': {
        this.expectCall('rekeyCoffer', undefined, () => rekeyCoffer()); // the key stays: every enclave opens as before
        world.cofferMade = true;
        return;
      }
      case 'misuse': {
        const [name, call] = MISUSE[c.which % MISUSE.length];
        if (call.length > 0) {
          const b = this.buffer(c.b);
          if (b === undefined) return this.count('misuse:skip');
          this.expectOutcome(`misuse ${name}`, attempt(() => call(b.real)), 'ERR_INVALID_ARG');
        } else {
          this.expectOutcome(`misuse ${name}`, attempt(() => call()), 'ERR_INVALID_ARG');
        }
        return;
      }
      default:
        fail(`unknown command ${JSON.stringify(c)}`);
    }
  }

  read(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('read:skip');
    let view;
    let seen;
    const code = this.enterCode(b, 'read');
    const value = this.expectOutcome(
      'read',
      attempt(() =>
        b.real.read(
          this.inScope(b, 'read', (v) => {
            view = v;
            seen = Array.from(v);
            return 'from fn';
          }),
        ),
      ),
      code,
    );
    if (value === undefined) return;
    expectEqual(value, 'from fn', 'read() returns what fn returns');
    expectBytes(seen, b.bytes, `read of buffer #${b.id}`);
    this.expectView(b, view, 'read');
  }

  write(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('write:skip');
    const placed = placePatch(c.patch, b.size);
    let view;
    const code = this.enterCode(b, 'write');
    const value = this.expectOutcome(
      'write',
      attempt(() =>
        b.real.write(
          this.inScope(b, 'write', (v) => {
            view = v;
            expectBytes(Array.from(v), b.bytes, `write scope of buffer #${b.id}`);
            writePatch(v, placed);
            return 'from fn';
          }),
        ),
      ),
      code,
    );
    if (value === undefined) return;
    expectEqual(value, 'from fn', 'write() returns what fn returns');
    writePatch(b.bytes, placed);
    this.expectView(b, view, 'write');
  }

  /** A scope inside a scope of the same kind, by fn or by reader()/writer(). */
  nested(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('nested:skip');
    const placed = placePatch(c.patch, b.size);
    let outerView;
    let innerView;
    const inner = () => {
      const body = (v) => {
        innerView = v;
        expectBytes(Array.from(v), Array.from(outerView), 'nested: the inner view shows what the outer one does');
        if (c.kind === 'write') writePatch(v, placed);
        return 'inner';
      };
      if (c.inner === 'fn') return b.real[c.kind](this.inScope(b, c.kind, body));
      const v = c.kind === 'read' ? b.real.reader() : b.real.writer();
      this.enterModel(b, c.kind);
      try {
        return body(v);
      } finally {
        v[Symbol.dispose]();
        v[Symbol.dispose](); // a second dispose changes nothing
        this.leaveModel(b);
      }
    };
    const code = this.enterCode(b, c.kind);
    const value = this.expectOutcome(
      `nested ${c.kind}`,
      attempt(() =>
        b.real[c.kind](
          this.inScope(b, c.kind, (v) => {
            outerView = v;
            expectEqual(inner(), 'inner', 'nested: the inner scope returns what its fn returns');
            expectEqual(innerView.length, b.size, 'nested: the inner view while the outer scope is open');
            expectEqual(v.length, b.size, 'nested: the outer view after the inner scope');
            if (c.kind === 'write') {
              const written = Array.from(v.subarray(placed.at, placed.at + placed.bytes.length));
              expectBytes(written, placed.bytes, 'nested: the outer view shows the inner write');
            }
            return 'outer';
          }),
        ),
      ),
      code,
    );
    if (value === undefined) return;
    expectEqual(value, 'outer', 'nested: the outer scope returns what its fn returns');
    if (c.kind === 'write') writePatch(b.bytes, placed);
    this.expectView(b, outerView, 'nested (outer)');
    this.expectView(b, innerView, 'nested (inner)');
  }

  /** Inside a scope, something the scope forbids (or destroy()); the scope then ends normally. */
  cross(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('cross:skip');
    let view;
    const probe = () => {
      const what = `${c.probe} inside ${c.kind}`;
      switch (c.probe) {
        case 'scope':
          return this.expectCall(what, this.enterCode(b, other(c.kind)), () =>
            b.real[other(c.kind)](() => fail('fn of a refused scope ran')),
          );
        case 'disposable':
          return this.expectCall(what, this.enterCode(b, other(c.kind)), () => (c.kind === 'read' ? b.real.writer() : b.real.reader()));
        case 'wipe':
          return this.expectCall(what, this.mutableCode(b), () => b.real.wipe());
        case 'equals': {
          const equal = this.expectCall(what, this.readableCode(b), () => b.real.equals(b.real));
          if (equal !== undefined) expectEqual(equal, true, 'a buffer equals itself');
          return undefined;
        }
        case 'seal':
          return this.expectCall(what, this.idleCode(b), () => Enclave.seal(b.real));
        case 'destroy':
          this.expectOutcome(what, attempt(() => b.real.destroy()), undefined);
          this.destroyModel(b);
          expectEqual(view.length, 0, 'destroy() inside a scope empties its view');
          return undefined;
        default:
          return fail(`unknown probe ${c.probe}`);
      }
    };
    const code = this.enterCode(b, c.kind);
    const value = this.expectOutcome(
      `cross ${c.kind}`,
      attempt(() =>
        b.real[c.kind](
          this.inScope(b, c.kind, (v) => {
            view = v;
            probe();
            if (!b.destroyed) expectBytes(Array.from(v), b.bytes, `${c.kind} scope after ${c.probe}`);
            return 'outer';
          }),
        ),
      ),
      code,
    );
    if (value === undefined) return;
    expectEqual(value, 'outer', 'cross: the scope returns what fn returns');
    this.expectView(b, view, `cross ${c.probe}`);
  }

  /** fn throws (after writing part of its patch): the same error comes back, the scope ends, the write stays. */
  throws(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('throws:skip');
    const placed = placePatch(c.patch, b.size);
    const sentinel = new Sentinel('thrown by fn');
    let view;
    const code = this.enterCode(b, c.kind);
    const result = attempt(() =>
      b.real[c.kind](
        this.inScope(b, c.kind, (v) => {
          view = v;
          if (c.kind === 'write') writePatch(v, placed);
          throw sentinel;
        }),
      ),
    );
    if (code !== undefined) return this.expectOutcome(`throws ${c.kind}`, result, code);
    this.expectSentinel(`throws ${c.kind}`, result, sentinel);
    if (c.kind === 'write') writePatch(b.bytes, placed);
    this.expectView(b, view, 'throws');
  }

  /**
   * An async fn: the scope stays open (seal and the other kind refused) until it settles;
   * or the buffer is destroyed (destroy() or purge()) while it is pending, and fn resumes
   * over an empty view.
   */
  async asyncScope(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('async:skip');
    const placed = placePatch(c.patch, b.size);
    let view;
    const code = this.enterCode(b, c.kind);
    const started = attempt(() =>
      b.real[c.kind](async (v) => {
        view = v;
        await tick();
        if (c.kind === 'write') writePatch(v, placed); // a no-op on a detached view
        return v.length === 0 ? [] : Array.from(v); // iterating a detached view throws a TypeError
      }),
    );
    const pending = this.expectOutcome(`async ${c.kind}`, started, code);
    if (code !== undefined) return;
    if (!(pending instanceof Promise)) fail(`async ${c.kind}: returned ${String(pending)}, not a promise`);
    this.enterModel(b, c.kind);
    if (c.during === 'probe') {
      this.expectCall('seal while an async scope is pending', this.idleCode(b), () => Enclave.seal(b.real));
      this.expectCall(`${other(c.kind)} while an async ${c.kind} scope is pending`, this.enterCode(b, other(c.kind)), () =>
        b.real[other(c.kind)](() => fail('fn of a refused scope ran')),
      );
    } else if (c.during === 'destroy') {
      this.expectCall('destroy while an async scope is pending', undefined, () => b.real.destroy());
      this.destroyModel(b);
    } else {
      await this.step({ op: 'purge' });
      this.count('purge while an async scope is pending:ok');
    }
    const settled = await settle(pending);
    this.leaveModel(b);
    const value = this.expectOutcome(`async ${c.kind} settled`, settled, undefined);
    if (c.kind === 'write' && !b.destroyed) writePatch(b.bytes, placed);
    expectBytes(value, b.destroyed ? [] : b.bytes, `async ${c.kind}: what fn saw last`);
    this.expectView(b, view, 'async');
  }

  /** fn returns a promise or a bare thenable that rejects: the call rejects with that error. */
  async rejects(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('rejects:skip');
    const placed = placePatch(c.patch, b.size);
    const sentinel = new Sentinel('rejected by fn');
    let view;
    const code = this.enterCode(b, c.kind);
    const started = attempt(() =>
      b.real[c.kind]((v) => {
        view = v;
        if (c.kind === 'write') writePatch(v, placed);
        if (c.how === 'thenable') return { then: (_resolve, reject) => reject(sentinel) };
        return (async () => {
          await tick();
          throw sentinel;
        })();
      }),
    );
    const pending = this.expectOutcome(`rejects ${c.how} ${c.kind}`, started, code);
    if (code !== undefined) return;
    this.enterModel(b, c.kind);
    const settled = await settle(pending);
    this.leaveModel(b);
    this.expectSentinel(`rejects ${c.how} ${c.kind}`, settled, sentinel);
    if (c.kind === 'write') writePatch(b.bytes, placed);
    this.expectView(b, view, 'rejects');
  }

  /** Opens a scope that stays open until a later 'release' (or the end of the program). */
  hold(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('hold:skip');
    const code = this.enterCode(b, c.kind);
    const sentinel = new Sentinel('held scope rejected');
    let view;
    let release;
    let result;
    if (c.how === 'using') {
      result = attempt(() => (c.kind === 'read' ? b.real.reader() : b.real.writer()));
      if (result.ok) {
        view = result.value;
        release = async () => {
          view[Symbol.dispose]();
          view[Symbol.dispose]();
          return undefined;
        };
      }
    } else if (c.how === 'promise') {
      let gate;
      const promise = new Promise((resolve, reject) => {
        gate = { resolve, reject };
      });
      result = attempt(() =>
        b.real[c.kind]((v) => {
          view = v;
          return promise;
        }),
      );
      if (result.ok) {
        const settled = settle(result.value);
        release = async (outcome) => {
          if (outcome === 'resolve') gate.resolve('held');
          else gate.reject(sentinel);
          return settled;
        };
      }
    } else {
      let callbacks;
      const thenable = {
        then(resolve, reject) {
          callbacks = { resolve, reject };
        },
      };
      result = attempt(() =>
        b.real[c.kind]((v) => {
          view = v;
          return thenable;
        }),
      );
      if (result.ok) {
        const settled = settle(result.value);
        release = async (outcome) => {
          while (callbacks === undefined) await tick();
          if (outcome === 'resolve') callbacks.resolve('held');
          else callbacks.reject(sentinel);
          return settled;
        };
      }
    }
    if (this.expectOutcome(`hold ${c.how} ${c.kind}`, result, code) === undefined) return;
    this.enterModel(b, c.kind);
    expectEqual(view.length, b.size, 'a held view while its scope is open');
    this.held.push({ buffer: b, kind: c.kind, how: c.how, view, release, sentinel });
  }

  heldWrite(c) {
    const h = this.heldScope(c.h);
    if (h === undefined) return this.count('heldWrite:skip');
    // A JS write through a read scope's view is a memory-safety violation (SIGSEGV in
    // direct mode): never done here; the crash tests cover it.
    if (h.kind !== 'write') return this.heldRead(h);
    const b = h.buffer;
    if (b.destroyed) {
      this.count('heldWrite:destroyed');
      expectEqual(h.view.length, 0, 'the held view of a destroyed buffer');
      h.view[0] = 1; // a detached view: nothing happens, nothing crashes
      expectEqual(h.view[0], undefined, 'a write into a detached view');
      return;
    }
    this.writeHeld(h, placePatch(c.patch, b.size));
  }

  heldRead(h) {
    if (h === undefined) return this.count('heldRead:skip');
    const b = h.buffer;
    if (b.destroyed) {
      this.count('heldRead:destroyed');
      expectEqual(h.view.length, 0, 'the held view of a destroyed buffer');
      return;
    }
    this.count('heldRead:ok');
    expectBytes(Array.from(h.view), b.bytes, `held ${h.kind} view of buffer #${b.id}`);
  }

  async release(c) {
    const h = this.heldScope(c.h);
    if (h === undefined) return this.count('release:skip');
    this.held.splice(this.held.indexOf(h), 1);
    await this.releaseHeld(h, c.outcome);
  }

  async releaseHeld(h, outcome) {
    const b = h.buffer;
    const result = await h.release(outcome);
    const what = `release ${h.how} ${h.kind}${b.destroyed ? ' (destroyed)' : ''}`;
    if (h.how === 'using') this.count(`${what}:ok`);
    else if (outcome === 'resolve') expectEqual(this.expectOutcome(what, result, undefined), 'held', `${what}: the scope's result`);
    else this.expectSentinel(what, result, h.sentinel);
    this.leaveModel(b);
    this.expectView(b, h.view, what);
  }

  copy(c) {
    const b = this.buffer(c.b, { target: true });
    if (b === undefined) return this.count(`${c.op}:skip`);
    const move = c.op === 'moveFrom';
    if (c.src.bytes !== undefined) {
      const expected = pattern(c.src.bytes.size, c.src.bytes.fill);
      const source = Uint8Array.from(expected);
      const code = this.mutableCode(b) ?? (expected.length > b.size - c.offset ? 'ERR_INVALID_ARG' : undefined);
      const value = this.expectOutcome(`${c.op}(bytes)`, attempt(() => b.real[c.op](source, c.offset)), code);
      const wiped = value !== undefined && move;
      expectBytes(Array.from(source), wiped ? new Array(expected.length).fill(0) : expected, `${c.op}(bytes): the source afterwards`);
      if (value === undefined) return;
      expectEqual(value, b.real, `${c.op}() returns the buffer`);
      b.bytes.splice(c.offset, expected.length, ...expected);
      return;
    }
    const s = this.buffer(c.src.buffer);
    const self = s === b;
    // The library's order: moveFrom refuses itself, then needs a mutable source; both need a
    // mutable target, a readable source and an offset where the source fits.
    const code =
      (move && self ? 'ERR_INVALID_ARG' : undefined) ??
      (move ? this.mutableCode(s) : undefined) ??
      this.mutableCode(b) ??
      this.readableCode(s) ??
      (s.size > b.size - c.offset ? 'ERR_INVALID_ARG' : undefined);
    const what = `${c.op}${self ? '(itself)' : '(buffer)'}`;
    const value = this.expectOutcome(what, attempt(() => b.real[c.op](s.real, c.offset)), code);
    if (value === undefined) return;
    expectEqual(value, b.real, `${c.op}() returns the buffer`);
    const moved = s.bytes.slice();
    if (this.marker !== undefined && !self && holds(moved, this.marker)) this.count(`marker:${move ? 'moved' : 'copied'}`);
    b.bytes.splice(c.offset, moved.length, ...moved);
    if (move) s.bytes = new Array(s.size).fill(0);
  }

  equals(c) {
    const b = this.buffer(c.b);
    if (b === undefined) return this.count('equals:skip');
    let code = this.readableCode(b);
    let call;
    let expected;
    let what;
    if (c.other.buffer !== undefined) {
      const o = this.buffer(c.other.buffer);
      code ??= this.readableCode(o);
      call = () => b.real.equals(o.real);
      expected = sameBytes(b.bytes, o.bytes);
      what = o === b ? 'equals(itself)' : 'equals(buffer)';
    } else if (c.other.bytes !== undefined) {
      const bytes = pattern(c.other.bytes.size, c.other.bytes.fill);
      call = () => b.real.equals(Uint8Array.from(bytes));
      expected = sameBytes(b.bytes, bytes);
      what = 'equals(bytes)';
    } else if (this.config.plant === undefined) {
      // The model's own bytes as a Uint8Array: true. Not in residue runs, where that array
      // would be a heap copy of the marker made by the test.
      const bytes = Uint8Array.from(b.bytes);
      call = () => b.real.equals(bytes);
      expected = true;
      what = 'equals(its bytes)';
    } else {
      call = () => b.real.equals(b.real);
      expected = true;
      what = 'equals(itself)';
    }
    const value = this.expectOutcome(what, attempt(call), code);
    if (code !== undefined) return;
    expectEqual(value, expected, `${what} of buffer #${b.id}`);
    if (value) this.count(`${what}:true`);
  }

  transport(c) {
    const e = this.enclave(c.e);
    if (e === undefined) return this.count('transport:skip');
    const sealed = this.expectOutcome('toBytes', attempt(() => e.real.toBytes()), undefined);
    expectEqual(sealed.length, e.size + OVERHEAD, 'toBytes(): length');
    let bytes = sealed;
    let forged = e.forged;
    let code;
    let what = 'fromBytes';
    if (c.tamper.flip !== undefined) {
      bytes[c.tamper.flip % bytes.length] ^= 1 << c.tamper.bit;
      forged = true;
      what = 'fromBytes(flipped)';
    } else if (c.tamper.keep !== undefined) {
      const keep = c.tamper.keep % bytes.length;
      bytes = bytes.subarray(0, keep);
      code = keep < OVERHEAD ? 'ERR_AUTH' : keep === OVERHEAD ? 'ERR_EMPTY' : undefined;
      forged = true;
      what = 'fromBytes(truncated)';
    }
    const real = this.expectOutcome(what, attempt(() => Enclave.fromBytes(bytes)), code);
    if (real === undefined) return;
    sealed.fill(0); // fromBytes copied: the new enclave must not care
    this.addEnclave(real, bytes.length - OVERHEAD, e.secret, e.epoch, forged);
  }

  /** Everything the model knows, compared with the real objects and the process's counts. */
  verify(where) {
    let buffers = 0;
    let bytes = 0;
    for (const b of this.buffers) {
      const what = `${where}: buffer #${b.id}`;
      expectEqual(b.real.destroyed, b.destroyed, `${what} destroyed`);
      expectEqual(b.real.size, b.size, `${what} size`);
      if (b.destroyed) continue;
      buffers++;
      bytes += b.size;
      expectEqual(b.real.frozen, b.frozen, `${what} frozen`);
      expectBytes(this.contents(b), b.bytes, what);
    }
    for (const h of this.held) this.expectView(h.buffer, h.view, `${where}: a held ${h.kind} view of buffer #${h.buffer.id}`);
    for (const e of this.enclaves) expectEqual(e.real.size, e.size, `${where}: enclave #${e.id} size`);
    const live = SecretBuffer.live();
    expectEqual(live.buffers, buffers, `${where}: SecretBuffer.live().buffers`);
    expectEqual(live.bytes, bytes, `${where}: SecretBuffer.live().bytes`);
    const s = core.stats();
    const coffer = world.cofferMade ? 1 : 0;
    const outside = `${world.regions} outside the model, coffer ${coffer}`;
    expectEqual(s.regions, world.regions + buffers + coffer, `${where}: stats().regions (${outside})`);
    const mine = world.backend === 'mmap' ? s.mmapRegions : s.secretmemRegions;
    const base = world.backend === 'mmap' ? world.mmap : world.secretmem;
    expectEqual(mine, base + buffers + coffer, `${where}: stats().${world.backend}Regions`);
    expectEqual(s.orphanedRegions, 0, `${where}: stats().orphanedRegions`);
  }

  /** Starts a residue program with a buffer that holds the planted marker (copied natively). */
  plant(master) {
    // Natively, through the coffer: sealed from the master region, opened into a new buffer.
    const real = cofferOpenBuffer(core.cofferSeal(master)).melt();
    world.cofferMade = true; // the seal made the coffer
    const b = this.addBuffer(real, null, false, 'planted');
    this.marker = b.bytes.slice();
    this.count('planted:ok');
  }

  /** Ends the program: held scopes released, every buffer destroyed, nothing left. */
  async finish() {
    while (this.held.length > 0) await this.releaseHeld(this.held.shift(), 'resolve');
    this.verify('after releasing the held scopes');
    const live = this.buffers.filter((b) => !b.destroyed).length;
    expectEqual(SecretBuffer.destroyAll(), live, 'SecretBuffer.destroyAll() at the end');
    for (const b of this.buffers) this.destroyModel(b);
    this.verify('after destroyAll()');
  }

  /** After a failure: leave the process clean for the next (shrinking) run. */
  async abandon() {
    for (const h of this.held.splice(0)) {
      try {
        await h.release('resolve');
      } catch {
        // the failure is reported already
      }
    }
    SecretBuffer.destroyAll();
  }
}

// ---- the property -------------------------------------------------------------------

/**
 * Runs the property with fast-check and resolves with a report of what ran; rejects with
 * fast-check's error (seed, path and the shrunk counterexample) when a program breaks it.
 *
 * options: { backend: 'mmap' | 'secretmem', numRuns, maxCommands, seed?, path?,
 *            plant?: a core-native Region holding a marker (residue runs) }
 */
export async function checkProperty(options) {
  const { backend, numRuns, maxCommands, seed, path, plant } = options;
  measureWorld(backend);
  const outcomes = {};
  let runs = 0;
  let commands = 0;
  const property = fc.asyncProperty(programsOf(COMMANDS, MAKERS, maxCommands), async (program) => {
    runs++;
    const run = new ProgramRun({ plant }, outcomes);
    let passed = false;
    try {
      run.verify('before the program');
      if (plant !== undefined) {
        run.plant(plant);
        run.verify('after planting');
      }
      for (const [i, c] of program.entries()) {
        commands++;
        await run.step(c);
        run.verify(`after command ${i} ${JSON.stringify(c)}`);
      }
      await run.finish();
      passed = true;
    } finally {
      if (!passed) await run.abandon();
    }
  });
  await fc.assert(property, assertParameters({ numRuns, seed, path }));
  return { runs, commands, backend: core.stats().backend, viewMode: SecretBuffer.viewMode, cofferMade: world.cofferMade, outcomes };
}
