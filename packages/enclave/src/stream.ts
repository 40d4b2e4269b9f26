// EnclaveStream: a large secret sealed in fixed-size chunks as it arrives, so that it is
// never whole in unsealed memory (memguard's Stream).
//
//   writable side   plaintext in; each full chunk (default 16 KiB) is sealed at once from
//                   a guarded staging buffer, and the bytes written are wiped (wipeSource)
//   readable side   the chunks opened again, in order, as ordinary Buffers: a deliberate
//                   copy into the heap, consumed as it is read
//   flatten()       everything not yet read, opened into one frozen SecretBuffer
//   fromFile(path)  a file read natively chunk by chunk into guarded memory and sealed
//   size            plaintext bytes held (sealed or staged), not yet read or flattened
//
// Sealed chunks live in ordinary memory (useless without the coffer key). While a reader
// is attached, the writer waits once a few chunks are pending, so a pipeline through the
// stream holds a bounded amount of memory whatever the size of the secret.
//
// Each chunk is bound to its stream and its place (age's STREAM construction, carried in
// the sealed plaintext since the one sealed format has no associated data):
//
//   chunk_i = seal(streamId(16) || i (u64, big-endian) || flag(1) || data_i)
//
// streamId is random per stream; flag is 0 for data and 1 for the terminator, an empty
// chunk sealed when the writable side finishes. Opening checks the id and the index and
// that nothing follows the terminator, and the end of the stream (or a flatten() after
// it) requires the terminator: reordered, spliced, dropped or appended chunks are ERR_AUTH.
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { inspect } from 'node:util';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

import { SecretBuffer } from '@strongroom/buffer';
import { sealedSize, StrongroomError } from '@strongroom/core-native';
import { checkArgs, checkBoolean, checkInteger, checkOptions, checkText } from '@strongroom/core-native/validate';

import { sealer } from './backend.js';

export const DEFAULT_CHUNK_SIZE = 16 * 1024;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** The most bytes fromFile() reads unless told otherwise: 256 MiB (a device like /dev/zero never ends). */
export const DEFAULT_FILE_MAX_SIZE = 256 * 1024 * 1024;
// Sealed chunks a flowing reader may fall behind before the writer waits.
const PENDING_LIMIT = 4;
// fromFile() lets the event loop run after this many chunks.
const CHUNKS_PER_TURN = 64;
// The binding carried at the front of every chunk's plaintext (see the top of this file).
const STREAM_ID_BYTES = 16;
const INDEX_AT = STREAM_ID_BYTES;
const FLAG_AT = INDEX_AT + 8;
const HEADER_BYTES = FLAG_AT + 1;
const DATA_FLAG = 0;
const LAST_FLAG = 1;

/** Plaintext data bytes in a sealed chunk (its sealed size less the binding header). */
function dataSize(chunk: Uint8Array): number {
  return sealedSize(chunk) - HEADER_BYTES;
}

function tampered(what: string): StrongroomError {
  return new StrongroomError(
    'ERR_AUTH',
    `a sealed chunk of this EnclaveStream ${what}: the stream was tampered with and none of its remaining bytes are released`,
  );
}

export interface EnclaveStreamOptions {
  /** Plaintext bytes per sealed chunk (default 16 KiB). */
  chunkSize?: number;
  /** Overwrite each Buffer written with zeros once it is staged (default true). */
  wipeSource?: boolean;
}

const OPTION_KEYS = ['chunkSize', 'wipeSource'] as const;

function chunkSizeOf(value: unknown): number {
  return value === undefined ? DEFAULT_CHUNK_SIZE : checkInteger(value, 'chunkSize', 1, MAX_CHUNK_SIZE);
}

function streamOptions(options: unknown, fn: string): Required<EnclaveStreamOptions> {
  const given = checkOptions(options, fn, OPTION_KEYS);
  return {
    chunkSize: chunkSizeOf(given.chunkSize),
    wipeSource: given.wipeSource === undefined ? true : checkBoolean(given.wipeSource, 'wipeSource'),
  };
}

export interface FromFileOptions {
  /** Plaintext bytes per sealed chunk (default 16 KiB). */
  chunkSize?: number;
  /** The most bytes read (default DEFAULT_FILE_MAX_SIZE, 256 MiB); more is ERR_TOO_LARGE. */
  maxSize?: number;
}

function stringRefused(): StrongroomError {
  return new StrongroomError(
    'ERR_INVALID_ARG',
    'EnclaveStream takes Buffers or Uint8Arrays, not strings: a string can never be wiped from the heap. ' +
      'Read the secret as bytes (fs streams give Buffers when no encoding is set)',
  );
}

// Every stream alive in this thread, so that purge() can wipe what they hold queued.
const alive = new Set<WeakRef<EnclaveStream>>();
// Wipes a stream's queued writes unless it was made with { wipeSource: false }.
let wipeQueued: (stream: EnclaveStream) => void;
let chunksOf: (stream: EnclaveStream) => Uint8Array[];

/**
 * The live array of a stream's sealed chunks, for the tests that tamper with them (the
 * package's exports map does not reach this module: users cannot call it).
 */
export function sealedChunksForTests(stream: EnclaveStream): Uint8Array[] {
  return chunksOf(stream);
}

/** purge(): wipes the writes every stream of this thread holds queued. */
export function wipeQueuedWritesOfEveryStream(): void {
  for (const reference of alive) {
    const stream = reference.deref();
    if (stream === undefined) alive.delete(reference);
    else wipeQueued(stream);
  }
}

/** The error of a stream used after purge(): what it held is gone. */
function purgedError(): StrongroomError {
  return new StrongroomError(
    'ERR_AUTH',
    'this stream was purged (purge()): the bytes it held or was given are gone, and nothing written since is sealed ' +
      'in their place; write to a new stream',
  );
}

/** The opened chunks a Readable holds for a reader that has not taken them yet, to wipe them. */
function openedChunks(stream: Duplex): Uint8Array[] {
  const state = (stream as unknown as { _readableState?: { buffer?: Iterable<unknown> } })._readableState;
  const held: Uint8Array[] = [];
  for (const chunk of state?.buffer ?? []) if (chunk instanceof Uint8Array) held.push(chunk);
  return held;
}

/** The chunks a Writable holds queued (Node's own buffer of pending writes), to wipe them. */
function queuedWrites(stream: Duplex): Uint8Array[] {
  const state = (stream as unknown as { _writableState?: { buffered?: Array<{ chunk?: unknown }> } })._writableState;
  return (state?.buffered ?? []).map((entry) => entry.chunk).filter((chunk): chunk is Uint8Array => chunk instanceof Uint8Array);
}

function tooLarge(maxSize: number): StrongroomError {
  return new StrongroomError(
    'ERR_TOO_LARGE',
    `the file holds more than maxSize (${maxSize} bytes); pass a larger { maxSize } if that is what you mean to seal`,
  );
}

function openForReading(path: string): number {
  checkText(path, 'the path of EnclaveStream.fromFile()');
  try {
    return openSync(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new StrongroomError(
      code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_IO',
      `could not open the file for reading (${code ?? 'unknown error'}); check the path and its permissions`,
      { cause },
    );
  }
}

export class EnclaveStream extends Duplex {
  readonly #chunkSize: number;
  readonly #wipeSource: boolean;
  readonly #chunks: Uint8Array[] = [];
  readonly #streamId = randomBytes(STREAM_ID_BYTES);
  // The index the next chunk sealed gets, and the index the next chunk opened must have.
  #sealIndex = 0;
  #openIndex = 0;
  #terminatorSealed = false;
  #terminatorOpened = false;
  #staging: SecretBuffer | undefined;
  #staged = 0;
  #size = 0;
  #reading = false;
  #ended = false;
  // Set by purge(): every byte this stream held or was given before it is gone, so nothing
  // written later may be sealed in their place (a corked write wiped to zeros would be).
  #purged = false;
  #waitingWrite: (() => void) | undefined;

  constructor(options?: EnclaveStreamOptions) {
    checkArgs(arguments.length, 1, 'new EnclaveStream()');
    const { chunkSize, wipeSource } = streamOptions(options, 'new EnclaveStream()');
    // No read-ahead: the readable side opens a chunk only when a reader asks for it, so
    // at most the chunk being delivered sits opened in the stream's buffer (Node's default
    // would open 16 KiB ahead on Node 20 and 64 KiB on Node 22+).
    super({ decodeStrings: true, readableHighWaterMark: 0 });
    this.#chunkSize = chunkSize;
    this.#wipeSource = wipeSource;
    const reference = new WeakRef(this);
    alive.add(reference);
    this.once('close', () => alive.delete(reference));
  }

  /**
   * A file read chunk by chunk (read(2) into guarded memory, sealed there); the stream is
   * ended. More than `maxSize` bytes (default 256 MiB) is ERR_TOO_LARGE, before a byte is
   * read for a regular file, as soon as it is passed for anything else (a pipe, a device).
   */
  static async fromFile(path: string, options?: FromFileOptions): Promise<EnclaveStream> {
    checkArgs(arguments.length, 2, 'EnclaveStream.fromFile()');
    const given = checkOptions(options, 'EnclaveStream.fromFile()', ['chunkSize', 'maxSize']);
    const chunkSize = chunkSizeOf(given.chunkSize);
    const maxSize =
      given.maxSize === undefined ? DEFAULT_FILE_MAX_SIZE : checkInteger(given.maxSize, 'maxSize', 1, Number.MAX_SAFE_INTEGER);
    const fd = openForReading(path);
    try {
      const stat = fstatSync(fd);
      if (stat.isFile() && stat.size > maxSize) throw tooLarge(maxSize);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    const stream = new EnclaveStream({ chunkSize });
    const reader = (() => {
      try {
        return sealer().fileSealer(fd, HEADER_BYTES + stream.#chunkSize);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
    })();
    try {
      for (let count = 1; ; count++) {
        const chunk = reader.next(stream.#header(DATA_FLAG));
        if (chunk === null) break;
        stream.#sealIndex++;
        stream.#add(chunk);
        if (stream.#size > maxSize) throw tooLarge(maxSize);
        if (count % CHUNKS_PER_TURN === 0) await yieldToLoop();
      }
    } catch (error) {
      stream.destroy();
      throw error instanceof StrongroomError
        ? error
        : new StrongroomError('ERR_IO', `could not read the file (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, { cause: error });
    } finally {
      reader.close();
      closeSync(fd);
    }
    stream.end();
    return stream;
  }

  /** Plaintext bytes held (sealed or staged) and not yet read or flattened. */
  get size(): number {
    return this.#size;
  }

  #stagingBuffer(): SecretBuffer {
    if (this.#staging === undefined) {
      try {
        this.#staging = SecretBuffer.alloc(HEADER_BYTES + this.#chunkSize, sealer().bufferOptions);
      } catch (error) {
        if (!(error instanceof StrongroomError) || error.code !== 'ERR_MLOCK_LIMIT') throw error;
        throw new StrongroomError(
          'ERR_MLOCK_LIMIT',
          `this EnclaveStream's staging buffer of chunkSize ${this.#chunkSize} bytes could not be locked into RAM: ` +
            `lower chunkSize (the default is ${DEFAULT_CHUNK_SIZE}), or raise RLIMIT_MEMLOCK. ${error.message}`,
          { cause: error },
        );
      }
    }
    return this.#staging;
  }

  // Seals what is staged as one chunk and wipes the staging buffer.
  #sealStaged(): void {
    if (this.#staged === 0 || this.#staging === undefined) return;
    if (this.#staging.destroyed) {
      throw new StrongroomError(
        'ERR_AUTH',
        'the bytes staged in this stream were destroyed by purge() before they were sealed; write them to a new stream',
      );
    }
    this.#staging.copyFrom(this.#header(DATA_FLAG), 0);
    const chunk = sealer().sealBuffer(this.#staging, HEADER_BYTES + this.#staged);
    this.#staging.wipe();
    this.#staged = 0;
    this.#sealIndex++;
    this.#chunks.push(chunk);
    this.#pushIfWanted();
  }

  // Seals the terminator (once): the chunk that says nothing was dropped at the end.
  #sealTerminator(): void {
    if (this.#terminatorSealed) return;
    const chunk = sealer().sealBytes(this.#header(LAST_FLAG));
    this.#terminatorSealed = true;
    this.#sealIndex++;
    this.#chunks.push(chunk);
  }

  // The binding of the next chunk sealed (public bytes).
  #header(flag: number): Uint8Array {
    const header = new Uint8Array(HEADER_BYTES);
    header.set(this.#streamId, 0);
    new DataView(header.buffer).setBigUint64(INDEX_AT, BigInt(this.#sealIndex));
    header[FLAG_AT] = flag;
    return header;
  }

  // Opens the chunk expected at `index`: a frozen SecretBuffer of header || data, or
  // ERR_AUTH (nothing left allocated) when the chunk is not that one of this stream.
  // Returns whether it is the terminator.
  #openChunk(chunk: Uint8Array, index: number, afterTerminator: boolean): { opened: SecretBuffer; last: boolean } {
    if (afterTerminator) throw tampered('follows the end of the stream');
    const opened = sealer().open(chunk);
    const check = opened.read((view) => {
      if (view.length < HEADER_BYTES) return 'is too short to be one';
      for (let i = 0; i < STREAM_ID_BYTES; i++) if (view[i] !== this.#streamId[i]) return 'belongs to another stream';
      const at = new DataView(view.buffer, view.byteOffset, HEADER_BYTES).getBigUint64(INDEX_AT);
      if (at !== BigInt(index)) return 'is out of place (reordered or a chunk before it is missing)';
      const flag = view[FLAG_AT];
      if (flag === LAST_FLAG && view.length !== HEADER_BYTES) return 'is a terminator that carries data';
      if (flag !== DATA_FLAG && flag !== LAST_FLAG) return 'has an unknown flag';
      return flag === LAST_FLAG ? 'last' : 'data';
    });
    if (check !== 'last' && check !== 'data') {
      opened.destroy();
      throw tampered(check);
    }
    return { opened, last: check === 'last' };
  }

  #add(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += dataSize(chunk);
    this.#pushIfWanted();
  }

  override _write(data: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      if (this.#purged) throw purgedError();
      const staging = this.#stagingBuffer();
      for (let at = 0; at < data.length; ) {
        const take = Math.min(this.#chunkSize - this.#staged, data.length - at);
        staging.copyFrom(data.subarray(at, at + take), HEADER_BYTES + this.#staged);
        this.#staged += take;
        this.#size += take;
        at += take;
        if (this.#staged === this.#chunkSize) this.#sealStaged();
      }
    } catch (error) {
      callback(error as Error);
      return;
    } finally {
      if (this.#wipeSource) data.fill(0);
    }
    // Any reader attached (flowing, or paused by a busy pipe destination): wait for it.
    if (this.readableFlowing !== null && this.#chunks.length >= PENDING_LIMIT) this.#waitingWrite = callback;
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.#sealStaged();
      this.#staging?.destroy();
      this.#staging = undefined;
      this.#sealTerminator();
      this.#ended = true;
      this.#pushIfWanted();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _read(): void {
    this.#reading = true;
    this.#pushIfWanted();
  }

  // Opens and pushes chunks while the reader wants more; ends the readable side once
  // the writable side has finished and every chunk up to the terminator was read.
  #pushIfWanted(): void {
    while (this.#reading) {
      const chunk = this.#chunks[0];
      if (chunk === undefined) {
        if (this.#ended) {
          if (!this.#terminatorOpened) throw tampered('is missing at the end (the stream was truncated)');
          this.#reading = false;
          this.push(null);
        }
        break;
      }
      const { opened, last } = this.#openChunk(chunk, this.#openIndex, this.#terminatorOpened);
      this.#chunks.shift();
      this.#openIndex++;
      let copy: Buffer | undefined;
      try {
        if (last) this.#terminatorOpened = true;
        else copy = opened.read((view) => Buffer.from(view.subarray(HEADER_BYTES)));
      } finally {
        opened.destroy();
      }
      this.#size -= dataSize(chunk);
      if (copy !== undefined) this.#reading = this.push(copy);
    }
    this.#releaseWriter();
  }

  // Lets a writer held back by a slow reader go on once few chunks are pending.
  #releaseWriter(): void {
    if (this.#waitingWrite !== undefined && this.#chunks.length < PENDING_LIMIT) {
      const callback = this.#waitingWrite;
      this.#waitingWrite = undefined;
      callback();
    }
  }

  /**
   * Everything not yet read, opened into one frozen SecretBuffer (destroy it when done);
   * the stream is left empty. Bytes staged by an unfinished writer are included.
   * ERR_EMPTY when there is nothing; ERR_AUTH after a purge().
   */
  flatten(): SecretBuffer {
    checkArgs(arguments.length, 0, 'flatten()');
    if (this.#purged) throw purgedError();
    this.#sealStaged();
    if (this.#size === 0) {
      throw new StrongroomError('ERR_EMPTY', 'the stream holds no bytes to flatten; write to it first');
    }
    const result = SecretBuffer.alloc(this.#size, sealer().bufferOptions);
    let index = this.#openIndex;
    let terminator = this.#terminatorOpened;
    try {
      let offset = 0;
      for (const chunk of this.#chunks) {
        const { opened, last } = this.#openChunk(chunk, index++, terminator);
        try {
          if (last) terminator = true;
          else result.copyFrom(opened, offset, { sourceOffset: HEADER_BYTES });
        } finally {
          opened.destroy();
        }
        offset += dataSize(chunk);
      }
      if (offset !== result.size) throw tampered('does not add up to the size written');
      if (this.#terminatorSealed && !terminator) throw tampered('is missing at the end (the stream was truncated)');
    } catch (error) {
      result.destroy();
      throw error;
    }
    this.#chunks.length = 0;
    this.#openIndex = index;
    this.#terminatorOpened = terminator;
    this.#size = 0;
    this.#releaseWriter();
    return result.freeze();
  }

  static {
    chunksOf = (stream) => stream.#chunks;
    wipeQueued = (stream) => {
      stream.#purged = true;
      if (stream.#wipeSource) for (const chunk of queuedWrites(stream)) chunk.fill(0);
      // A chunk opened for a reader that has not taken it: wiped, and the stream fails, so
      // that the reader never takes its zeros for the secret.
      const opened = openedChunks(stream);
      for (const chunk of opened) chunk.fill(0);
      if (opened.length > 0) stream.destroy(purgedError());
    };
  }

  /** Refuses strings: a string can never be wiped from the heap (write Buffers or Uint8Arrays). */
  override write(chunk: unknown, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: unknown, encoding: BufferEncoding, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    if (typeof chunk === 'string') throw stringRefused();
    return super.write(chunk, encoding as BufferEncoding, callback as (error: Error | null | undefined) => void);
  }

  override end(callback?: () => void): this;
  override end(chunk: unknown, callback?: () => void): this;
  override end(chunk: unknown, encoding: BufferEncoding, callback?: () => void): this;
  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    if (typeof chunk === 'string') throw stringRefused();
    return super.end(chunk as never, encoding as BufferEncoding, callback as () => void);
  }

  /** Never the bytes: neither the chunk opened for a reader nor writes still queued. */
  [inspect.custom](): string {
    return `EnclaveStream(${this.#size} bytes, sealed${this.destroyed ? ', destroyed' : ''})`;
  }

  toJSON(): { type: 'EnclaveStream'; size: number } {
    return { type: 'EnclaveStream', size: this.#size };
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Writes still queued (behind backpressure or cork()) hold plaintext: wipe them; so does
    // the chunk opened for a reader that has not taken it yet.
    if (this.#wipeSource) for (const chunk of queuedWrites(this)) chunk.fill(0);
    for (const chunk of openedChunks(this)) chunk.fill(0);
    this.#staging?.destroy();
    this.#staging = undefined;
    this.#chunks.length = 0;
    this.#size = 0;
    callback(error);
  }
}
