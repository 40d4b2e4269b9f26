// Argon2id password hashing over regions: interop with hash-wasm both ways (and the exact
// format of libsodium's crypto_pwhash_str), typed errors for every string libsodium 1.0.18
// cannot verify and every bad option, the work running off the event loop, a region freed
// while its hash runs, many hashes at once, needsRehash, a failed allocation of Argon2's
// memory in the worker, and no copy of the password left outside guarded memory.
import { argon2d, argon2i, argon2id, argon2Verify } from 'hash-wasm';
import { asyncErrorCode, errorCode, expectResidue, faultsEnv, faultsPreamble, makeMarker, rejectionOf, runNode, startChild } from '@strongroom/testkit';
import { afterEach, describe, expect, it } from 'vitest';

import {
  allocate,
  copyIn,
  DEFAULT_PASSWORD_OPTIONS,
  hashPassword,
  needsRehash,
  stats,
  verifyPassword,
  type Region,
} from '../src/index.js';
import { constants } from '../src/constants.js';
import { CHILD, plantMarker, PREAMBLE } from './helpers.js';

// Small costs keep the suite fast; the defaults are exercised once.
const CHEAP = { timeCost: 1, memoryCost: 1024 } as const;
const live: Region[] = [];
afterEach(() => {
  for (const r of live.splice(0)) r.free();
});

const encoder = new TextEncoder();
function passwordRegion(text: string): Region {
  const bytes = encoder.encode(text);
  const region = allocate(bytes.length);
  copyIn(region, bytes);
  live.push(region);
  return region;
}

/** hash-wasm's encoded argon2 hash of `password`. */
function theirs(
  fn: typeof argon2id,
  password: string,
  { salt = new Uint8Array(16).fill(7), parallelism = 1, iterations = 2, memorySize = 1024, hashLength = 32 } = {},
): Promise<string> {
  return fn({ password, salt, parallelism, iterations, memorySize, hashLength, outputType: 'encoded' });
}

function saltOf(encoded: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(encoded.split('$')[4] as string, 'base64'));
}

describe('interop with hash-wasm', () => {
  it('our hash verifies with hash-wasm, and a wrong password does not', async () => {
    const encoded = await hashPassword(passwordRegion('correct horse'), CHEAP);
    expect(encoded).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await argon2Verify({ password: 'correct horse', hash: encoded })).toBe(true);
    expect(await argon2Verify({ password: 'correct horsf', hash: encoded })).toBe(false);
  });

  it('is byte for byte what hash-wasm writes for the same salt and costs (libsodium crypto_pwhash_str format)', async () => {
    const encoded = await hashPassword(passwordRegion('format'), { timeCost: 3, memoryCost: 2048 });
    const salt = saltOf(encoded);
    expect(salt.length).toBe(constants().argon2idSaltBytes);
    expect(await theirs(argon2id, 'format', { salt, iterations: 3, memorySize: 2048 })).toBe(encoded);
  });

  it("hash-wasm's argon2id hash with parallelism 1 verifies with ours; a wrong password is false", async () => {
    const encoded = await theirs(argon2id, 'hunter2');
    expect(await verifyPassword(passwordRegion('hunter2'), encoded)).toBe(true);
    expect(await verifyPassword(passwordRegion('hunter3'), encoded)).toBe(false);
    expect(await verifyPassword(passwordRegion('hunter2 '), encoded)).toBe(false);
  });

  it('a salt that is not 16 bytes (22, as Django writes) and a longer hash verify too', async () => {
    const encoded = await theirs(argon2id, 'django', { salt: new Uint8Array(22).fill(9), hashLength: 48 });
    expect(await verifyPassword(passwordRegion('django'), encoded)).toBe(true);
    expect(await verifyPassword(passwordRegion('djang0'), encoded)).toBe(false);
    const short = await theirs(argon2id, 'eight', { salt: new Uint8Array(8).fill(1), hashLength: 16 });
    expect(await verifyPassword(passwordRegion('eight'), short)).toBe(true);
  });

  it("hash-wasm's p=2 argon2id, argon2i and argon2d hashes are ERR_UNSUPPORTED_HASH, saying why", async () => {
    const password = passwordRegion('lanes');
    const p2 = await rejectionOf(verifyPassword(password, await theirs(argon2id, 'lanes', { parallelism: 2 })));
    expect(p2.code).toBe('ERR_UNSUPPORTED_HASH');
    expect(p2.message).toMatch(/p=2 lanes.*one lane \(p=1\) only/);
    for (const [fn, name] of [[argon2i, 'argon2i'], [argon2d, 'argon2d']] as const) {
      const error = await rejectionOf(verifyPassword(password, await theirs(fn, 'lanes')));
      expect(error.code).toBe('ERR_UNSUPPORTED_HASH');
      expect(error.message).toContain(`this is an ${name} hash`);
      const encoded = await theirs(fn, 'lanes');
      expect(() => needsRehash(encoded)).toThrow(/argon2id only/);
    }
    expect(errorCode(() => needsRehash(theirsSync.p2))).toBe('ERR_UNSUPPORTED_HASH');
  });
});

// hash-wasm's p=2 string for "x" (checked against hash-wasm below), for the synchronous needsRehash check above.
const theirsSync = {
  p2: '$argon2id$v=19$m=1024,t=2,p=2$BwcHBwcHBwcHBwcHBwcHBw$CnGqbAab4z3EtyQJX4AuMnWxlkKGv5EF6sYRxb5OGCc',
};

describe('encoded strings libsodium 1.0.18 cannot verify', () => {
  const good = '$argon2id$v=19$m=1024,t=2,p=1$BwcHBwcHBwcHBwcHBwcHBw$PYP6RyFNy82aCC5INzrKakh88HWWODOc8A3woH+DnXU';
  const unsupported: Array<[string, string, RegExp]> = [
    ['version 16', good.replace('v=19', 'v=16'), /version 16, .*version 19/],
    ['no version field (Argon2 1.0)', good.replace('v=19$', ''), /no v= field/],
    ['p=4', good.replace('p=1', 'p=4'), /p=4 lanes/],
    ['a keyid or data parameter', good.replace('p=1$', 'p=1,data=AAAA$'), /parameters after p=/],
  ];
  it.each(unsupported)('%s: ERR_UNSUPPORTED_HASH', async (_, encoded, why) => {
    const error = await rejectionOf(verifyPassword(passwordRegion('x'), encoded));
    expect(error.code).toBe('ERR_UNSUPPORTED_HASH');
    expect(error.message).toMatch(why);
    expect(() => needsRehash(encoded)).toThrow(why);
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['empty', '', /does not start with \$argon2id\$/],
    ['bcrypt', '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', /does not start with/],
    ['a leading zero', good.replace('m=1024', 'm=01024'), /m=<KiB>,t=<passes>,p=<lanes>, in that order/],
    ['parameters out of order', good.replace('m=1024,t=2', 't=2,m=1024'), /in that order/],
    ['a number above 2^32 - 1', good.replace('t=2', 't=4294967296'), /in that order/],
    ['m below 8 KiB', good.replace('m=1024', 'm=7'), /m=7 is below Argon2's minimum of 8 KiB/],
    ['t=0', good.replace('t=2', 't=0'), /t=0/],
    ['p=0', good.replace('p=1', 'p=0'), /p=0/],
    ['padding in the salt', good.replace('BwcHBwcHBwcHBwcHBwcHBw$', 'BwcHBwcHBwcHBwcHBwcHBw==$'), /salt is not unpadded base64/],
    ['a salt under 8 bytes', good.replace('BwcHBwcHBwcHBwcHBwcHBw', 'BwcHBwcHBw'), /salt is 7 bytes/],
    ['no hash', good.slice(0, good.lastIndexOf('$')), /salt is not unpadded base64 followed by \$/],
    ['a hash under 16 bytes', good.slice(0, good.lastIndexOf('$') + 1) + 'AAAAAAAAAAAAAAAAAAAA', /hash is 15 bytes/],
    ['a character outside base64', good.replace('PYP6', 'PY-6'), /hash is not unpadded base64/],
    ['trailing text', `${good}$`, /hash is not unpadded base64/],
    ['a NUL', good.replace('PYP6', 'PY\0P'), /NUL/],
    ['too long', `${good}${'A'.repeat(64)}`, /at most 127/],
  ];
  it.each(malformed)('%s: ERR_INVALID_ARG', async (_, encoded, why) => {
    const error = await rejectionOf(verifyPassword(passwordRegion('x'), encoded));
    expect(error.code).toBe('ERR_INVALID_ARG');
    expect(error.message).toMatch(why);
    expect(() => needsRehash(encoded)).toThrow(why);
  });

  it('the strings above differ from a good one only where they say (the good one verifies)', async () => {
    expect(await verifyPassword(passwordRegion('x'), good)).toBe(true);
    expect(await argon2Verify({ password: 'x', hash: good })).toBe(true);
    expect(theirsSync.p2).toBe(await theirs(argon2id, 'x', { parallelism: 2 }));
  });

  it('a string that is not a string is ERR_INVALID_ARG, and no region is left behind', async () => {
    const password = passwordRegion('x');
    const before = stats().regions;
    for (const value of [undefined, null, 42, new Uint8Array(4), { toString: () => good }]) {
      expect(await asyncErrorCode(() => verifyPassword(password, value as never))).toBe('ERR_INVALID_ARG');
      expect(errorCode(() => needsRehash(value as never))).toBe('ERR_INVALID_ARG');
    }
    expect(await asyncErrorCode(() => verifyPassword(password, good.replace('v=19', 'v=16')))).toBe('ERR_UNSUPPORTED_HASH');
    expect(stats().regions).toBe(before);
  });
});

describe('options and arguments', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['timeCost 0', { timeCost: 0 }, /timeCost must be an integer from 1 to 4294967295, got 0/],
    ['timeCost 1.5', { timeCost: 1.5 }, /timeCost must be an integer/],
    ['timeCost a string', { timeCost: '2' }, /timeCost must be an integer.*got string/],
    ['timeCost above 2^32 - 1', { timeCost: 2 ** 32 }, /timeCost must be an integer/],
    ['memoryCost 7 KiB', { memoryCost: 7 }, /memoryCost \(KiB\) must be an integer from 8 to 4294967295, got 7/],
    ['memoryCost NaN', { memoryCost: Number.NaN }, /memoryCost \(KiB\) must be an integer.*NaN/],
    ['memoryCost above the maximum', { memoryCost: 2 ** 32 }, /memoryCost \(KiB\) must be an integer/],
    ['parallelism 2', { parallelism: 2 }, /parallelism must be 1, got 2: libsodium 1.0.18.*one lane only/],
    ['parallelism 0', { parallelism: 0 }, /parallelism must be 1, got 0/],
    ['parallelism a string', { parallelism: '1' }, /parallelism must be 1, got string/],
    ['an unknown option', { saltLength: 16 }, /^hashPassword\(\) has no option 'saltLength'; its options are: timeCost, memoryCost, parallelism$/],
    ['options that are not an object', 'fast', /the options of hashPassword\(\) must be an object, got string/],
  ];
  it.each(bad)('hashPassword with %s: ERR_INVALID_ARG, nothing allocated', async (_, options, why) => {
    const password = passwordRegion('x');
    const before = stats().regions;
    const error = await rejectionOf(hashPassword(password, options as never));
    expect(error.code).toBe('ERR_INVALID_ARG');
    expect(error.message).toMatch(why);
    expect(stats().regions).toBe(before);
    // needsRehash checks the same options, naming itself.
    const good = await theirs(argon2id, 'x');
    expect(() => needsRehash(good, options as never)).toThrow(
      new RegExp(why.source.replace('hashPassword', 'needsRehash')),
    );
  });

  it('parallelism 1 is accepted', async () => {
    expect(await hashPassword(passwordRegion('x'), { ...CHEAP, parallelism: 1 })).toContain(',p=1$');
  });

  it('the password must be a live native Region', async () => {
    expect(await asyncErrorCode(() => hashPassword(new Uint8Array(4) as never, CHEAP))).toBe('ERR_INVALID_ARG');
    expect(await asyncErrorCode(() => hashPassword('password' as never, CHEAP))).toBe('ERR_INVALID_ARG');
    const heap = allocate(4, { backend: 'heap' });
    expect((await rejectionOf(hashPassword(heap, CHEAP))).message).toMatch(/'heap' region, which is not accepted/);
    heap.free();
    const freed = allocate(4);
    freed.free();
    expect(await asyncErrorCode(() => hashPassword(freed, CHEAP))).toBe('ERR_FREED');
    const good = await theirs(argon2id, 'x');
    expect(await asyncErrorCode(() => verifyPassword(freed, good))).toBe('ERR_FREED');
  });

  it('every function refuses an extra argument, naming itself (the async ones by rejecting)', async () => {
    const password = passwordRegion('x');
    const good = await theirs(argon2id, 'x');
    const extra = (fn: unknown, ...args: unknown[]): unknown => (fn as (...a: unknown[]) => unknown)(...args);
    const hash = await rejectionOf(extra(hashPassword, password, CHEAP, 1) as Promise<unknown>);
    expect(hash.message).toMatch(/^hashPassword\(\) takes at most 2 arguments, got 3/);
    const verify = await rejectionOf(extra(verifyPassword, password, good, 1) as Promise<unknown>);
    expect(verify.message).toMatch(/^verifyPassword\(\) takes at most 2 arguments, got 3/);
    expect(() => extra(needsRehash, good, {}, 1)).toThrow(/^needsRehash\(\) takes at most 2 arguments, got 3/);
  });
});

describe('running off the event loop', () => {
  it('a timer fires while a hash is running, before it settles', async () => {
    let settled = false;
    // About 100 ms of work on this machine: a hash on the JS thread would settle first.
    const hashing = hashPassword(passwordRegion('tick'), { timeCost: 24, memoryCost: 8192 }).then((encoded) => {
      settled = true;
      return encoded;
    });
    let ticks = 0;
    const interval = setInterval(() => ticks++, 1);
    const settledAtTimer = await new Promise<boolean>((resolve) => setTimeout(() => resolve(settled), 2));
    const encoded = await hashing;
    clearInterval(interval);
    expect(settledAtTimer).toBe(false);
    expect(ticks).toBeGreaterThan(2);
    expect(await verifyPassword(passwordRegion('tick'), encoded)).toBe(true);
  });

  it('freeing the region while its hash runs neither crashes nor changes the result', async () => {
    const password = passwordRegion('freed early');
    live.pop();
    const oracle = await theirs(argon2id, 'freed early'); // before either starts: no await between the two
    const before = stats().regions;
    const hashing = hashPassword(password, { timeCost: 8, memoryCost: 8192 });
    const verifying = verifyPassword(password, oracle);
    password.free();
    expect(stats().regions).toBe(before + 1); // the two private copies, less the freed region
    const encoded = await hashing;
    expect(await verifying).toBe(true);
    expect(await argon2Verify({ password: 'freed early', hash: encoded })).toBe(true);
    expect(stats().regions).toBe(before - 1); // every private copy freed once settled
  });

  it('many hashes at once each verify with their own password only', async () => {
    const passwords = Array.from({ length: 16 }, (_, i) => `password number ${i}`);
    const encoded = await Promise.all(passwords.map((p) => hashPassword(passwordRegion(p), CHEAP)));
    expect(new Set(encoded).size).toBe(passwords.length);
    const own = await Promise.all(encoded.map((e, i) => verifyPassword(passwordRegion(passwords[i] as string), e)));
    const next = await Promise.all(
      encoded.map((e, i) => verifyPassword(passwordRegion(passwords[(i + 1) % passwords.length] as string), e)),
    );
    expect(own).toEqual(passwords.map(() => true));
    expect(next).toEqual(passwords.map(() => false));
  });

  it('the defaults are OWASP\'s m=19 MiB, t=2, p=1, and hashPassword uses them', async () => {
    expect(DEFAULT_PASSWORD_OPTIONS).toEqual({ timeCost: 2, memoryCost: 19456, parallelism: 1 });
    const encoded = await hashPassword(passwordRegion('defaults'));
    expect(encoded).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(needsRehash(encoded)).toBe(false);
  });
});

describe('needsRehash', () => {
  it('false for what hashPassword writes with the same costs, true for other costs or shapes', async () => {
    const encoded = await hashPassword(passwordRegion('x'), { timeCost: 3, memoryCost: 4096 });
    expect(needsRehash(encoded, { timeCost: 3, memoryCost: 4096 })).toBe(false);
    expect(needsRehash(encoded, { timeCost: 3, memoryCost: 4096, parallelism: 1 })).toBe(false);
    expect(needsRehash(encoded, { timeCost: 4, memoryCost: 4096 })).toBe(true);
    expect(needsRehash(encoded, { timeCost: 3, memoryCost: 8192 })).toBe(true);
    expect(needsRehash(encoded)).toBe(true); // the defaults differ
    // hash-wasm's, with our costs: false with a 16-byte salt and 32-byte hash, true otherwise.
    expect(needsRehash(await theirs(argon2id, 'x', { iterations: 3, memorySize: 4096 }), { timeCost: 3, memoryCost: 4096 })).toBe(false);
    const salt22 = await theirs(argon2id, 'x', { iterations: 3, memorySize: 4096, salt: new Uint8Array(22) });
    expect(needsRehash(salt22, { timeCost: 3, memoryCost: 4096 })).toBe(true);
    const hash48 = await theirs(argon2id, 'x', { iterations: 3, memorySize: 4096, hashLength: 48 });
    expect(needsRehash(hash48, { timeCost: 3, memoryCost: 4096 })).toBe(true);
  });
});

describe('in a child process', () => {
  it("a failed allocation of Argon2's memory in the worker is ERR_NO_MEMORY, for hashing and verifying", async () => {
    const result = await runNode(
      `${faultsPreamble()}
       import * as sr from '@strongroom/core-native';
       const password = sr.allocate(8, { backend: 'mmap' });
       sr.copyIn(password, new TextEncoder().encode('password'));
       const costs = { timeCost: 1, memoryCost: 1024 };
       const encoded = await sr.hashPassword(password, costs);
       const outcome = async (op) => {
         // Count the addon's mmap calls in one run; Argon2's is the last (the private copy's comes first).
         sr.releaseSpareRegions();
         faults.watch();
         await op();
         const n = faults.counts().mmap;
         faults.stop();
         sr.releaseSpareRegions();
         const before = sr.stats().regions;
         faults.watch();
         faults.fail('mmap', n, errno.ENOMEM, false);
         try { return { ok: await op(), n }; }
         catch (error) { return { code: error.code, message: error.message, n, leaked: sr.stats().regions - before }; }
         finally { faults.stop(); }
       };
       const hash = await outcome(() => sr.hashPassword(password, costs));
       const verify = await outcome(() => sr.verifyPassword(password, encoded));
       console.log(JSON.stringify({ hash, verify, after: await sr.verifyPassword(password, encoded) }));`,
      { ...CHILD, env: faultsEnv() },
    );
    expect(result.code, result.stderr).toBe(0);
    const { hash, verify, after } = JSON.parse(result.stdout) as {
      hash: Record<string, unknown>;
      verify: Record<string, unknown>;
      after: boolean;
    };
    for (const outcome of [hash, verify]) {
      expect(outcome.n).toBeGreaterThanOrEqual(2); // the private copy's mapping and Argon2's
      expect(outcome.code).toBe('ERR_NO_MEMORY');
      expect(outcome.message).toMatch(/^Argon2id could not allocate its 1024 KiB of working memory \(Cannot allocate memory\)/);
      expect(outcome.leaked).toBe(0);
    }
    expect(after).toBe(true);
  });

  it('the password is nowhere outside its own guarded region after a hash and a verification', async () => {
    const marker = makeMarker();
    const child = await startChild(
      `${PREAMBLE}
       ${plantMarker('secret', marker, 'mmap')}
       secret.protect('noaccess');
       await checkpoint('planted');
       const encoded = await sr.hashPassword(secret, { timeCost: 1, memoryCost: 1024 });
       const ok = await sr.verifyPassword(secret, encoded);
       const other = await sr.verifyPassword(secret, '$argon2id$v=19$m=1024,t=2,p=1$BwcHBwcHBwcHBwcHBwcHBwcHBwcHBw$1jvM23ylBQ2dswekDUz9Wf29tKXsmUcy9iQFqWFX/SM');
       await checkpoint('hashed', { ok, other });
       secret.free();
       await checkpoint('freed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'planted', count: 1, perms: '---' }, // positive control: the scan sees the noaccess region
      { at: 'hashed', data: { ok: true, other: false }, count: 1, perms: '---' }, // only there: no copy, stack or heap
      { at: 'freed', present: false },
    ]);
  });
});
