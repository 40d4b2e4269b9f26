// SecretBuffer: one secret in guarded native memory (a core-native Region), 'noaccess'
// except inside a read or write scope, wiped and released by destroy(), by `using`, or
// by the garbage collector. It is an opaque handle: the region lives in a private
// field, and every way a value turns into text (toString, template literals, inspect,
// JSON) shows `SecretBuffer(<size> bytes, redacted)`. structuredClone and postMessage
// throw: Node would copy guarded memory into the ordinary heap.
import { inspect } from 'node:util';

import {
  allocate,
  copy,
  copyIn,
  equals,
  hmac,
  hmacVerify,
  promptSecret,
  randomFill,
  readEnv,
  readFd,
  readFile,
  zero,
  StrongroomError,
  type AllocateOptions,
  type RegionOptions,
  type HmacAlgorithm,
  type ReadEnvOptions,
  type ReadFileOptions,
  type ReadOptions,
  type Region,
} from '@strongroom/core-native';
import {
  ALLOCATE_KEYS,
  REGION_KEYS,
  checkArgs,
  checkBoolean,
  checkFunction,
  checkInteger,
  checkOptions,
  checkSecretBytes,
  describe,
  invalid,
  READ_ENV_KEYS,
  READ_FD_KEYS,
  READ_FILE_KEYS,
  READ_KEYS,
} from '@strongroom/core-native/validate';

import { allocateUnderPressure, destroyEverything, liveStats, track, untrack, type LiveStats } from './live.js';
import { isScopeView, Scopes, viewMode, type ScopeKind, type ViewMode } from './scope.js';

export interface FromOptions extends RegionOptions {
  /** Overwrite the source bytes with zeros after copying them in (default true). */
  wipeSource?: boolean;
}

/** Which bytes of a SecretBuffer source copyFrom() copies (default: all of them). */
export interface CopyRange {
  sourceOffset?: number;
  length?: number;
}

export interface FromFdOptions extends ReadOptions {
  /** Stop at this delimiter byte (a one-character string such as '\n', or 0-255); it is not kept. */
  until?: string | number;
}

/** A view handed out by reader()/writer(): ends its scope when disposed. */
export type ScopedView = Uint8Array & Disposable;

function checkSize(size: unknown): number {
  return checkInteger(size, 'size', 1, Number.MAX_SAFE_INTEGER);
}

function checkOffset(offset: unknown, length: number, size: number): number {
  const at = checkInteger(offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
  if (length > size - at) throw invalid(`${length} bytes at offset ${at} do not fit in a ${size}-byte SecretBuffer`);
  return at;
}

function delimiter(until: unknown): number {
  if (typeof until === 'string' && until.length === 1 && until.charCodeAt(0) < 256) return until.charCodeAt(0);
  if (typeof until === 'string') throw invalid("until must be one character (such as '\\n') or a byte value from 0 to 255");
  return checkInteger(until, 'until', 0, 255);
}

/**
 * The options of `fn` (named as the caller called it), checked and copied (own keys only),
 * to hand on to core-native, which checks their values.
 */
function passOn<T>(options: unknown, fn: string, keys: readonly string[]): T {
  return checkOptions(options, fn, keys) as T;
}

/** What kind of value was given, never the value itself (it may be a secret). */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
  return `a ${typeof value}`;
}

/** A view a scope handed out given where the source is wiped: that would wipe another secret. */
function scopeViewRefused(fn: string, alternative: string): StrongroomError {
  return new StrongroomError(
    'ERR_INVALID_ARG',
    `the bytes given to ${fn} are a view of a SecretBuffer's scope, and ${fn} wipes its source: that would wipe ` +
      `(or, read-only, fault on) the other secret. Copy one SecretBuffer into another with copyFrom()${alternative === '' ? '' : `, ${alternative}`}`,
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

const TOKEN = Symbol('strongroom.secret-buffer');
let regionOf: (buffer: SecretBuffer) => Region;

/** @internal This package's own modules only (coffer.ts, password.ts): never exported from the package. */
export const internals = {} as {
  idleRegionOf: (buffer: SecretBuffer) => Region;
  /** For a native read: ERR_DESTROYED after destroy(), ERR_BUSY while a write scope is open. */
  readableRegionOf: (buffer: unknown, what: string) => Region;
  adopt: (region: Region, frozen: boolean) => SecretBuffer;
};

const uncloneable = {
  get(): never {
    throw new StrongroomError(
      'ERR_INVALID_ARG',
      'a SecretBuffer cannot be cloned or posted to another thread: Node would copy its memory into the ' +
        'ordinary heap. Seal it and send the sealed bytes instead.',
    );
  },
  enumerable: true,
};

export class SecretBuffer {
  #region: Region | undefined;
  readonly #size: number;
  #frozen = false;
  readonly #scopes = new Scopes();

  /** @internal Use SecretBuffer.alloc/random/from/... */
  constructor(token: symbol, region: Region) {
    if (token !== TOKEN) throw invalid('SecretBuffer cannot be constructed directly; use SecretBuffer.alloc(size)');
    try {
      region.protect('noaccess');
    } catch (error) {
      region.free(); // never a half-built buffer or a stray region
      throw error;
    }
    this.#region = region;
    this.#size = region.size;
    // structuredClone and postMessage read own enumerable properties: this one throws.
    Object.defineProperty(this, 'uncloneable', uncloneable);
    track(this, region);
  }

  static {
    regionOf = (buffer) => buffer.#readable();
    internals.idleRegionOf = (buffer) => {
      if (!(buffer instanceof SecretBuffer)) throw invalid('expected a SecretBuffer');
      const region = buffer.#live();
      if (buffer.#scopes.open !== undefined) {
        throw new StrongroomError('ERR_BUSY', `a ${buffer.#scopes.open} scope is open on this SecretBuffer; use it after the scope ends`);
      }
      return region;
    };
    internals.readableRegionOf = (buffer, what) => {
      // The kind only, never the value: a PIN or a password given as a number is a secret too.
      if (!(buffer instanceof SecretBuffer)) throw invalid(`${what} must be a SecretBuffer, got ${kindOf(buffer)}`);
      return buffer.#readable();
    };
    internals.adopt = (region, frozen) => {
      const buffer = new SecretBuffer(TOKEN, region);
      buffer.#frozen = frozen;
      return buffer;
    };
  }


  // ---- construction ----

  /** `size` zero bytes. */
  static alloc(size: number, options?: RegionOptions): SecretBuffer {
    checkArgs(arguments.length, 2, 'SecretBuffer.alloc()');
    const given = passOn<RegionOptions>(options, 'SecretBuffer.alloc()', REGION_KEYS);
    return new SecretBuffer(TOKEN, allocateUnderPressure(() => allocate(checkSize(size), given)));
  }

  /** `size` bytes from the system CSPRNG, generated straight into guarded memory. */
  static random(size: number, options?: RegionOptions): SecretBuffer {
    checkArgs(arguments.length, 2, 'SecretBuffer.random()');
    const given = passOn<RegionOptions>(options, 'SecretBuffer.random()', REGION_KEYS);
    const region = allocateUnderPressure(() => allocate(checkSize(size), given));
    try {
      randomFill(region);
    } catch (error) {
      region.free(); // never a stray region
      throw error;
    }
    return new SecretBuffer(TOKEN, region);
  }

  /** Copies bytes in (natively) and, unless told otherwise, wipes the source. */
  static from(bytes: Uint8Array, options?: FromOptions): SecretBuffer {
    checkArgs(arguments.length, 2, 'SecretBuffer.from()');
    checkSecretBytes(bytes, 'the bytes of SecretBuffer.from()');
    const { wipeSource, ...allocation } = passOn<FromOptions>(options, 'SecretBuffer.from()', [...REGION_KEYS, 'wipeSource']);
    const wipe = wipeSource === undefined ? true : checkBoolean(wipeSource, 'wipeSource');
    if (wipe && isScopeView(bytes)) throw scopeViewRefused('SecretBuffer.from()', 'or pass { wipeSource: false }');
    const region = allocateUnderPressure(() => allocate(bytes.length, allocation));
    try {
      copyIn(region, bytes);
    } catch (error) {
      region.free();
      throw error;
    }
    if (wipe) bytes.fill(0);
    return new SecretBuffer(TOKEN, region);
  }

  /** The contents of a file, read(2) straight into guarded memory (default maxSize 64 KiB). */
  static fromFile(path: string, options?: ReadFileOptions): SecretBuffer {
    checkArgs(arguments.length, 2, 'SecretBuffer.fromFile()');
    const given = passOn<ReadFileOptions>(options, 'SecretBuffer.fromFile()', READ_FILE_KEYS);
    return new SecretBuffer(TOKEN, allocateUnderPressure(() => readFile(path, given)));
  }

  /** What an open descriptor gives until its end, or until the `until` byte. The fd stays open. */
  static fromFd(fd: number, options?: FromFdOptions): SecretBuffer {
    checkArgs(arguments.length, 2, 'SecretBuffer.fromFd()');
    const { until, ...rest } = passOn<FromFdOptions>(options, 'SecretBuffer.fromFd()', READ_FD_KEYS);
    const given = until === undefined ? rest : { ...rest, until: delimiter(until) };
    return new SecretBuffer(TOKEN, allocateUnderPressure(() => readFd(fd, given), false)); // bytes read are not read again
  }

  /**
   * An environment variable's value, read natively; by default its bytes are then
   * overwritten in the process environment and the variable is removed.
   */
  static fromEnv(name: string, options?: ReadEnvOptions): SecretBuffer {
    checkArgs(arguments.length, 2, 'SecretBuffer.fromEnv()');
    const given = passOn<ReadEnvOptions>(options, 'SecretBuffer.fromEnv()', READ_ENV_KEYS);
    return new SecretBuffer(TOKEN, allocateUnderPressure(() => readEnv(name, given)));
  }

  /** A line typed at the terminal with echo off (for command-line tools). */
  static async prompt(message: string, options?: ReadOptions): Promise<SecretBuffer> {
    checkArgs(arguments.length, 2, 'SecretBuffer.prompt()');
    return new SecretBuffer(TOKEN, await promptSecret(message, passOn(options, 'SecretBuffer.prompt()', READ_KEYS)));
  }

  /** 'direct' (views over guarded memory) or 'copy' (wiped heap copies, where the runtime refuses those). */
  static get viewMode(): ViewMode {
    return viewMode();
  }

  /** How many buffers and bytes are alive in this thread. */
  static live(): LiveStats {
    checkArgs(arguments.length, 0, 'SecretBuffer.live()');
    return liveStats();
  }

  /** Destroys every live buffer of this thread; returns how many. */
  static destroyAll(): number {
    checkArgs(arguments.length, 0, 'SecretBuffer.destroyAll()');
    return destroyEverything();
  }

  // ---- state ----

  get size(): number {
    return this.#size;
  }

  get destroyed(): boolean {
    return this.#region === undefined;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  #live(): Region {
    if (this.#region === undefined) {
      throw new StrongroomError('ERR_DESTROYED', 'this SecretBuffer was destroyed; create a new one');
    }
    return this.#region;
  }

  // The bytes, for a native read (equals, a copy's source): not while a write scope is
  // open, whose changes (in copy mode) are not written back yet.
  #readable(): Region {
    const region = this.#live();
    if (this.#scopes.open === 'write') {
      throw new StrongroomError('ERR_BUSY', 'a write scope is open on this SecretBuffer; read it after the scope ends');
    }
    return region;
  }

  /** Makes the buffer immutable: write scopes and every mutation throw ERR_FROZEN. */
  freeze(): this {
    checkArgs(arguments.length, 0, 'freeze()');
    this.#live();
    this.#frozen = true;
    return this;
  }

  /** Makes a frozen buffer writable again. */
  melt(): this {
    checkArgs(arguments.length, 0, 'melt()');
    this.#live();
    this.#frozen = false;
    return this;
  }

  // ---- scopes ----

  #enter(kind: ScopeKind): Uint8Array {
    const region = this.#live();
    if (kind === 'write' && this.#frozen) {
      throw new StrongroomError('ERR_FROZEN', 'this SecretBuffer is frozen; melt() it before writing');
    }
    return this.#scopes.enter(region, kind);
  }

  #scoped<T>(kind: ScopeKind, fn: (view: Uint8Array) => T): T {
    checkFunction(fn, `the argument of ${kind}() (a function that receives the view)`);
    const view = this.#enter(kind);
    let result: T;
    let pending: Promise<unknown> | undefined;
    try {
      result = fn(view);
      // Inside the try: reading `then` can throw (a getter, a revoked Proxy), and the scope
      // must still end.
      if (isThenable(result)) pending = Promise.resolve(result);
    } catch (error) {
      this.#leaveAfter(error);
    }
    if (pending !== undefined) {
      return pending.then(
        (value) => {
          this.#scopes.leave(this.#region);
          return value;
        },
        (error: unknown) => this.#leaveAfter(error),
      ) as T;
    }
    this.#scopes.leave(this.#region);
    return result;
  }

  // Ends the scope after fn failed and rethrows fn's error; if ending the scope reports an
  // escaped view, that error is thrown instead, with fn's as its cause.
  #leaveAfter(error: unknown): never {
    try {
      this.#scopes.leave(this.#region);
    } catch (leaveError) {
      if (leaveError instanceof StrongroomError && leaveError.code === 'ERR_VIEW_ESCAPED') {
        throw new StrongroomError(leaveError.code, leaveError.message, { cause: error });
      }
      throw leaveError;
    }
    throw error;
  }

  /**
   * Calls fn with a read-only view of the bytes and returns what fn returns. The view
   * is empty once the scope ends; if fn returns a promise, the scope lasts until it settles.
   */
  read<T>(fn: (view: Uint8Array) => T): T {
    checkArgs(arguments.length, 1, 'read()');
    return this.#scoped('read', fn);
  }

  /** Like read(), with a writable view. ERR_FROZEN on a frozen buffer. */
  write<T>(fn: (view: Uint8Array) => T): T {
    checkArgs(arguments.length, 1, 'write()');
    return this.#scoped('write', fn);
  }

  #disposable(kind: ScopeKind): ScopedView {
    const view = this.#enter(kind) as ScopedView;
    let open = true;
    Object.defineProperty(view, Symbol.dispose, {
      value: () => {
        if (!open) return;
        open = false;
        this.#scopes.leave(this.#region);
      },
    });
    return view;
  }

  /** `using view = buf.reader()`: a read scope that ends when the view is disposed. */
  reader(): ScopedView {
    checkArgs(arguments.length, 0, 'reader()');
    return this.#disposable('read');
  }

  /** `using view = buf.writer()`: a write scope that ends when the view is disposed. */
  writer(): ScopedView {
    checkArgs(arguments.length, 0, 'writer()');
    return this.#disposable('write');
  }

  // ---- operations ----

  /** Constant-time equality; false for a different length, with no early exit on content. */
  equals(other: SecretBuffer | Uint8Array): boolean {
    checkArgs(arguments.length, 1, 'equals()');
    const region = this.#readable();
    if (other instanceof SecretBuffer) return equals(region, regionOf(other));
    if (other instanceof Uint8Array) return equals(region, other);
    throw invalid('equals() takes a SecretBuffer or a Uint8Array');
  }

  /**
   * The HMAC tag (32 bytes for 'sha256', 64 for 'sha512') of a message (bytes, or a string
   * as UTF-8) keyed by this buffer's bytes, computed natively on the guarded memory: no
   * view is made and the key never enters the JS heap or OpenSSL. Works on a frozen buffer
   * and inside a read scope; ERR_BUSY inside a write scope.
   */
  hmac(algorithm: HmacAlgorithm, message: Uint8Array | string): Uint8Array {
    checkArgs(arguments.length, 2, 'hmac()');
    return hmac(algorithm, this.#readable(), message);
  }

  /**
   * Whether `tag` is the HMAC of the message under this buffer's bytes, compared in constant
   * time. A truncated tag (16 bytes up to the full length) is checked against the start of
   * the computed tag; a tag of any other length is false, never an error.
   */
  hmacVerify(algorithm: HmacAlgorithm, message: Uint8Array | string, tag: Uint8Array): boolean {
    checkArgs(arguments.length, 3, 'hmacVerify()');
    return hmacVerify(algorithm, this.#readable(), message, tag);
  }

  #mutable(): Region {
    const region = this.#live();
    if (this.#frozen) throw new StrongroomError('ERR_FROZEN', 'this SecretBuffer is frozen; melt() it before changing it');
    if (this.#scopes.open !== undefined) {
      throw new StrongroomError('ERR_BUSY', `a ${this.#scopes.open} scope is open; change the buffer after it ends`);
    }
    return region;
  }

  /**
   * Copies src (a SecretBuffer or bytes) into this buffer at offset; from a SecretBuffer,
   * `range` picks `length` bytes from `sourceOffset` (default: all of it), natively.
   */
  copyFrom(src: SecretBuffer | Uint8Array, offset = 0, range?: CopyRange): this {
    checkArgs(arguments.length, 3, 'copyFrom()');
    const target = this.#mutable();
    if (src instanceof SecretBuffer) {
      const source = regionOf(src);
      const given = checkOptions(range, 'copyFrom()', ['sourceOffset', 'length']);
      const sourceOffset = given.sourceOffset === undefined ? 0 : checkInteger(given.sourceOffset, 'sourceOffset', 0, source.size);
      const length =
        given.length === undefined ? source.size - sourceOffset : checkInteger(given.length, 'length', 0, source.size - sourceOffset);
      copy(target, source, { targetOffset: checkOffset(offset, length, this.#size), sourceOffset, length });
    } else if (src instanceof Uint8Array) {
      if (range !== undefined) throw invalid('copyFrom() takes a range only with a SecretBuffer source; pass a subarray of the bytes instead');
      copyIn(target, src, checkOffset(offset, src.length, this.#size));
    } else {
      throw invalid('copyFrom() takes a SecretBuffer or a Uint8Array');
    }
    return this;
  }


  /** Copies src in, then wipes src (a SecretBuffer's bytes, or the Uint8Array). */
  moveFrom(src: SecretBuffer | Uint8Array, offset = 0): this {
    checkArgs(arguments.length, 2, 'moveFrom()');
    if (src === this) throw invalid('moveFrom() needs another buffer: moving a buffer into itself would wipe it');
    if (!(src instanceof SecretBuffer) && src instanceof Uint8Array && isScopeView(src)) throw scopeViewRefused('moveFrom()', '');
    if (src instanceof SecretBuffer) src.#mutable();
    this.copyFrom(src, offset);
    if (src instanceof SecretBuffer) zero(src.#mutable());
    else src.fill(0);
    return this;
  }

  /** Overwrites the bytes with random ones. */
  scramble(): this {
    checkArgs(arguments.length, 0, 'scramble()');
    randomFill(this.#mutable());
    return this;
  }

  /** Overwrites the bytes with zeros (the buffer stays usable). */
  wipe(): this {
    checkArgs(arguments.length, 0, 'wipe()');
    zero(this.#mutable());
    return this;
  }

  /** Wipes and releases the memory now. Idempotent; every later use throws ERR_DESTROYED. */
  destroy(): void {
    checkArgs(arguments.length, 0, 'destroy()');
    const region = this.#region;
    if (region === undefined) return;
    this.#region = undefined;
    this.#scopes.abandon();
    untrack(this, region);
    region.free();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  // ---- nothing discloses the bytes ----

  toString(): string {
    return this.#region === undefined ? 'SecretBuffer(destroyed)' : `SecretBuffer(${this.#size} bytes, redacted)`;
  }

  /** The same kind of value as Region's and Enclave's toJSON: the type and size, never a byte. */
  toJSON(): { type: 'SecretBuffer'; size: number; destroyed: boolean } {
    return { type: 'SecretBuffer', size: this.#size, destroyed: this.#region === undefined };
  }

  [Symbol.toPrimitive](): string {
    return this.toString();
  }

  get [Symbol.toStringTag](): string {
    return 'SecretBuffer';
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
