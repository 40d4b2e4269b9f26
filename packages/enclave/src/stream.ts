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
import { closeSync, fstatSync, openSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

import { SecretBuffer } from '@strongroom/buffer';
import { SEAL_OVERHEAD, StrongroomError } from '@strongroom/core-native';
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

/** purge(): wipes the writes every stream of this thread holds queued. */
export function wipeQueuedWritesOfEveryStream(): void {
  for (const reference of alive) {
    const stream = reference.deref();
    if (stream === undefined) alive.delete(reference);
    else wipeQueued(stream);
  }
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
  #staging: SecretBuffer | undefined;
  #staged = 0;
  #size = 0;
  #reading = false;
  #ended = false;
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
        return sealer().fileSealer(fd, stream.#chunkSize);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
    })();
    try {
      for (let count = 1; ; count++) {
        const chunk = reader.next();
        if (chunk === null) break;
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
        this.#staging = SecretBuffer.alloc(this.#chunkSize, sealer().bufferOptions);
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
    const chunk = sealer().sealBuffer(this.#staging, this.#staged);
    this.#staging.wipe();
    this.#staged = 0;
    this.#chunks.push(chunk);
    this.#pushIfWanted();
  }

  #add(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length - SEAL_OVERHEAD;
    this.#pushIfWanted();
  }

  override _write(data: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      const staging = this.#stagingBuffer();
      for (let at = 0; at < data.length; ) {
        const take = Math.min(this.#chunkSize - this.#staged, data.length - at);
        staging.copyFrom(data.subarray(at, at + take), this.#staged);
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
  // the writable side has finished and every chunk was read.
  #pushIfWanted(): void {
    while (this.#reading) {
      const chunk = this.#chunks.shift();
      if (chunk === undefined) {
        if (this.#ended) {
          this.#reading = false;
          this.push(null);
        }
        break;
      }
      this.#size -= chunk.length - SEAL_OVERHEAD;
      const opened = sealer().open(chunk);
      let copy: Buffer;
      try {
        copy = opened.read((view) => Buffer.from(view));
      } finally {
        opened.destroy();
      }
      this.#reading = this.push(copy);
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
    this.#sealStaged();
    if (this.#size === 0) throw new StrongroomError('ERR_EMPTY', 'the stream holds no bytes to flatten; write to it first');
    const result = SecretBuffer.alloc(this.#size, sealer().bufferOptions);
    try {
      let offset = 0;
      for (const chunk of this.#chunks) {
        const opened = sealer().open(chunk);
        try {
          result.copyFrom(opened, offset);
        } finally {
          opened.destroy();
        }
        offset += chunk.length - SEAL_OVERHEAD;
      }
    } catch (error) {
      result.destroy();
      throw error;
    }
    this.#chunks.length = 0;
    this.#size = 0;
    this.#releaseWriter();
    return result.freeze();
  }

  static {
    wipeQueued = (stream) => {
      if (stream.#wipeSource) for (const chunk of queuedWrites(stream)) chunk.fill(0);
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

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Writes still queued (behind backpressure or cork()) hold plaintext: wipe them.
    wipeQueued(this);
    this.#staging?.destroy();
    this.#staging = undefined;
    this.#chunks.length = 0;
    this.#size = 0;
    callback(error);
  }
}
