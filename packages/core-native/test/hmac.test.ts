// HMAC keyed by a region, on every path: native regions (SHA-NI where the CPU has it, and
// libsodium, both checked through the test hook in a child), 'heap' regions (node:crypto),
// and the coffer's cofferHmac/cofferHmacVerify (a key sealed under the coffer, opened for
// one native call into the coffer's scratch slot, or a temporary region past 1 KiB).
// RFC 4231's vectors and node:crypto are the oracles; hmacVerify takes truncated tags.
import { createHmac, randomBytes } from 'node:crypto';

import { afterEach, describe, expect, it } from 'vitest';
import { errorCode, RFC4231_VECTORS, runNode } from '@strongroom/testkit';

import {
  allocate,
  cofferHmac,
  cofferHmacVerify,
  cofferSeal,
  copyIn,
  hmac,
  hmacVerify,
  HMAC_MIN_TAG_BYTES,
  purgeCoffer,
  stats,
  type Backend,
  type HmacAlgorithm,
  type Region,
} from '../src/index.js';
import { native } from '../src/binding.js';
import { BACKENDS, CHILD, PREAMBLE } from './helpers.js';

const ALGORITHMS: ReadonlyArray<[HmacAlgorithm, number]> = [
  ['sha256', 32],
  ['sha512', 64],
];

const live: Region[] = [];
afterEach(() => {
  for (const r of live.splice(0)) r.free();
});

function keyRegion(bytes: Uint8Array, backend: Backend = 'mmap'): Region {
  const region = allocate(bytes.length, { backend });
  copyIn(region, bytes);
  region.protect('noaccess');
  live.push(region);
  return region;
}

const oracle = (algorithm: HmacAlgorithm, key: Uint8Array, message: Uint8Array | string): Buffer =>
  createHmac(algorithm, key).update(message).digest();

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// The three ways to key an HMAC by guarded bytes, as (key bytes) -> { tag, verify }.
type Keyed = { tag: (a: HmacAlgorithm, m: Uint8Array | string) => Uint8Array; verify: (a: HmacAlgorithm, m: Uint8Array | string, t: Uint8Array) => boolean };
const PATHS: ReadonlyArray<[string, (key: Uint8Array) => Keyed]> = [
  ...BACKENDS.filter((b) => b.available).map(
    ({ backend }) =>
      [
        `a ${backend} region`,
        (key: Uint8Array): Keyed => {
          const region = keyRegion(key, backend);
          return { tag: (a, m) => hmac(a, region, m), verify: (a, m, t) => hmacVerify(a, region, m, t) };
        },
      ] as [string, (key: Uint8Array) => Keyed],
  ),
  [
    "a 'heap' region",
    (key) => {
      const region = allocate(key.length, { backend: 'heap' });
      copyIn(region, key);
      live.push(region);
      return { tag: (a, m) => hmac(a, region, m), verify: (a, m, t) => hmacVerify(a, region, m, t) };
    },
  ],
  [
    'the coffer (cofferHmac)',
    (key) => {
      const sealed = cofferSeal(Uint8Array.from(key));
      return { tag: (a, m) => cofferHmac(sealed, a, m), verify: (a, m, t) => cofferHmacVerify(sealed, a, m, t) };
    },
  ],
];

describe.each(PATHS)('HMAC keyed by %s', (_, keyed) => {
  it.each(RFC4231_VECTORS.map((v) => [v.name, v] as const))('%s, both algorithms', (_name, vector) => {
    const k = keyed(vector.key);
    for (const [algorithm, length] of ALGORITHMS) {
      const tag = k.tag(algorithm, vector.data);
      expect(tag.length).toBe(length);
      const expected = vector[algorithm];
      expect(hex(tag.subarray(0, expected.length / 2))).toBe(expected);
      // Test case 5's 128-bit tag verifies as given: a truncated tag.
      expect(k.verify(algorithm, vector.data, Buffer.from(expected, 'hex'))).toBe(true);
    }
  });

  it('random keys and messages match node:crypto; strings are UTF-8', () => {
    for (const keyLength of [1, 31, 64, 65, 128, 129, 1024, 1025, 3000]) {
      const key = randomBytes(keyLength);
      const k = keyed(key);
      for (const messageLength of [0, 1, 55, 56, 64, 119, 1024, 10_000]) {
        const message = randomBytes(messageLength);
        for (const [algorithm] of ALGORITHMS) {
          expect(hex(k.tag(algorithm, message))).toBe(oracle(algorithm, key, message).toString('hex'));
        }
      }
      expect(hex(k.tag('sha256', 'héllo ☃'))).toBe(oracle('sha256', key, 'héllo ☃').toString('hex'));
      expect(k.verify('sha512', 'héllo ☃', oracle('sha512', key, 'héllo ☃'))).toBe(true);
    }
  });

  it.each(ALGORITHMS)('%s: every truncation from 16 bytes to the full tag verifies; 15, full+1 and a flipped bit do not', (algorithm, length) => {
    const key = randomBytes(40);
    const k = keyed(key);
    const message = randomBytes(1024);
    const full = oracle(algorithm, key, message);
    expect(k.verify(algorithm, message, full)).toBe(true);
    for (let n = HMAC_MIN_TAG_BYTES; n <= length; n++) {
      const tag = Uint8Array.from(full.subarray(0, n));
      expect(k.verify(algorithm, message, tag)).toBe(true);
      for (const bit of [0, n * 8 - 1]) {
        const flipped = Uint8Array.from(tag);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expect(k.verify(algorithm, message, flipped)).toBe(false);
      }
    }
    expect(k.verify(algorithm, message, Uint8Array.from(full.subarray(0, HMAC_MIN_TAG_BYTES - 1)))).toBe(false);
    expect(k.verify(algorithm, message, Uint8Array.from([...full, 0]))).toBe(false);
    expect(k.verify(algorithm, message, new Uint8Array(0))).toBe(false);
    // Another message, or a tag of the other algorithm cut to this one's length: false.
    expect(k.verify(algorithm, randomBytes(1024), full)).toBe(false);
    const other = oracle(algorithm === 'sha256' ? 'sha512' : 'sha256', key, message);
    expect(k.verify(algorithm, message, other.subarray(0, Math.min(length, other.length)))).toBe(false);
  });

  it('bad types are ERR_INVALID_ARG naming the argument; a wrong-length tag is false, not an error', () => {
    const k = keyed(randomBytes(32));
    expect(() => k.tag('md5' as never, 'x')).toThrow(/^algorithm must be one of 'sha256', 'sha512', got string/);
    expect(errorCode(() => k.tag('SHA256' as never, 'x'))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => k.tag(undefined as never, 'x'))).toBe('ERR_INVALID_ARG');
    expect(() => k.tag('sha256', 42 as never)).toThrow(/^message \(or a string\) must be a Uint8Array/);
    expect(errorCode(() => k.tag('sha256', null as never))).toBe('ERR_INVALID_ARG');
    expect(() => k.verify('sha256', 'x', 'tag' as never)).toThrow(/^tag must be a Uint8Array/);
    expect(errorCode(() => k.verify('sha256', 'x', [1, 2] as never))).toBe('ERR_INVALID_ARG');
    expect(k.verify('sha256', 'x', new Uint8Array(1000))).toBe(false);
  });
});

describe('the addon and the TypeScript agree', () => {
  it('on the shortest truncated tag', () => {
    expect(native().constants.hmacMinTagBytes).toBe(HMAC_MIN_TAG_BYTES);
    expect(HMAC_MIN_TAG_BYTES).toBe(16);
  });
});

describe('HMAC on a freed key', () => {
  it('is ERR_FREED on a native and on a heap region', () => {
    for (const backend of ['mmap', 'heap'] as const) {
      const region = allocate(32, { backend });
      region.free();
      expect(errorCode(() => hmac('sha256', region, 'm'))).toBe('ERR_FREED');
      expect(errorCode(() => hmacVerify('sha256', region, 'm', new Uint8Array(32)))).toBe('ERR_FREED');
    }
  });
});

describe('cofferHmac', () => {
  it('leaves no region behind and the key region count unchanged, on both paths', () => {
    const short = cofferSeal(randomBytes(32));
    const long = cofferSeal(randomBytes(5000));
    cofferHmac(long, 'sha256', 'warm-up'); // the temporary region's pages may become a spare
    const before = stats();
    for (let i = 0; i < 50; i++) {
      cofferHmac(short, 'sha256', 'm');
      cofferHmacVerify(long, 'sha512', 'm', new Uint8Array(64));
    }
    const after = stats();
    expect(after.regions).toBe(before.regions);
    expect(after.bytesLocked).toBe(before.bytesLocked);
    expect(after.spareRegions).toBe(before.spareRegions);
  });

  it('tampered, truncated or purged sealed bytes are ERR_AUTH; options are checked', () => {
    const key = randomBytes(48);
    for (const size of [48, 2048]) {
      const sealed = cofferSeal(randomBytes(size));
      const forged = Uint8Array.from(sealed);
      forged[sealed.length - 1]! ^= 1;
      expect(errorCode(() => cofferHmac(forged, 'sha256', 'm'))).toBe('ERR_AUTH');
      expect(errorCode(() => cofferHmacVerify(forged, 'sha256', 'm', new Uint8Array(32)))).toBe('ERR_AUTH');
    }
    expect(errorCode(() => cofferHmac(new Uint8Array(39), 'sha256', 'm'))).toBe('ERR_AUTH');
    // 40 bytes would be a sealed empty message: authenticated first (ERR_AUTH here, as it is
    // not one of this coffer's), never keyed with nothing.
    expect(errorCode(() => cofferHmacVerify(new Uint8Array(40), 'sha256', 'm', new Uint8Array(32)))).toBe('ERR_AUTH');
    expect(errorCode(() => cofferHmac('sealed' as never, 'sha256', 'm'))).toBe('ERR_INVALID_ARG');
    const sealed = cofferSeal(Uint8Array.from(key));
    expect(hex(cofferHmac(sealed, 'sha256', 'm', { backend: 'mmap', mlock: 'require' }))).toBe(oracle('sha256', key, 'm').toString('hex'));
    expect(() => cofferHmac(sealed, 'sha256', 'm', { colour: 'red' } as never)).toThrow(/^cofferHmac\(\) has no option 'colour'/);
    expect(() => cofferHmacVerify(sealed, 'sha256', 'm', new Uint8Array(32), { backend: 'heap' })).toThrow(/backend 'heap' is not accepted here/);
    purgeCoffer();
    expect(errorCode(() => cofferHmac(sealed, 'sha256', 'm'))).toBe('ERR_AUTH');
    expect(errorCode(() => cofferHmacVerify(sealed, 'sha256', 'm', oracle('sha256', key, 'm')))).toBe('ERR_AUTH');
  });
});

describe('both SHA-256 implementations (test hook, in a child)', () => {
  it('SHA-NI where the CPU has it and libsodium give the RFC 4231 tags and node:crypto\'s', async () => {
    const { code, stdout, stderr } = await runNode(
      `${PREAMBLE}
       import { createHmac, randomBytes } from 'node:crypto';
       import { RFC4231_VECTORS } from '@strongroom/testkit';
       const { LOCAL_ADDON } = await import('./scripts/addon-path.mjs');
       const binding = createRequire(process.cwd() + '/')(LOCAL_ADDON);
       const region = (bytes) => { const r = sr.allocate(bytes.length, { backend: 'mmap' }); sr.copyIn(r, bytes); return r; };
       const report = {};
       for (const portable of [false, true]) {
         const implementation = binding.hmacSha256Implementation(portable);
         let checked = 0; const wrong = [];
         for (const v of RFC4231_VECTORS) {
           const r = region(v.key);
           const tag = Buffer.from(sr.hmac('sha256', r, v.data)).toString('hex');
           if (!tag.startsWith(v.sha256)) wrong.push(v.name);
           if (!sr.cofferHmacVerify(sr.cofferSeal(Uint8Array.from(v.key)), 'sha256', v.data, Buffer.from(v.sha256, 'hex'))) wrong.push(v.name + ' (coffer)');
           r.free(); checked++;
         }
         for (let keyLength = 1; keyLength <= 200; keyLength += 3) {
           for (const messageLength of [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 4097]) {
             const key = randomBytes(keyLength); const message = randomBytes(messageLength);
             const r = region(key);
             const tag = Buffer.from(sr.hmac('sha256', r, message));
             if (!tag.equals(createHmac('sha256', key).update(message).digest())) wrong.push(keyLength + '/' + messageLength);
             r.free(); checked++;
           }
         }
         report[portable ? 'forced' : 'default'] = { implementation, checked, wrong };
       }
       console.log(JSON.stringify(report));`,
      { ...CHILD, env: { STRONGROOM_TEST_HOOKS: '1' } },
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as Record<string, { implementation: string; checked: number; wrong: string[] }>;
    const hasShaNi = /\bsha_ni\b/.test(await import('node:fs').then((fs) => fs.readFileSync('/proc/cpuinfo', 'utf8')));
    expect(report.default!.implementation).toBe(hasShaNi ? 'sha-ni' : 'libsodium');
    expect(report.forced!.implementation).toBe('libsodium');
    for (const { checked, wrong } of Object.values(report)) {
      expect(wrong).toEqual([]);
      expect(checked).toBe(7 + 67 * 11);
    }
  });

  it('the hook exists only with STRONGROOM_TEST_HOOKS=1', async () => {
    const { stdout } = await runNode(
      `${PREAMBLE}
       const { LOCAL_ADDON } = await import('./scripts/addon-path.mjs');
       const binding = createRequire(process.cwd() + '/')(LOCAL_ADDON);
       console.log(typeof binding.hmacSha256Implementation);`,
      { ...CHILD, env: { STRONGROOM_TEST_HOOKS: undefined } },
    );
    expect(stdout.trim()).toBe('undefined');
  });
});
