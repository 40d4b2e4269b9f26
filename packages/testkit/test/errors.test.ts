import { describe, expect, it } from 'vitest';

import { errorCode } from '../src/index.js';

class StrongroomError extends Error {
  constructor(readonly code: string) {
    super('message');
    this.name = 'StrongroomError';
  }
}

describe('errorCode', () => {
  it("returns a StrongroomError's code, and undefined when nothing is thrown", () => {
    expect(
      errorCode(() => {
        throw new StrongroomError('ERR_X');
      }),
    ).toBe('ERR_X');
    expect(errorCode(() => 1)).toBeUndefined();
  });

  it('fails on anything else that is thrown', () => {
    expect(() =>
      errorCode(() => {
        throw new TypeError('plain');
      }),
    ).toThrow(/expected a StrongroomError, got TypeError: plain/);
    expect(() =>
      errorCode(() => {
        throw 'a string';
      }),
    ).toThrow(/expected a StrongroomError/);
  });
});
