// Nothing discloses the bytes by accident: every way a SecretBuffer turns into text
// shows its size only, cloning and posting throw, and no property, prototype member or
// symbol reaches the bytes or the native region outside a scope.
import { inspect, format } from 'node:util';
import { MessageChannel } from 'node:worker_threads';
import { Console } from 'node:console';
import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';
import { errorCode } from '@strongroom/testkit';

import { SecretBuffer } from '../src/index.js';

// "SECRET!!" in bytes: any of these forms in an output would be a leak.
const BYTES = [0x53, 0x45, 0x43, 0x52, 0x45, 0x54, 0x21, 0x21];
const LEAKS = [/SECRET/, /53454352/i, /83,\s*69/, /U0VDUkVU/];

function make(): SecretBuffer {
  return SecretBuffer.from(new Uint8Array(BYTES));
}

describe('text forms', () => {
  it.each([
    ['String()', (b: SecretBuffer) => String(b)],
    ['toString()', (b: SecretBuffer) => b.toString()],
    ['template literal', (b: SecretBuffer) => `${b}`],
    ["b + ''", (b: SecretBuffer) => b + ''],
    ['util.inspect', (b: SecretBuffer) => inspect(b)],
    ['util.inspect (showHidden, depth)', (b: SecretBuffer) => inspect(b, { showHidden: true, depth: 10 })],
    ['util.format %o / %O / %s / %j', (b: SecretBuffer) => format('%o %O %s %j', b, b, b, b)],
    ['inspect inside an object', (b: SecretBuffer) => inspect({ nested: [b] })],
  ])('%s shows SecretBuffer(8 bytes, redacted)', (_, render) => {
    const buffer = make();
    const text = render(buffer);
    expect(text).toContain('SecretBuffer(8 bytes, redacted)');
    for (const leak of LEAKS) expect(text).not.toMatch(leak);
    buffer.destroy();
    expect(render(buffer)).toContain('SecretBuffer(destroyed)');
  });

  it('JSON.stringify gives the type and size, like Region and Enclave, and never a byte', () => {
    const buffer = make();
    const text = JSON.stringify({ b: buffer });
    expect(JSON.parse(text)).toEqual({ b: { type: 'SecretBuffer', size: 8, destroyed: false } });
    for (const leak of LEAKS) expect(text).not.toMatch(leak);
    buffer.destroy();
    expect(JSON.parse(JSON.stringify(buffer))).toEqual({ type: 'SecretBuffer', size: 8, destroyed: true });
  });

  it('console.log prints the redacted form', () => {
    const buffer = make();
    const chunks: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    const logger = new Console({ stdout: sink, stderr: sink });
    logger.log(buffer);
    logger.log('%s', buffer);
    logger.error({ buffer });
    expect(chunks.join('')).toBe(
      'SecretBuffer(8 bytes, redacted)\nSecretBuffer(8 bytes, redacted)\n{ buffer: SecretBuffer(8 bytes, redacted) }\n',
    );
    buffer.destroy();
  });

  it('error messages and stacks carry no byte', () => {
    const buffer = make();
    const errors: unknown[] = [];
    for (const misuse of [
      () => buffer.copyFrom(new Uint8Array(9)),
      () => buffer.freeze().write(() => 0),
      () => buffer.read(() => buffer.write(() => 0)),
      () => structuredClone(buffer),
    ]) {
      try {
        misuse();
      } catch (error) {
        errors.push(error);
      }
    }
    buffer.destroy();
    try {
      buffer.read(() => 0);
    } catch (error) {
      errors.push(error);
    }
    expect(errors).toHaveLength(5);
    for (const error of errors) {
      const text = `${(error as Error).message}\n${(error as Error).stack}\n${inspect(error)}`;
      for (const leak of LEAKS) expect(text).not.toMatch(leak);
    }
  });
});

describe('cloning and posting', () => {
  it('structuredClone throws', () => {
    const buffer = make();
    expect(errorCode(() => structuredClone(buffer))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => structuredClone({ deep: [buffer] }))).toBe('ERR_INVALID_ARG');
    buffer.destroy();
  });

  it('postMessage throws', () => {
    const buffer = make();
    const { port1, port2 } = new MessageChannel();
    try {
      expect(errorCode(() => port1.postMessage(buffer))).toBe('ERR_INVALID_ARG');
      expect(errorCode(() => port1.postMessage({ buffer }))).toBe('ERR_INVALID_ARG');
    } finally {
      port1.close();
      port2.close();
      buffer.destroy();
    }
  });
});

describe('an opaque handle', () => {
  it('no own property, symbol or prototype member yields bytes, a view or a region outside a scope', () => {
    const buffer = make();
    const reached: unknown[] = [];
    const keys = [
      ...Reflect.ownKeys(buffer),
      ...Reflect.ownKeys(SecretBuffer.prototype),
    ].filter((k) => !['constructor', 'reader', 'writer', 'destroy'].includes(k as string)); // scopes are the way in
    for (const key of keys) {
      let value: unknown;
      try {
        value = (buffer as unknown as Record<PropertyKey, unknown>)[key];
      } catch {
        continue; // the uncloneable guard throws
      }
      if (typeof value === 'function') {
        try {
          value = (value as () => unknown).call(buffer);
        } catch {
          continue;
        }
      }
      reached.push(value);
    }
    for (const value of reached) {
      expect(value instanceof Uint8Array).toBe(false);
      expect(value instanceof ArrayBuffer).toBe(false);
      expect(typeof value === 'object' && value !== null && 'view' in value).toBe(false);
    }
    expect(Object.keys(buffer)).toEqual(['uncloneable']);
  });
});
