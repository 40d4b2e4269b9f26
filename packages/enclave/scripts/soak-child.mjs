// The process under test of `pnpm soak` (scripts/soak.mjs starts it with testkit's startChild
// and drives it through checkpoints). Its main thread and SOAK_WORKERS worker threads each loop
// until the deadline over everything an application does with strongroom: SecretBuffers made
// with alloc, random and from; read and write scopes, nested, sync and async, reader() and
// writer(); freeze, copyFrom, moveFrom; Enclave.seal, from, random, open, toBytes/fromBytes;
// EnclaveStreams written and flattened or read back, and fromFile; rekeyCoffer(); and, now and
// then, purge(). Every result is compared with a heap copy of the expected bytes (test data,
// not secrets) and every slip is counted as a mismatch or an unexpected error.
//
// purge() changes the process-wide coffer key from any thread at any moment, so an open may
// meet ERR_AUTH. Two shared counters, purges started and purges done, decide for each open
// whether it MUST succeed (no purge started between the seal's start and the open's end),
// MUST fail with ERR_AUTH (a whole purge ran between the seal's end and the open's start), or
// may do either (a purge overlapped); a wrong byte is a mismatch in every case.
//
// The main thread also holds the marker (SOAK_MASKED xor SOAK_MASK, never whole in the JS
// heap) in an 'mmap' SecretBuffer, and runs it through seals, opens and a stream, so that the
// driver's scans at the end show whether any copy was left behind. Backend 'mmap' throughout:
// memfd_secret pages cannot be read through /proc/PID/mem, so a scan would not see residue there.
//
// Checkpoints: 'start' (set up, after a half-second warm-up round of workers: the baseline),
// 'planted' (the marker is live), 'soaked' (the threads' reports; the marker's buffer is the
// one live secret), 'end' (everything destroyed, purged, spare regions released).
//
// Environment (set by soak.mjs): SOAK_SECONDS, SOAK_WORKERS, SOAK_MASKED, SOAK_MASK,
// SOAK_SABOTAGE (test only: a comma-separated list of faults to plant, each of which one of the
// soak's checks must catch: mismatch, error, residue, fd, region).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import * as core from '@strongroom/core-native';
import { Enclave, EnclaveStream, SecretBuffer, cofferStats, configureCoffer, purge, rekeyCoffer } from '@strongroom/enclave';

const STARTED = 0;
const DONE = 1;
const REKEY_INTERVAL_MS = 5; // the rekey thread's interval (default 500): rekeys race seals and opens
const REKEY_EVERY = 5; // iterations between rekeyCoffer() calls of one thread
const POST_EVERY = 40; // a worker posts every n-th enclave's bytes to the main thread
const PURGE_EVERY_MS = 1500; // each thread purges about this often (with jitter)
const MAX_REPORTED = 8; // first mismatch and error messages kept per thread

const rand = (n) => Math.floor(Math.random() * n);

/** Mostly small secrets, some of a few pages, now and then a large one. */
function size() {
  const r = Math.random();
  if (r < 0.6) return 1 + rand(64);
  if (r < 0.97) return 65 + rand(8192);
  return 8193 + rand(120_000);
}

function codeOf(fn) {
  try {
    fn();
  } catch (error) {
    return error?.code ?? String(error);
  }
  return undefined;
}

/** One thread's soak: the loop, its counters and what went wrong. */
class Soak {
  constructor(role, purges, sabotage, tmpFile) {
    this.role = role;
    this.purges = purges; // Int32Array over a SharedArrayBuffer: [purges started, purges done]
    this.sabotage = sabotage;
    this.tmpFile = tmpFile; // { path, bytes } for EnclaveStream.fromFile
    this.ops = {
      iterations: 0,
      buffers: 0,
      scopes: 0,
      asyncScopes: 0,
      mutations: 0,
      seals: 0,
      opens: 0,
      streams: 0,
      streamBytes: 0,
      fileStreams: 0,
      rekeys: 0,
      purges: 0,
      authAfterPurge: 0, // ERR_AUTH where a purge required it
      authInRace: 0, // ERR_AUTH where a purge overlapped (allowed either way)
      crossPosted: 0,
      crossOpens: 0,
      markerRounds: 0,
    };
    this.mismatches = [];
    this.mismatchCount = 0;
    this.errors = [];
    this.errorCount = 0;
    this.inbox = []; // sealed bytes posted by workers (main thread)
    this.post = undefined; // worker: sends sealed bytes to the main thread
    this.posted = 0;
    this.afterPurge = () => undefined;
  }

  mismatch(what) {
    this.mismatchCount += 1;
    if (this.mismatches.length < MAX_REPORTED) this.mismatches.push(`${this.role}: ${what}`);
  }

  error(error) {
    this.errorCount += 1;
    if (this.errors.length < MAX_REPORTED) {
      const where = String(error?.stack ?? '').split('\n').slice(1, 3).map((line) => line.trim()).join(' ← ');
      this.errors.push(`${this.role}: ${error?.name ?? 'Error'} ${error?.code ?? ''} ${error?.message ?? String(error)} (${where})`);
    }
  }

  check(ok, what) {
    if (!ok) this.mismatch(what);
  }

  /** True when buf holds exactly `expected`: constant-time equals, and a read scope's view. */
  holds(buf, expected, what) {
    const equal = buf.equals(expected);
    const seen = buf.read((view) => view.length === expected.length && Buffer.compare(view, expected) === 0);
    this.check(equal && seen, `${what}: the bytes differ from what was put in (equals ${equal}, read scope ${seen})`);
    return equal && seen;
  }

  /** The stamp of a seal: purges done before it began, purges started once it ended. */
  seal(fn) {
    const done = Atomics.load(this.purges, DONE);
    const result = fn();
    return { result, stamp: { done, started: Atomics.load(this.purges, STARTED) } };
  }

  /**
   * Opens (open() gives a buffer, or throws) and judges the outcome against the stamp of the
   * seal; calls use(buffer) on success. Returns whether it opened.
   */
  async opened(open, stamp, what, use) {
    const doneBefore = Atomics.load(this.purges, DONE);
    let buffer;
    try {
      buffer = await open();
    } catch (error) {
      if (error?.code !== 'ERR_AUTH') throw error;
    }
    const startedAfter = Atomics.load(this.purges, STARTED);
    const mustOpen = startedAfter === stamp.done;
    const mustFail = doneBefore > stamp.started;
    if (buffer === undefined) {
      if (mustOpen) this.mismatch(`${what}: ERR_AUTH although no purge ran since it was sealed`);
      else if (mustFail) this.ops.authAfterPurge += 1;
      else this.ops.authInRace += 1;
      return false;
    }
    try {
      if (mustFail) this.mismatch(`${what}: opened although a purge ran between its seal and this open`);
      else await use(buffer);
    } finally {
      buffer.destroy?.();
    }
    return true;
  }

  // ---- the operations ----

  /** A new SecretBuffer and a heap copy of what it holds (test data), by one of three constructors. */
  make() {
    const n = size();
    let buffer;
    let expected;
    switch (rand(3)) {
      case 0: {
        expected = randomBytes(n);
        buffer = SecretBuffer.alloc(n);
        buffer.write((view) => view.set(expected));
        break;
      }
      case 1: {
        expected = randomBytes(n);
        const source = Uint8Array.from(expected);
        buffer = SecretBuffer.from(source);
        this.check(source.every((byte) => byte === 0), 'SecretBuffer.from() left its source unwiped');
        break;
      }
      default: {
        buffer = SecretBuffer.random(n);
        expected = buffer.read((view) => Buffer.from(view));
      }
    }
    this.ops.buffers += 1;
    this.check(buffer.size === n && !buffer.destroyed && !buffer.frozen, `a new ${n}-byte buffer has size ${buffer.size}`);
    return { buffer, expected };
  }

  /** Nested read scopes, a write scope, reader()/writer(), ERR_BUSY across kinds, freeze. */
  scopes({ buffer, expected }) {
    let inner;
    let outerLength = -1;
    const seen = buffer.read((outer) =>
      buffer.read((view) => {
        inner = view;
        outerLength = outer.length;
        return Buffer.compare(view, expected) === 0;
      }),
    );
    this.check(seen && outerLength === expected.length, 'nested read scopes did not both see the bytes');
    this.check(inner.length === 0, 'a view still has its bytes after its scope ended');
    const at = rand(expected.length);
    const value = rand(256);
    buffer.write((view) => {
      view[at] = value;
    });
    expected[at] = value;
    this.check(codeOf(() => buffer.read(() => buffer.write(() => undefined))) === 'ERR_BUSY', 'a write scope inside a read scope was not ERR_BUSY');
    const writer = buffer.writer();
    writer[0] ^= 0x5a;
    writer[Symbol.dispose]();
    expected[0] ^= 0x5a;
    const reader = buffer.reader();
    const same = Buffer.compare(reader, expected) === 0;
    reader[Symbol.dispose]();
    this.check(same && reader.length === 0, 'reader() did not see the bytes, or kept them after dispose');
    buffer.freeze();
    this.check(codeOf(() => buffer.write(() => undefined)) === 'ERR_FROZEN', 'a write scope on a frozen buffer was not ERR_FROZEN');
    buffer.melt();
    this.ops.scopes += 1;
    // Sabotage: the main thread's first buffer is compared with bytes it never held.
    if (this.sabotage.has('mismatch') && this.role === 'main' && this.ops.scopes === 1) expected[0] ^= 1;
    this.holds(buffer, expected, 'after sync scopes');
  }

  /** Async read and write scopes that stay open across turns of the event loop, nested. */
  async asyncScopes({ buffer, expected }) {
    const seen = await buffer.read(async (view) => {
      await tick();
      const nested = await buffer.read(async (again) => {
        await tick();
        return Buffer.compare(again, expected) === 0;
      });
      return nested && Buffer.compare(view, expected) === 0;
    });
    this.check(seen, 'async nested read scopes did not see the bytes');
    await buffer.write(async (view) => {
      await tick();
      view[view.length - 1] ^= 0xa5;
    });
    expected[expected.length - 1] ^= 0xa5;
    this.ops.asyncScopes += 1;
    this.holds(buffer, expected, 'after async scopes');
  }

  /** copyFrom and moveFrom (which wipes its source) into new buffers. */
  mutations({ buffer, expected }) {
    const copy = SecretBuffer.alloc(expected.length).copyFrom(buffer);
    const moved = SecretBuffer.alloc(expected.length).moveFrom(copy);
    this.holds(moved, expected, 'moveFrom of a copyFrom');
    this.check(copy.equals(new Uint8Array(expected.length)), 'moveFrom left its source unwiped');
    copy.destroy();
    moved.destroy();
    this.ops.mutations += 1;
  }

  /** Seal (destroying the buffer), maybe through toBytes/fromBytes, and open it back. */
  async sealAndOpen(item) {
    const { result: enclave, stamp } = this.seal(() => Enclave.seal(item.buffer));
    this.ops.seals += 1;
    this.check(item.buffer.destroyed, 'Enclave.seal() left its buffer alive');
    if (this.post !== undefined && ++this.posted % POST_EVERY === 0) {
      this.post({ sealed: enclave.toBytes(), expected: item.expected, stamp });
      this.ops.crossPosted += 1;
    }
    const target = rand(3) === 0 ? Enclave.fromBytes(enclave.toBytes()) : enclave;
    await this.opened(() => target.open(), stamp, 'Enclave.open()', (opened) => {
      this.check(opened.frozen, 'open() gave a buffer that is not frozen');
      this.holds(opened, item.expected, 'Enclave.open()');
      this.ops.opens += 1;
    });
  }

  /** Enclave.from (wipes its bytes) and Enclave.random. */
  async sealBytes() {
    const expected = randomBytes(size());
    const bytes = Uint8Array.from(expected);
    const { result: enclave, stamp } = this.seal(() => Enclave.from(bytes));
    this.check(bytes.every((byte) => byte === 0), 'Enclave.from() left its bytes unwiped');
    const { result: random, stamp: randomStamp } = this.seal(() => Enclave.random(expected.length));
    this.ops.seals += 2;
    await this.opened(() => enclave.open(), stamp, 'Enclave.from().open()', (opened) => {
      this.holds(opened, expected, 'Enclave.from().open()');
      this.ops.opens += 1;
    });
    await this.opened(() => random.open(), randomStamp, 'Enclave.random().open()', (opened) => {
      this.check(opened.size === expected.length, 'Enclave.random() opened to another size');
      this.ops.opens += 1;
    });
  }

  /** Writes a few Buffers to an EnclaveStream (each wiped once staged), then flattens it or reads it back. */
  async stream() {
    const chunkSize = 1 + rand(4096);
    const parts = Array.from({ length: 1 + rand(4) }, () => randomBytes(1 + rand(6000)));
    const expected = Buffer.concat(parts);
    const { result: stream, stamp } = await this.sealAsync(async () => {
      const s = new EnclaveStream({ chunkSize });
      for (const part of parts) {
        await new Promise((resolve, reject) => s.write(part, (error) => (error ? reject(error) : resolve())));
        this.check(part.every((byte) => byte === 0), 'a Buffer written to an EnclaveStream was not wiped');
      }
      s.end();
      await once(s, 'finish');
      return s;
    });
    this.check(stream.size === expected.length, `an EnclaveStream holds ${stream.size} bytes, not ${expected.length}`);
    try {
      await this.readBack(stream, expected, stamp, 'EnclaveStream');
    } finally {
      stream.destroy();
    }
    this.ops.streams += 1;
    this.ops.streamBytes += expected.length;
  }

  /** EnclaveStream.fromFile of the soak's file (read natively into guarded memory), read back. */
  async fileStream() {
    const { result: stream, stamp } = await this.sealAsync(() => EnclaveStream.fromFile(this.tmpFile.path, { chunkSize: 512 + rand(8192) }));
    try {
      await this.readBack(stream, this.tmpFile.bytes, stamp, 'EnclaveStream.fromFile');
    } finally {
      stream.destroy();
    }
    this.ops.fileStreams += 1;
  }

  async sealAsync(fn) {
    const done = Atomics.load(this.purges, DONE);
    const result = await fn();
    return { result, stamp: { done, started: Atomics.load(this.purges, STARTED) } };
  }

  /** flatten() into one frozen buffer, or the readable side (deliberate heap copies, wiped after). */
  async readBack(stream, expected, stamp, what) {
    if (rand(2) === 0) {
      await this.opened(() => stream.flatten(), stamp, `${what}.flatten()`, (flat) => {
        this.holds(flat, expected, `${what}.flatten()`);
        this.ops.opens += 1;
      });
      return;
    }
    await this.opened(
      async () => {
        const chunks = [];
        for await (const chunk of stream) chunks.push(chunk);
        const all = Buffer.concat(chunks);
        for (const chunk of chunks) chunk.fill(0);
        return { all, destroy: () => all.fill(0) };
      },
      stamp,
      `${what} read back`,
      ({ all }) => {
        this.check(Buffer.compare(all, expected) === 0, `${what} read back ${all.length} bytes that differ from the ${expected.length} written`);
        this.ops.opens += 1;
      },
    );
  }

  /** purge(): this thread's buffers are destroyed, and enclaves sealed before it no longer open. */
  async purgeNow() {
    const live = SecretBuffer.random(16);
    const { result: before, stamp } = this.seal(() => Enclave.random(16));
    Atomics.add(this.purges, STARTED, 1);
    let result;
    try {
      result = purge();
    } finally {
      Atomics.add(this.purges, DONE, 1);
    }
    this.ops.purges += 1;
    this.check(result.buffers >= 1 && live.destroyed, `purge() destroyed ${result.buffers} buffers and left one alive`);
    this.check(codeOf(() => live.read(() => undefined)) === 'ERR_DESTROYED', 'a buffer purged was not ERR_DESTROYED');
    await this.opened(() => before.open(), stamp, 'an enclave sealed before purge()', () => undefined);
  }

  /** Enclaves posted by workers, opened here. */
  async crossOpens() {
    for (const { sealed, expected, stamp } of this.inbox.splice(0)) {
      await this.opened(() => Enclave.fromBytes(sealed).open(), stamp, 'a worker\'s enclave opened in the main thread', (opened) => {
        this.holds(opened, expected, 'a worker\'s enclave opened in the main thread');
        this.ops.crossOpens += 1;
      });
    }
  }

  async iteration() {
    const item = this.make();
    try {
      this.scopes(item);
      if (rand(3) === 0) await this.asyncScopes(item);
      if (rand(4) === 0) this.mutations(item);
      await this.sealAndOpen(item);
    } finally {
      item.buffer.destroy();
    }
    if (rand(4) === 0) await this.sealBytes();
    if (rand(6) === 0) await this.stream();
    if (rand(40) === 0) await this.fileStream();
    if (this.ops.iterations % REKEY_EVERY === 0) {
      rekeyCoffer();
      this.ops.rekeys += 1;
    }
  }

  // At least one iteration, even when starting the thread took past the deadline (a loaded
  // machine can take longer than the half-second warm-up just to load the modules).
  async run(deadline, extra = async () => undefined) {
    let nextPurge = Date.now() + PURGE_EVERY_MS * (0.5 + Math.random());
    while (this.ops.iterations === 0 || Date.now() < deadline) {
      this.ops.iterations += 1;
      try {
        if (this.sabotage.has('error') && this.role === 'worker 1' && this.ops.iterations === 1) {
          throw new Error('sabotage: an unexpected error in a worker');
        }
        await this.iteration();
        await extra();
        if (Date.now() >= nextPurge) {
          await this.purgeNow();
          this.afterPurge();
          nextPurge = Date.now() + PURGE_EVERY_MS * (0.5 + Math.random());
        }
      } catch (error) {
        this.error(error);
      }
      if (this.ops.iterations % 4 === 0) await tick(); // lets messages and timers in
    }
  }

  /** Checks that this thread holds `expected` live SecretBuffers (what it did not destroy is a leak). */
  leftAlive(expected) {
    const { buffers } = SecretBuffer.live();
    this.check(buffers === expected, `${buffers} SecretBuffers alive at the end, expected ${expected}`);
  }

  report() {
    return { role: this.role, ops: this.ops, mismatches: this.mismatchCount, errors: this.errorCount, firstMismatches: this.mismatches, firstErrors: this.errors };
  }
}

function sabotageOf(text) {
  return new Set((text ?? '').split(',').filter((name) => name !== ''));
}

// ---- a worker thread ----

async function workerMain() {
  const { role, purges, deadline, sabotage, tmpFile, rekeyInterval } = workerData;
  core.configure({ backend: 'mmap' });
  configureCoffer({ rekeyInterval });
  const soak = new Soak(role, purges, new Set(sabotage), tmpFile);
  soak.post = (message) => parentPort.postMessage({ type: 'sealed', message });
  await soak.run(deadline);
  soak.leftAlive(0);
  parentPort.postMessage({ type: 'report', report: soak.report() });
}

// ---- the main thread ----

/** The marker in an 'mmap' SecretBuffer, XORed together in a write scope from its two masked halves. */
function plantMarker() {
  const masked = SecretBuffer.from(Buffer.from(process.env.SOAK_MASKED, 'hex'), { backend: 'mmap' });
  const mask = SecretBuffer.from(Buffer.from(process.env.SOAK_MASK, 'hex'), { backend: 'mmap' });
  const marker = SecretBuffer.alloc(masked.size, { backend: 'mmap' });
  marker.write((out) => masked.read((a) => mask.read((b) => {
    for (let i = 0; i < out.length; i++) out[i] = a[i] ^ b[i];
  })));
  masked.destroy();
  mask.destroy();
  return marker;
}

/** The marker's round: a copy sealed and opened back, and written through a stream and flattened. */
async function markerRound(soak, marker) {
  const copy = SecretBuffer.alloc(marker.size).copyFrom(marker);
  const { result: enclave, stamp } = soak.seal(() => Enclave.seal(copy));
  await soak.opened(() => enclave.open(), stamp, 'the marker\'s enclave', (opened) => soak.check(opened.equals(marker), 'the marker opened to other bytes'));
  const { result: stream, stamp: streamStamp } = await soak.sealAsync(async () => {
    const s = new EnclaveStream({ chunkSize: 16 });
    // The one heap copy of the marker the soak makes: the stream wipes it once staged.
    const bytes = marker.read((view) => Buffer.from(view));
    await new Promise((resolve, reject) => s.write(bytes, (error) => (error ? reject(error) : resolve())));
    soak.check(bytes.every((byte) => byte === 0), 'the marker written to a stream was not wiped');
    s.end();
    await once(s, 'finish');
    return s;
  });
  try {
    await soak.opened(() => stream.flatten(), streamStamp, 'the marker\'s stream', (flat) => soak.check(flat.equals(marker), 'the marker\'s stream flattened to other bytes'));
  } finally {
    stream.destroy();
  }
  soak.ops.markerRounds += 1;
}

/** Starts `count` worker threads running the soak until `deadline`; sealed bytes they post go to soak.inbox. */
function startWorkers(count, { soak, purges, deadline, sabotage, tmpFile, rekeyInterval, prefix = 'worker' }) {
  return Array.from({ length: count }, (_, index) => {
    const role = `${prefix} ${index + 1}`;
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { role, purges, deadline, sabotage: [...sabotage], tmpFile, rekeyInterval },
      // None of the parent's flags: a worker refuses --input-type=module (startChild runs -e) and --expose-gc.
      execArgv: [],
    });
    const reported = new Promise((resolve) => {
      worker.on('message', ({ type, message, report }) => {
        if (type === 'sealed') soak.inbox.push(message);
        else resolve(report);
      });
    });
    worker.on('error', (error) => soak.error(error));
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    return { role, exited, reported };
  });
}

/** Waits for every worker to exit and gives their reports; a missing report or a bad exit is an error of `soak`. */
async function joinWorkers(threads, soak) {
  const reports = [];
  for (const { role, exited, reported } of threads) {
    const code = await exited;
    if (code !== 0) soak.error(new Error(`${role} exited with code ${code}`));
    let timer;
    const report = await Promise.race([reported, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
    if (report === undefined) soak.error(new Error(`${role} exited without a report`));
    else reports.push(report);
  }
  return reports;
}

async function main() {
  const seconds = Number(process.env.SOAK_SECONDS ?? '10');
  const workers = Number(process.env.SOAK_WORKERS ?? '3');
  const rekeyInterval = REKEY_INTERVAL_MS;
  const sabotage = sabotageOf(process.env.SOAK_SABOTAGE);
  const checkpoint = globalThis.checkpoint;
  if (typeof checkpoint !== 'function') throw new Error('soak-child.mjs runs under scripts/soak.mjs (testkit startChild), not on its own');

  // Set-up, before the baseline: the backend, the coffer (its region and rekey thread), the
  // file for fromFile, libuv's thread pool.
  core.configure({ backend: 'mmap' });
  configureCoffer({ rekeyInterval });
  const cofferRegions = core.stats().regions;
  // The folder is the driver's (scripts/soak.mjs), which removes it whatever happens here.
  const dir = process.env.SOAK_DIR;
  if (!dir) throw new Error('SOAK_DIR is not set: soak-child.mjs runs under scripts/soak.mjs');
  const tmpFile = { path: path.join(dir, 'data'), bytes: randomBytes(40_000) };
  fs.writeFileSync(tmpFile.path, tmpFile.bytes);
  await fs.promises.readFile(tmpFile.path);
  // A first round of workers, half a second long. V8 on Node 22 and later keeps an exited
  // worker's heap pages mapped in a process-wide pool (60 to 80 pages of 256 KiB per worker
  // here), which later workers reuse; without this round the mappings would end far above
  // the baseline for a reason that is not strongroom's. Its reports count like the others.
  const purges = new Int32Array(new SharedArrayBuffer(8));
  const warmUp = new Soak('warm-up', purges, new Set(), tmpFile);
  const warmReports = await joinWorkers(
    startWorkers(workers, { soak: warmUp, purges, deadline: Date.now() + 500, sabotage: new Set(), tmpFile, rekeyInterval, prefix: 'warm-up worker' }),
    warmUp,
  );
  warmUp.inbox.length = 0;
  core.releaseSpareRegions(); // the end releases them too: both baselines hold none
  globalThis.gc?.();
  await checkpoint('start', { stats: core.stats(), cofferRegions, memory: process.memoryUsage() });

  if (sabotage.has('fd')) globalThis.leakedFd = fs.openSync(tmpFile.path, 'r');
  if (sabotage.has('region')) globalThis.leakedRegion = core.allocate(64);

  let marker = plantMarker();
  if (sabotage.has('residue')) globalThis.leakedMarker = marker.read((view) => Buffer.from(view));
  await checkpoint('planted', { size: marker.size });

  const deadline = Date.now() + seconds * 1000;
  const soak = new Soak('main', purges, sabotage, tmpFile);
  const threads = startWorkers(workers, { soak, purges, deadline, sabotage, tmpFile, rekeyInterval });

  // A purge in this thread destroys the marker's buffer with every other: check, and plant it again.
  soak.afterPurge = () => {
    soak.check(marker.destroyed, 'purge() left the marker\'s buffer alive');
    marker = plantMarker();
  };
  await soak.run(deadline, async () => {
    await soak.crossOpens();
    if (soak.ops.iterations % 25 === 0) await markerRound(soak, marker);
  });
  const reports = await joinWorkers(threads, soak);
  await soak.crossOpens();
  soak.leftAlive(1); // the marker's buffer
  reports.unshift(soak.report());

  // The soak is over: the marker's buffer is the one live secret.
  await checkpoint('soaked', { reports, warmUp: [warmUp.report(), ...warmReports], coffer: cofferStats() });

  marker.destroy();
  purge();
  core.releaseSpareRegions();
  fs.rmSync(tmpFile.path, { force: true });
  globalThis.gc?.();
  await tick();
  globalThis.gc?.();
  await checkpoint('end', { stats: core.stats(), live: SecretBuffer.live(), memory: process.memoryUsage() });
}

if (isMainThread) await main();
else await workerMain();
