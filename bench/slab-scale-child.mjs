// One run of the "100,000 live secrets" case, in a process of its own: slab-cases.mjs starts it
// through testkit's runNode (with the memlock limit and capabilities of the row) and reads
// what it prints. A run may end at a resource limit with an error, or abort (sodium-native and
// isolated regions as root can take the whole process down when mappings run out), so
// everything the parent needs is written to stdout with fs.writeSync as soon as it is known:
//   env {...}        who the process is: uid, CAP_IPC_LOCK, RLIMIT_MEMLOCK, vm.max_map_count
//   before {...}     figures after the warm-up (and two garbage collections)
//   progress N       every PROGRESS_EVERY secrets made (where an abort happened, to that step)
//   stop {...}       the first failure: how many were alive, the step that failed, code, message
//   peak {...}       figures with every secret alive
//   result {...}     times, the self-check, and the figures after destroying every secret
// Nothing is printed from a secret. Figures: mappings = lines of /proc/self/maps, vmLckBytes =
// VmLck of /proc/self/status, and for strongroom's sides stats(): bytesLocked, regions, slabs.
import fs from 'node:fs';

const PROGRESS_EVERY = 100;
const WARMUP = 1000; // create+destroy pairs before the baseline, so JIT and first mappings are done
const CHECK_SAMPLE = 1000; // secrets read back after creation (spread evenly)
const SIZE = 32;

const gc = globalThis.gc ?? (() => {});
const now = () => process.hrtime.bigint();
const cpuNs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1e3;
};
const emit = (tag, data) => fs.writeSync(1, `${tag} ${JSON.stringify(data)}\n`);

// Counting mappings must work with the address space full: one 64 KiB buffer allocated up front,
// /proc/self/maps read through it, newlines counted without allocating.
const chunk = Buffer.alloc(64 * 1024);
function countLines(file) {
  const fd = fs.openSync(file, 'r');
  try {
    let lines = 0;
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) {
      for (let at = chunk.indexOf(10); at !== -1 && at < n; at = chunk.indexOf(10, at + 1)) lines++;
    }
    return lines;
  } finally {
    fs.closeSync(fd);
  }
}

function statusField(name) {
  const match = fs.readFileSync('/proc/self/status', 'latin1').match(new RegExp(`^${name}:\\s*(\\S+)`, 'm'));
  return match ? match[1] : null;
}

function environment() {
  const limits = fs.readFileSync('/proc/self/limits', 'latin1').match(/^Max locked memory\s+(\S+)\s+(\S+)/m);
  const capEff = BigInt(`0x${statusField('CapEff')}`);
  return {
    uid: process.getuid(),
    capIpcLock: (capEff & (1n << 14n)) !== 0n, // CAP_IPC_LOCK = 14: mlock ignores RLIMIT_MEMLOCK
    memlock: limits ? { soft: limits[1], hard: limits[2] } : null,
    maxMapCount: Number(fs.readFileSync('/proc/sys/vm/max_map_count', 'latin1').trim()),
    node: process.version,
  };
}

async function strongroomSide(backend, isolated) {
  const { SecretBuffer } = await import('@strongroom/buffer');
  const { stats } = await import('@strongroom/core-native');
  const options = isolated ? { backend, isolated: true } : { backend };
  const klass = (s) => s.slabs.classes.find((c) => c.size >= SIZE);
  return {
    make: () => SecretBuffer.random(SIZE, options),
    destroy: (secret) => secret.destroy(),
    // A sample is read back: 32 bytes, not all zero (2^-256 for random bytes).
    check: (secret) => secret.read((view) => view.length === SIZE && view.some((b) => b !== 0)),
    figures() {
      const s = stats();
      const c = klass(s);
      return {
        bytesLocked: s.bytesLocked,
        bytesUnlocked: s.bytesUnlocked,
        regions: s.regions,
        spareBytes: s.spareBytes,
        slabs: s.slabs.count,
        slabBytes: s.slabs.bytes,
        slotsInUse: c.slotsInUse,
      };
    },
    describe: (error) => ({ step: 'SecretBuffer.random', code: error.code ?? null, message: error.message }),
  };
}

async function sodiumSide() {
  const { default: sodium } = await import('sodium-native');
  // The peer of buffer-cases.mjs's random+destroy case, kept alive: sodium_malloc +
  // randombytes_buf + sodium_mprotect_noaccess; destroyed with sodium_free.
  return {
    make() {
      let buf;
      try {
        buf = sodium.sodium_malloc(SIZE);
      } catch (error) {
        throw Object.assign(error, { step: 'sodium_malloc' });
      }
      let step = 'randombytes_buf';
      try {
        sodium.randombytes_buf(buf);
        step = 'sodium_mprotect_noaccess';
        sodium.sodium_mprotect_noaccess(buf);
        return buf;
      } catch (error) {
        sodium.sodium_free(buf);
        throw Object.assign(error, { step });
      }
    },
    destroy: (buf) => sodium.sodium_free(buf),
    check(buf) {
      sodium.sodium_mprotect_readonly(buf);
      const ok = buf.length === SIZE && buf.secure === true && !sodium.sodium_is_zero(buf);
      sodium.sodium_mprotect_noaccess(buf);
      return ok;
    },
    figures: () => ({}),
    describe: (error) => ({ step: error.step ?? 'sodium_malloc', code: error.code ?? null, message: error.message }),
  };
}

function figures(side) {
  return { mappings: countLines('/proc/self/maps'), vmLckBytes: Number(statusField('VmLck')) * 1024, ...side.figures() };
}

/** config: { side: 'slab' | 'isolated' | 'sodium', backend, count } */
export async function run(config) {
  const { side: kind, backend, count } = config;
  emit('env', environment());
  const side = kind === 'sodium' ? await sodiumSide() : await strongroomSide(backend, kind === 'isolated');

  for (let i = 0; i < WARMUP; i++) side.destroy(side.make());
  gc();
  gc();
  emit('before', figures(side));

  const live = new Array(count);
  let made = 0;
  const cpu0 = cpuNs();
  const t0 = now();
  for (; made < count; made++) {
    try {
      live[made] = side.make();
    } catch (error) {
      emit('stop', { at: made, ...side.describe(error) });
      break;
    }
    if ((made + 1) % PROGRESS_EVERY === 0) fs.writeSync(1, `progress ${made + 1}\n`);
  }
  const createNs = Number(now() - t0);
  const createCpuNs = cpuNs() - cpu0;
  emit('peak', { made, ...figures(side) });

  // Self-check on a sample; sodium-native's readonly may fail at the mapping limit (it splits
  // a mapping), which is reported, not counted as a failed check.
  const step = Math.max(1, Math.floor(made / CHECK_SAMPLE));
  let checked = 0;
  let bad = 0;
  let checkError = null;
  for (let i = 0; i < made && checkError === null; i += step) {
    try {
      if (!side.check(live[i])) bad++;
      checked++;
    } catch (error) {
      checkError = `${error.code ?? ''} ${error.message}`.trim();
    }
  }

  const cpu1 = cpuNs();
  const t1 = now();
  for (let i = 0; i < made; i++) {
    side.destroy(live[i]);
    live[i] = undefined;
  }
  const destroyNs = Number(now() - t1);
  const destroyCpuNs = cpuNs() - cpu1;
  const after = figures(side);
  gc();
  gc();
  emit('result', {
    made,
    createNs,
    createCpuNs,
    destroyNs,
    destroyCpuNs,
    check: { checked, bad, error: checkError },
    after,
    afterGc: figures(side),
  });
}
