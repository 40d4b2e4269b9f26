// SecretBuffer.hmac / hmacVerify: computed natively on the guarded bytes (no view is made),
// in both view modes (the root config runs this file in 'direct' and 'copy' mode), on the
// 'heap' backend, on frozen buffers and inside read scopes. RFC 4231 and node:crypto are the
// oracles; truncated tags from 16 bytes verify; a residue test checks that keying an HMAC
// leaves the marker key only in its guarded region.
import { createHmac, randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';
import { HMAC_MIN_TAG_BYTES, stats } from '@strongroom/core-native';
import { errorCode, expectResidue, heapMarkerCode, makeMarker, RFC4231_VECTORS, startChild } from '@strongroom/testkit';

import { SecretBuffer, type HmacAlgorithm } from '../src/index.js';
import { CHILD, PREAMBLE } from './helpers.js';

const ALGORITHMS: ReadonlyArray<[HmacAlgorithm, number]> = [
  ['sha256', 32],
  ['sha512', 64],
];
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const oracle = (algorithm: HmacAlgorithm, key: Uint8Array, message: Uint8Array | string): Buffer =>
  createHmac(algorithm, key).update(message).digest();

describe.each(['auto', 'heap'] as const)("SecretBuffer.hmac on the '%s' backend", (backend) => {
  const make = (key: Uint8Array): SecretBuffer => SecretBuffer.from(Uint8Array.from(key), { backend });

  it.each(RFC4231_VECTORS.map((v) => [v.name, v] as const))('%s, both algorithms', (_, vector) => {
    const key = make(vector.key);
    for (const [algorithm, length] of ALGORITHMS) {
      const tag = key.hmac(algorithm, vector.data);
      expect(tag).toBeInstanceOf(Uint8Array);
      expect(tag.length).toBe(length);
      expect(hex(tag.subarray(0, vector[algorithm].length / 2))).toBe(vector[algorithm]);
      expect(key.hmacVerify(algorithm, vector.data, Buffer.from(vector[algorithm], 'hex'))).toBe(true);
    }
    key.destroy();
  });

  it('random keys and messages match node:crypto; strings are UTF-8; the buffer stays noaccess and intact', () => {
    for (const keyLength of [1, 20, 64, 65, 200]) {
      const keyBytes = randomBytes(keyLength);
      const key = make(keyBytes);
      for (const messageLength of [0, 1, 64, 1000]) {
        const message = randomBytes(messageLength);
        for (const [algorithm] of ALGORITHMS) expect(hex(key.hmac(algorithm, message))).toBe(oracle(algorithm, keyBytes, message).toString('hex'));
      }
      expect(hex(key.hmac('sha256', 'ünïcode ✓'))).toBe(oracle('sha256', keyBytes, 'ünïcode ✓').toString('hex'));
      expect(key.read((view) => hex(view))).toBe(hex(keyBytes));
      key.destroy();
    }
  });

  it.each(ALGORITHMS)('%s: truncated tags of 16 bytes up to the full length verify; 15, full+1 and a flipped bit do not', (algorithm, length) => {
    const keyBytes = randomBytes(32);
    const key = make(keyBytes);
    const message = randomBytes(1024);
    const full = oracle(algorithm, keyBytes, message);
    for (let n = HMAC_MIN_TAG_BYTES; n <= length; n++) {
      const tag = Uint8Array.from(full.subarray(0, n));
      expect(key.hmacVerify(algorithm, message, tag)).toBe(true);
      tag[n - 1]! ^= 0x80;
      expect(key.hmacVerify(algorithm, message, tag)).toBe(false);
    }
    expect(key.hmacVerify(algorithm, message, Uint8Array.from(full.subarray(0, HMAC_MIN_TAG_BYTES - 1)))).toBe(false);
    expect(key.hmacVerify(algorithm, message, Uint8Array.from([...full, full[0]!]))).toBe(false);
    expect(key.hmacVerify(algorithm, message, new Uint8Array(0))).toBe(false);
    key.destroy();
  });

  it('works on a frozen buffer and inside a read scope; ERR_BUSY inside a write scope', () => {
    const keyBytes = randomBytes(32);
    const key = make(keyBytes).freeze();
    const expected = oracle('sha256', keyBytes, 'm').toString('hex');
    expect(hex(key.hmac('sha256', 'm'))).toBe(expected);
    expect(key.read(() => hex(key.hmac('sha256', 'm')))).toBe(expected);
    expect(key.read(() => key.hmacVerify('sha256', 'm', Buffer.from(expected, 'hex')))).toBe(true);
    key.melt();
    key.write((view) => {
      expect(errorCode(() => key.hmac('sha256', 'm'))).toBe('ERR_BUSY');
      expect(errorCode(() => key.hmacVerify('sha256', 'm', new Uint8Array(32)))).toBe('ERR_BUSY');
      view[0] = view[0]! ^ 1; // in copy mode this change is written back only when the scope ends
    });
    keyBytes[0]! ^= 1;
    expect(hex(key.hmac('sha256', 'm'))).toBe(oracle('sha256', keyBytes, 'm').toString('hex'));
    key.destroy();
  });
});

// ERR_DESTROYED and extra arguments: the matrices of secret-buffer.test.ts and seams.test.ts.
describe('SecretBuffer.hmac errors', () => {
  it('ERR_INVALID_ARG for bad types, naming the argument; a wrong-length tag is false', () => {
    const key = SecretBuffer.random(32);
    expect(() => key.hmac('sha1' as never, 'm')).toThrow(/^algorithm must be one of 'sha256', 'sha512', got string$/);
    expect(() => key.hmac('sha256', 7 as never)).toThrow(/^message \(or a string\) must be a Uint8Array/);
    expect(errorCode(() => key.hmac('sha256', [1, 2] as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => key.hmac('sha256', undefined as never))).toBe('ERR_INVALID_ARG');
    expect(() => key.hmacVerify('sha256', 'm', 'deadbeef' as never)).toThrow(/^tag must be a Uint8Array/);
    expect(key.hmacVerify('sha256', 'm', new Uint8Array(33))).toBe(false);
    key.destroy();
  });

  it('makes no region and keeps none', () => {
    const key = SecretBuffer.random(32);
    const before = stats().regions;
    for (let i = 0; i < 20; i++) key.hmacVerify('sha512', 'm', key.hmac('sha512', 'm'));
    expect(stats().regions).toBe(before);
    key.destroy();
  });
});

describe('residue', () => {
  it('hmac and hmacVerify leave the marker key only in its guarded region, in either view mode', async () => {
    const marker = makeMarker();
    const child = await startChild(
      `${PREAMBLE}
       core.configure({ backend: 'mmap' });
       ${heapMarkerCode('source', marker)}
       const key = SecretBuffer.from(source);
       await checkpoint('planted');
       const tags = [];
       for (let i = 0; i < 50; i++) {
         const tag = key.hmac(i % 2 ? 'sha256' : 'sha512', 'message ' + i);
         tags.push(key.hmacVerify(i % 2 ? 'sha256' : 'sha512', 'message ' + i, tag.subarray(0, 16)));
       }
       await checkpoint('used', tags.every(Boolean));
       key.destroy();
       await checkpoint('destroyed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'planted', count: 1, perms: '---p' }, // positive control: the guarded region, noaccess
      { at: 'used', data: true, count: 1, perms: '---p' },
      { at: 'destroyed', present: false },
    ]);
  });
});
