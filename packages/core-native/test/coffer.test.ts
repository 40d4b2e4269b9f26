// The coffer: the process-wide sealing key held as two halves, key = BLAKE2b-256(left)
// XOR right. Tests read the halves of a child through /proc/PID/mem (the child exposes
// their address with STRONGROOM_TEST_HOOKS=1 and keeps them on the readable mmap
// backend), recompute the key here, and check that rekeys move the halves but not the
// key, that purges change the key, and that the whole key is nowhere in the child's memory.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import {
  bytesOf,
  errorCode,
  expectResidue,
  hammerSealing,
  makeMarker,
  runNode,
  startChild,
  strongroomMatchers,
  type ChildHandle,
} from '@strongroom/testkit';
import '@strongroom/testkit/vitest';

import {
  allocate,
  blake2b,
  cofferOpenInto,
  cofferSeal,
  cofferSealFromFd,
  cofferStats,
  configureCoffer,
  copyIn,
  purgeCoffer,
  rekeyCoffer,
  sealedSize,
  SEAL_OVERHEAD,
  type Region,
} from '../src/index.js';
import { BACKENDS, CHILD, plantMarker, PREAMBLE } from './helpers.js';

expect.extend(strongroomMatchers);

function regionWith(bytes: Uint8Array): Region {
  const region = allocate(bytes.length, { backend: 'mmap' });
  copyIn(region, bytes);
  return region;
}

function readMemory(pid: number, address: number, length: number): Buffer {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const out = Buffer.alloc(length);
    expect(readSync(fd, out, 0, length, BigInt(address))).toBe(length);
    return out;
  } finally {
    closeSync(fd);
  }
}

interface Halves {
  left: Buffer;
  right: Buffer;
}

function halvesOf(pid: number, address: number): Halves {
  const both = readMemory(pid, address, 64);
  return { left: both.subarray(0, 32), right: both.subarray(32, 64) };
}

// BLAKE2b-256(left), computed here with core-native's own BLAKE2b.
function digestOf(left: Buffer): Buffer {
  const source = regionWith(left);
  const digest = allocate(32, { backend: 'mmap' });
  blake2b(digest, source);
  const out = Buffer.from(digest.view());
  source.free();
  digest.free();
  return out;
}

// key = BLAKE2b-256(left) XOR right.
function keyOf({ left, right }: Halves): Buffer {
  const key = digestOf(left);
  for (let i = 0; i < key.length; i++) key[i]! ^= right[i]!;
  return key;
}

// A child on the mmap backend with the test hook, automatic rekeying off; it reports
// the halves' address at its first checkpoint.
const HOOKED = { ...CHILD, env: { STRONGROOM_TEST_HOOKS: '1' } };
const HOOKED_PREAMBLE = `${PREAMBLE}
sr.configure({ backend: 'mmap' });
sr.configureCoffer({ rekeyInterval: 0 });
const { LOCAL_ADDON } = await import('./scripts/addon-path.mjs');
const binding = createRequire(process.cwd() + '/')(LOCAL_ADDON);
`;

async function addressOf(child: ChildHandle): Promise<number> {
  const { address } = (await child.waitFor('ready')) as { address: number };
  expect(address).toBeGreaterThan(0);
  return address;
}

describe('sealing under the coffer key', () => {
  it('round-trips regions and ordinary bytes; the sealed bytes are 40 longer', () => {
    const plain = regionWith(Uint8Array.from([1, 2, 3, 4, 5]));
    const fromRegion = cofferSeal(plain);
    const fromBytes = cofferSeal(Uint8Array.from([9, 8, 7]));
    const prefix = cofferSeal(Uint8Array.from([1, 2, 3, 4, 5]), 2);
    expect(fromRegion.length).toBe(5 + SEAL_OVERHEAD);
    expect([sealedSize(fromBytes), sealedSize(prefix)]).toEqual([3, 2]);
    const out5 = allocate(5);
    cofferOpenInto(fromRegion, out5);
    expect(bytesOf(out5)).toEqual([1, 2, 3, 4, 5]);
    const out3 = allocate(3);
    cofferOpenInto(fromBytes, out3);
    expect(bytesOf(out3)).toEqual([9, 8, 7]);
    const out2 = allocate(2);
    cofferOpenInto(prefix, out2);
    expect(bytesOf(out2)).toEqual([1, 2]);
    // A fresh nonce each time: the same plaintext never seals to the same bytes.
    expect(Buffer.from(cofferSeal(plain)).equals(Buffer.from(fromRegion))).toBe(false);
  });

  it('seals a noaccess region and leaves it noaccess', () => {
    const plain = regionWith(Uint8Array.from([7, 7]));
    plain.protect('noaccess');
    const sealed = cofferSeal(plain);
    expect(plain.protection).toBe('noaccess');
    const out = allocate(2);
    cofferOpenInto(sealed, out);
    expect(bytesOf(out)).toEqual([7, 7]);
  });

  it('tampering with any byte gives ERR_AUTH and wipes the target', () => {
    const sealed = cofferSeal(Uint8Array.from([1, 2, 3]));
    const target = allocate(3);
    for (let i = 0; i < sealed.length; i++) {
      const forged = Uint8Array.from(sealed);
      forged[i]! ^= 0x01;
      target.view().fill(0xee);
      expect(errorCode(() => cofferOpenInto(forged, target))).toBe('ERR_AUTH');
      expect(bytesOf(target)).toEqual([0, 0, 0]);
    }
  });

  it('truncated or foreign bytes give ERR_AUTH; misuse gives ERR_INVALID_ARG or ERR_FREED', () => {
    const sealed = cofferSeal(Uint8Array.from([1, 2, 3]));
    expect(errorCode(() => cofferOpenInto(sealed.subarray(0, 40), allocate(1)))).toBe('ERR_AUTH');
    expect(errorCode(() => cofferOpenInto(new Uint8Array(43), allocate(3)))).toBe('ERR_AUTH');
    expect(errorCode(() => cofferOpenInto(sealed, allocate(4)))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => cofferSeal(new Uint8Array(0)))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => cofferSeal(Uint8Array.from([1]), 2))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => cofferSeal('text' as unknown as Uint8Array))).toBe('ERR_INVALID_ARG');
    const freed = allocate(3);
    freed.free();
    expect(errorCode(() => cofferSeal(freed))).toBe('ERR_FREED');
    expect(errorCode(() => cofferOpenInto(sealed, freed))).toBe('ERR_FREED');
  });

  it('a rekey keeps every sealed blob openable; a purge makes them all fail', () => {
    const before = cofferStats();
    const sealed = cofferSeal(Uint8Array.from([4, 2]));
    const out = allocate(2);
    for (let i = 0; i < 5; i++) rekeyCoffer();
    cofferOpenInto(sealed, out);
    expect(bytesOf(out)).toEqual([4, 2]);
    purgeCoffer();
    expect(errorCode(() => cofferOpenInto(sealed, out))).toBe('ERR_AUTH');
    const after = cofferStats();
    expect(after.rekeys - before.rekeys).toBeGreaterThanOrEqual(5);
    expect(after.purges - before.purges).toBe(1);
    // Still usable after the purge.
    cofferOpenInto(cofferSeal(Uint8Array.from([3])), allocate(1));
  });

  it('validates configureCoffer() and reports the interval', () => {
    expect(errorCode(() => configureCoffer({ rekeyInterval: -1 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => configureCoffer({ rekeyInterval: 1.5 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => configureCoffer({ interval: 5 } as never))).toBe('ERR_INVALID_ARG');
    expect(configureCoffer({ rekeyInterval: 250 }).rekeyInterval).toBe(250);
    expect(configureCoffer({}).rekeyInterval).toBe(250);
    configureCoffer({ rekeyInterval: 500 });
  });
});

describe('cofferSealFromFd', () => {
  it('reads a file chunk by chunk through the guarded staging region and wipes it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'strongroom-coffer-'));
    const file = path.join(dir, 'secret');
    const content = Buffer.from(Array.from({ length: 10 }, (_, i) => i + 1));
    writeFileSync(file, content);
    const staging = allocate(4, { backend: 'mmap' });
    const fd = openSync(file, 'r');
    const chunks: Uint8Array[] = [];
    try {
      for (let chunk = cofferSealFromFd(fd, staging); chunk !== null; chunk = cofferSealFromFd(fd, staging)) {
        chunks.push(chunk);
        expect(bytesOf(staging)).toEqual([0, 0, 0, 0]);
      }
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(chunks.map((chunk) => sealedSize(chunk))).toEqual([4, 4, 2]);
    const opened = chunks.flatMap((chunk) => {
      const out = allocate(sealedSize(chunk));
      cofferOpenInto(chunk, out);
      return bytesOf(out);
    });
    expect(opened).toEqual(Array.from(content));
  });

  it('with a header, seals header || the next file bytes, and refuses a header that fills the region', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'strongroom-coffer-'));
    const file = path.join(dir, 'secret');
    writeFileSync(file, Buffer.from([1, 2, 3, 4, 5, 6, 7]));
    const staging = allocate(6, { backend: 'mmap' });
    const header = Uint8Array.of(0xa0, 0xa1);
    const fd = openSync(file, 'r');
    const opened: number[][] = [];
    try {
      expect(errorCode(() => cofferSealFromFd(fd, staging, new Uint8Array(6)))).toBe('ERR_INVALID_ARG');
      expect(errorCode(() => cofferSealFromFd(fd, staging, 'ab' as unknown as Uint8Array))).toBe('ERR_INVALID_ARG');
      for (let chunk = cofferSealFromFd(fd, staging, header); chunk !== null; chunk = cofferSealFromFd(fd, staging, header)) {
        expect(bytesOf(staging)).toEqual([0, 0, 0, 0, 0, 0]);
        const out = allocate(sealedSize(chunk));
        cofferOpenInto(chunk, out);
        opened.push(bytesOf(out));
      }
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(opened).toEqual([
      [0xa0, 0xa1, 1, 2, 3, 4],
      [0xa0, 0xa1, 5, 6, 7],
    ]);
  });

  it('a bad descriptor gives ERR_IO', () => {
    const staging = allocate(4);
    const fd = openSync('/dev/null', 'r');
    closeSync(fd);
    expect(errorCode(() => cofferSealFromFd(fd, staging))).toBe('ERR_IO');
    expect(errorCode(() => cofferSealFromFd(-1, staging))).toBe('ERR_INVALID_ARG');
  });
});

describe('the halves in a child process', () => {
  it('a rekey changes both halves but not the key; old blobs still open; a purge changes the key', async () => {
    const child = await startChild(
      `${HOOKED_PREAMBLE}
       const sealed = sr.cofferSeal(Uint8Array.from([5, 6, 7]));
       await checkpoint('ready', { address: binding.cofferHalvesAddress() });
       sr.rekeyCoffer();
       await checkpoint('rekeyed');
       const out = sr.allocate(3);
       sr.cofferOpenInto(sealed, out);
       await checkpoint('opened', Array.from(out.view()));
       sr.purgeCoffer();
       await checkpoint('purged');`,
      HOOKED,
    );
    const address = await addressOf(child);
    const first = halvesOf(child.pid, address);
    child.resume();
    await child.waitFor('rekeyed');
    const second = halvesOf(child.pid, address);
    expect(second.left.equals(first.left)).toBe(false);
    expect(second.right.equals(first.right)).toBe(false);
    expect(keyOf(second).equals(keyOf(first))).toBe(true);
    child.resume();
    expect(await child.waitFor('opened')).toEqual([5, 6, 7]);
    child.resume();
    await child.waitFor('purged');
    expect(keyOf(halvesOf(child.pid, address)).equals(keyOf(first))).toBe(false);
    child.resume();
    expect((await child.exited).code).toBe(0);
  });

  it('the rekey thread re-randomises the halves on its interval', async () => {
    const child = await startChild(
      `${HOOKED_PREAMBLE}
       await checkpoint('ready', { address: binding.cofferHalvesAddress() });
       const before = sr.cofferStats().rekeys;
       sr.configureCoffer({ rekeyInterval: 20 });
       await new Promise((resolve) => setTimeout(resolve, 400));
       sr.configureCoffer({ rekeyInterval: 0 });
       await checkpoint('waited', sr.cofferStats().rekeys - before);`,
      HOOKED,
    );
    const address = await addressOf(child);
    const first = halvesOf(child.pid, address);
    child.resume();
    expect(await child.waitFor('waited')).toBeGreaterThanOrEqual(5);
    const later = halvesOf(child.pid, address);
    expect(later.left.equals(first.left)).toBe(false);
    expect(keyOf(later).equals(keyOf(first))).toBe(true);
    child.resume();
    expect((await child.exited).code).toBe(0);
  });

  it('neither the whole key nor a sealed marker is in the memory of the child, before or after rekeys', async () => {
    const marker = makeMarker();
    const child = await startChild(
      `${HOOKED_PREAMBLE}
       ${plantMarker('secret', marker, 'mmap')}
       await checkpoint('planted');
       const sealed = sr.cofferSeal(secret);
       secret.free();
       await checkpoint('ready', { address: binding.cofferHalvesAddress() });
       for (let i = 0; i < 10; i++) sr.rekeyCoffer();
       const out = sr.allocate(${marker.length}, { backend: 'mmap' });
       sr.cofferOpenInto(sealed, out);
       out.free();
       await checkpoint('rekeyed');`,
      HOOKED,
    );
    let address = 0;
    // At each stage after sealing: the whole key is nowhere; the scan does see the coffer's
    // own (noaccess) pages, where its left half is (a positive control).
    const noWholeKey = async (): Promise<void> => {
      const halves = halvesOf(child.pid, address);
      await expect(child).toLeaveNoResidue(keyOf(halves));
      // Nor H(left), which a rekey computes (libsodium's own hashing leaves it on the stack
      // unless strongroom scrubs): with the right half it would give the key.
      await expect(child).toLeaveNoResidue(digestOf(halves.left));
      const left = await child.scan(halves.left);
      expect(left.matches.some((m) => m.address === BigInt(address))).toBe(true);
    };
    await expectResidue(child, marker, [
      { at: 'planted', present: true }, // positive control: the scan sees the marker in its live region
      {
        at: 'ready', // sealed, the marker's region freed
        present: false,
        check: async (_, data) => {
          address = (data as { address: number }).address;
          expect(address).toBeGreaterThan(0);
          await noWholeKey();
        },
      },
      { at: 'rekeyed', present: false, check: noWholeKey },
    ]);
  });

  it('cofferHmac leaves neither the sealed marker key nor the whole coffer key anywhere; the scratch slot is zeros', async () => {
    // The marker key goes both ways: in a 32-byte key (opened into the coffer's scratch slot)
    // and inside a 3000-byte key (past the slot: a temporary region).
    const marker = makeMarker();
    const child = await startChild(
      `${HOOKED_PREAMBLE}
       ${plantMarker('secret', marker, 'mmap')}
       const long = sr.allocate(3000, { backend: 'mmap' });
       sr.copy(long, secret, { targetOffset: 1500 });
       await checkpoint('planted');
       const short = sr.cofferSeal(secret);
       const sealedLong = sr.cofferSeal(long);
       secret.free();
       long.free();
       await checkpoint('ready', { address: binding.cofferHalvesAddress() });
       const tags = [];
       for (const sealed of [short, sealedLong]) {
         for (const algorithm of ['sha256', 'sha512']) {
           tags.push(sr.cofferHmac(sealed, algorithm, 'message').length);
           tags.push(sr.cofferHmacVerify(sealed, algorithm, 'message', new Uint8Array(16)));
         }
       }
       await checkpoint('used', tags);`,
      HOOKED,
    );
    let address = 0;
    await expectResidue(child, marker, [
      { at: 'planted', present: true }, // positive control
      {
        at: 'ready',
        present: false,
        check: (_, data) => {
          address = (data as { address: number }).address;
        },
      },
      {
        at: 'used',
        present: false,
        data: [32, false, 64, false, 32, false, 64, false],
        check: async () => {
          await expect(child).toLeaveNoResidue(keyOf(halvesOf(child.pid, address)));
          // The halves region: left | right | work | next | scratch (1 KiB), all zeros after.
          expect(readMemory(child.pid, address + 64, 64 + 1024).every((b) => b === 0)).toBe(true);
        },
      },
    ]);
  });

  it('a rekey leaves no H(left) of the halves it replaced anywhere in memory', async () => {
    // A rekey computes H(next) and H(left); libsodium 1.0.18's one-shot BLAKE2b leaves its
    // state and output on the stack, where H(left) of the old halves, with the old right
    // half of any earlier image, would give the key.
    const child = await startChild(
      `${HOOKED_PREAMBLE}
       await checkpoint('before', { address: binding.cofferHalvesAddress() });
       sr.rekeyCoffer();
       await checkpoint('after');`,
      HOOKED,
    );
    try {
      const { address } = (await child.waitFor('before')) as { address: number };
      const before = halvesOf(child.pid, address);
      child.resume();
      await child.waitFor('after');
      expect(halvesOf(child.pid, address).left.equals(before.left)).toBe(false); // a rekey happened
      expect((await child.scan(digestOf(before.left))).matches).toEqual([]);
      const left = await child.scan(halvesOf(child.pid, address).left); // positive control: in the coffer's pages
      expect(left.matches.some((m) => m.address === BigInt(address))).toBe(true);
    } finally {
      child.kill();
    }
  });

  it('the test hook exists only with STRONGROOM_TEST_HOOKS=1', async () => {
    const { stdout } = await runNode(
      `${PREAMBLE}
       const { LOCAL_ADDON } = await import('./scripts/addon-path.mjs');
       const binding = createRequire(process.cwd() + '/')(LOCAL_ADDON);
       console.log(typeof binding.cofferHalvesAddress);`,
      { ...CHILD, env: { STRONGROOM_TEST_HOOKS: undefined } },
    );
    expect(stdout.trim()).toBe('undefined');
  });

  it('the rekey thread never keeps the process alive', async () => {
    const started = Date.now();
    const { code } = await runNode(
      `${PREAMBLE}
       sr.configureCoffer({ rekeyInterval: 60000 });
       sr.cofferSeal(Uint8Array.from([1]));`,
      CHILD,
    );
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

// core-native's coffer functions as a layer for testkit's hammerSealing (the Enclave test
// runs the same hammer one layer up).
const COFFER_LAYER = `
import * as sr from '@strongroom/core-native';
const out = sr.allocate(SIZE, { backend: 'mmap' });
const seal = (plain) => sr.cofferSeal(Uint8Array.from(plain));
const toBytes = (sealed) => sealed;
const fromBytes = (bytes) => bytes;
const opensTo = (sealed, plain) => { sr.cofferOpenInto(sealed, out); return Buffer.from(out.view()).equals(plain); };
const rekey = () => sr.rekeyCoffer();
const rekeys = () => sr.cofferStats().rekeys;
const setup = () => sr.configureCoffer({ rekeyInterval: 1 });
`;

describe('worker threads share the coffer', () => {
  it('seal, open and rekey from several threads at once for seconds lose nothing', async () => {
    // 4 workers for 3 s, each rekeying every 7th operation; more than 500 operations each and 500 rekeys in all
    await hammerSealing(COFFER_LAYER, { ...CHILD, workers: 4, size: 64, rekeyEvery: 7, postEvery: 50, minOps: 500, minRekeys: 500 });
  });
});

describe('a bare fork() child', () => {
  it.each(BACKENDS.filter((b) => b.available).map((b) => b.backend))('gets a poisoned coffer on %s: its zero halves would make a public key, so it fails closed', async (backend) => {
    const result = await runNode(
      `${PREAMBLE}
       sr.configure({ backend: '${backend}' });
       sr.configureCoffer({ rekeyInterval: 0 });
       const binding = createRequire(process.cwd() + '/')((await import('./scripts/addon-path.mjs')).LOCAL_ADDON);
       console.log(binding.cofferForkProbe(), sr.cofferOpen(sr.cofferSeal(Uint8Array.from([1]))).size);`,
      { ...CHILD, env: { STRONGROOM_TEST_HOOKS: '1' } },
    );
    // 0: the child's coffer refused (poisoned); the parent's coffer works as before.
    expect(result.stdout.trim(), result.stderr).toBe('0 1');
  });
});

describe('opening leaves no plaintext on the stack', () => {
  // libsodium 1.0.18 decrypts the first 32 bytes of a message in a stack buffer it never
  // wipes; called deep in the stack, nothing overwrites that spot before the scan.
  it.each(['cofferOpen', 'open'] as const)('%s: the first 32 bytes of the secret are not left behind', async (how) => {
    const marker = makeMarker(64);
    const child = await startChild(
      `${PREAMBLE}
       ${plantMarker('secret', marker, 'mmap')}
       const key = sr.allocate(32, { backend: 'mmap' });
       sr.randomFill(key);
       const sealed = '${how}' === 'cofferOpen' ? sr.cofferSeal(secret) : sr.seal(key, secret);
       await checkpoint('planted');
       secret.free();
       const deep = (n) => (n === 0 ? ('${how}' === 'cofferOpen' ? sr.cofferOpen(sealed) : sr.open(key, sealed)).free() : deep(n - 1));
       deep(300);
       await checkpoint('opened');`,
      CHILD,
    );
    await expectResidue(child, marker.subarray(0, 32), [
      { at: 'planted', count: 1 }, // positive control: in its region
      { at: 'opened', present: false },
    ]);
  });
});
