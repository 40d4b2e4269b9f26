// Timing helpers: calibrate a batch size per side, then time alternating rounds.

const now = () => process.hrtime.bigint();

/** Runs fn `iterations` times; returns nanoseconds per call. */
function timeBatch(fn, iterations) {
  const start = now();
  for (let i = 0; i < iterations; i++) fn();
  return Number(now() - start) / iterations;
}

/**
 * Warms fn up for about `warmupMs`, then returns how many calls fill `batchMs`.
 * The warm-up doubles as calibration, so no separate warm-up pass is needed.
 */
function calibrate(fn, warmupMs, batchMs) {
  const deadline = now() + BigInt(Math.round(warmupMs * 1e6));
  let calls = 0;
  let n = 1;
  const start = now();
  while (now() < deadline) {
    for (let i = 0; i < n; i++) fn();
    calls += n;
    n = Math.min(n * 2, 1 << 16);
  }
  const nsPerCall = Number(now() - start) / calls;
  return Math.max(1, Math.round((batchMs * 1e6) / nsPerCall));
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times two functions side by side: `rounds` rounds, each timing one batch of
 * each side back to back, with the order flipped every round. Each round gives a
 * paired ratio (first side / second side, measured within ~2 batchMs of each
 * other), so drift and noisy neighbours that slow both sides cancel out; the
 * reported ratio is the median of those. Returns per-call nanoseconds per side
 * (median and every sample) and the paired ratio.
 */
export function compare(sides, { rounds = 15, warmupMs = 200, batchMs = 50 } = {}) {
  const names = Object.keys(sides);
  const iterations = Object.fromEntries(names.map((k) => [k, calibrate(sides[k], warmupMs, batchMs)]));
  const samples = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...names].reverse() : names;
    for (const k of order) samples[k].push(timeBatch(sides[k], iterations[k]));
  }
  const [first, second] = names;
  const ratios = samples[first].map((ns, r) => ns / samples[second][r]);
  return {
    ...Object.fromEntries(names.map((k) => [k, { ns: median(samples[k]), iterations: iterations[k], samples: samples[k] }])),
    ratio: median(ratios),
  };
}

/** The process's CPU time (user + system, every thread: V8's GC helpers included) in ns. */
function cpuNs() {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1e3;
}

/** timeBatch() that also returns the process's CPU time per call. */
function timeBatchCpu(fn, iterations) {
  const cpu = cpuNs();
  const start = now();
  for (let i = 0; i < iterations; i++) fn();
  const wall = Number(now() - start) / iterations;
  return { wall, cpu: (cpuNs() - cpu) / iterations };
}

/**
 * compare() for any number of synchronous sides: each side is warmed up and given its own
 * batch size, then `rounds` rounds each time one batch of every side back to back, the order
 * rotated by one side every round (with a multiple of the number of sides as rounds, each side
 * takes each place equally often). Besides wall time, each batch records the process's CPU
 * time per call (process.cpuUsage(): user + system of every thread), which on a loaded machine
 * leaves out the time spent waiting for a core. Returns per side the median wall and CPU
 * nanoseconds per call and every sample; the paired ratio of two sides is
 * pairedRatio(result[a].samples, result[b].samples).
 */
export function compareRotating(sides, { rounds = 15, warmupMs = 200, batchMs = 50 } = {}) {
  const names = Object.keys(sides);
  const iterations = Object.fromEntries(names.map((k) => [k, calibrate(sides[k], warmupMs, batchMs)]));
  const samples = Object.fromEntries(names.map((k) => [k, []]));
  const cpuSamples = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const k of order) {
      const { wall, cpu } = timeBatchCpu(sides[k], iterations[k]);
      samples[k].push(wall);
      cpuSamples[k].push(cpu);
    }
  }
  return Object.fromEntries(
    names.map((k) => [
      k,
      { ns: median(samples[k]), cpuNs: median(cpuSamples[k]), iterations: iterations[k], samples: samples[k], cpuSamples: cpuSamples[k] },
    ]),
  );
}

/** Awaits fn `iterations` times, one after the other; returns nanoseconds per call. */
async function timeBatchAsync(fn, iterations) {
  const start = now();
  for (let i = 0; i < iterations; i++) await fn();
  return Number(now() - start) / iterations;
}

/** calibrate() for a function that returns a promise: each call is awaited before the next. */
async function calibrateAsync(fn, warmupMs, batchMs) {
  const deadline = now() + BigInt(Math.round(warmupMs * 1e6));
  let calls = 0;
  const start = now();
  do {
    await fn();
    calls++;
  } while (now() < deadline);
  const nsPerCall = Number(now() - start) / calls;
  return Math.max(1, Math.round((batchMs * 1e6) / nsPerCall));
}

/**
 * compare() for async work and any number of sides: each side is warmed up and given its own
 * batch size, then `rounds` rounds each time one batch of every side back to back, the order
 * rotated by one side every round (with as many rounds as sides, or a multiple, each side takes
 * each place equally often). Calls are awaited one at a time. No garbage collection is forced
 * between batches: one forced before every batch made every side about twice as slow, readFile
 * included, with no further collection inside the timed batches (why was not pinned down), so a
 * side's garbage is collected where V8 chooses, mostly in the batch that made it.
 * Returns per-call nanoseconds per side (median and every sample); the paired ratio of any two
 * sides is pairedRatio(result[a].samples, result[b].samples).
 */
export async function compareAsync(sides, { rounds = 16, warmupMs = 200, batchMs = 50 } = {}) {
  const names = Object.keys(sides);
  const iterations = {};
  for (const k of names) iterations[k] = await calibrateAsync(sides[k], warmupMs, batchMs);
  const samples = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const k of order) samples[k].push(await timeBatchAsync(sides[k], iterations[k]));
  }
  return Object.fromEntries(names.map((k) => [k, { ns: median(samples[k]), iterations: iterations[k], samples: samples[k] }]));
}

/** The median over rounds of a[r] / b[r]: two sides' samples taken in the same rounds. */
export function pairedRatio(a, b) {
  if (a.length !== b.length || a.length === 0) throw new Error('pairedRatio needs samples of the same rounds');
  return median(a.map((ns, r) => ns / b[r]));
}

/** 1234 -> "1.23 µs" etc. */
export function formatNs(ns) {
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${(ns / 1e6).toFixed(2)} ms`;
}

/** Plain-text table with left-aligned columns. */
export function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A case's self-check: the bench stops when a side did not really do its work. */
export function check(ok, what) {
  if (!ok) throw new Error(`bench self-check failed: ${what}`);
}
