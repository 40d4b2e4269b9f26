// The kms-loaders run: age decryption of a 1 MiB file and loading 100 file secrets, each
// beside the way a Node app would do it without strongroom. See README.md, "kms-loaders".
//
// age: one file per run, made by Debian's `age` CLI for an X25519 recipient (age-keygen's
// identity; without the CLI, by age-encryption, and the CLI side is reported as not
// measured, with the reason), decrypted by four sides in rounds of rotating order:
//   - strongroom's ageDecrypt (@strongroom/buffer): the file read and decrypted natively into a
//     guarded SecretBuffer, destroyed after each call: the per-operation figure;
//   - strongroom's age() source loaded by loadSecrets (@strongroom/kms-loaders): the same, then
//     the plaintext sealed into an Enclave (Enclave.seal: XSalsa20-Poly1305 over the whole MiB),
//     what an application holding the secret pays;
//   - the age-encryption npm package (FiloSottile's TypeScript implementation): readFile of the
//     file, then Decrypter.decrypt with the identity's text;
//   - the `age` CLI: `age -d -i identity file`, spawned, its output collected.
// Every side parses the identity on every call, as each would for a secret read once.
// Each case runs once per strongroom backend (mmap, and secretmem where it works), the peers
// measured again beside each.
// Before any timing each side's output is compared with the plaintext.
//
// files: 100 files of 64 hex characters (a 32-byte key each), loaded by loadSecrets with file()
// sources beside Promise.all of fs.promises.readFile; then a refresh pass of a loaded store
// (store.refresh of every name: the file read again and compared in constant time with the
// secret held; the bytes are the same, so nothing rotates) beside Promise.all of readFile
// plus crypto.timingSafeEqual against the Buffers already read.
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import { ageDecrypt } from '@strongroom/buffer';
import { configure, stats } from '@strongroom/core-native';
import { age, file, loadSecrets, SecretBuffer } from '@strongroom/kms-loaders';
import { check, compareAsync, pairedRatio, table, formatNs } from './harness.mjs';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const AGE_BYTES = MiB;
const SECRETS = 100;
const SECRET_BYTES = 64;
const ROUNDS = 16; // a multiple of the four sides: each side takes each place equally often
const BATCH_MS = 100;
const WARMUP_MS = 300;
const gc = globalThis.gc ?? (() => {});

const AGE_ENCRYPTION_VERSION = JSON.parse(
  fs.readFileSync(new URL('./node_modules/age-encryption/package.json', import.meta.url), 'utf8'),
).version;

export function kmsSettings() {
  return { rounds: ROUNDS, batchMs: BATCH_MS, warmupMs: WARMUP_MS, ageBytes: AGE_BYTES, secrets: SECRETS, secretBytes: SECRET_BYTES };
}

/** The age CLI's version, or why it cannot be used (absent without scripts/setup.sh). */
function ageCli() {
  try {
    const version = execFileSync('age', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    execFileSync('age-keygen', ['--version'], { stdio: 'ignore' });
    return { available: true, version };
  } catch (error) {
    const reason = error.code === 'ENOENT' ? 'the age CLI (age, age-keygen) is not installed: scripts/setup.sh installs it' : `the age CLI does not run: ${error.message}`;
    return { available: false, reason };
  }
}

/**
 * The identity and the encrypted file: by age-keygen and age when the CLI is there, else by
 * age-encryption (and the CLI row is not measured).
 */
async function makeAgeFile(dir, cli, plaintext) {
  const identityFile = path.join(dir, 'identity.txt');
  const plainFile = path.join(dir, 'plain.bin');
  const encrypted = path.join(dir, 'secret.age');
  fs.writeFileSync(plainFile, plaintext);
  if (cli.available) {
    execFileSync('age-keygen', ['-o', identityFile], { stdio: 'pipe' });
    const recipient = execFileSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).trim();
    execFileSync('age', ['-r', recipient, '-o', encrypted, plainFile], { stdio: 'pipe' });
    fs.rmSync(plainFile);
    return { identityFile, encrypted, madeBy: `${cli.version} (age-keygen, age -r)` };
  }
  const identity = await generateIdentity();
  fs.writeFileSync(identityFile, `${identity}\n`, { mode: 0o600 });
  const e = new Encrypter();
  e.addRecipient(await identityToRecipient(identity));
  fs.writeFileSync(encrypted, await e.encrypt(plaintext));
  fs.rmSync(plainFile);
  return { identityFile, encrypted, madeBy: `age-encryption ${AGE_ENCRYPTION_VERSION} (the age CLI is absent)` };
}

function row(caseName, backend, side, peer, timed, a, b, bytes) {
  const strongroomNs = timed[a].ns;
  const peerNs = timed[b].ns;
  return {
    case: caseName,
    backend,
    side,
    peer,
    strongroomNsPerOp: strongroomNs,
    peerNsPerOp: peerNs,
    ratio: pairedRatio(timed[a].samples, timed[b].samples),
    ...(bytes != null && { strongroomMBps: (bytes / strongroomNs) * 1e3, peerMBps: (bytes / peerNs) * 1e3 }),
    iterations: { strongroom: timed[a].iterations, peer: timed[b].iterations },
    samplesNs: { strongroom: timed[a].samples, peer: timed[b].samples },
  };
}

/** The age file, its identity and its plaintext: made once per run. */
async function prepareAge(dir) {
  const cli = ageCli();
  const plaintext = crypto.randomBytes(AGE_BYTES);
  const made = await makeAgeFile(dir, cli, plaintext);
  return { cli, plaintext, made, encryptedBytes: fs.statSync(made.encrypted).size };
}

async function benchAge({ cli, plaintext, made, encryptedBytes }, backend) {
  const maxSize = 2 * MiB; // the file is 1 MiB plus a header and a 16-byte tag per 64 KiB chunk
  // The identity file as age-keygen wrote it (comments and the AGE-SECRET-KEY-1 line): read
  // natively into a SecretBuffer for strongroom; its key line as a string for age-encryption.
  const identity = SecretBuffer.fromFile(made.identityFile);
  const identityText = fs
    .readFileSync(made.identityFile, 'utf8')
    .split('\n')
    .find((line) => line.startsWith('AGE-SECRET-KEY-1'));
  check(identityText !== undefined, 'the identity file has an AGE-SECRET-KEY-1 line');

  const decryptNative = () => ageDecrypt(made.encrypted, { identity, maxSize });
  const ageSource = age(made.encrypted, { identity, maxSize });
  const decryptJs = async () => {
    const d = new Decrypter();
    d.addIdentity(identityText);
    return d.decrypt(await fs.promises.readFile(made.encrypted));
  };
  const decryptCli = async () =>
    (await run('age', ['-d', '-i', made.identityFile, made.encrypted], { encoding: 'buffer', maxBuffer: maxSize })).stdout;

  try {
    // Self-checks: every side gives back the plaintext, byte for byte.
    const native = decryptNative();
    try {
      check(native.size === AGE_BYTES && native.equals(plaintext), 'ageDecrypt gives back the plaintext');
    } finally {
      native.destroy();
    }
    const store = await loadSecrets({ s: ageSource });
    try {
      check(store.use('s', (secret) => secret.size === AGE_BYTES && secret.equals(plaintext)), 'the age() source loads the plaintext');
    } finally {
      store.close();
    }
    check(Buffer.compare(await decryptJs(), plaintext) === 0, 'age-encryption gives back the plaintext');
    if (cli.available) check(Buffer.compare(await decryptCli(), plaintext) === 0, 'age -d gives back the plaintext');

    const sides = {
      ageDecrypt: () => decryptNative().destroy(),
      ageSource: async () => (await loadSecrets({ s: ageSource })).close(),
      ageEncryption: decryptJs,
      ...(cli.available && { ageCli: decryptCli }),
    };
    const count = Object.keys(sides).length;
    process.stdout.write(`running age decrypt 1 MiB [${backend}], ${count} sides × ${ROUNDS} rounds … `);
    const started = Date.now();
    const timed = await compareAsync(sides, { rounds: ROUNDS, warmupMs: WARMUP_MS, batchMs: BATCH_MS });
    console.log(`${((Date.now() - started) / 1e3).toFixed(1)} s`);

    const caseName = 'age decrypt 1 MiB (X25519)';
    const labels = {
      ageDecrypt: 'ageDecrypt (@strongroom/buffer)',
      ageSource: 'loadSecrets({ s: age() }) (+ Enclave.seal)',
      ageEncryption: `age-encryption ${AGE_ENCRYPTION_VERSION}: readFile + Decrypter`,
      ageCli: cli.available ? `age CLI ${cli.version}: age -d -i (spawned)` : 'age CLI: age -d -i (spawned)',
    };
    const results = [];
    for (const ours of ['ageDecrypt', 'ageSource']) {
      for (const peer of ['ageEncryption', 'ageCli']) {
        if (peer === 'ageCli' && !cli.available) {
          results.push({ case: caseName, backend, side: labels[ours], peer: labels.ageCli, notMeasured: cli.reason });
          continue;
        }
        results.push(row(caseName, backend, labels[ours], labels[peer], timed, ours, peer, AGE_BYTES));
      }
    }
    return results;
  } finally {
    identity.destroy();
  }
}

/** The 100 secret files (64 hex characters each): made once per run. */
function prepareFiles(dir) {
  const folder = path.join(dir, 'secrets');
  fs.mkdirSync(folder);
  const names = Array.from({ length: SECRETS }, (_, i) => `secret-${String(i).padStart(3, '0')}`);
  const paths = names.map((name) => path.join(folder, name));
  const contents = paths.map((p) => {
    const bytes = Buffer.from(crypto.randomBytes(SECRET_BYTES / 2).toString('hex'), 'latin1');
    fs.writeFileSync(p, bytes, { mode: 0o600 });
    return bytes;
  });
  return { names, paths, contents };
}

async function benchFiles({ names, paths, contents }, backend) {
  const sources = Object.fromEntries(names.map((name, i) => [name, file(paths[i])]));
  const readAll = () => Promise.all(paths.map((p) => fs.promises.readFile(p)));

  // Self-checks: both sides read every file's bytes; a refresh of the same bytes rotates nothing.
  const checkStore = (store, what) => {
    names.forEach((name, i) => check(store.use(name, (secret) => secret.equals(contents[i])), `${what}: ${name} holds its file's bytes`));
    check(names.every((name) => store.version(name) === 1), `${what}: every secret at version 1`);
  };
  const first = await loadSecrets(sources);
  try {
    checkStore(first, 'loadSecrets');
  } finally {
    first.close();
  }
  const read = await readAll();
  check(read.every((bytes, i) => Buffer.compare(bytes, contents[i]) === 0), 'readFile reads every file\'s bytes');

  const store = await loadSecrets(sources); // the store the refresh passes run on
  try {
    let rotations = 0;
    const failures = [];
    store.on('rotate', () => rotations++);
    store.on('error', (error, name) => failures.push(`${name}: ${error.code ?? error.message}`));
    const refreshAll = () => Promise.all(names.map((name) => store.refresh(name)));
    const rereadAll = async () => {
      const fresh = await readAll();
      let changed = 0;
      fresh.forEach((bytes, i) => {
        if (bytes.length !== read[i].length || !crypto.timingSafeEqual(bytes, read[i])) changed++;
      });
      return changed;
    };
    await refreshAll();
    checkStore(store, 'store.refresh');
    check(failures.length === 0, `every refresh succeeds (${failures.join('; ')})`);
    check(rotations === 0, 'a refresh of unchanged files rotates nothing');
    check((await rereadAll()) === 0, 'readFile + timingSafeEqual finds nothing changed');

    const sides = {
      loadSecrets: async () => (await loadSecrets(sources)).close(),
      readFile: readAll,
      refresh: refreshAll,
      reread: rereadAll,
    };
    process.stdout.write(`running ${SECRETS} file secrets [${backend}], 4 sides × ${ROUNDS} rounds … `);
    const started = Date.now();
    const timed = await compareAsync(sides, { rounds: ROUNDS, warmupMs: WARMUP_MS, batchMs: BATCH_MS });
    console.log(`${((Date.now() - started) / 1e3).toFixed(1)} s`);
    check(failures.length === 0, `every refresh succeeds (${failures.slice(0, 3).join('; ')})`);
    check(rotations === 0 && names.every((name) => store.version(name) === 1), 'no rotation during the refresh passes');
    return [
      row(`loadSecrets ${SECRETS} files`, backend, `loadSecrets of ${SECRETS} file() sources`, `Promise.all of ${SECRETS} fs.promises.readFile`, timed, 'loadSecrets', 'readFile'),
      row(`refresh ${SECRETS} files`, backend, `store.refresh of ${SECRETS} names (same bytes)`, `Promise.all of ${SECRETS} readFile + timingSafeEqual`, timed, 'refresh', 'reread'),
    ];
  } finally {
    store.close();
  }
}

/**
 * Makes the age file and the secret files once in a temporary folder (removed afterwards),
 * then runs the age and file-secret cases once per backend (core-native's default backend set
 * to it by configure() for the case, then restored); returns the figures.
 */
export async function runKms(backends) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-bench-kms-'));
  const defaults = configure();
  try {
    const loadBefore = os.loadavg()[0];
    const ageFixture = await prepareAge(dir);
    const fileFixture = prepareFiles(dir);
    gc();
    const before = stats();
    const results = [];
    for (const backend of backends) {
      configure({ backend });
      gc();
      try {
        results.push(...(await benchAge(ageFixture, backend)), ...(await benchFiles(fileFixture, backend)));
      } finally {
        configure({ backend: defaults.backend });
      }
    }
    gc();
    const after = stats();
    const { cli, made, encryptedBytes } = ageFixture;
    return {
      settings: kmsSettings(),
      defaultBackend: before.backend,
      loadAverage: { before: loadBefore, after: os.loadavg()[0] },
      // Guarded regions and locked bytes before and after the run (after a gc): equal when
      // every SecretBuffer and store made by the run gave its memory back.
      guardedMemory: {
        before: { regions: before.regions, bytesLocked: before.bytesLocked },
        after: { regions: after.regions, bytesLocked: after.bytesLocked },
      },
      age: {
        file: { plaintextBytes: AGE_BYTES, encryptedBytes, madeBy: made.madeBy, recipient: 'X25519' },
        cli: cli.available ? { version: cli.version } : { notMeasured: cli.reason },
        ageEncryption: AGE_ENCRYPTION_VERSION,
      },
      results,
    };
  } finally {
    configure({ backend: defaults.backend });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints the kms-loaders figures as a table. */
export function printKms({ settings, loadAverage, age: ageInfo, guardedMemory, results }) {
  const rows = results.map((r) =>
    r.notMeasured
      ? [r.case, r.backend, r.side, r.peer, '', 'not measured', '', '']
      : [
          r.case,
          r.backend,
          r.side,
          r.peer,
          formatNs(r.strongroomNsPerOp),
          formatNs(r.peerNsPerOp),
          r.ratio.toFixed(3),
          r.strongroomMBps ? `${r.strongroomMBps.toFixed(0)} / ${r.peerMBps.toFixed(0)}` : '',
        ],
  );
  console.log(
    `\nkms-loaders: ${settings.rounds} rounds of ${settings.batchMs} ms batches per side (rotating order); ` +
      `age file made by ${ageInfo.file.madeBy}, ${ageInfo.file.encryptedBytes} bytes; ` +
      `load average ${loadAverage.before.toFixed(1)} before, ${loadAverage.after.toFixed(1)} after, on ${os.cpus().length} cores\n` +
      table(['case', 'backend', 'strongroom', 'peer', 'strongroom/op', 'peer/op', 'ratio', 'MB/s (sr / peer)'], rows),
  );
  if (ageInfo.cli.notMeasured) console.log(`  age CLI: not measured: ${ageInfo.cli.notMeasured}`);
  const show = (m) => `regions ${m.regions}, bytesLocked ${m.bytesLocked}`;
  console.log(`guarded memory before the cases: ${show(guardedMemory.before)}; after (gc): ${show(guardedMemory.after)} (the coffer's key page is one region from the first Enclave on)`);
}
