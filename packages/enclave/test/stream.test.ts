// EnclaveStream: round trips through the readable side and flatten() at every chunk
// boundary, size accounting, wipeSource, option validation, fromFile (bytes, typed
// errors, no descriptor or buffer left behind), purge(), backpressure, and, in child
// processes (which import the built dist/: run `npx tsc -p tsconfig.build.json` first),
// a 100 MiB pipeline in bounded memory and the residue a marker secret leaves.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';

import { afterAll, describe, expect, it } from 'vitest';
import {
  asyncErrorCode,
  errorCode,
  expectResidue,
  heapMarkerCode,
  lockableMemory,
  makeMarker,
  openFileDescriptors,
  runNode,
  startChild,
  strongroomMatchers,
} from '@strongroom/testkit';
import '@strongroom/testkit/vitest';
import { stats } from '@strongroom/core-native';

import {
  DEFAULT_CHUNK_SIZE,
  EnclaveStream,
  MAX_CHUNK_SIZE,
  purge,
  SecretBuffer,
  StrongroomError,
  type EnclaveStreamOptions,
} from '../src/index.js';
import { CHILD, copyOut } from './helpers.js';

expect.extend(strongroomMatchers);

const MiB = 1024 * 1024;
// MAX_CHUNK_SIZE's staging buffer needs 16 MiB locked: root has it, a user under the common 8 MiB limit does not.
const LOCKS_16_MIB = lockableMemory() >= 17 * MiB;

// ---- helpers ----

/** n deterministic pseudo-random bytes (xorshift32), different for each seed. */
function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (Math.imul(seed + 1, 2654435761) >>> 0) || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The sha256 of a SecretBuffer's bytes, computed inside a read scope. */
function digestOf(buffer: SecretBuffer): string {
  return buffer.read((view) => sha256(view));
}

function optionsFor(chunkSize: number): EnclaveStreamOptions | undefined {
  return chunkSize === DEFAULT_CHUNK_SIZE ? undefined : { chunkSize };
}

/** Every chunk the readable side gives, until 'end'; rejects on 'error'. */
function collect(stream: EnclaveStream): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(chunks));
    stream.once('error', reject);
  });
}

/** Writes and resolves once the write's callback ran (the bytes were staged). */
function write(stream: EnclaveStream, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

/** Ends the writable side and waits for 'finish' (the last chunk is sealed). */
async function finish(stream: EnclaveStream): Promise<void> {
  const finished = once(stream, 'finish');
  stream.end();
  await finished;
}

/** Copies of data cut into pieces of the given sizes, repeated until data is used up. */
function pieces(data: Uint8Array, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length]!;
    out.push(Buffer.from(data.subarray(at, at + size)));
    at += size;
  }
  return out;
}

/** The chunk lengths a stream of `n` bytes is sealed in. */
function chunkLengths(n: number, chunkSize: number): number[] {
  const lengths = new Array<number>(Math.floor(n / chunkSize)).fill(chunkSize);
  if (n % chunkSize !== 0) lengths.push(n % chunkSize);
  return lengths;
}

/** Resolves with what the promise gives, or rejects after ms with a message that says what stalled. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-stream-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: Uint8Array | string): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, data);
  return target;
}

// Sizes around every chunk boundary, for the default and some custom chunk sizes.
const CHUNK_SIZES = [DEFAULT_CHUNK_SIZE, 1000, 7, 1];
const CASES: Array<[number, number]> = CHUNK_SIZES.flatMap((chunkSize) =>
  [...new Set([1, chunkSize - 1, chunkSize, chunkSize + 1, 5 * chunkSize + 3])]
    .filter((n) => n > 0)
    .map((n): [number, number] => [chunkSize, n]),
);

// ---- round trips ----

describe('round trips', () => {
  it('the default chunk size is 16 KiB and the largest is 16 MiB', () => {
    expect(DEFAULT_CHUNK_SIZE).toBe(16 * 1024);
    expect(MAX_CHUNK_SIZE).toBe(16 * MiB);
  });

  it.each(CASES)('chunkSize %i, %i bytes: the readable side gives the bytes back, one chunk at a time', async (chunkSize, n) => {
    const data = bytes(n, n);
    const stream = new EnclaveStream(optionsFor(chunkSize));
    const out = collect(stream);
    stream.end(Buffer.from(data));
    const chunks = await out;
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
    expect(chunks.map((chunk) => chunk.length)).toEqual(chunkLengths(n, chunkSize));
    expect(stream.size).toBe(0);
  });

  it.each(CASES)('chunkSize %i, %i bytes: flatten() gives the bytes back', async (chunkSize, n) => {
    const data = bytes(n, n + 1);
    const stream = new EnclaveStream(optionsFor(chunkSize));
    await write(stream, Buffer.from(data));
    expect(stream.size).toBe(n);
    const flat = stream.flatten();
    expect(flat.size).toBe(n);
    expect(digestOf(flat)).toBe(sha256(data));
    expect(stream.size).toBe(0);
    flat.destroy();
    stream.destroy();
  });

  it.each([1, 3, 64, 4096])('chunkSize %i: writes split at odd boundaries (empty writes too) come back whole', async (chunkSize) => {
    const data = bytes(3 * 4096 + 77, chunkSize);
    const cuts = [1, 0, 2, chunkSize - 1, chunkSize, chunkSize + 1, 13, 2 * chunkSize + 3, 5, 999].filter((size, i) => size > 0 || i === 1);
    // a seeded run of irregular sizes as well
    let x = chunkSize;
    const irregular = Array.from({ length: 40 }, () => ((x = (x * 1103515245 + 12345) % 2 ** 31), (x % (3 * chunkSize + 17)) + 1));
    for (const sizes of [cuts, irregular]) {
      const reading = new EnclaveStream({ chunkSize });
      const out = collect(reading);
      for (const piece of pieces(data, sizes)) reading.write(piece);
      reading.end();
      expect(sha256(Buffer.concat(await out))).toBe(sha256(data));

      const flattening = new EnclaveStream({ chunkSize });
      for (const piece of pieces(data, sizes)) await write(flattening, piece);
      const flat = flattening.flatten();
      expect(flat.size).toBe(data.length);
      expect(digestOf(flat)).toBe(sha256(data));
      flat.destroy();
      flattening.destroy();
    }
  });

  it('the readable side works as an async iterator', async () => {
    const data = bytes(5 * 1000 + 3, 42);
    const stream = new EnclaveStream({ chunkSize: 1000 });
    stream.end(Buffer.from(data));
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
  });

  it('a stream ended without a write gives nothing and ends', async () => {
    const stream = new EnclaveStream();
    const out = collect(stream);
    stream.end();
    expect(await out).toEqual([]);
    expect(stream.size).toBe(0);
  });
});

// ---- size ----

describe('size', () => {
  it('counts bytes as they are written (staged or sealed), and drops to 0 on flatten()', async () => {
    const stream = new EnclaveStream({ chunkSize: 10 });
    expect(stream.size).toBe(0);
    await write(stream, bytes(3)); // staged
    expect(stream.size).toBe(3);
    await write(stream, bytes(10)); // one chunk sealed, 3 staged
    expect(stream.size).toBe(13);
    await write(stream, bytes(25)); // three more sealed, 8 staged
    expect(stream.size).toBe(38);
    await write(stream, Buffer.alloc(0));
    expect(stream.size).toBe(38);
    const flat = stream.flatten();
    expect(flat.size).toBe(38);
    expect(stream.size).toBe(0);
    flat.destroy();
    await write(stream, bytes(4)); // writing goes on after a flatten
    expect(stream.size).toBe(4);
    await finish(stream);
    expect(stream.size).toBe(4);
    stream.destroy();
    expect(stream.size).toBe(0);
  });

  it('falls as chunks are read, never counting bytes already delivered, and ends at 0', async () => {
    const total = 4 * DEFAULT_CHUNK_SIZE + 100;
    const stream = new EnclaveStream();
    await write(stream, bytes(total, 5));
    await finish(stream);
    expect(stream.size).toBe(total);
    const seen: Array<{ size: number; delivered: number }> = [];
    let delivered = 0;
    stream.on('data', (chunk: Buffer) => {
      delivered += chunk.length;
      seen.push({ size: stream.size, delivered });
    });
    await once(stream, 'end');
    expect(delivered).toBe(total);
    expect(stream.size).toBe(0);
    for (const { size, delivered: soFar } of seen) expect(size).toBeLessThanOrEqual(total - soFar);
    const sizes = seen.map(({ size }) => size);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a)); // never rises
    expect(new Set([total, ...sizes]).size).toBeGreaterThanOrEqual(3); // it moved in steps, not all at once at the end
  });
});

// ---- flatten ----

describe('flatten()', () => {
  it('includes the bytes an unfinished writer has staged', async () => {
    const onlyStaged = new EnclaveStream({ chunkSize: 16 });
    await write(onlyStaged, Buffer.from([1, 2, 3, 4, 5]));
    const five = onlyStaged.flatten();
    expect(copyOut(five)).toEqual(Buffer.from([1, 2, 3, 4, 5]));
    five.destroy();

    const data = bytes(20, 3);
    const stream = new EnclaveStream({ chunkSize: 16 });
    await write(stream, Buffer.from(data)); // one sealed chunk + 4 staged bytes
    const flat = stream.flatten();
    expect(flat.size).toBe(20);
    expect(digestOf(flat)).toBe(sha256(data));
    flat.destroy();

    // the stream is empty and usable: later bytes, and only those, come out
    const out = collect(stream);
    stream.end(Buffer.from([9, 8, 7]));
    expect(Buffer.concat(await out)).toEqual(Buffer.from([9, 8, 7]));
    onlyStaged.destroy();
  });

  it('gives only what was not read yet', async () => {
    const data = bytes(4 * DEFAULT_CHUNK_SIZE, 8);
    const stream = new EnclaveStream();
    await write(stream, Buffer.from(data));
    await finish(stream);
    const first = stream.read(DEFAULT_CHUNK_SIZE) as Buffer | null;
    expect(first).not.toBeNull();
    expect(first!.equals(data.subarray(0, DEFAULT_CHUNK_SIZE))).toBe(true);
    const flat = stream.flatten();
    expect(flat.size).toBeGreaterThan(0);
    expect(flat.size).toBeLessThan(data.length - DEFAULT_CHUNK_SIZE + 1);
    expect(stream.size).toBe(0);
    // what the readable side had already taken into its own buffer still reads, then it ends
    const buffered: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => buffered.push(chunk));
    await once(stream, 'end');
    const all = Buffer.concat([first!, ...buffered, copyOut(flat)]);
    expect(sha256(all)).toBe(sha256(data));
    flat.destroy();
  });

  it('of a stream with nothing in it is ERR_EMPTY and allocates nothing', async () => {
    const cases: Array<[string, () => Promise<EnclaveStream>]> = [
      ['new', async () => new EnclaveStream()],
      ['ended without a write', async () => {
        const stream = new EnclaveStream();
        await finish(stream);
        return stream;
      }],
      ['given only an empty write', async () => {
        const stream = new EnclaveStream();
        await write(stream, Buffer.alloc(0));
        return stream;
      }],
      ['flattened already', async () => {
        const stream = new EnclaveStream();
        await write(stream, bytes(3));
        stream.flatten().destroy();
        return stream;
      }],
      ['read to the end', async () => {
        const stream = new EnclaveStream({ chunkSize: 4 });
        const out = collect(stream);
        stream.end(bytes(9));
        await out;
        return stream;
      }],
    ];
    for (const [what, make] of cases) {
      const stream = await make();
      const buffers = SecretBuffer.live().buffers;
      const regions = stats().regions;
      expect(errorCode(() => stream.flatten()), what).toBe('ERR_EMPTY');
      expect(SecretBuffer.live().buffers, what).toBe(buffers);
      expect(stats().regions, what).toBe(regions);
      stream.destroy();
    }
    expect(() => new EnclaveStream().flatten()).toThrow(StrongroomError);
  });

  it('returns a new frozen SecretBuffer, the only buffer it adds', async () => {
    const stream = new EnclaveStream({ chunkSize: 8 });
    await write(stream, bytes(30, 4));
    await finish(stream); // the staging buffer is gone
    const before = SecretBuffer.live().buffers;
    const flat = stream.flatten();
    expect(flat).toBeInstanceOf(SecretBuffer);
    expect(flat.frozen).toBe(true);
    expect(SecretBuffer.live().buffers).toBe(before + 1);
    expect(errorCode(() => flat.write(() => undefined))).toBe('ERR_FROZEN');
    expect(errorCode(() => flat.wipe())).toBe('ERR_FROZEN');
    expect(errorCode(() => flat.copyFrom(new Uint8Array(1)))).toBe('ERR_FROZEN');
    expect(digestOf(flat)).toBe(sha256(bytes(30, 4))); // untouched by the refused writes
    flat.destroy();
    expect(SecretBuffer.live().buffers).toBe(before);
  });

  it('destroy() releases the staging buffer and forgets the chunks', async () => {
    const before = SecretBuffer.live().buffers;
    const regions = stats().regions;
    const stream = new EnclaveStream({ chunkSize: 64 });
    await write(stream, bytes(100));
    expect(SecretBuffer.live().buffers).toBe(before + 1); // the staging buffer
    stream.destroy();
    await once(stream, 'close');
    expect(SecretBuffer.live().buffers).toBe(before);
    expect(stats().regions).toBe(regions);
    expect(stream.size).toBe(0);
  });
});

// ---- wipeSource ----

describe('wipeSource', () => {
  it('by default the Buffers written are zeroed once staged, across chunk boundaries', async () => {
    const stream = new EnclaveStream({ chunkSize: 16 });
    const data = bytes(50, 6);
    const source = Buffer.from(data);
    await write(stream, source);
    expect(source.every((byte) => byte === 0)).toBe(true);
    const flat = stream.flatten();
    expect(digestOf(flat)).toBe(sha256(data)); // the bytes were taken before the wipe
    flat.destroy();
    stream.destroy();
  });

  it('a plain Uint8Array is zeroed, and only the window of a Buffer that was written', async () => {
    const stream = new EnclaveStream({ chunkSize: 16 });
    const plain = Uint8Array.from(bytes(20, 7));
    await write(stream, plain);
    expect(plain.every((byte) => byte === 0)).toBe(true);

    const whole = Buffer.from(bytes(30, 8));
    const copy = Buffer.from(whole);
    await write(stream, whole.subarray(10, 20));
    expect(whole.subarray(10, 20).every((byte) => byte === 0)).toBe(true);
    expect(whole.subarray(0, 10).equals(copy.subarray(0, 10))).toBe(true);
    expect(whole.subarray(20).equals(copy.subarray(20))).toBe(true);

    const flat = stream.flatten();
    expect(digestOf(flat)).toBe(sha256(Buffer.concat([bytes(20, 7), copy.subarray(10, 20)])));
    flat.destroy();
    stream.destroy();
  });

  it('wipeSource: true is the default spelt out', async () => {
    const stream = new EnclaveStream({ wipeSource: true });
    const source = Buffer.from(bytes(9));
    await write(stream, source);
    expect(source.every((byte) => byte === 0)).toBe(true);
    stream.destroy();
  });

  it('{ wipeSource: false } leaves the Buffers written as they were', async () => {
    const data = bytes(50, 9);
    const stream = new EnclaveStream({ chunkSize: 16, wipeSource: false });
    const sources = pieces(data, [7, 16, 1, 26]);
    for (const source of sources) await write(stream, source);
    expect(sha256(Buffer.concat(sources))).toBe(sha256(data));
    const out = collect(stream);
    stream.end();
    expect(sha256(Buffer.concat(await out))).toBe(sha256(data));
  });
});

// ---- options ----

describe('option validation', () => {
  it.each([
    ['an unknown key', { chunksize: 16 }],
    ['a Duplex option', { highWaterMark: 1 }],
    ['objectMode', { objectMode: true }],
    ['chunkSize 0', { chunkSize: 0 }],
    ['chunkSize -1', { chunkSize: -1 }],
    ['chunkSize 1.5', { chunkSize: 1.5 }],
    ['chunkSize NaN', { chunkSize: Number.NaN }],
    ['chunkSize Infinity', { chunkSize: Number.POSITIVE_INFINITY }],
    ['chunkSize above the maximum', { chunkSize: MAX_CHUNK_SIZE + 1 }],
    ["chunkSize '16'", { chunkSize: '16' }],
    ['chunkSize 16n', { chunkSize: 16n }],
    ["wipeSource 'no'", { wipeSource: 'no' }],
    ['wipeSource 0', { wipeSource: 0 }],
    ['null', null],
    ['a string', 'chunkSize'],
    ['a number', 16],
  ])('%s is ERR_INVALID_ARG (a StrongroomError) and allocates nothing', (_, options) => {
    const buffers = SecretBuffer.live().buffers;
    expect(errorCode(() => new EnclaveStream(options as never))).toBe('ERR_INVALID_ARG');
    expect(() => new EnclaveStream(options as never)).toThrow(StrongroomError);
    expect(SecretBuffer.live().buffers).toBe(buffers);
  });

  it('the limits themselves are accepted: chunkSize 1, and MAX_CHUNK_SIZE where 16 MiB can be locked', async () => {
    expect(errorCode(() => new EnclaveStream({ chunkSize: 1 }).destroy())).toBeUndefined();
    if (!LOCKS_16_MIB) {
      // A user without CAP_IPC_LOCK under the common 8 MiB limit: the error names chunkSize.
      const stream = new EnclaveStream({ chunkSize: MAX_CHUNK_SIZE });
      const emitted = once(stream, 'error'); // the failed write is also the stream's 'error'
      await expect(write(stream, bytes(100))).rejects.toThrow(/chunkSize 16777216 bytes could not be locked/);
      expect((await emitted)[0]).toMatchObject({ code: 'ERR_MLOCK_LIMIT' });
      stream.destroy();
      return;
    }
    const largest = new EnclaveStream({ chunkSize: MAX_CHUNK_SIZE });
    await write(largest, bytes(100));
    const flat = largest.flatten();
    expect(digestOf(flat)).toBe(sha256(bytes(100)));
    flat.destroy();
    largest.destroy();
    expect(errorCode(() => new EnclaveStream({}).destroy())).toBeUndefined();
  });
});

describe('the staging buffer under exactly an 8 MiB RLIMIT_MEMLOCK (without CAP_IPC_LOCK)', () => {
  it('MAX_CHUNK_SIZE gets ERR_MLOCK_LIMIT that names chunkSize; the default chunk size works', async () => {
    const result = await runNode(
      `import { EnclaveStream, MAX_CHUNK_SIZE } from '@strongroom/enclave';
       const write = (stream, data) => new Promise((resolve) => stream.write(data, (error) => resolve(error)));
       const large = new EnclaveStream({ chunkSize: MAX_CHUNK_SIZE });
       large.on('error', () => {});
       const error = await write(large, Buffer.alloc(10, 1));
       const usual = new EnclaveStream();
       const ok = await write(usual, Buffer.alloc(10, 1));
       console.log(JSON.stringify({ code: error?.code, names: /chunkSize 16777216 bytes/.test(error?.message ?? ''), ok: ok === undefined || ok === null }));`,
      { ...CHILD, memlockBytes: 8 * 1024 * 1024, dropIpcLock: true },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({ code: 'ERR_MLOCK_LIMIT', names: true, ok: true });
  });
});

// ---- fromFile ----

describe('fromFile()', () => {
  it('round trip of a file of several chunks plus a partial one, through the readable side', async () => {
    const data = bytes(5 * 1000 + 123, 11);
    const target = file('partial', data);
    const stream = await EnclaveStream.fromFile(target, { chunkSize: 1000 });
    expect(stream.writableEnded).toBe(true);
    expect(stream.size).toBe(data.length);
    const chunks = await collect(stream);
    expect(chunks.map((chunk) => chunk.length)).toEqual(chunkLengths(data.length, 1000));
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
    expect(stream.size).toBe(0);
  });

  it('round trip of a file of exactly three chunks, through flatten()', async () => {
    const data = bytes(3 * DEFAULT_CHUNK_SIZE, 12);
    const stream = await EnclaveStream.fromFile(file('exact', data));
    expect(stream.size).toBe(data.length);
    const flat = stream.flatten();
    expect(flat.frozen).toBe(true);
    expect(digestOf(flat)).toBe(sha256(data));
    expect(stream.size).toBe(0);
    flat.destroy();
  });

  it('flatten() of a several-MiB file equals the file', async () => {
    const data = Buffer.concat([bytes(5 * MiB, 13), bytes(12_345, 14)]);
    const target = file('large', data);
    const fds = openFileDescriptors('self');
    const stream = await EnclaveStream.fromFile(target);
    expect(openFileDescriptors('self')).toEqual(fds);
    expect(stream.size).toBe(data.length);
    const flat = stream.flatten();
    expect(flat.size).toBe(data.length);
    expect(digestOf(flat)).toBe(sha256(fs.readFileSync(target)));
    flat.destroy();
  });

  it('an empty file gives an ended, empty stream', async () => {
    const stream = await EnclaveStream.fromFile(file('empty', ''));
    expect(stream.size).toBe(0);
    expect(errorCode(() => stream.flatten())).toBe('ERR_EMPTY');
    expect(await collect(stream)).toEqual([]);
  });

  it('lets the event loop run while it reads a file of many chunks', async () => {
    const data = bytes(200 * 16 + 5, 15);
    const target = file('many-chunks', data);
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    const stream = await EnclaveStream.fromFile(target, { chunkSize: 16 });
    expect(ran).toBe(true);
    const flat = stream.flatten();
    expect(digestOf(flat)).toBe(sha256(data));
    flat.destroy();
  });

  it('closes the file and frees its staging memory', async () => {
    const target = file('closed', bytes(10 * 1000 + 1, 16));
    const fds = openFileDescriptors('self');
    const buffers = SecretBuffer.live().buffers;
    const regions = stats().regions;
    const stream = await EnclaveStream.fromFile(target, { chunkSize: 1000 });
    expect(openFileDescriptors('self')).toEqual(fds);
    expect(SecretBuffer.live().buffers).toBe(buffers);
    expect(stats().regions).toBe(regions);
    stream.destroy();
  });

  it.each([
    ['a missing file', 'ERR_NOT_FOUND', () => path.join(dir, 'missing'), undefined],
    ['a file in a missing folder', 'ERR_NOT_FOUND', () => path.join(dir, 'nowhere', 'key'), undefined],
    ['a directory', 'ERR_IO', () => dir, undefined],
    ['an empty path', 'ERR_INVALID_ARG', () => '', undefined],
    ['a path with NUL', 'ERR_INVALID_ARG', () => `${dir}/a\0b`, undefined],
    ['a number', 'ERR_INVALID_ARG', () => 42, undefined],
    ['chunkSize 0', 'ERR_INVALID_ARG', () => file('for-options', 'abc'), { chunkSize: 0 }],
    ['an unknown option', 'ERR_INVALID_ARG', () => file('for-options', 'abc'), { chunk: 1 }],
  ])('%s is %s (a StrongroomError) and leaves no descriptor, buffer or region', async (_, code, target, options) => {
    const where = target();
    const fds = openFileDescriptors('self');
    const buffers = SecretBuffer.live().buffers;
    const regions = stats().regions;
    expect(await asyncErrorCode(() => EnclaveStream.fromFile(where as never, options as never))).toBe(code);
    await expect(EnclaveStream.fromFile(where as never, options as never)).rejects.toBeInstanceOf(StrongroomError);
    expect(openFileDescriptors('self')).toEqual(fds);
    expect(SecretBuffer.live().buffers).toBe(buffers);
    expect(stats().regions).toBe(regions);
  });

  it('the error for a directory says what went wrong, and no secret', async () => {
    const error = await EnclaveStream.fromFile(dir).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StrongroomError);
    expect((error as Error).message).toMatch(/directory/i);
  });
});

// ---- purge ----

describe('what a stream shows of itself', () => {
  it('inspect, String and JSON.stringify never show a chunk opened for a reader or a queued write', async () => {
    const stream = new EnclaveStream({ chunkSize: 8 });
    stream.cork();
    stream.write(Buffer.from('QUEUED-9'));
    stream.uncork();
    stream.end(Buffer.from('SECRET01SECRET02'));
    await once(stream, 'readable');
    for (const shown of [inspect(stream, { depth: 5 }), JSON.stringify(stream)]) {
      expect(shown).not.toMatch(/SECRET|QUEUED|83, ?69, ?67|0x53/);
    }
    expect(inspect(stream)).toMatch(/^EnclaveStream\(\d+ bytes, sealed\)$/);
    expect(JSON.parse(JSON.stringify(stream))).toEqual({ type: 'EnclaveStream', size: expect.any(Number) });
    stream.destroy();
  });
});

describe('after purge()', () => {
  async function sealedStream(data: Uint8Array): Promise<EnclaveStream> {
    const stream = new EnclaveStream({ chunkSize: 16 });
    await write(stream, Buffer.from(data));
    await finish(stream); // everything sealed, the staging buffer gone
    return stream;
  }

  it('flatten() of old chunks throws ERR_AUTH and leaves no extra live buffer or region', async () => {
    const stream = await sealedStream(bytes(40, 20));
    purge();
    const live = SecretBuffer.live();
    const regions = stats().regions;
    expect(errorCode(() => stream.flatten())).toBe('ERR_AUTH');
    expect(() => stream.flatten()).toThrow(StrongroomError);
    expect(SecretBuffer.live()).toEqual(live);
    expect(stats().regions).toBe(regions);
  });

  it('reading old chunks fails the stream with ERR_AUTH and gives no bytes', async () => {
    const stream = await sealedStream(bytes(40, 21));
    purge();
    const received: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => received.push(chunk));
    const [error] = (await once(stream, 'error').catch((caught: unknown) => [caught])) as [unknown];
    expect(error).toBeInstanceOf(StrongroomError);
    expect((error as StrongroomError).code).toBe('ERR_AUTH');
    expect(received).toEqual([]);
    expect(SecretBuffer.live().buffers).toBe(0);
  });

  it('flatten() of a stream whose writer had staged bytes throws ERR_AUTH (as documented), not ERR_DESTROYED', async () => {
    const stream = new EnclaveStream({ chunkSize: 16 });
    await write(stream, bytes(20, 22)); // one chunk sealed, 4 bytes staged in a SecretBuffer
    purge(); // destroys every SecretBuffer, the staging buffer included
    expect(errorCode(() => stream.flatten())).toBe('ERR_AUTH');
    expect(SecretBuffer.live().buffers).toBe(0);
    stream.destroy();
  });

  it('a write corked before the purge is not sealed as zeros: the stream fails with ERR_AUTH, flatten() too', async () => {
    const stream = new EnclaveStream();
    const errors: string[] = [];
    stream.on('error', (error: StrongroomError) => errors.push(error.code));
    stream.cork();
    stream.write(Buffer.from('topsecret!'));
    purge(); // wipes the queued write
    stream.uncork();
    stream.end();
    await tick();
    expect(errors).toEqual(['ERR_AUTH']);
    expect(errorCode(() => stream.flatten())).toBe('ERR_AUTH');
    expect(SecretBuffer.live().buffers).toBe(0);
  });

  it('a chunk opened for a reader that has not taken it is wiped, and the stream fails instead of giving its zeros', async () => {
    const stream = new EnclaveStream({ chunkSize: 8 });
    stream.end(Buffer.from('SECRET01SECRET02'));
    await once(stream, 'readable'); // one chunk opened, waiting in the readable buffer
    const held = (stream as unknown as { _readableState: { buffer: Iterable<Buffer> } })._readableState.buffer;
    const pending = [...held];
    expect(Buffer.concat(pending).toString()).toBe('SECRET01'); // positive control: it is there
    const failed = once(stream, 'error').catch((caught: unknown) => [caught]);
    purge();
    expect(pending.every((chunk) => chunk.every((b) => b === 0))).toBe(true);
    const [error] = (await failed) as [StrongroomError];
    expect(error.code).toBe('ERR_AUTH');
    expect(stream.destroyed).toBe(true); // (Node still lets read() take the wiped chunk: after the error)
  });

  it('new streams work again', async () => {
    purge();
    const data = bytes(50, 23);
    const stream = new EnclaveStream({ chunkSize: 16 });
    const out = collect(stream);
    stream.end(Buffer.from(data));
    expect(sha256(Buffer.concat(await out))).toBe(sha256(data));
  });
});

// ---- backpressure ----

describe('backpressure', () => {
  // The stream promises bounded memory for a pipeline "whatever the size of the secret":
  // the sealed chunks waiting for a reader must stay a handful, however slow the reader.
  const TOTAL = 4 * MiB;
  const PENDING_BOUND = 8 * DEFAULT_CHUNK_SIZE;

  async function* source(): AsyncGenerator<Buffer> {
    for (let i = 0; i < TOTAL / (64 * 1024); i++) yield bytes(64 * 1024, i);
  }

  it.each([
    ['a fast sink', (callback: () => void) => callback()],
    ['a slow sink (callback on the next turn)', (callback: () => void) => setImmediate(callback)],
  ] as const)('%s: the bytes wait in only a few chunks', async (_, done) => {
    const stream = new EnclaveStream();
    let most = 0;
    let received = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        most = Math.max(most, stream.size);
        done(callback);
      },
    });
    await pipeline(source(), stream, sink);
    expect(received).toBe(TOTAL);
    expect(most).toBeLessThanOrEqual(PENDING_BOUND);
  });

  it('a slow async-iterator reader: the bytes wait in only a few chunks', async () => {
    const stream = new EnclaveStream();
    let most = 0;
    let received = 0;
    await pipeline(source(), stream, async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        received += chunk.length;
        most = Math.max(most, stream.size);
        await tick();
      }
    });
    expect(received).toBe(TOTAL);
    expect(most).toBeLessThanOrEqual(PENDING_BOUND);
  });

  it('with a paused reader, flatten() takes what is pending and releases a waiting writer', async () => {
    const data = bytes(20 * 16, 30);
    const stream = new EnclaveStream({ chunkSize: 16 });
    stream.pause(); // a reader that applies backpressure: nothing is read
    let done = false;
    const writes = Promise.all(pieces(data, [16]).map((piece) => write(stream, piece))).then(() => {
      done = true;
    });
    // the consumer takes what is pending by flatten(), as often as it needs to
    const taken: Buffer[] = [];
    for (let round = 0; round < 50 && !done; round++) {
      await sleep(10);
      if (stream.size === 0) continue;
      const flat = stream.flatten();
      taken.push(copyOut(flat));
      flat.destroy();
    }
    await within(writes, 2000, 'the writes, with flatten() taking every pending chunk');
    await within(finish(stream), 2000, 'end()');
    if (stream.size > 0) {
      const rest = stream.flatten();
      taken.push(copyOut(rest));
      rest.destroy();
    }
    expect(sha256(Buffer.concat(taken))).toBe(sha256(data));
    stream.destroy();
  });
});

// ---- child processes: bounded memory ----

// A child pipes 100 MiB of random bytes (64 KiB pieces, hashed on the way in) through an
// EnclaveStream into a sink that hashes what comes out. It samples, after a gc() every
// MiB, rss and arrayBuffers against the start, and at every piece core-native's stats()
// and the stream's size. SINK: 'fast' (callback at once), 'slow' (callback on the next
// turn), 'keep' (fast, but keeps every chunk: the control that the sampling sees retention).
const BIG_PIPELINE = `
import { EnclaveStream } from '@strongroom/enclave';
import { stats } from '@strongroom/core-native';
import { createHash, randomFillSync } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const TOTAL = 100 * 1024 * 1024, PIECE = 64 * 1024, SINK = process.env.SINK;
// warm up: the coffer, the addon and the stream code exist before the baseline
{ const warm = new EnclaveStream(); warm.end(Buffer.alloc(100, 1)); for await (const _ of warm); }
gc(); gc();
const start = process.memoryUsage(), startStats = stats();
const peak = { rss: 0, arrayBuffers: 0, bytesLocked: 0, regions: 0, pending: 0 };
const stream = new EnclaveStream();
function sampleNative() {
  const now = stats();
  peak.bytesLocked = Math.max(peak.bytesLocked, now.bytesLocked - startStats.bytesLocked);
  peak.regions = Math.max(peak.regions, now.regions - startStats.regions);
  peak.pending = Math.max(peak.pending, stream.size);
}
function sampleMemory() {
  gc();
  const now = process.memoryUsage();
  peak.rss = Math.max(peak.rss, now.rss - start.rss);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, now.arrayBuffers - start.arrayBuffers);
}
const hashIn = createHash('sha256'), hashOut = createHash('sha256');
let produced = 0, consumed = 0, sinceSample = 0;
const kept = [];
async function* source() {
  for (let i = 0; i < TOTAL / PIECE; i++) {
    const piece = randomFillSync(Buffer.allocUnsafeSlow(PIECE));
    hashIn.update(piece);
    produced += piece.length;
    sampleNative();
    yield piece;
  }
}
const sink = new Writable({
  write(chunk, _encoding, callback) {
    hashOut.update(chunk);
    consumed += chunk.length;
    sampleNative();
    if (SINK === 'keep') kept.push(chunk);
    if ((sinceSample += chunk.length) >= 1024 * 1024) { sinceSample = 0; sampleMemory(); }
    if (SINK === 'slow') setImmediate(callback); else callback();
  },
});
await pipeline(source(), stream, sink);
sampleMemory();
console.log(JSON.stringify({ produced, consumed, hashIn: hashIn.digest('hex'), hashOut: hashOut.digest('hex'), peak, kept: kept.length }));
`;

interface BigRun {
  produced: number;
  consumed: number;
  hashIn: string;
  hashOut: string;
  peak: { rss: number; arrayBuffers: number; bytesLocked: number; regions: number; pending: number };
  kept: number;
}

async function bigPipeline(sink: 'fast' | 'slow' | 'keep'): Promise<BigRun> {
  const result = await runNode(BIG_PIPELINE, { ...CHILD, args: ['--expose-gc'], env: { SINK: sink }, timeoutMs: 110_000 });
  expect(result.stderr, `child stderr (${sink})`).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as BigRun;
}

// Bounds that 100 MiB of sealed chunks (or of plaintext) held at once would blow.
const RSS_BOUND = 64 * MiB;
const ARRAY_BUFFERS_BOUND = 32 * MiB;
const LOCKED_BOUND = 4 * DEFAULT_CHUNK_SIZE; // a few chunks of guarded memory
const REGIONS_BOUND = 4;
const PENDING_CHUNKS_BOUND = 8 * DEFAULT_CHUNK_SIZE;

function expectBounded(run: BigRun): void {
  expect(run.produced).toBe(100 * MiB);
  expect(run.consumed).toBe(100 * MiB);
  expect(run.hashOut).toBe(run.hashIn);
  expect(run.peak.rss, 'rss growth').toBeLessThanOrEqual(RSS_BOUND);
  expect(run.peak.arrayBuffers, 'arrayBuffers growth').toBeLessThanOrEqual(ARRAY_BUFFERS_BOUND);
  expect(run.peak.bytesLocked, 'locked bytes').toBeLessThanOrEqual(LOCKED_BOUND);
  expect(run.peak.regions, 'regions').toBeLessThanOrEqual(REGIONS_BOUND);
  expect(run.peak.pending, 'bytes pending in the stream').toBeLessThanOrEqual(PENDING_CHUNKS_BOUND);
}

describe('100 MiB in a child process', () => {
  it('round trip through a pipeline with a fast sink: same hash, bounded memory', async () => {
    const run = await bigPipeline('fast');
    expectBounded(run);
    expect(run.peak.bytesLocked).toBeGreaterThan(0); // control: the staging buffer was seen
  });

  it('control: a sink that keeps every chunk blows the rss and arrayBuffers bounds', async () => {
    const run = await bigPipeline('keep');
    expect(run.hashOut).toBe(run.hashIn);
    expect(run.kept).toBeGreaterThanOrEqual(100 * MiB / DEFAULT_CHUNK_SIZE);
    expect(run.peak.rss).toBeGreaterThan(RSS_BOUND);
    expect(run.peak.arrayBuffers).toBeGreaterThan(ARRAY_BUFFERS_BOUND);
  });

  it('round trip through a pipeline with a slow sink: same hash, bounded memory', async () => {
    expectBounded(await bigPipeline('slow'));
  });
});

// ---- child processes: residue ----

// The 'mmap' backend keeps regions readable through /proc/PID/mem (memfd_secret pages are
// not), so a scan does see what sits in guarded memory.
const RESIDUE_PREAMBLE = `
import { EnclaveStream, SecretBuffer } from '@strongroom/enclave';
import * as core from '@strongroom/core-native';
import { once } from 'node:events';
core.configure({ backend: 'mmap' });
const written = (stream, data) => new Promise((resolve, reject) => stream.write(data, (e) => (e ? reject(e) : resolve())));
`;

describe('residue (child process, memory scanned)', () => {
  it('with wipeSource the marker is only in the guarded staging buffer while staged, and nowhere once sealed', async () => {
    const marker = makeMarker(32);
    const child = await startChild(
      `${RESIDUE_PREAMBLE}
       ${heapMarkerCode('source', marker)}
       await checkpoint('planted');
       const stream = new EnclaveStream({ chunkSize: 64 });
       await written(stream, source);
       await checkpoint('staged', { size: stream.size, wiped: source.every((b) => b === 0) });
       stream.end();
       await once(stream, 'finish');
       await checkpoint('sealed', { size: stream.size });
       const flat = stream.flatten();
       await checkpoint('flattened', { size: flat.size });
       flat.destroy();
       await checkpoint('destroyed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      {
        at: 'planted', // positive control: the heap source
        present: true,
        check: async (found) => {
          expect(found.matches.some((match) => match.mapping.perms.startsWith('rw'))).toBe(true);
          await expect(child).toLeaveNoResidue(makeMarker(32)); // negative control: a marker it never had
        },
      },
      { at: 'staged', data: { size: 32, wiped: true }, count: 1, perms: '---p' }, // the staging region, nothing in the heap
      { at: 'sealed', data: { size: 32 }, present: false },
      // control: the sealed chunk did hold the marker, flatten() opens it into guarded memory
      { at: 'flattened', data: { size: 32 }, count: 1, perms: '---p' },
      { at: 'destroyed', present: false },
    ]);
  });

  it('a whole chunk written is sealed at once and leaves no copy; reading it back makes the one deliberate heap copy', async () => {
    const marker = makeMarker(32);
    const child = await startChild(
      `${RESIDUE_PREAMBLE}
       ${heapMarkerCode('source', marker)}
       const stream = new EnclaveStream({ chunkSize: 32 });
       await written(stream, source);
       await checkpoint('sealed', { size: stream.size, wiped: source.every((b) => b === 0) });
       const [chunk] = await (async () => { stream.end(); for await (const c of stream) return [c]; })();
       await checkpoint('read', { length: chunk.length });
       chunk.fill(0);
       await checkpoint('wiped');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'sealed', data: { size: 32, wiped: true }, present: false },
      { at: 'read', data: { length: 32 }, present: true, perms: 'rw' }, // positive control: the copy in the heap
      { at: 'wiped', present: false }, // the copy was the only one left
    ]);
  });

  it('positive control: with { wipeSource: false } the scan finds the source that was kept, and only it', async () => {
    const marker = makeMarker(32);
    const child = await startChild(
      `${RESIDUE_PREAMBLE}
       ${heapMarkerCode('source', marker)}
       const stream = new EnclaveStream({ chunkSize: 16, wipeSource: false });
       await written(stream, source);
       stream.end();
       await once(stream, 'finish');
       await checkpoint('sealed', { size: stream.size, kept: source.some((b) => b !== 0) });
       source.fill(0);
       await checkpoint('source wiped');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'sealed', data: { size: 32, kept: true }, present: true, perms: 'rw' },
      { at: 'source wiped', present: false },
    ]);
  });
});
