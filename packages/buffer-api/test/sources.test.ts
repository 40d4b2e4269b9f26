// Secrets read in from files, descriptors and the environment: exact bytes, typed
// errors with nothing left behind (buffers, regions, descriptors), and no residue.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { bytesOf, errorCode, expectResidue, makeMarker, openFileDescriptors, runNode, startChild, textMarker } from '@strongroom/testkit';
import { stats } from '@strongroom/core-native';

import { SecretBuffer } from '../src/index.js';
import { CHILD, PREAMBLE } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-buffer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array | string): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, bytes);
  return target;
}

/** Runs fn and checks it left no buffer, region or descriptor behind. */
function leavesNothing(fn: () => void): void {
  const fds = openFileDescriptors('self').length;
  const buffers = SecretBuffer.live().buffers;
  const regions = stats().regions;
  fn();
  expect(openFileDescriptors('self').length).toBe(fds);
  expect(SecretBuffer.live().buffers).toBe(buffers);
  expect(stats().regions).toBe(regions);
}

describe('fromFile', () => {
  it('reads the exact bytes and closes the file', () => {
    const target = file('key', new Uint8Array([0, 1, 2, 255, 10]));
    const fds = openFileDescriptors('self').length;
    const key = SecretBuffer.fromFile(target);
    expect(openFileDescriptors('self').length).toBe(fds);
    expect(key.size).toBe(5);
    expect(bytesOf(key)).toEqual([0, 1, 2, 255, 10]);
    key.destroy();
  });

  it('maxSize is inclusive', () => {
    const target = file('sixteen', new Uint8Array(16).fill(7));
    const exact = SecretBuffer.fromFile(target, { maxSize: 16 });
    expect(exact.size).toBe(16);
    exact.destroy();
    leavesNothing(() => expect(errorCode(() => SecretBuffer.fromFile(target, { maxSize: 15 }))).toBe('ERR_TOO_LARGE'));
  });

  it.each([
    ['a missing file', () => SecretBuffer.fromFile(path.join(dir, 'missing')), 'ERR_NOT_FOUND'],
    ['a directory', () => SecretBuffer.fromFile(dir), 'ERR_IO'],
    ['an empty file', () => SecretBuffer.fromFile(file('empty', '')), 'ERR_EMPTY'],
    ['a non-string path', () => SecretBuffer.fromFile(42 as never), 'ERR_INVALID_ARG'],
    ['maxSize 0', () => SecretBuffer.fromFile(file('one', 'x'), { maxSize: 0 }), 'ERR_INVALID_ARG'],
  ])('%s gets %s and leaves nothing open', (_, read, code) => {
    leavesNothing(() => expect(errorCode(read)).toBe(code));
  });

  it('{ owner, maxMode } are passed on to readFile: a wider file is ERR_UNSAFE_FILE; prompt() and fromFd() refuse them', () => {
    const target = file('private', 'abc');
    fs.chmodSync(target, 0o600);
    const key = SecretBuffer.fromFile(target, { owner: process.getuid!(), maxMode: 0o600 });
    expect(bytesOf(key)).toEqual([97, 98, 99]);
    key.destroy();
    fs.chmodSync(target, 0o640);
    leavesNothing(() => expect(errorCode(() => SecretBuffer.fromFile(target, { maxMode: 0o600 }))).toBe('ERR_UNSAFE_FILE'));
    leavesNothing(() => expect(errorCode(() => SecretBuffer.fromFile(target, { maxMode: 0o10000 }))).toBe('ERR_INVALID_ARG'));
    expect(errorCode(() => SecretBuffer.fromFd(0, { maxMode: 0o600 } as never))).toBe('ERR_INVALID_ARG');
    return expect(SecretBuffer.prompt('x', { owner: 0 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});

describe('fromFd', () => {
  it('reads a descriptor to the end without closing it', () => {
    const target = file('fd', 'abc');
    const fd = fs.openSync(target, 'r');
    try {
      const secret = SecretBuffer.fromFd(fd);
      expect(bytesOf(secret)).toEqual([97, 98, 99]);
      expect(() => fs.fstatSync(fd)).not.toThrow();
      secret.destroy();
    } finally {
      fs.closeSync(fd);
    }
  });

  it("until: '\\n' stops at the delimiter, which is not kept, and reads nothing after it", async () => {
    const result = await runNode(
      `${PREAMBLE}
       import fs from 'node:fs';
       const line = SecretBuffer.fromFd(0, { until: '\\n' });
       const rest = fs.readFileSync(0, 'utf8');
       console.log(JSON.stringify({ size: line.size, first: line.read((v) => Array.from(v)), rest }));`,
      { ...CHILD, input: 'pass\nrest of input\n' },
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ size: 4, first: [112, 97, 115, 115], rest: 'rest of input\n' });
  });

  it.each([
    ['-1', -1],
    ['1.5', 1.5],
    ["'0'", '0'],
    ['a closed descriptor', 1_000_000],
  ])('fd %s gets ERR_INVALID_ARG', (_, fd) => {
    leavesNothing(() => expect(errorCode(() => SecretBuffer.fromFd(fd as number))).toBe('ERR_INVALID_ARG'));
  });

  it('a bad delimiter gets ERR_INVALID_ARG', () => {
    leavesNothing(() => expect(errorCode(() => SecretBuffer.fromFd(0, { until: 'ab' }))).toBe('ERR_INVALID_ARG'));
    leavesNothing(() => expect(errorCode(() => SecretBuffer.fromFd(0, { until: 256 }))).toBe('ERR_INVALID_ARG'));
  });
});

describe('fromEnv', () => {
  it('reads the value and removes it from process.env', () => {
    process.env.STRONGROOM_TEST_SECRET = 'hunter2';
    const secret = SecretBuffer.fromEnv('STRONGROOM_TEST_SECRET');
    expect(process.env.STRONGROOM_TEST_SECRET).toBeUndefined();
    expect(secret.equals(new Uint8Array([104, 117, 110, 116, 101, 114, 50]))).toBe(true);
    secret.destroy();
  });

  it('remove: false leaves it', () => {
    process.env.STRONGROOM_TEST_KEEP = 'x';
    const secret = SecretBuffer.fromEnv('STRONGROOM_TEST_KEEP', { remove: false });
    expect(process.env.STRONGROOM_TEST_KEEP).toBe('x');
    delete process.env.STRONGROOM_TEST_KEEP;
    secret.destroy();
  });

  it.each([
    ['an unset variable', 'STRONGROOM_TEST_UNSET', 'ERR_NOT_FOUND'],
    ['an empty name', '', 'ERR_INVALID_ARG'],
    ['a name with =', 'A=B', 'ERR_INVALID_ARG'],
  ])('%s gets %s', (_, name, code) => {
    leavesNothing(() => expect(errorCode(() => SecretBuffer.fromEnv(name))).toBe(code));
  });
});

describe('residue of read-in secrets', () => {
  it('fromFile: the marker is only in the guarded region, and gone after destroy()', async () => {
    const marker = makeMarker();
    const target = file('marker', marker);
    const child = await startChild(
      `${PREAMBLE}
       core.configure({ backend: 'mmap' });
       const secret = SecretBuffer.fromFile(${JSON.stringify(target)});
       await checkpoint('read');
       secret.destroy();
       await checkpoint('destroyed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'read', count: 1, perms: '---p' },
      { at: 'destroyed', present: false },
    ]);
  });

  it('fromEnv: the value leaves the environment block; found nowhere after destroy()', async () => {
    const { text: value, bytes: marker } = textMarker(makeMarker()); // printable, as env values are
    const child = await startChild(
      `${PREAMBLE}
       core.configure({ backend: 'mmap' });
       await checkpoint('before');
       const secret = SecretBuffer.fromEnv('STRONGROOM_MARKER');
       await checkpoint('read', process.env.STRONGROOM_MARKER === undefined);
       secret.destroy();
       await checkpoint('destroyed');`,
      { ...CHILD, env: { STRONGROOM_MARKER: value } },
    );
    await expectResidue(child, marker, [
      { at: 'before', present: true }, // control: the environment block
      { at: 'read', data: true, count: 1, perms: '---p' },
      { at: 'destroyed', present: false },
    ]);
  });
});
