// strongroom vs sodium-native micro-benchmarks.
//
// Why: strongroom's pitch is "guarded memory like sodium_malloc, but without paying
// for it". sodium-native is the baseline a Node user would otherwise reach for, so
// every case times the equivalent sodium-native call in the same process, in
// alternating rounds, and reports the ratio (strongroom / sodium-native; < 1 means
// strongroom is faster). Ratios from one run on one machine are comparable; absolute
// times are not. This is a report, not a timed test: it always exits 0 unless a
// case crashes or a self-check fails.
//
// Then the HTTP run (http-cases.mjs, argon2-cases.mjs): @strongroom/express's webhook and
// JWT routes under autocannon beside the same routes built the usual way, and the login
// route's Argon2id beside hash-wasm. Then the kms-loaders run (kms-cases.mjs): age
// decryption of 1 MiB beside the age-encryption package and the age CLI, and loading 100
// file secrets beside fs.promises.readFile. Then the slab run (slab-cases.mjs): small
// secrets in slab slots beside isolated regions beside sodium-native (a random+destroy
// pair, a read scope, and 100,000 live secrets in child processes). Which parts run: all
// four by default; `--skip-http` / `--skip-kms` / `--skip-slab` (or BENCH_HTTP=skip /
// BENCH_KMS=skip / BENCH_SLAB=skip) leave one out; `--http-only` / `--kms-only` /
// `--slab-only` (or BENCH_X=only) run only that part (several given: those parts).
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { allocate, stats } from '@strongroom/core-native';
import { cases as coreCases } from './cases.mjs';
import { bufferCases } from './buffer-cases.mjs';
import { enclaveCases } from './enclave-cases.mjs';
import { compare, formatNs, table } from './harness.mjs';
import { printHttp, runHttp } from './http-cases.mjs';
import { printArgon2, runArgon2 } from './argon2-cases.mjs';
import { printKms, runKms } from './kms-cases.mjs';
import { printSlab, runSlab } from './slab-cases.mjs';

/**
 * Which parts run, of 'micro', 'http' (with Argon2id), 'kms' and 'slab': every part by default;
 * --skip-X leaves part X out; --X-only runs only the parts named by such flags.
 */
function selection() {
  const args = process.argv.slice(2);
  const optional = ['http', 'kms', 'slab'];
  const known = optional.flatMap((part) => [`--skip-${part}`, `--${part}-only`]);
  const unknown = args.filter((a) => !known.includes(a));
  if (unknown.length) throw new Error(`unknown argument ${unknown.join(' ')}: the bench takes ${known.join(', ')}`);
  const skip = new Set();
  const only = new Set();
  for (const part of optional) {
    const name = `BENCH_${part.toUpperCase()}`;
    const env = process.env[name] ?? '';
    if (!['', 'skip', 'only'].includes(env)) throw new Error(`${name} must be 'skip' or 'only', got ${JSON.stringify(env)}`);
    if (args.includes(`--skip-${part}`) || env === 'skip') skip.add(part);
    if (args.includes(`--${part}-only`) || env === 'only') only.add(part);
    if (skip.has(part) && only.has(part)) throw new Error(`--skip-${part} and --${part}-only (${name}) contradict each other`);
  }
  const chosen = only.size ? [...only] : ['micro', ...optional];
  return chosen.filter((part) => !skip.has(part));
}
const parts = selection();

const cases = parts.includes('micro') ? [...coreCases, ...bufferCases, ...enclaveCases] : [];

const ROUNDS = 15;
const gc = globalThis.gc ?? (() => {});

function secretmemSkipReason() {
  if (!stats().secretmemAvailable) {
    return 'stats().secretmemAvailable is false: this kernel has no usable memfd_secret (Linux 5.14+, secretmem.enable=1 on some)';
  }
  try {
    // isolated: a probe that took a slab slot would leave an empty secretmem slab in reserve,
    // and the mmap rows would then pay for a slab of their own on every allocation (SLABS.md).
    allocate(32, { backend: 'secretmem', isolated: true }).free();
    return null;
  } catch (error) {
    return `allocate(…, { backend: 'secretmem' }) failed: ${error.message}`;
  }
}

const backends = ['mmap'];
const skipReason = parts.includes('micro') || parts.includes('kms') || parts.includes('slab') ? secretmemSkipReason() : null;
if (skipReason) console.log(`secretmem backend skipped: ${skipReason}\n`);
else backends.push('secretmem');

const sizeLabel = (bytes) => (bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} B`);
const mbps = (bytes, ns) => (bytes / ns) * 1e3; // bytes per ns * 1e9 / 1e6
// Three decimals, or four when three would round onto the target (0.600 vs <= 0.6 failing).
const formatRatio = (ratio, target) => ratio.toFixed(target != null && ratio.toFixed(3) == target ? 4 : 3);

const started = Date.now();
const results = [];
for (const c of cases) {
  for (const backend of backends) {
    gc();
    const label = `${c.name} ${sizeLabel(c.bytes)}`;
    process.stdout.write(`running ${label} [${backend}] … `);
    const run = c.setup(backend);
    let timed;
    try {
      run.strongroom();
      run.sodium();
      run.verify();
      timed = compare({ strongroom: run.strongroom, sodium: run.sodium }, { rounds: ROUNDS });
      run.verify();
    } finally {
      run.teardown();
    }
    const ratio = timed.ratio;
    // A case has a ratio target (strongroom / sodium-native <= target) or a throughput
    // target (targetMBps: strongroom's MB/s >= it); both are judged on mmap rows only.
    const target = backend === 'mmap' ? (c.target ?? null) : null;
    const targetMBps = backend === 'mmap' ? (c.targetMBps ?? null) : null;
    const strongroomMBps = mbps(c.bytes, timed.strongroom.ns);
    const result = {
      case: label,
      backend,
      bytes: c.bytes,
      strongroomNsPerOp: timed.strongroom.ns,
      sodiumNsPerOp: timed.sodium.ns,
      ratio,
      target,
      ...(targetMBps != null && { targetMBps }),
      pass: target != null ? ratio <= target : targetMBps != null ? strongroomMBps >= targetMBps : null,
      ...(c.bytes >= 1024 * 1024 && {
        strongroomMBps,
        sodiumMBps: mbps(c.bytes, timed.sodium.ns),
      }),
      iterations: { strongroom: timed.strongroom.iterations, sodium: timed.sodium.iterations },
      samplesNs: { strongroom: timed.strongroom.samples, sodium: timed.sodium.samples },
    };
    results.push(result);
    console.log(`ratio ${ratio.toFixed(3)}`);
  }
}

if (cases.length) printMicro();
function printMicro() {
  const rows = results.map((r) => [
    r.case,
    r.backend,
    formatNs(r.strongroomNsPerOp),
    formatNs(r.sodiumNsPerOp),
    formatRatio(r.ratio, r.target),
    r.strongroomMBps ? `${r.strongroomMBps.toFixed(0)} / ${r.sodiumMBps.toFixed(0)}` : '',
    r.target != null ? `<= ${r.target}` : r.targetMBps != null ? `>= ${r.targetMBps} MB/s` : '—',
    r.pass == null ? '' : r.pass ? 'PASS' : 'FAIL',
  ]);
  console.log(
    '\n' +
      table(
        ['case', 'backend', 'strongroom/op', 'sodium-native/op', 'ratio', 'MB/s (sr / sn)', 'target', 'result'],
        rows,
      ),
  );

  const judged = results.filter((r) => r.pass != null);
  const failed = judged.filter((r) => !r.pass);
  console.log(
    `\n${judged.length - failed.length}/${judged.length} targets met` +
      (failed.length ? ` (missed: ${failed.map((r) => r.case).join(', ')})` : '') +
      `; ratio = median over ${ROUNDS} rounds of the paired per-round ratio strongroom / sodium-native; ${((Date.now() - started) / 1e3).toFixed(1)} s`,
  );
}

let http = null;
let argon2 = null;
if (parts.includes('http')) {
  if (cases.length) console.log('');
  const httpStarted = Date.now();
  http = await runHttp();
  argon2 = await runArgon2();
  printHttp(http);
  printArgon2(argon2);
  const judged = http.results;
  const failed = judged.filter((r) => !r.pass);
  console.log(
    `\nHTTP: ${judged.length - failed.length}/${judged.length} targets met` +
      (failed.length ? ` (missed: ${failed.map((r) => r.route + (r.clean ? '' : ', with errors')).join('; ')})` : '') +
      `; guarded memory back to its baseline: ${http.memory.backToBaseline ? 'yes' : 'NO'}; ${((Date.now() - httpStarted) / 1e3).toFixed(1)} s`,
  );
}

let kms = null;
if (parts.includes('kms')) {
  if (cases.length || http) console.log('');
  const kmsStarted = Date.now();
  kms = await runKms(backends);
  printKms(kms);
  console.log(`kms-loaders: ratio = median over ${kms.settings.rounds} rounds of the paired per-round ratio strongroom / peer; ${((Date.now() - kmsStarted) / 1e3).toFixed(1)} s`);
}

let slab = null;
if (parts.includes('slab')) {
  if (cases.length || http || kms) console.log('');
  const slabStarted = Date.now();
  slab = await runSlab(backends);
  printSlab(slab);
  console.log(`slabs: ratio = median over the rounds of the paired per-round ratio; ${((Date.now() - slabStarted) / 1e3).toFixed(1)} s`);
}

const cpus = os.cpus();
const report = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus[0]?.model ?? 'unknown',
  cores: cpus.length,
  kernel: os.release(),
  platform: `${process.platform}-${process.arch}`,
  rounds: ROUNDS,
  secretmem: skipReason ? { skipped: skipReason } : { skipped: false },
  parts,
  results,
  http,
  argon2,
  kms,
  slab,
};
const out = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
console.log(`results written to ${out}`);
