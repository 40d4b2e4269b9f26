// The shared check vocabulary as @strongroom/buffer uses it: unknown options name the
// function the caller called, extra arguments are refused, and options are read as own
// keys only (a polluted Object.prototype changes nothing).
import { describe, expect, it } from 'vitest';

import { bytesOf, errorCode, extraArgumentFailures } from '@strongroom/testkit';

import { SecretBuffer } from '../src/index.js';

describe('the check vocabulary of @strongroom/buffer', () => {
  it("an unknown option names the SecretBuffer function, not core-native's", async () => {
    expect(() => SecretBuffer.from(new Uint8Array(1), { nonce: 1 } as never)).toThrow(
      /^SecretBuffer\.from\(\) has no option 'nonce'; its options are: backend, mlock, isolated, wipeSource$/,
    );
    expect(() => SecretBuffer.alloc(1, { size: 1 } as never)).toThrow(/^SecretBuffer\.alloc\(\) has no option 'size'/);
    expect(() => SecretBuffer.random(1, { size: 1 } as never)).toThrow(/^SecretBuffer\.random\(\) has no option 'size'/);
    expect(() => SecretBuffer.fromFile('/x', { maxsize: 1 } as never)).toThrow(/^SecretBuffer\.fromFile\(\) has no option 'maxsize'/);
    expect(() => SecretBuffer.fromFd(0, { delimiter: 10 } as never)).toThrow(/^SecretBuffer\.fromFd\(\) has no option 'delimiter'/);
    expect(() => SecretBuffer.fromEnv('X', { wipe: true } as never)).toThrow(/^SecretBuffer\.fromEnv\(\) has no option 'wipe'/);
    const { cofferOpenBuffer, cofferSealBuffer } = await import('../src/index.js');
    const secret = SecretBuffer.alloc(1);
    const sealed = cofferSealBuffer(secret);
    secret.destroy();
    expect(() => cofferOpenBuffer(sealed, { frozen: false } as never)).toThrow(/^cofferOpenBuffer\(\) has no option 'frozen'/);
    expect(errorCode(() => SecretBuffer.from(new Uint8Array(1), 'mmap' as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => SecretBuffer.from(new Uint8Array(1), { wipeSource: 'no' as never }))).toBe('ERR_INVALID_ARG');
    expect(SecretBuffer.live().buffers).toBe(0);
  });

  it('every method rejects arguments beyond those it takes', () => {
    const buffer = SecretBuffer.alloc(4);
    const other = SecretBuffer.alloc(4);
    const call = (fn: unknown, self: unknown, ...args: unknown[]) => () => (fn as (...a: unknown[]) => unknown).apply(self, args);
    const cases: Array<[string, () => unknown]> = [
      ['SecretBuffer.alloc()', call(SecretBuffer.alloc, SecretBuffer, 1, {}, 1)],
      ['SecretBuffer.random()', call(SecretBuffer.random, SecretBuffer, 1, {}, 1)],
      ['SecretBuffer.from()', call(SecretBuffer.from, SecretBuffer, new Uint8Array(1), {}, 1)],
      ['SecretBuffer.fromFile()', call(SecretBuffer.fromFile, SecretBuffer, '/x', {}, 1)],
      ['SecretBuffer.fromFd()', call(SecretBuffer.fromFd, SecretBuffer, 0, {}, 1)],
      ['SecretBuffer.fromEnv()', call(SecretBuffer.fromEnv, SecretBuffer, 'X', {}, 1)],
      ['SecretBuffer.live()', call(SecretBuffer.live, SecretBuffer, 1)],
      ['SecretBuffer.destroyAll()', call(SecretBuffer.destroyAll, SecretBuffer, 1)],
      ['read()', call(buffer.read, buffer, () => 0, 1)],
      ['write()', call(buffer.write, buffer, () => 0, 1)],
      ['reader()', call(buffer.reader, buffer, 1)],
      ['writer()', call(buffer.writer, buffer, 1)],
      ['equals()', call(buffer.equals, buffer, other, 1)],
      ['hmac()', call(buffer.hmac, buffer, 'sha256', 'm', 1)],
      ['hmacVerify()', call(buffer.hmacVerify, buffer, 'sha256', 'm', new Uint8Array(32), 1)],
      ['copyFrom()', call(buffer.copyFrom, buffer, other, 0, {}, 1)],
      ['moveFrom()', call(buffer.moveFrom, buffer, other, 0, 1)],
      ['scramble()', call(buffer.scramble, buffer, 1)],
      ['wipe()', call(buffer.wipe, buffer, 1)],
      ['freeze()', call(buffer.freeze, buffer, 1)],
      ['melt()', call(buffer.melt, buffer, 1)],
      ['destroy()', call(buffer.destroy, buffer, 1)],
    ];
    expect(extraArgumentFailures(cases)).toEqual([]);
    expect(buffer.destroyed).toBe(false); // destroy(1) was refused before it did anything
    expect(buffer.frozen).toBe(false);
    buffer.destroy();
    other.destroy();
  });

  it('a polluted Object.prototype changes no option: the source is still wiped, the buffer still native', () => {
    const polluted = Object.prototype as Record<string, unknown>;
    try {
      polluted.wipeSource = false;
      polluted.backend = 'heap';
      polluted.remove = false;
      const source = Uint8Array.from([1, 2, 3]);
      const buffer = SecretBuffer.from(source, {});
      expect(Array.from(source)).toEqual([0, 0, 0]); // wiped: wipeSource stayed true
      expect(bytesOf(buffer)).toEqual([1, 2, 3]);
      buffer.destroy();
      process.env.STRONGROOM_BUFFER_SEAMS = 'xyz';
      SecretBuffer.fromEnv('STRONGROOM_BUFFER_SEAMS').destroy();
      expect(process.env.STRONGROOM_BUFFER_SEAMS).toBeUndefined(); // remove stayed true
    } finally {
      delete polluted.wipeSource;
      delete polluted.backend;
      delete polluted.remove;
      delete process.env.STRONGROOM_BUFFER_SEAMS;
    }
  });

  it('a positive control: the same options given as own keys do change the behaviour', () => {
    const source = Uint8Array.from([1, 2, 3]);
    SecretBuffer.from(source, { wipeSource: false }).destroy();
    expect(Array.from(source)).toEqual([1, 2, 3]);
  });
});

describe('no way into a buffer\'s region from outside the package', () => {
  it("'@strongroom/buffer/internal' is not exported ('./text' hands out SecretBuffers only), and the coffer functions hand out no Region", async () => {
    const manifest = JSON.parse(
      (await import('node:fs')).readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { exports: Record<string, unknown> };
    expect(Object.keys(manifest.exports)).toEqual(['.', './text']);
    const { cofferOpenBuffer, cofferSealBuffer } = await import('../src/index.js');
    const secret = SecretBuffer.from(Uint8Array.from([7, 8, 9]));
    const sealed = cofferSealBuffer(secret);
    expect(sealed).toBeInstanceOf(Uint8Array);
    expect(sealed.length).toBe(3 + 40);
    const opened = cofferOpenBuffer(sealed);
    expect(opened).toBeInstanceOf(SecretBuffer);
    expect(opened.frozen).toBe(true);
    expect(bytesOf(opened)).toEqual([7, 8, 9]);
    expect(bytesOf(secret)).toEqual([7, 8, 9]); // left as it was
    for (const b of [secret, opened]) b.destroy();
  });
});
