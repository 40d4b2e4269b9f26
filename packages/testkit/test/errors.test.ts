import { describe, expect, it } from 'vitest';

import { asyncErrorCode, errorCode, extraArgumentFailures } from '../src/index.js';

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

describe('asyncErrorCode', () => {
  it("returns the code a promise rejects with, and undefined when it resolves", async () => {
    expect(await asyncErrorCode(() => Promise.reject(new StrongroomError('ERR_Y')))).toBe('ERR_Y');
    expect(await asyncErrorCode(async () => 1)).toBeUndefined();
  });

  it('fails on another rejection, on a synchronous throw, and on a function that returns no promise', async () => {
    await expect(asyncErrorCode(() => Promise.reject(new TypeError('plain')))).rejects.toThrow(
      /expected a StrongroomError, got TypeError: plain/,
    );
    await expect(
      asyncErrorCode(() => {
        throw new StrongroomError('ERR_SYNC');
      }),
    ).rejects.toThrow(/expected a promise that rejects, but the call threw StrongroomError/);
    await expect(asyncErrorCode((() => 'not a promise') as never)).rejects.toThrow(/expected a promise, got 'not a promise'/);
  });
});

describe('extraArgumentFailures', () => {
  const refuse = (name: string) => () => {
    const error = new StrongroomError('ERR_INVALID_ARG');
    error.message = `${name} takes at most 1 argument, got 2; remove the extra ones`;
    throw error;
  };

  it('is empty when every call refuses its extra argument as strongroom does', () => {
    expect(extraArgumentFailures([['seal()', refuse('seal()')], ['open()', refuse('open()')]])).toEqual([]);
  });

  it('names each call that returned, threw something else, or named another function', () => {
    const failures = extraArgumentFailures([
      ['quiet()', () => 1],
      ['other()', () => {
        throw new StrongroomError('ERR_AUTH');
      }],
      ['named()', refuse('another()')],
      ['plain()', () => {
        throw new TypeError('nope');
      }],
    ]);
    expect(failures.map((f) => f.split(':')[0])).toEqual(['quiet()', 'other()', 'named()', 'plain()']);
    expect(failures[0]).toBe('quiet(): returned');
  });
});
