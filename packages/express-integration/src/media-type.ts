// Content types: the request's Content-Type header read as RFC 9110 defines it, and the
// `type` option of the body middleware matched against it as body-parser (type-is) does:
// 'application/json', 'application/*', '*/*', '+json' (any type ending in +json), and the
// short names 'json' and 'urlencoded'. Written here rather than taken from npm so that
// the package adds no dependency an Express app does not already have.
import type { IncomingMessage } from 'node:http';

import { describe, invalid } from '@strongroom/core-native/validate';

export interface ContentType {
  /** 'type/subtype', lower case, without parameters. */
  mediaType: string;
  /** The charset parameter, lower case; undefined when absent (or when the parameters do not parse). */
  charset: string | undefined;
  /**
   * Whether the parameters after the media type follow RFC 9110's grammar. The media type
   * alone decides what a request is (as type-is decides it for body-parser, whose parsers
   * read such a request anyway); a reader that cannot trust the parameters must refuse it,
   * not pass it on.
   */
  parametersValid: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PARAMETER = /^[ \t]*;[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=("(?:[\t\x20-\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"|[!#$%&'*+\-.^_`|~0-9A-Za-z]+)/;

/** Whether `name` is an RFC 9110 token (a header or parameter name, a media type's part). */
export function isToken(name: string): boolean {
  return TOKEN.test(name);
}

/**
 * The Content-Type header of a request; undefined when absent or when the media type itself
 * (the text before the first ';', trimmed) is malformed. Parameters that do not parse leave
 * the media type as it is, with `parametersValid: false`.
 */
export function contentTypeOf(req: IncomingMessage): ContentType | undefined {
  const header = req.headers['content-type'];
  if (typeof header !== 'string') return undefined;
  const end = header.indexOf(';');
  const mediaType = (end === -1 ? header : header.slice(0, end)).trim().toLowerCase();
  const slash = mediaType.indexOf('/');
  if (slash === -1 || !TOKEN.test(mediaType.slice(0, slash)) || !TOKEN.test(mediaType.slice(slash + 1))) return undefined;
  let charset: string | undefined;
  let rest = end === -1 ? '' : header.slice(end);
  while (rest.trim() !== '') {
    const match = PARAMETER.exec(rest);
    if (match === null) {
      if (/^[ \t]*;[ \t]*$/.test(rest)) break; // a trailing ';' is tolerated, as by content-type
      return { mediaType, charset: undefined, parametersValid: false };
    }
    const name = (match[1] as string).toLowerCase();
    let value = match[2] as string;
    if (value.startsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    if (name === 'charset') charset = value.toLowerCase();
    rest = rest.slice(match[0].length);
  }
  return { mediaType, charset, parametersValid: true };
}

/** Decides whether a request is one the middleware reads. */
export type TypeTest = (req: IncomingMessage) => boolean;

/** What the `type` option takes: a media type, a list of them, or a function of the request. */
export type TypeOption = string | readonly string[] | ((req: IncomingMessage) => boolean);

/** A `type` entry made comparable: 'json' becomes 'application/json', '+json' becomes '*\/*+json'. */
function normalize(type: unknown, what: string): string {
  if (typeof type !== 'string') throw invalid(`${what} must be a media type string, got ${describe(type)}`);
  const lower = type.toLowerCase();
  if (lower === 'json') return 'application/json';
  if (lower === 'urlencoded') return 'application/x-www-form-urlencoded';
  const full = lower.startsWith('+') ? `*/*${lower}` : lower;
  const [main = '', sub = '', extra] = full.split('/');
  const part = (text: string, wildcardSuffix: boolean): boolean =>
    text === '*' || TOKEN.test(text) || (wildcardSuffix && text.startsWith('*+') && TOKEN.test(text.slice(2)));
  if (extra !== undefined || !part(main, false) || !part(sub, true)) {
    throw invalid(
      `${what} must be a media type such as 'application/json', 'application/*', '+json', 'json' or 'urlencoded', ` +
        `got '${type}'`,
    );
  }
  return full;
}

/** type-is's rule: does the request's media type match an expected one (with wildcards)? */
export function mediaTypeMatches(expected: string, actual: string): boolean {
  const [expectedMain, expectedSub = ''] = expected.split('/');
  const [actualMain, actualSub = ''] = actual.split('/');
  if (expectedMain !== '*' && expectedMain !== actualMain) return false;
  if (expectedSub.startsWith('*+')) {
    return expectedSub.length <= actualSub.length + 1 && actualSub.endsWith(expectedSub.slice(1));
  }
  return expectedSub === '*' || expectedSub === actualSub;
}

/** The `type` option checked at start-up and turned into a test of requests. */
export function typeTest(option: unknown, what: string): TypeTest {
  if (typeof option === 'function') {
    const test = option as (req: IncomingMessage) => unknown;
    return (req) => Boolean(test(req));
  }
  const list = typeof option === 'string' ? [option] : option;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid(`${what} must be a media type, a non-empty array of them, or a function of the request, got ${describe(option)}`);
  }
  const expected = list.map((type: unknown, i) => normalize(type, typeof option === 'string' ? what : `${what}[${i}]`));
  return (req) => {
    const actual = contentTypeOf(req);
    return actual !== undefined && expected.some((type) => mediaTypeMatches(type, actual.mediaType));
  };
}

/** Whether a request has a body at all (type-is's hasBody): a Transfer-Encoding or a Content-Length. */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;
}
