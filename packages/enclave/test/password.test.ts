// Argon2id password hashing of Enclaves and SecretBuffers (@strongroom/buffer's, which
// core-native's tests cover in depth): an Enclave is opened for the call only, the opened
// buffer is gone once the call returns, the enclave stays sealed and usable, the portable
// backend refuses with ERR_NATIVE_UNAVAILABLE, and the password is nowhere in the child's
// memory after hashing an enclave.
import { asyncErrorCode, expectResidue, makeMarker, rejectionOf, runNode, startChild } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { Enclave, hashPassword, needsRehash, SecretBuffer, verifyPassword } from '../src/index.js';
import { CHILD, secretBufferMarker } from './helpers.js';

const CHEAP = { timeCost: 1, memoryCost: 1024 } as const;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('hashPassword / verifyPassword of an Enclave or a SecretBuffer', () => {
  it('an Enclave hashes and verifies like the SecretBuffer of its bytes, and stays sealed and usable', async () => {
    const enclave = Enclave.from(bytes('enclosed'));
    const live = SecretBuffer.live().buffers;
    const hashing = hashPassword(enclave, CHEAP);
    expect(SecretBuffer.live().buffers).toBe(live); // the opened buffer is destroyed once the call returns
    const encoded = await hashing;
    const buffer = SecretBuffer.from(bytes('enclosed'));
    try {
      expect(await verifyPassword(buffer, encoded)).toBe(true);
      expect(await verifyPassword(enclave, encoded)).toBe(true);
      expect(await verifyPassword(Enclave.from(bytes('enclosEd')), encoded)).toBe(false);
      expect(await verifyPassword(enclave, await hashPassword(buffer, CHEAP))).toBe(true);
    } finally {
      buffer.destroy();
    }
    expect(SecretBuffer.live().buffers).toBe(live);
    const opened = enclave.open();
    expect(opened.read((view) => Buffer.from(view).toString())).toBe('enclosed');
    opened.destroy();
    expect(needsRehash(encoded, CHEAP)).toBe(false);
  });

  it('refuses other values, an enclave that does not open, bad strings and extra arguments', async () => {
    for (const value of [bytes('x'), 'x', null]) {
      const error = await rejectionOf(hashPassword(value as never, CHEAP));
      expect(error.code).toBe('ERR_INVALID_ARG');
      expect(error.message).toMatch(/^secret must be a SecretBuffer or an Enclave/);
    }
    const sealed = Enclave.from(bytes('tampered')).toBytes();
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] as number) ^ 1;
    expect(await asyncErrorCode(() => hashPassword(Enclave.fromBytes(sealed), CHEAP))).toBe('ERR_AUTH');
    const enclave = Enclave.from(bytes('x'));
    const p2 = '$argon2id$v=19$m=1024,t=2,p=2$BwcHBwcHBwcHBwcHBwcHBw$CnGqbAab4z3EtyQJX4AuMnWxlkKGv5EF6sYRxb5OGCc';
    const live = SecretBuffer.live().buffers;
    expect(await asyncErrorCode(() => verifyPassword(enclave, p2))).toBe('ERR_UNSUPPORTED_HASH');
    expect(await asyncErrorCode(() => hashPassword(enclave, { memoryCost: 1 }))).toBe('ERR_INVALID_ARG');
    expect(SecretBuffer.live().buffers).toBe(live); // the opened buffer is destroyed on error paths too
    const extra = (fn: unknown, ...args: unknown[]): Promise<unknown> => (fn as (...a: unknown[]) => Promise<unknown>)(...args);
    expect((await rejectionOf(extra(hashPassword, enclave, CHEAP, 1))).message).toMatch(/^hashPassword\(\) takes at most 2/);
    expect((await rejectionOf(extra(verifyPassword, enclave, p2, 1))).message).toMatch(/^verifyPassword\(\) takes at most 2/);
  });

  it('under the portable backend an Enclave is ERR_NATIVE_UNAVAILABLE', async () => {
    const result = await runNode(
      `import { Enclave, hashPassword } from '@strongroom/enclave';
       process.on('warning', () => {});
       try { await hashPassword(Enclave.from(new Uint8Array([1, 2, 3]))); console.log('resolved'); }
       catch (error) { console.log(error.code); }`,
      { ...CHILD, env: { STRONGROOM_ENCLAVE_BACKEND: 'js' } },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('ERR_NATIVE_UNAVAILABLE');
  });

  it('hashing an Enclave leaves the password nowhere in memory', async () => {
    const marker = makeMarker();
    const child = await startChild(
      `import { Enclave, SecretBuffer, hashPassword, verifyPassword } from '@strongroom/enclave';
       ${secretBufferMarker('secret', marker)}
       await checkpoint('planted');
       const enclave = Enclave.seal(secret);
       const encoded = await hashPassword(enclave, { timeCost: 1, memoryCost: 1024 });
       const ok = await verifyPassword(enclave, encoded);
       await checkpoint('hashed', { ok });`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'planted', count: 1, perms: '---' }, // positive control: the buffer's noaccess region
      { at: 'hashed', data: { ok: true }, present: false },
    ]);
  });
});
