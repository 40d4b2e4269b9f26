// The cross-thread sealing hammer: worker threads seal, open and rekey as fast as they can for
// seconds while the key is also rekeyed on a timer, and post some of their sealed secrets to the
// main thread, which opens them there. Nothing may be lost: every secret opens to its bytes, in
// its own thread and in the other one. The layer under test (core-native's coffer functions, the
// Enclave class, ...) is module code that defines a handful of functions, so testkit depends on
// no strongroom package.

import { runNode, stderrExcerpt, type ChildOptions } from './child.js';

export interface HammerOptions extends Pick<ChildOptions, 'cwd' | 'env'> {
  /** Worker threads; default 4. */
  workers?: number;
  /** How long each worker hammers, in ms; default 3000. */
  ms?: number;
  /** Bytes per secret (SIZE in the layer's code); default 64. */
  size?: number;
  /** A worker rekeys before every rekeyEvery-th open; default 7. */
  rekeyEvery?: number;
  /** A worker posts every postEvery-th secret to the main thread; default 50. */
  postEvery?: number;
  /** Each worker must do more operations than this; default 500. */
  minOps?: number;
  /** The main thread must open more secrets than this from each worker; default 5. */
  minCrossOps?: number;
  /** The key must have been rekeyed more times than this in all; default 500. */
  minRekeys?: number;
  /** For the whole child process; default 60000. */
  timeoutMs?: number;
}

export interface HammerThread {
  /** Secrets sealed and opened in the worker. */
  ops: number;
  /** Of those, how many failed to open or opened to other bytes. */
  bad: number;
  /** Secrets of this worker opened in the main thread. */
  crossOps: number;
  crossBad: number;
}

export interface HammerResult {
  threads: HammerThread[];
  rekeys: number;
}

// Both skeletons see the layer's functions: seal, toBytes, fromBytes, opensTo, rekey (and, in
// the main thread, rekeys and setup).
const WORKER = `
import { parentPort, workerData } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
const until = Date.now() + workerData.ms;
let ops = 0, bad = 0;
while (Date.now() < until) {
  const plain = randomBytes(SIZE);
  const sealed = seal(plain);
  if (ops % workerData.rekeyEvery === 0) rekey();
  try { if (!opensTo(sealed, plain)) bad++; } catch { bad++; }
  if (ops % workerData.postEvery === 0) parentPort.postMessage({ sealed: toBytes(sealed), plain });
  ops++;
}
parentPort.postMessage({ ops, bad });
`;

function mainCode(prelude: string, workerData: Record<string, number>, workers: number): string {
  return `${prelude}
import { Worker } from 'node:worker_threads';
setup();
const work = ${JSON.stringify(prelude + WORKER)};
const threads = await Promise.all(Array.from({ length: ${workers} }, () => new Promise((resolve, reject) => {
  const worker = new Worker(work, { eval: true, workerData: ${JSON.stringify(workerData)}, execArgv: ['--input-type=module'] });
  let crossOps = 0, crossBad = 0;
  worker.on('message', (m) => {
    if (m.ops !== undefined) return resolve({ ops: m.ops, bad: m.bad, crossOps, crossBad });
    crossOps++;
    try { if (!opensTo(fromBytes(m.sealed), Buffer.from(m.plain))) crossBad++; } catch { crossBad++; }
  });
  worker.on('error', reject);
})));
console.log(JSON.stringify({ threads, rekeys: rekeys() }));
`;
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`hammerSealing: ${name} must be a positive integer, got ${value}`);
  return value;
}

/**
 * Runs the hammer in a child process and resolves with its figures, or rejects with every
 * figure that fails: a bad open in a worker or across threads, too few operations, too few
 * rekeys, output on stderr, an exit code other than 0.
 *
 * `layer` is module code, run in the main thread and in every worker after `const SIZE = size`,
 * that defines: `seal(plain)` (plain: a Buffer of SIZE random bytes) giving a sealed secret;
 * `toBytes(sealed)` its bytes, to post; `fromBytes(bytes)` a sealed secret again;
 * `opensTo(sealed, plain)` true when it opens to exactly plain; `rekey()`; `rekeys()` the
 * rekeys so far; `setup()`, run once in the main thread before the workers start.
 */
export async function hammerSealing(layer: string, options: HammerOptions = {}): Promise<HammerResult> {
  const workers = positive(options.workers ?? 4, 'workers');
  const size = positive(options.size ?? 64, 'size');
  const workerData = {
    ms: positive(options.ms ?? 3000, 'ms'),
    rekeyEvery: positive(options.rekeyEvery ?? 7, 'rekeyEvery'),
    postEvery: positive(options.postEvery ?? 50, 'postEvery'),
  };
  const minOps = options.minOps ?? 500;
  const minCrossOps = options.minCrossOps ?? 5;
  const minRekeys = options.minRekeys ?? 500;
  const prelude = `const SIZE = ${size};\n${layer}\n`;
  const { code, signal, stdout, stderr } = await runNode(mainCode(prelude, workerData, workers), {
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  if (code !== 0 || stderr !== '') {
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`;
    throw new Error(`hammerSealing: the child ${how}${stderr === '' ? '' : ' and wrote to stderr'}\n${stderrExcerpt(stderr)}`);
  }
  const result = JSON.parse(stdout) as HammerResult;
  const failures: string[] = [];
  if (result.threads.length !== workers) failures.push(`${result.threads.length} workers reported, expected ${workers}`);
  result.threads.forEach((thread, index) => {
    const name = `worker ${index + 1}`;
    if (thread.bad !== 0) failures.push(`${name}: ${thread.bad} of ${thread.ops} secrets did not open to their bytes in the worker`);
    if (thread.crossBad !== 0) failures.push(`${name}: ${thread.crossBad} of ${thread.crossOps} secrets did not open to their bytes in the main thread`);
    if (!(thread.ops > minOps)) failures.push(`${name}: ${thread.ops} operations, expected more than ${minOps}`);
    if (!(thread.crossOps > minCrossOps)) failures.push(`${name}: ${thread.crossOps} secrets opened in the main thread, expected more than ${minCrossOps}`);
  });
  if (!(result.rekeys > minRekeys)) failures.push(`${result.rekeys} rekeys, expected more than ${minRekeys}`);
  if (failures.length > 0) throw new Error(`hammerSealing: ${failures.join('; ')}\nfigures: ${JSON.stringify(result)}`);
  return result;
}
