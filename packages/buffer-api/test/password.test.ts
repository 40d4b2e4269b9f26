// Argon2id password hashing of SecretBuffers (core-native's, over the buffer's region; its
// interop, formats and typed errors are tested there): the buffer's lifecycle and scopes,
// a buffer destroyed while its hash runs, the options passed through, and no copy of the
// password left in the child's memory once the buffer is destroyed.
import { asyncErrorCode, expectResidue, makeMarker, maskMarker, rejectionOf, startChild } from '@strongroom/testkit';
import { afterEach, describe, expect, it } from 'vitest';

import { DEFAULT_PASSWORD_OPTIONS, hashPassword, needsRehash, SecretBuffer, verifyPassword } from '../src/index.js';
import { CHILD, PREAMBLE } from './helpers.js';

const CHEAP = { timeCost: 1, memoryCost: 1024 } as const;
const made: SecretBuffer[] = [];
afterEach(() => {
  for (const b of made.splice(0)) b.destroy();
});

function secret(text: string): SecretBuffer {
  const buffer = SecretBuffer.from(new TextEncoder().encode(text));
  made.push(buffer);
  return buffer;
}

describe('hashPassword / verifyPassword of a SecretBuffer', () => {
  it('hashes, and verifies the same bytes only', async () => {
    const encoded = await hashPassword(secret('open sesame'), CHEAP);
    expect(encoded).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(await verifyPassword(secret('open sesame'), encoded)).toBe(true);
    expect(await verifyPassword(secret('open sesamE'), encoded)).toBe(false);
    expect(needsRehash(encoded, CHEAP)).toBe(false);
    expect(needsRehash(encoded)).toBe(true);
    expect(DEFAULT_PASSWORD_OPTIONS).toEqual({ timeCost: 2, memoryCost: 19456, parallelism: 1 });
  });

  it('destroying the buffer while its hash runs neither crashes nor changes the result', async () => {
    const buffer = SecretBuffer.from(new TextEncoder().encode('short-lived'));
    const hashing = hashPassword(buffer, { timeCost: 8, memoryCost: 8192 });
    buffer.destroy();
    const encoded = await hashing;
    expect(await verifyPassword(secret('short-lived'), encoded)).toBe(true);
    const verifying = SecretBuffer.from(new TextEncoder().encode('short-lived'));
    const verdict = verifyPassword(verifying, encoded);
    verifying.destroy();
    expect(await verdict).toBe(true);
  });

  it('works inside a read scope; a write scope is ERR_BUSY; a destroyed buffer ERR_DESTROYED', async () => {
    const buffer = secret('scoped');
    const encoded = await buffer.read(() => hashPassword(buffer, CHEAP));
    expect(await verifyPassword(buffer, encoded)).toBe(true);
    const busy = buffer.write(() => [hashPassword(buffer, CHEAP), verifyPassword(buffer, encoded)]);
    for (const promise of busy) expect((await rejectionOf(promise)).code).toBe('ERR_BUSY');
    const gone = SecretBuffer.from(new Uint8Array([1, 2, 3]));
    gone.destroy();
    expect(await asyncErrorCode(() => hashPassword(gone, CHEAP))).toBe('ERR_DESTROYED');
    expect(await asyncErrorCode(() => verifyPassword(gone, encoded))).toBe('ERR_DESTROYED');
  });

  it('refuses what is not a SecretBuffer, bad options, bad strings and extra arguments, naming the function', async () => {
    for (const value of [new Uint8Array(3), 'password', undefined]) {
      const error = await rejectionOf(hashPassword(value as never, CHEAP));
      expect(error.code).toBe('ERR_INVALID_ARG');
      expect(error.message).toMatch(/^secret must be a SecretBuffer/);
      expect(await asyncErrorCode(() => verifyPassword(value as never, '$argon2id$'))).toBe('ERR_INVALID_ARG');
    }
    const buffer = secret('x');
    expect((await rejectionOf(hashPassword(buffer, { parallelism: 4 }))).message).toMatch(/parallelism must be 1, got 4/);
    expect((await rejectionOf(hashPassword(buffer, { salt: 1 } as never))).message).toMatch(/^hashPassword\(\) has no option 'salt'/);
    const p2 = '$argon2id$v=19$m=1024,t=2,p=2$BwcHBwcHBwcHBwcHBwcHBw$CnGqbAab4z3EtyQJX4AuMnWxlkKGv5EF6sYRxb5OGCc';
    expect(await asyncErrorCode(() => verifyPassword(buffer, p2))).toBe('ERR_UNSUPPORTED_HASH');
    expect(await asyncErrorCode(() => verifyPassword(buffer, 'not a hash'))).toBe('ERR_INVALID_ARG');
    const extra = (fn: unknown, ...args: unknown[]): Promise<unknown> => (fn as (...a: unknown[]) => Promise<unknown>)(...args);
    expect((await rejectionOf(extra(hashPassword, buffer, CHEAP, 1))).message).toMatch(/^hashPassword\(\) takes at most 2 arguments/);
    expect((await rejectionOf(extra(verifyPassword, buffer, p2, 1))).message).toMatch(/^verifyPassword\(\) takes at most 2 arguments/);
    expect(() => (needsRehash as (...a: unknown[]) => unknown)(p2, {}, 1)).toThrow(/^needsRehash\(\) takes at most 2 arguments/);
  });

  it('leaves no copy of the password in memory once the buffer is destroyed', async () => {
    const marker = makeMarker();
    const { masked, mask } = maskMarker(marker);
    const child = await startChild(
      `${PREAMBLE}
       import { hashPassword, verifyPassword } from '@strongroom/buffer';
       const secret = SecretBuffer.from(Buffer.from('${masked}', 'hex'), { backend: 'mmap' });
       { const mask = Buffer.from('${mask}', 'hex'); secret.write((v) => { for (let i = 0; i < v.length; i++) v[i] ^= mask[i]; }); }
       await checkpoint('planted');
       const encoded = await hashPassword(secret, { timeCost: 1, memoryCost: 1024 });
       const ok = await verifyPassword(secret, encoded);
       await checkpoint('hashed', { ok });
       secret.destroy();
       await checkpoint('destroyed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'planted', count: 1, perms: '---' }, // positive control: the buffer's noaccess region
      { at: 'hashed', data: { ok: true }, count: 1, perms: '---' },
      { at: 'destroyed', present: false },
    ]);
  });
});
