import { describe, expect, it } from 'vitest';

import { bytesOf } from '../src/index.js';

describe('bytesOf', () => {
  it('copies the bytes of a Uint8Array, of view() (a Region) and of read(fn) (a SecretBuffer)', () => {
    const bytes = Uint8Array.from([1, 2, 255]);
    const region = { view: () => bytes };
    let scopes = 0;
    const buffer = {
      read<T>(fn: (view: Uint8Array) => T): T {
        scopes++;
        return fn(bytes);
      },
    };
    expect(bytesOf(bytes)).toEqual([1, 2, 255]);
    expect(bytesOf(region)).toEqual([1, 2, 255]);
    expect(bytesOf(buffer)).toEqual([1, 2, 255]);
    expect(scopes).toBe(1);
    const copy = bytesOf(region);
    bytes[0] = 9;
    expect(copy[0]).toBe(1); // a copy, not a view
  });

  it('refuses anything else', () => {
    expect(() => bytesOf({} as never)).toThrow(/bytesOf: expected a Uint8Array, or an object with view\(\) or read\(fn\)/);
  });
});
