// The factories check their options when they are called, so a mistake is a StrongroomError
// at start-up rather than a surprise on the first request; and the small parsers behind
// the options (limit sizes, media types) read what body-parser reads.
import type { IncomingMessage } from 'node:http';

import { errorCode } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { keep, SecretBuffer, sensitiveBody, StrongroomError, type SensitiveBodyOptions } from '../src/index.js';
import { DEFAULT_LIMIT, parseLimit } from '../src/limit.js';
import { contentTypeOf, mediaTypeMatches, typeTest } from '../src/media-type.js';

/** sensitiveBody with options a caller could only pass without TypeScript's help. */
function untyped(options: unknown, ...more: unknown[]): unknown {
  return (sensitiveBody as (...args: unknown[]) => unknown)(options, ...more);
}

function refusal(fn: () => unknown): StrongroomError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StrongroomError);
    return error as StrongroomError;
  }
  throw new Error('expected a StrongroomError, nothing was thrown');
}

describe('sensitiveBody() options', () => {
  it('returns a named middleware of three arguments', () => {
    const middleware = sensitiveBody({ fields: ['password'] });
    expect(middleware.name).toBe('sensitiveBodyParser');
    expect(middleware.length).toBe(3);
  });

  it('a misspelt option is ERR_INVALID_ARG naming the function and its options', () => {
    const error = refusal(() => untyped({ fields: ['password'], limt: '1kb' }));
    expect(error.code).toBe('ERR_INVALID_ARG');
    expect(error.message).toBe("sensitiveBody() has no option 'limt'; its options are: fields, limit, type, strict");
  });

  it('refuses missing options, an extra argument, and options that are not an object', () => {
    expect(errorCode(() => untyped(undefined))).toBe('ERR_INVALID_ARG');
    expect(refusal(() => untyped(undefined)).message).toContain("{ fields: ['password'] }");
    expect(refusal(() => untyped({ fields: ['a'] }, {})).message).toContain('sensitiveBody() takes at most 1 argument');
    expect(errorCode(() => untyped('password'))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => untyped(null))).toBe('ERR_INVALID_ARG');
  });

  it.each([
    ['no fields', {}],
    ['an empty list', { fields: [] }],
    ['a string, not a list', { fields: 'password' }],
    ['an empty name', { fields: [''] }],
    ['a non-string', { fields: [1] }],
    ['an empty segment', { fields: ['card..number'] }],
    ['a trailing dot', { fields: ['card.'] }],
    ['a name twice', { fields: ['pin', 'pin'] }],
    ['a field inside another', { fields: ['card', 'card.number'] }],
    ['a field around another', { fields: ['card.number', 'card'] }],
  ])('fields: %s is refused', (_what, options) => {
    const error = refusal(() => untyped(options));
    expect(error.code).toBe('ERR_INVALID_ARG');
    expect(error.message).toContain('fields');
  });

  it.each([-1, 1.5, Number.NaN, 'lots', '10 parsecs', '-1kb', '', {}, true])('limit %s is refused', (limit) => {
    const error = refusal(() => untyped({ fields: ['a'], limit }));
    expect(error.message).toContain('the limit option of sensitiveBody()');
  });

  it.each(['', 'html', 'application/json/x', 'application/', '/json', 'text plain', 5, [], ['json', 1], null])('type %j is refused', (type) => {
    const error = refusal(() => untyped({ fields: ['a'], type }));
    expect(error.message).toContain('the type option of sensitiveBody()');
  });

  it('strict must be a boolean', () => {
    expect(refusal(() => untyped({ fields: ['a'], strict: 'yes' })).message).toContain('strict');
  });

  it('the options TypeScript accepts are the ones it checks', () => {
    const options: SensitiveBodyOptions = { fields: ['a.b'], limit: '1mb', type: ['json', '+json'], strict: false };
    expect(typeof sensitiveBody(options)).toBe('function');
    expect(typeof sensitiveBody({ fields: ['a'], type: (req) => req.method === 'POST' })).toBe('function');
  });
});

describe('keep()', () => {
  it('refuses what sensitiveBody() did not hand out, and extra arguments', () => {
    const mine = SecretBuffer.alloc(4);
    try {
      expect(refusal(() => keep(mine)).message).toContain('sensitiveBody() put in req.body');
      expect(errorCode(() => keep('password' as unknown as SecretBuffer))).toBe('ERR_INVALID_ARG');
      expect(errorCode(() => (keep as (...args: unknown[]) => unknown)(mine, true))).toBe('ERR_INVALID_ARG');
    } finally {
      mine.destroy();
    }
    expect(errorCode(() => keep(mine))).toBe('ERR_DESTROYED');
  });
});

describe('limit sizes, as the bytes package reads them', () => {
  it.each([
    [undefined, DEFAULT_LIMIT],
    [0, 0],
    [1024, 1024],
    ['1024', 1024],
    ['100kb', 102400],
    ['100KB', 102400],
    ['1 kb', 1024],
    ['512b', 512],
    ['1.5mb', 1572864],
    ['1gb', 1024 ** 3],
  ])('%j is %d bytes', (value, bytes) => {
    expect(parseLimit(value, 'limit')).toBe(bytes);
  });
});

describe('media types', () => {
  const req = (contentType: string | undefined): IncomingMessage => ({ headers: contentType === undefined ? {} : { 'content-type': contentType } }) as IncomingMessage;

  it.each([
    ['application/json', { mediaType: 'application/json', charset: undefined, parametersValid: true }],
    ['Application/JSON; Charset=UTF-8', { mediaType: 'application/json', charset: 'utf-8', parametersValid: true }],
    ['application/json;charset="utf-8"', { mediaType: 'application/json', charset: 'utf-8', parametersValid: true }],
    ['application/json ; foo=bar ; charset=latin1', { mediaType: 'application/json', charset: 'latin1', parametersValid: true }],
    ['application/json;', { mediaType: 'application/json', charset: undefined, parametersValid: true }],
  ])('%s is read as %j', (header, expected) => {
    expect(contentTypeOf(req(header))).toEqual(expected);
  });

  it.each([undefined, '', 'json', 'application/', 'a/b/c', 'application/json garbage', 'application /json; charset=utf-8'])(
    'a missing header or a malformed media type (%j) matches nothing',
    (header) => {
      expect(contentTypeOf(req(header))).toBeUndefined();
      expect(typeTest('*/*', 'type')(req(header))).toBe(false);
    },
  );

  it.each([
    'application/json; charset',
    'application/json; =x',
    'text/plain; a="unterminated',
    'application/json; charset = utf-8',
    'application/json; charset=utf-8;;',
    'application/json; foo=bar baz',
  ])('parameters that do not parse (%j) leave the media type, marked, and it still matches', (header) => {
    const mediaType = (header.split(';')[0] as string).trim();
    expect(contentTypeOf(req(header))).toEqual({ mediaType, charset: undefined, parametersValid: false });
    expect(typeTest(mediaType, 'type')(req(header))).toBe(true);
  });

  it.each([
    ['application/json', 'application/json', true],
    ['application/*', 'application/json', true],
    ['*/*', 'text/plain', true],
    ['*/*+json', 'application/vnd.api+json', true],
    ['*/*+json', 'application/json', false],
    ['application/json', 'application/jsonp', false],
    ['text/*', 'application/json', false],
  ])('%s matches %s: %s', (expected, actual, result) => {
    expect(mediaTypeMatches(expected, actual)).toBe(result);
  });

  it('short names and suffixes are spelled out as type-is does', () => {
    expect(typeTest('json', 'type')(req('application/json'))).toBe(true);
    expect(typeTest('urlencoded', 'type')(req('application/x-www-form-urlencoded; charset=utf-8'))).toBe(true);
    expect(typeTest('+json', 'type')(req('application/ld+json'))).toBe(true);
    expect(typeTest(['text/plain', 'json'], 'type')(req('text/html'))).toBe(false);
  });
});
