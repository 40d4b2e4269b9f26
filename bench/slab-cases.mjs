// The slab run (issue 12, "Small secrets at scale"): small secrets in slab slots beside the same
// secrets on pages of their own ({ isolated: true }) beside sodium-native. See SLABS.md for the
// figures and README.md ("Slabs") for the method.
//
// pair: SecretBuffer.random(32) + destroy() on a slab slot (the default for <= 256 bytes), the
//   same with { isolated: true }, and the sodium-native peer of the random+destroy case
//   (buffer-cases.mjs's sodiumRandomDestroy: sodium_malloc + randombytes_buf +
//   sodium_mprotect_noaccess + sodium_free), three sides in rotating rounds, once per backend.
//   Targets (issue 12, judged on every backend): slab / sodium-native <= 0.15 and <= 2 µs per pair.
//   A fourth side in the same rotation measures the floor the issue's own rules set for the pair:
//   the four protection changes of a slot whose page has no other scope open (open it to fill,
//   close it, open it to check and wipe, close it), made through the public API on one long-lived
//   slot (allocate(32) + protect), with nothing else: no allocation, no fill, no wipe.
// read: one read() scope (`secret.read((view) => view[0])`) on a slot whose page has no other
//   scope open, on a slot whose page-neighbour has a read scope open all along (the page is
//   readonly already: no protection change), on an isolated region, and sodium-native's peer
//   of the read() case (sodiumReadScope). Target: the slot no slower than the isolated region.
// scale: 100,000 live SecretBuffer.random(32) (slab, isolated) and sodium-native buffers, each
//   in a child process of its own (slab-scale-child.mjs, started by testkit's runNode) so that
//   a run that ends at a resource limit, by an error or an abort, cannot take the bench down:
//   once with the limits the bench process has, once under prlimit --memlock=8388608 without
//   CAP_IPC_LOCK. Each reports where it stopped and how, create and destroy times, locked
//   bytes and mappings before, at the peak and after.
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import sodium from 'sodium-native';
import { runNode } from '@strongroom/testkit';
import { SecretBuffer } from '@strongroom/buffer';
import { allocate, releaseSpareRegions, stats } from '@strongroom/core-native';
import { sodiumRandomDestroy, sodiumReadScope } from './buffer-cases.mjs';
import { check, compareRotating, formatNs, pairedRatio, table } from './harness.mjs';

const SMALL = 32;
const PAIR_ROUNDS = 16; // a multiple of the four sides: each side takes each place equally often
const READ_ROUNDS = 16; // a multiple of the four sides
const PAIR_TARGET_RATIO = 0.15;
const PAIR_TARGET_NS = 2000;
const READ_TARGET_RATIO = 1; // slot / isolated region: no slower
const MEMLOCK_8MIB = 8 * 1024 * 1024;
const SCALE_TIMEOUT_MS = 600_000;
const CHILD = new URL('./slab-scale-child.mjs', import.meta.url).href;
const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const gc = globalThis.gc ?? (() => {});

/** BENCH_SLAB_SECRETS (1,000-1,000,000) overrides the 100,000 live secrets of the scale case. */
function scaleSecrets() {
  const given = process.env.BENCH_SLAB_SECRETS;
  if (given === undefined || given === '') return 100_000;
  const n = Number(given);
  if (!Number.isSafeInteger(n) || n < 1000 || n > 1_000_000) {
    throw new Error(`BENCH_SLAB_SECRETS must be an integer from 1000 to 1000000, got ${JSON.stringify(given)}`);
  }
  return n;
}

const LIMITS = [
  { name: 'bench', label: "the bench's own limits", options: {} },
  {
    name: 'memlock-8MiB',
    label: 'prlimit --memlock=8388608, no CAP_IPC_LOCK',
    options: { memlockBytes: MEMLOCK_8MIB, dropIpcLock: true },
  },
];

export function slabSettings() {
  return {
    secretBytes: SMALL,
    pairRounds: PAIR_ROUNDS,
    readRounds: READ_ROUNDS,
    targets: { pairRatio: PAIR_TARGET_RATIO, pairNs: PAIR_TARGET_NS, readRatio: READ_TARGET_RATIO },
    scaleSecrets: scaleSecrets(),
    scaleLimits: LIMITS.map(({ name, label, options }) => ({ name, label, ...options })),
  };
}

/** The size class a 32-byte secret takes, in a stats() result. */
const classOf = (s) => s.slabs.classes.find((c) => c.size >= SMALL);

/** Self-check: the default puts a 32-byte secret in a slab slot, { isolated: true } does not. */
function checkPlacement(backend) {
  const before = stats();
  const slot = SecretBuffer.random(SMALL, { backend });
  const middle = stats();
  const own = SecretBuffer.random(SMALL, { backend, isolated: true });
  const after = stats();
  try {
    check(classOf(middle).slotsInUse === classOf(before).slotsInUse + 1, 'SecretBuffer.random(32) takes a slab slot');
    check(
      classOf(after).slotsInUse === classOf(middle).slotsInUse && after.regions === middle.regions + 1,
      'SecretBuffer.random(32, { isolated: true }) takes a region of its own',
    );
  } finally {
    slot.destroy();
    own.destroy();
  }
}

function benchPair(backend) {
  checkPlacement(backend);
  const liveBefore = SecretBuffer.live().buffers;
  const slotsBefore = classOf(stats()).slotsInUse;
  // The floor's slot: a slab slot like the pair's, taken once and freed after the rounds.
  const floorSlot = allocate(SMALL, { backend });
  floorSlot.protect('noaccess');
  const sides = {
    slab: () => SecretBuffer.random(SMALL, { backend }).destroy(),
    isolated: () => SecretBuffer.random(SMALL, { backend, isolated: true }).destroy(),
    sodium: sodiumRandomDestroy,
    floor: () => {
      floorSlot.protect('readwrite');
      floorSlot.protect('noaccess');
      floorSlot.protect('readwrite');
      floorSlot.protect('noaccess');
    },
  };
  process.stdout.write(`running SecretBuffer.random+destroy 32 B [${backend}], 4 sides × ${PAIR_ROUNDS} rounds … `);
  const started = Date.now();
  let timed;
  try {
    timed = compareRotating(sides, { rounds: PAIR_ROUNDS });
  } finally {
    floorSlot.free();
  }
  console.log(`${((Date.now() - started) / 1e3).toFixed(1)} s`);
  check(SecretBuffer.live().buffers === liveBefore, 'every SecretBuffer of the pair case destroyed');
  check(classOf(stats()).slotsInUse === slotsBefore, 'every slab slot of the pair case returned');

  const ratio = (a, b) => pairedRatio(timed[a].samples, timed[b].samples);
  const row = (side, label) => ({
    case: 'SecretBuffer.random+destroy 32 B',
    backend,
    side: label,
    nsPerPair: timed[side].ns,
    cpuNsPerPair: timed[side].cpuNs,
    sodiumNsPerPair: timed.sodium.ns,
    sodiumCpuNsPerPair: timed.sodium.cpuNs,
    ratioToSodium: ratio(side, 'sodium'),
    iterations: { [side]: timed[side].iterations, sodium: timed.sodium.iterations },
    samplesNs: { [side]: timed[side].samples, sodium: timed.sodium.samples },
    cpuSamplesNs: { [side]: timed[side].cpuSamples, sodium: timed.sodium.cpuSamples },
  });
  const slab = row('slab', 'slab slot (default)');
  slab.ratioToIsolated = ratio('slab', 'isolated');
  slab.target = { ratio: PAIR_TARGET_RATIO, ns: PAIR_TARGET_NS };
  slab.pass = { ratio: slab.ratioToSodium <= PAIR_TARGET_RATIO, ns: slab.nsPerPair <= PAIR_TARGET_NS };
  const isolated = row('isolated', '{ isolated: true }');
  const floor = row('floor', 'floor: 4 protection changes of a slot');
  floor.case = "the pair's protection changes alone";
  return [slab, isolated, floor];
}

/**
 * Two 32-byte secrets on one page: slots 0 and 1 of a slab made for them. Secrets are made
 * until one takes a new slab (the slab count grows): that one holds the new slab's slot 0, the
 * next one slot 1 (a new slab hands out its slots from the trailing guard down, and the newest
 * slab with a free slot is used first). Both lie on the slab's last page (slab.h: slot 0's data
 * ends against the trailing guard; a slot is 48 bytes). The secrets made on the way are destroyed.
 */
function pageNeighbours(backend) {
  const slabs = () => classOf(stats()).slabs;
  const start = slabs();
  const fillers = [];
  try {
    let first = null;
    while (first === null) {
      check(fillers.length < 100_000, 'a new slab within 100,000 secrets');
      const secret = SecretBuffer.random(SMALL, { backend });
      if (slabs() > start) first = secret;
      else fillers.push(secret);
    }
    const second = SecretBuffer.random(SMALL, { backend });
    check(slabs() === start + 1, "the next secret took the new slab's next slot, not a newer slab");
    return [first, second];
  } finally {
    for (const secret of fillers) secret.destroy();
  }
}

function benchRead(backend) {
  // `slot` is made before the neighbours' slab exists, so it is on another page.
  const slot = SecretBuffer.random(SMALL, { backend });
  const [neighbour, opener] = pageNeighbours(backend);
  const own = SecretBuffer.random(SMALL, { backend, isolated: true });
  const buf = sodium.sodium_malloc(SMALL);
  sodium.randombytes_buf(buf);
  sodium.sodium_mprotect_noaccess(buf);
  // A read scope on `opener` stays open while the sides run: its page, which holds
  // `neighbour` too, stays readonly, so a scope on `neighbour` changes no protection.
  const open = opener.reader();
  let sink = 0;
  const first = (view) => view[0];
  const nonZero = (view) => view.length === SMALL && view.some((b) => b !== 0);
  try {
    check([slot, neighbour, opener, own].every((s) => s.read(nonZero)) && open.length === SMALL, 'every secret readable');
    const sides = {
      slot: () => (sink ^= slot.read(first)),
      neighbourOpen: () => (sink ^= neighbour.read(first)),
      isolated: () => (sink ^= own.read(first)),
      sodium: () => (sink ^= sodiumReadScope(buf)),
    };
    process.stdout.write(`running read() scope 32 B [${backend}], 4 sides × ${READ_ROUNDS} rounds … `);
    const started = Date.now();
    const timed = compareRotating(sides, { rounds: READ_ROUNDS });
    console.log(`${((Date.now() - started) / 1e3).toFixed(1)} s`);
    check(typeof sink === 'number' && open.length === SMALL, 'the read scopes ran and the open scope stayed open');

    const ratio = (a, b) => pairedRatio(timed[a].samples, timed[b].samples);
    const row = (side, label) => ({
      case: 'read() scope 32 B',
      backend,
      side: label,
      nsPerScope: timed[side].ns,
      cpuNsPerScope: timed[side].cpuNs,
      ratioToIsolated: side === 'isolated' ? 1 : ratio(side, 'isolated'),
      ratioToSodium: ratio(side, 'sodium'),
      iterations: timed[side].iterations,
      samplesNs: timed[side].samples,
      cpuSamplesNs: timed[side].cpuSamples,
    });
    const slotRow = row('slot', 'slab slot, its page otherwise closed');
    slotRow.target = { ratioToIsolated: READ_TARGET_RATIO };
    slotRow.pass = slotRow.ratioToIsolated <= READ_TARGET_RATIO;
    return [
      slotRow,
      row('neighbourOpen', 'slab slot, a page-neighbour open'),
      row('isolated', '{ isolated: true }'),
      { ...row('sodium', 'sodium-native (mprotect readonly, read, noaccess)'), ratioToSodium: 1 },
    ];
  } finally {
    open[Symbol.dispose]();
    for (const s of [slot, neighbour, opener, own]) s.destroy();
    sodium.sodium_mprotect_readwrite(buf);
    sodium.sodium_free(buf);
  }
}

/** The first line of a child's stderr that says why it died (or its first line). */
function abortReason(stderr) {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const telling = /FATAL ERROR|terminate called|what\(\)|Assertion|Segmentation|strongroom:|Error/;
  return lines.filter((l) => telling.test(l)).slice(0, 2).join(' / ') || lines[0] || '(no output)';
}

async function scaleRun(side, backend, limit, count) {
  const config = { side, backend, count };
  const code = `const m = await import(${JSON.stringify(CHILD)});\nawait m.run(${JSON.stringify(config)});`;
  const label = side === 'sodium' ? 'sodium-native' : `${side} [${backend}]`;
  process.stdout.write(`running ${count.toLocaleString('en-US')} live secrets: ${label}, ${limit.label} … `);
  const started = Date.now();
  const child = await runNode(code, { cwd: BENCH_DIR, args: ['--expose-gc'], timeoutMs: SCALE_TIMEOUT_MS, ...limit.options });
  const seconds = (Date.now() - started) / 1e3;
  const out = { side, backend: side === 'sodium' ? null : backend, limit: limit.name, count };
  let progress = 0;
  for (const line of child.stdout.split('\n')) {
    const space = line.indexOf(' ');
    const tag = space === -1 ? line : line.slice(0, space);
    const rest = line.slice(space + 1);
    if (tag === 'progress') progress = Number(rest);
    else if (['env', 'before', 'stop', 'peak', 'result'].includes(tag)) out[tag] = JSON.parse(rest);
  }
  out.exit = { code: child.code, signal: child.signal };
  // A child that did not get as far as its baseline is the bench's failure, not a limit's.
  check(out.before !== undefined, `${label}: the child reached its baseline (it ${out.exit.signal ?? `exited with ${out.exit.code}`}: ${abortReason(child.stderr)})`);
  const clean = child.code === 0 && child.signal === null && out.result !== undefined;
  if (!clean) {
    out.died = abortReason(child.stderr);
    // Where it died: the exact count if it got as far as the peak, else the last progress line.
    out.alive = out.peak?.made ?? out.stop?.at ?? progress;
    out.aliveAtLeast = out.peak === undefined && out.stop === undefined;
    out.progressEvery = 100;
  } else {
    out.alive = out.result.made;
    check(out.result.check.bad === 0, `${label}: every sampled secret read back intact`);
  }
  console.log(`${seconds.toFixed(1)} s${clean ? '' : `, ${out.exit.signal ?? `exit ${out.exit.code}`}`}`);
  return out;
}

/**
 * The pair and read cases once per backend in this process, then the scale runs in children
 * (per limit: slab and isolated per backend, then sodium-native). Returns the figures.
 */
export async function runSlab(backends) {
  const loadBefore = os.loadavg()[0];
  gc();
  const before = stats();
  const pair = [];
  const read = [];
  for (const backend of backends) {
    // Each backend's rows start with no empty slab in reserve: the reserve is counted per size
    // class, not per backend, so an empty slab of the other backend left by the previous rows
    // would make every take-and-return here map and unmap a slab of its own (SLABS.md).
    releaseSpareRegions();
    gc();
    pair.push(...benchPair(backend));
    gc();
    read.push(...benchRead(backend));
  }
  gc();
  const after = stats();
  const count = scaleSecrets();
  const scale = [];
  for (const limit of LIMITS) {
    for (const backend of backends) {
      for (const side of ['slab', 'isolated']) scale.push(await scaleRun(side, backend, limit, count));
    }
    scale.push(await scaleRun('sodium', null, limit, count));
  }
  return {
    settings: slabSettings(),
    loadAverage: { before: loadBefore, after: os.loadavg()[0] },
    guardedMemory: {
      before: { regions: before.regions, bytesLocked: before.bytesLocked, slotsInUse: classOf(before).slotsInUse },
      after: { regions: after.regions, bytesLocked: after.bytesLocked, slotsInUse: classOf(after).slotsInUse },
    },
    pair,
    read,
    scale,
  };
}

const us = (ns) => `${(ns / 1e3).toFixed(2)} µs`;
const bytes = (n) => (n == null ? '—' : n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(2)} MiB` : `${(n / 1024).toFixed(0)} KiB`);
const int = (n) => n.toLocaleString('en-US');

function stoppedBy(r) {
  if (r.died) {
    const where = r.aliveAtLeast ? `after ≥ ${int(r.alive)} (progress every ${r.progressEvery})` : `at ${int(r.alive)}`;
    const thrown = r.stop ? `${r.stop.step}: ${r.stop.code ?? r.stop.message.slice(0, 40)}, then ` : '';
    return `${thrown}${r.exit.signal ?? `exit ${r.exit.code}`} ${where}: ${r.died.slice(0, 90)}`;
  }
  if (r.stop) return `${r.stop.code ?? `"${r.stop.message.slice(0, 40)}"`} (${r.stop.step}) at ${int(r.stop.at)}`;
  return '— (all made)';
}

/** Prints the slab figures as tables. */
export function printSlab({ settings, loadAverage, pair, read, scale }) {
  console.log(
    `\nslabs: load average ${loadAverage.before.toFixed(1)} before, ${loadAverage.after.toFixed(1)} after, on ${os.cpus().length} cores\n` +
      table(
        ['case', 'backend', 'side', 'wall/pair', 'CPU/pair', 'sodium-native wall / CPU', 'ratio to sodium-native', 'slab / isolated', 'target', 'result'],
        pair.map((r) => [
          r.case,
          r.backend,
          r.side,
          us(r.nsPerPair),
          us(r.cpuNsPerPair),
          `${us(r.sodiumNsPerPair)} / ${us(r.sodiumCpuNsPerPair)}`,
          r.ratioToSodium.toFixed(3),
          r.ratioToIsolated?.toFixed(3) ?? '',
          r.target ? `<= ${r.target.ratio}, <= ${r.target.ns / 1e3} µs` : '—',
          r.pass ? `ratio ${r.pass.ratio ? 'PASS' : 'FAIL'}, time ${r.pass.ns ? 'PASS' : 'FAIL'}` : '',
        ]),
      ),
  );
  console.log(
    '\n' +
      table(
        ['case', 'backend', 'side', 'wall/scope', 'CPU/scope', 'ratio to isolated', 'ratio to sodium-native', 'target', 'result'],
        read.map((r) => [
          r.case,
          r.backend,
          r.side,
          formatNs(r.nsPerScope),
          formatNs(r.cpuNsPerScope),
          r.ratioToIsolated.toFixed(3),
          r.ratioToSodium.toFixed(3),
          r.target ? `<= ${r.target.ratioToIsolated} (no slower)` : '—',
          r.pass == null ? '' : r.pass ? 'PASS' : 'FAIL',
        ]),
      ),
  );
  const envOf = (r) =>
    r.env ? `uid ${r.env.uid}, CAP_IPC_LOCK ${r.env.capIpcLock ? 'yes' : 'no'}, memlock ${r.env.memlock?.soft}, max_map_count ${r.env.maxMapCount}` : '?';
  for (const limit of settings.scaleLimits) {
    const rows = scale.filter((r) => r.limit === limit.name);
    console.log(`\n${int(settings.scaleSecrets)} live 32-byte secrets, ${limit.label} (${envOf(rows[0])}); each run in a child process`);
    console.log(
      table(
        ['side', 'backend', 'alive at peak', 'stopped by', 'create: total, per secret', 'destroy: total, per secret', 'bytesLocked peak', 'VmLck peak', 'mappings before → peak → after destroy'],
        rows.map((r) => {
          const res = r.result;
          const made = r.alive;
          return [
            r.side === 'sodium' ? 'sodium-native sodium_malloc' : r.side === 'slab' ? 'slab slots' : '{ isolated: true }',
            r.backend ?? '—',
            `${r.aliveAtLeast ? '≥ ' : ''}${int(made)}`,
            stoppedBy(r),
            res ? `${(res.createNs / 1e6).toFixed(0)} ms, ${us(res.createNs / Math.max(1, made))}` : '—',
            res ? `${(res.destroyNs / 1e6).toFixed(0)} ms, ${us(res.destroyNs / Math.max(1, made))}` : '—',
            r.peak?.bytesLocked != null ? bytes(r.peak.bytesLocked) : r.side === 'sodium' ? 'n/a' : '—',
            r.peak ? bytes(r.peak.vmLckBytes) : '—',
            r.before ? `${int(r.before.mappings)} → ${r.peak ? int(r.peak.mappings) : '?'} → ${res ? int(res.after.mappings) : '?'}` : '—',
          ];
        }),
      ),
    );
  }
}
