// The seams declared once (issue 8): one sealed format and its error codes, one check
// vocabulary (unknown options, extra arguments, options read as own keys only), and the
// addon's own numbers agreeing with the figures the portable code needs without it.
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it } from 'vitest';

import { errorCode, extraArgumentFailures } from '@strongroom/testkit';

import { native } from '../src/binding.js';
import {
  allocate,
  blake2b,
  cofferOpen,
  cofferOpenInto,
  cofferSeal,
  cofferSealFromFd,
  cofferHmac,
  cofferHmacVerify,
  cofferStats,
  configure,
  configureCoffer,
  copy,
  copyIn,
  copyOut,
  equals,
  harden,
  hmac,
  hmacVerify,
  KEY_BYTES,
  MAC_BYTES,
  MAX_REGION_SIZE,
  MAX_REKEY_INTERVAL,
  needsRehash,
  NONCE_BYTES,
  open,
  openInto,
  purgeCoffer,
  randomFill,
  readEnv,
  readFd,
  readFile,
  rekeyCoffer,
  releaseSpareRegions,
  seal,
  SEAL_OVERHEAD,
  sealedSize,
  stats,
  xor,
  zero,
  type Region,
} from '../src/index.js';
import { checkOptions } from '../src/validate.js';

const live: Region[] = [];
function region(size: number): Region {
  const r = allocate(size);
  live.push(r);
  return r;
}
afterEach(() => {
  for (const r of live.splice(0)) r.free();
});

function keyRegion(bytes: Uint8Array): Region {
  const key = region(bytes.length);
  copyIn(key, bytes);
  return key;
}

describe('one sealed format', () => {
  it("the addon's own sizes are the ones core-native states for the portable code", () => {
    const c = native().constants;
    expect([c.keyBytes, c.nonceBytes, c.macBytes, c.sealOverhead]).toEqual([KEY_BYTES, NONCE_BYTES, MAC_BYTES, SEAL_OVERHEAD]);
    expect(c.maxRegionSize).toBe(MAX_REGION_SIZE);
    expect(c.maxRekeyInterval).toBe(MAX_REKEY_INTERVAL);
  });

  it('sealed bytes shorter than the overhead are ERR_AUTH from every function that takes them', () => {
    const key = region(32);
    for (const length of [0, 1, SEAL_OVERHEAD - 1]) {
      const short = new Uint8Array(length);
      expect(errorCode(() => sealedSize(short))).toBe('ERR_AUTH');
      expect(errorCode(() => open(key, short))).toBe('ERR_AUTH');
      expect(errorCode(() => openInto(key, short, region(1)))).toBe('ERR_AUTH');
      expect(errorCode(() => cofferOpenInto(short, region(1)))).toBe('ERR_AUTH');
      expect(errorCode(() => cofferOpen(short))).toBe('ERR_AUTH');
    }
    // The native layer says the same when the TS check is bypassed.
    cofferStats(); // creates the coffer
    expect(errorCode(() => native().cofferOpen(new Uint8Array(SEAL_OVERHEAD - 1), undefined))).toBe('ERR_AUTH');
  });

  it('a sealed empty message (40 bytes) is authenticated, then ERR_EMPTY; forged, ERR_AUTH', () => {
    cofferStats(); // the coffer's own region exists before the baseline
    const baseline = stats().regions;
    const keyBytes = nacl.randomBytes(32);
    const key = keyRegion(keyBytes);
    const nonce = nacl.randomBytes(24);
    const empty = new Uint8Array([...nonce, ...nacl.secretbox(new Uint8Array(0), nonce, keyBytes)]);
    expect(empty.length).toBe(SEAL_OVERHEAD);
    expect(sealedSize(empty)).toBe(0);
    expect(errorCode(() => open(key, empty))).toBe('ERR_EMPTY');
    expect(errorCode(() => openInto(key, empty, region(1)))).toBe('ERR_EMPTY');
    const forged = Uint8Array.from(empty);
    forged[30] = (forged[30] as number) ^ 1;
    expect(errorCode(() => open(key, forged))).toBe('ERR_AUTH');
    expect(errorCode(() => openInto(key, forged, region(1)))).toBe('ERR_AUTH');
    const otherKey = region(32);
    randomFill(otherKey);
    expect(errorCode(() => open(otherKey, empty))).toBe('ERR_AUTH');
    // No sealed empty message under the coffer key can exist (cofferSeal refuses one), so 40 bytes are ERR_AUTH.
    expect(errorCode(() => cofferOpenInto(new Uint8Array(SEAL_OVERHEAD), region(1)))).toBe('ERR_AUTH');
    expect(errorCode(() => cofferOpen(new Uint8Array(SEAL_OVERHEAD)))).toBe('ERR_AUTH');
    expect(errorCode(() => cofferOpen(new Uint8Array(SEAL_OVERHEAD - 1)))).toBe('ERR_AUTH');
    expect(stats().regions).toBe(baseline + live.length); // nothing allocated by the failed opens
  });
});

describe('one check vocabulary', () => {
  it('an unknown option names the function the caller called and its options', () => {
    expect(() => allocate(1, { nonce: 1 } as never)).toThrow(/^allocate\(\) has no option 'nonce'; its options are: backend, mlock, isolated$/);
    expect(() => readFile('/x', { maxsize: 1 } as never)).toThrow(/^readFile\(\) has no option 'maxsize'/);
    expect(() => configureCoffer({ interval: 1 } as never)).toThrow(/^configureCoffer\(\) has no option 'interval'/);
    expect(() => harden({ hard: true } as never)).toThrow(/^harden\(\) has no option 'hard'/);
    expect(() => copy(region(1), region(1), { offset: 0 } as never)).toThrow(/^copy\(\) has no option 'offset'/);
    expect(() => allocate(1, 'mmap' as never)).toThrow(/^the options of allocate\(\) must be an object, got string$/);
    const key = region(32);
    const sealed = seal(key, key);
    expect(() => open(key, sealed, { nonce: 1 } as never)).toThrow(/^open\(\) has no option 'nonce'/);
    expect(() => cofferOpen(cofferSeal(new Uint8Array(1)), { nonce: 1 } as never)).toThrow(/^cofferOpen\(\) has no option 'nonce'/);
  });

  it('every function rejects arguments beyond those it takes, naming itself', () => {
    const a = region(32);
    const b = region(32);
    const sealed = seal(a, b);
    const cases: Array<[string, () => unknown]> = [
      ['allocate()', () => (allocate as (...args: unknown[]) => unknown)(1, {}, 'extra')],
      ['configure()', () => (configure as (...args: unknown[]) => unknown)({}, 1)],
      ['seal()', () => (seal as (...args: unknown[]) => unknown)(a, b, new Uint8Array(24))],
      ['open()', () => (open as (...args: unknown[]) => unknown)(a, sealed, {}, 1)],
      ['openInto()', () => (openInto as (...args: unknown[]) => unknown)(a, sealed, b, 1)],
      ['sealedSize()', () => (sealedSize as (...args: unknown[]) => unknown)(sealed, 0)],
      ['randomFill()', () => (randomFill as (...args: unknown[]) => unknown)(a, 1)],
      ['zero()', () => (zero as (...args: unknown[]) => unknown)(a, 1)],
      ['copy()', () => (copy as (...args: unknown[]) => unknown)(a, b, {}, 1)],
      ['xor()', () => (xor as (...args: unknown[]) => unknown)(a, b, {}, 1)],
      ['equals()', () => (equals as (...args: unknown[]) => unknown)(a, b, 1)],
      ['copyIn()', () => (copyIn as (...args: unknown[]) => unknown)(a, new Uint8Array(1), 0, 1)],
      ['copyOut()', () => (copyOut as (...args: unknown[]) => unknown)(new Uint8Array(1), a, 0, 1)],
      ['blake2b()', () => (blake2b as (...args: unknown[]) => unknown)(a, b, undefined, 1)],
      ['hmac()', () => (hmac as (...args: unknown[]) => unknown)('sha256', a, 'm', 1)],
      ['hmacVerify()', () => (hmacVerify as (...args: unknown[]) => unknown)('sha256', a, 'm', new Uint8Array(32), 1)],
      ['needsRehash()', () => (needsRehash as (...args: unknown[]) => unknown)('$argon2id$', {}, 1)],
      ['cofferSeal()', () => (cofferSeal as (...args: unknown[]) => unknown)(new Uint8Array(1), 1, 1)],
      ['cofferOpenInto()', () => (cofferOpenInto as (...args: unknown[]) => unknown)(sealed, b, 1)],
      ['cofferOpen()', () => (cofferOpen as (...args: unknown[]) => unknown)(sealed, {}, 1)],
      ['cofferSealFromFd()', () => (cofferSealFromFd as (...args: unknown[]) => unknown)(0, a, new Uint8Array(0), 1)],
      ['cofferHmac()', () => (cofferHmac as (...args: unknown[]) => unknown)(sealed, 'sha256', 'm', {}, 1)],
      ['cofferHmacVerify()', () => (cofferHmacVerify as (...args: unknown[]) => unknown)(sealed, 'sha256', 'm', new Uint8Array(32), {}, 1)],
      ['rekeyCoffer()', () => (rekeyCoffer as (...args: unknown[]) => unknown)(1)],
      ['purgeCoffer()', () => (purgeCoffer as (...args: unknown[]) => unknown)(1)],
      ['configureCoffer()', () => (configureCoffer as (...args: unknown[]) => unknown)({}, 1)],
      ['cofferStats()', () => (cofferStats as (...args: unknown[]) => unknown)(1)],
      ['readFile()', () => (readFile as (...args: unknown[]) => unknown)('/x', {}, 1)],
      ['readFd()', () => (readFd as (...args: unknown[]) => unknown)(0, {}, 1)],
      ['readEnv()', () => (readEnv as (...args: unknown[]) => unknown)('X', {}, 1)],
      ['harden()', () => (harden as (...args: unknown[]) => unknown)({}, 1)],
      ['stats()', () => (stats as (...args: unknown[]) => unknown)(1)],
      ['releaseSpareRegions()', () => (releaseSpareRegions as (...args: unknown[]) => unknown)(1)],
      ['protect()', () => (a.protect as (...args: unknown[]) => unknown).call(a, 'readwrite', 1)],
      ['view()', () => (a.view as (...args: unknown[]) => unknown).call(a, 1)],
      ['free()', () => (a.free as (...args: unknown[]) => unknown).call(a, 1)],
    ];
    expect(extraArgumentFailures(cases)).toEqual([]);
    expect(a.freed).toBe(false); // free(a, 1) was refused before it freed anything
  });

  it('options are read as own keys only: a polluted Object.prototype changes nothing', () => {
    const polluted = Object.prototype as Record<string, unknown>;
    const keys = ['backend', 'mlock', 'remove', 'maxSize', 'hardLimit', 'rekeyInterval'];
    const before = { defaults: configure(), interval: cofferStats().rekeyInterval };
    try {
      polluted.backend = 'heap';
      polluted.mlock = 'best-effort';
      polluted.remove = false;
      polluted.maxSize = 1;
      polluted.rekeyInterval = 1;
      const r = allocate(8);
      live.push(r);
      expect(r.backend).not.toBe('heap');
      expect(stats().backend).not.toBe('heap');
      expect(configure()).toEqual(before.defaults);
      expect(configureCoffer({}).rekeyInterval).toBe(before.interval);
      process.env.STRONGROOM_SEAMS_TEST = 'abc';
      const fromEnv = readEnv('STRONGROOM_SEAMS_TEST', {});
      live.push(fromEnv);
      expect(process.env.STRONGROOM_SEAMS_TEST).toBeUndefined(); // remove stayed true
      expect(fromEnv.size).toBe(3);
      const copied = checkOptions({ own: 1 }, 'f()', ['own', ...keys]);
      expect(Object.getPrototypeOf(copied)).toBeNull();
      expect(copied.backend).toBeUndefined();
    } finally {
      for (const key of keys) delete polluted[key];
      delete process.env.STRONGROOM_SEAMS_TEST;
    }
    expect(configure()).toEqual(before.defaults);
  });

  it('a Proxy that lists other keys the second time cannot add an option that was never checked', () => {
    let calls = 0;
    const shifty = new Proxy({ maxSize: 8, bogus: 1 } as Record<string, unknown>, {
      ownKeys: () => (++calls === 1 ? ['maxSize'] : ['maxSize', 'bogus']),
      getOwnPropertyDescriptor: (target, key) => ({ value: target[key as string], enumerable: true, configurable: true }),
    });
    const copied = checkOptions(shifty, 'f()', ['maxSize']);
    expect(Object.keys(copied)).toEqual(['maxSize']);
    expect(calls).toBe(1);
  });
});

describe('one name per concept', () => {
  it('the addon speaks of releaseSpareRegions and cofferStats, and of no "figures"', () => {
    const names = Object.keys(native());
    expect(names).toEqual(expect.arrayContaining(['releaseSpareRegions', 'cofferStats', 'stats', 'constants']));
    expect(names.filter((name) => /figures|dropSpare/i.test(name))).toEqual([]);
    expect(Object.keys(cofferStats()).sort()).toEqual(['backend', 'locked', 'purges', 'rekeyInterval', 'rekeys']);
  });

  it('toJSON gives an object naming the type', () => {
    expect(JSON.parse(JSON.stringify(region(3)))).toEqual({ type: 'Region', size: 3, backend: expect.any(String) });
  });
});
