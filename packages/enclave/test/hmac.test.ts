// Enclave.hmac / hmacVerify: the sealed key is opened inside the call and wiped before it
// returns. Native backend in this process (one native call: the coffer's scratch slot for
// keys up to 1 KiB, a temporary guarded region beyond); the portable backend in a child
// (STRONGROOM_ENCLAVE_BACKEND=js). RFC 4231 and node:crypto are the oracles; a residue test
// checks that the marker key is nowhere in the child's memory after use, on both paths.
import { createHmac, randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';
import { HMAC_MIN_TAG_BYTES, stats } from '@strongroom/core-native';
import { errorCode, expectResidue, extraArgumentFailures, makeMarker, RFC4231_VECTORS, runNode, startChild } from '@strongroom/testkit';

import { Enclave, purge, SecretBuffer, type HmacAlgorithm } from '../src/index.js';
import { CHILD, secretBufferMarker } from './helpers.js';

const ALGORITHMS: ReadonlyArray<[HmacAlgorithm, number]> = [
  ['sha256', 32],
  ['sha512', 64],
];
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const oracle = (algorithm: HmacAlgorithm, key: Uint8Array, message: Uint8Array | string): Buffer =>
  createHmac(algorithm, key).update(message).digest();

describe('Enclave.hmac on the native backend', () => {
  it('is the native backend here', () => {
    expect(Enclave.backend).toBe('native');
  });

  it.each(RFC4231_VECTORS.map((v) => [v.name, v] as const))('%s, both algorithms', (_, vector) => {
    const enclave = Enclave.from(Uint8Array.from(vector.key));
    for (const [algorithm, length] of ALGORITHMS) {
      const tag = enclave.hmac(algorithm, vector.data);
      expect(tag.length).toBe(length);
      expect(hex(tag.subarray(0, vector[algorithm].length / 2))).toBe(vector[algorithm]);
      expect(enclave.hmacVerify(algorithm, vector.data, Buffer.from(vector[algorithm], 'hex'))).toBe(true);
    }
  });

  it('random keys (either side of 1 KiB) and messages match node:crypto; strings are UTF-8', () => {
    for (const keyLength of [1, 32, 64, 129, 1024, 1025, 4096]) {
      const key = randomBytes(keyLength);
      const enclave = Enclave.from(Uint8Array.from(key));
      for (const messageLength of [0, 1, 100, 1024, 70_000]) {
        const message = randomBytes(messageLength);
        for (const [algorithm] of ALGORITHMS) expect(hex(enclave.hmac(algorithm, message))).toBe(oracle(algorithm, key, message).toString('hex'));
      }
      expect(hex(enclave.hmac('sha512', 'naïve ✓'))).toBe(oracle('sha512', key, 'naïve ✓').toString('hex'));
    }
  });

  it.each(ALGORITHMS)('%s: truncated tags of 16 bytes up to the full length verify; 15, full+1 and a flipped bit do not', (algorithm, length) => {
    for (const keyLength of [32, 2000]) {
      const key = randomBytes(keyLength);
      const enclave = Enclave.from(Uint8Array.from(key));
      const message = randomBytes(1024);
      const full = oracle(algorithm, key, message);
      for (let n = HMAC_MIN_TAG_BYTES; n <= length; n++) {
        const tag = Uint8Array.from(full.subarray(0, n));
        expect(enclave.hmacVerify(algorithm, message, tag)).toBe(true);
        tag[n >> 1]! ^= 0x01;
        expect(enclave.hmacVerify(algorithm, message, tag)).toBe(false);
      }
      expect(enclave.hmacVerify(algorithm, message, Uint8Array.from(full.subarray(0, HMAC_MIN_TAG_BYTES - 1)))).toBe(false);
      expect(enclave.hmacVerify(algorithm, message, Uint8Array.from([...full, 0]))).toBe(false);
    }
  });

  it('opens nothing that outlives the call: no buffer, no region', () => {
    const short = Enclave.random(32);
    const long = Enclave.random(3000);
    long.hmac('sha256', 'warm-up'); // the temporary region's pages may stay as a spare
    const regions = stats().regions;
    const buffers = SecretBuffer.live().buffers;
    for (let i = 0; i < 20; i++) {
      short.hmacVerify('sha256', 'm', short.hmac('sha256', 'm'));
      long.hmacVerify('sha512', 'm', long.hmac('sha512', 'm'));
    }
    expect(stats().regions).toBe(regions);
    expect(SecretBuffer.live().buffers).toBe(buffers);
  });

  it('ERR_INVALID_ARG for bad types and extra arguments; a wrong-length tag is false', () => {
    const enclave = Enclave.random(32);
    expect(() => enclave.hmac('md5' as never, 'm')).toThrow(/^algorithm must be one of 'sha256', 'sha512', got string$/);
    expect(() => enclave.hmac('sha256', 1 as never)).toThrow(/^message \(or a string\) must be a Uint8Array/);
    expect(() => enclave.hmacVerify('sha256', 'm', 'tag' as never)).toThrow(/^tag must be a Uint8Array/);
    expect(errorCode(() => enclave.hmacVerify('sha256', 'm', undefined as never))).toBe('ERR_INVALID_ARG');
    expect(enclave.hmacVerify('sha256', 'm', new Uint8Array(200))).toBe(false);
    const call = (fn: unknown, ...args: unknown[]) => () => (fn as (...a: unknown[]) => unknown).apply(enclave, args);
    expect(
      extraArgumentFailures([
        ['hmac()', call(enclave.hmac, 'sha256', 'm', 'extra')],
        ['hmacVerify()', call(enclave.hmacVerify, 'sha256', 'm', new Uint8Array(32), 'extra')],
      ]),
    ).toEqual([]);
  });

  it('ERR_AUTH for altered sealed bytes, and for everything after a purge()', () => {
    for (const size of [32, 2000]) {
      const bytes = Enclave.random(size).toBytes();
      bytes[bytes.length - 1]! ^= 1;
      const forged = Enclave.fromBytes(bytes);
      expect(errorCode(() => forged.hmac('sha256', 'm'))).toBe('ERR_AUTH');
      expect(errorCode(() => forged.hmacVerify('sha256', 'm', new Uint8Array(32)))).toBe('ERR_AUTH');
    }
    const enclave = Enclave.random(32);
    const tag = enclave.hmac('sha256', 'm');
    purge();
    expect(errorCode(() => enclave.hmac('sha256', 'm'))).toBe('ERR_AUTH');
    expect(errorCode(() => enclave.hmacVerify('sha256', 'm', tag))).toBe('ERR_AUTH');
  });
});

describe('Enclave.hmac on the portable backend', () => {
  it('gives the same tags, verifies truncated tags and detects tampering', async () => {
    const key = randomBytes(40);
    const long = randomBytes(3000);
    const message = randomBytes(1024);
    const { code, stdout, stderr } = await runNode(
      `import { Enclave, SecretBuffer } from '@strongroom/enclave';
       import { RFC4231_VECTORS } from '@strongroom/testkit';
       const hex = (b) => Buffer.from(b).toString('hex');
       const codeOf = (fn) => { try { fn(); return 'no error'; } catch (error) { return error.code; } };
       const message = Buffer.from('${message.toString('hex')}', 'hex');
       const out = { backend: Enclave.backend };
       const enclave = Enclave.from(Buffer.from('${key.toString('hex')}', 'hex'));
       const longEnclave = Enclave.from(Buffer.from('${long.toString('hex')}', 'hex'));
       out.tags = [enclave.hmac('sha256', message), enclave.hmac('sha512', message), longEnclave.hmac('sha256', message)].map(hex);
       out.rfc = RFC4231_VECTORS.every((v) => {
         const e = Enclave.from(Uint8Array.from(v.key));
         return hex(e.hmac('sha256', v.data)).startsWith(v.sha256) && e.hmacVerify('sha512', v.data, Buffer.from(v.sha512, 'hex'));
       });
       const full = enclave.hmac('sha512', message);
       out.truncated = [15, 16, 40, 64, 65].map((n) => enclave.hmacVerify('sha512', message, n <= 64 ? full.subarray(0, n) : Buffer.concat([full, Buffer.alloc(1)])));
       const flipped = Uint8Array.from(full); flipped[3] ^= 4;
       out.flipped = enclave.hmacVerify('sha512', message, flipped);
       const bytes = enclave.toBytes(); bytes[50] ^= 1;
       out.forged = codeOf(() => Enclave.fromBytes(bytes).hmac('sha256', 'm'));
       out.badType = codeOf(() => enclave.hmac('sha256', 5));
       out.live = SecretBuffer.live().buffers;
       console.log(JSON.stringify(out));`,
      { ...CHILD, env: { STRONGROOM_ENCLAVE_BACKEND: 'js' } },
    );
    expect(stderr.replace(/.*STRONGROOM_JS_FALLBACK.*\n?|\(Use `node --trace-warnings.*\n?/g, '')).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      backend: 'js',
      tags: [oracle('sha256', key, message), oracle('sha512', key, message), oracle('sha256', long, message)].map(hex),
      rfc: true,
      truncated: [false, true, true, true, false],
      flipped: false,
      forged: 'ERR_AUTH',
      badType: 'ERR_INVALID_ARG',
      live: 0, // the opened key was destroyed (wiped) before each call returned
    });
  });
});

describe('residue', () => {
  it('after hmac and hmacVerify the marker key is nowhere in the child, on both native paths', async () => {
    // The marker as a whole 32-byte key (the coffer's scratch slot) and inside a 3000-byte
    // key (a temporary guarded region), each sealed; the positive control sees the planted key.
    const marker = makeMarker();
    const child = await startChild(
      `import { Enclave, SecretBuffer } from '@strongroom/enclave';
       import * as core from '@strongroom/core-native';
       core.configure({ backend: 'mmap' });
       ${secretBufferMarker('secret', marker)}
       const long = SecretBuffer.alloc(3000, { backend: 'mmap' });
       long.copyFrom(secret, 1000);
       await checkpoint('planted');
       const enclaves = [Enclave.seal(long), Enclave.seal(secret)];
       await checkpoint('sealed');
       const results = [];
       for (const enclave of enclaves) {
         for (const algorithm of ['sha256', 'sha512']) {
           const tag = enclave.hmac(algorithm, 'a request body');
           results.push(enclave.hmacVerify(algorithm, 'a request body', tag.subarray(0, 16)));
         }
       }
       await checkpoint('used', results);`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'planted', count: 2, perms: '---' }, // positive control: both guarded buffers, noaccess
      { at: 'sealed', present: false },
      { at: 'used', data: [true, true, true, true], present: false },
    ]);
  });
});
