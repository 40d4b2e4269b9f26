// The login route's password hashing: strongroom's hashPassword (libsodium's Argon2id on
// libuv's thread pool, the password in a SecretBuffer) against hash-wasm's argon2id (the
// WebAssembly implementation a Node app reaches for without a native build) with the same
// parameters, both sequentially and with 4 hashes in flight. hash-wasm computes on the
// event loop's thread: its promise resolves only after the whole hash ran synchronously, so
// 4 in flight take turns, and the loop answers nothing meanwhile. The longest stall of the
// event loop over each run shows that: a 5 ms interval timer notes when it fires, and the
// longest gap between two firings (or from the last one to the end of the run) less 5 ms is
// the stall. (perf_hooks.monitorEventLoopDelay records nothing when a run never lets the loop
// reach its timers at all, which is what hash-wasm's chained promises do.)
import crypto from 'node:crypto';
import { argon2id, argon2Verify } from 'hash-wasm';
import { DEFAULT_PASSWORD_OPTIONS } from '@strongroom/buffer';
import { SecretBuffer, hashPassword, verifyPassword } from '@strongroom/express';
import { check, table } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const HASH_BYTES = 32; // libsodium's crypto_pwhash_str output
const SALT_BYTES = 16;

function hashWasm() {
  return argon2id({
    password: PASSWORD,
    salt: crypto.randomBytes(SALT_BYTES),
    parallelism: DEFAULT_PASSWORD_OPTIONS.parallelism,
    iterations: DEFAULT_PASSWORD_OPTIONS.timeCost,
    memorySize: DEFAULT_PASSWORD_OPTIONS.memoryCost,
    hashLength: HASH_BYTES,
    outputType: 'encoded',
  });
}

/** Runs `concurrency` loops of `fn` for `seconds`; hashes per second and the loop's delay. */
async function throughput(fn, concurrency, seconds) {
  const TICK_MS = 5;
  const start = process.hrtime.bigint();
  let last = start;
  let longestGap = 0n;
  const probe = setInterval(() => {
    const t = process.hrtime.bigint();
    if (t - last > longestGap) longestGap = t - last;
    last = t;
  }, TICK_MS);
  const deadline = start + BigInt(seconds * 1e9);
  let done = 0;
  const worker = async () => {
    while (process.hrtime.bigint() < deadline) {
      await fn();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const end = process.hrtime.bigint();
  clearInterval(probe);
  if (end - last > longestGap) longestGap = end - last;
  const elapsed = Number(end - start) / 1e9;
  return { hashes: done, seconds: elapsed, hashesPerSecond: done / elapsed, loopStallMaxMs: Math.max(0, Number(longestGap) / 1e6 - TICK_MS) };
}

export function argon2Settings() {
  const text = process.env.BENCH_ARGON2_SECONDS;
  const seconds = text === undefined || text === '' ? 5 : Number(text);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 60) throw new Error(`BENCH_ARGON2_SECONDS must be an integer from 1 to 60, got ${JSON.stringify(text)}`);
  return { seconds, rounds: 2, concurrencies: [1, 4], threadpool: Number(process.env.UV_THREADPOOL_SIZE ?? 4), ...DEFAULT_PASSWORD_OPTIONS };
}

export async function runArgon2() {
  const settings = argon2Settings();
  const password = SecretBuffer.from(Buffer.from(PASSWORD, 'utf8'));
  try {
    // Self-check: both sides compute the same function with the same parameters, so each
    // verifies the other's hash, and the encoded parameters match.
    const ours = await hashPassword(password);
    const theirs = await hashWasm();
    const params = (encoded) => encoded.split('$').slice(1, 4).join('$');
    check(params(ours) === params(theirs), `the same parameters (${params(ours)} vs ${params(theirs)})`);
    check(await argon2Verify({ password: PASSWORD, hash: ours }), 'hash-wasm verifies strongroom\'s hash');
    check(await verifyPassword(password, theirs), 'strongroom verifies hash-wasm\'s hash');
    const sides = { strongroom: () => hashPassword(password), 'hash-wasm': hashWasm };
    const results = [];
    for (const concurrency of settings.concurrencies) {
      const perRound = { strongroom: [], 'hash-wasm': [] };
      for (let r = 0; r < settings.rounds; r++) {
        const order = r % 2 ? ['hash-wasm', 'strongroom'] : ['strongroom', 'hash-wasm'];
        for (const name of order) {
          process.stdout.write(`running argon2id [${name}] ${concurrency} in flight, round ${r + 1}/${settings.rounds}, ${settings.seconds} s … `);
          const run = await throughput(sides[name], concurrency, settings.seconds);
          perRound[name].push(run);
          console.log(`${run.hashesPerSecond.toFixed(1)} hashes/s`);
        }
      }
      const side = (name) => {
        const list = perRound[name];
        const hashes = list.reduce((a, s) => a + s.hashes, 0);
        const seconds = list.reduce((a, s) => a + s.seconds, 0);
        return { hashesPerSecond: hashes / seconds, loopStallMaxMs: Math.max(...list.map((s) => s.loopStallMaxMs)), rounds: list };
      };
      const strongroom = side('strongroom');
      const wasm = side('hash-wasm');
      results.push({ concurrency, strongroom, hashWasm: wasm, ratio: strongroom.hashesPerSecond / wasm.hashesPerSecond });
    }
    return { settings, encoded: params(ours), results };
  } finally {
    password.destroy();
  }
}

export function printArgon2({ settings, encoded, results }) {
  const rows = [];
  for (const r of results) {
    const mode = r.concurrency === 1 ? 'sequential' : `${r.concurrency} in flight`;
    rows.push([mode, 'strongroom hashPassword (libuv pool)', r.strongroom.hashesPerSecond.toFixed(1), (1000 / r.strongroom.hashesPerSecond).toFixed(1), r.strongroom.loopStallMaxMs.toFixed(1), r.ratio.toFixed(2)]);
    rows.push(['', 'hash-wasm argon2id (on the loop)', r.hashWasm.hashesPerSecond.toFixed(1), (1000 / r.hashWasm.hashesPerSecond).toFixed(1), r.hashWasm.loopStallMaxMs.toFixed(1), '']);
  }
  console.log(
    `\nArgon2id ${encoded} (the defaults), ${settings.rounds} rounds of ${settings.seconds} s per side, UV_THREADPOOL_SIZE ${settings.threadpool}\n` +
      table(['mode', 'side', 'hashes/s', 'ms/hash', 'longest loop stall (ms)', 'ratio'], rows),
  );
}
