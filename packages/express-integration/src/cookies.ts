// Signed cookies in the cookie-signature format that Express's res.cookie({ signed }) and
// cookie-parser use, with guarded keys:
//
//   cookie value = "s:" value "." base64(HMAC-SHA-256(key, value)), '=' padding removed
//
// signCookie() makes the value to give res.cookie(); signedCookies({ secret }) fills
// req.signedCookies as cookie-parser does (a cookie that fails its check is `false`) and
// req.cookies with the unsigned ones when nothing else has. Several keys rotate: the first
// signs, any verifies. The signature is decoded strictly (its one canonical spelling) and
// checked in constant time, natively. cookie-parser's "j:" JSON cookies are left as text.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { checkArgs, checkOptions, describe, invalid } from '@strongroom/core-native/validate';

import { base64NoPad, decodeStrict } from './encoding.js';
import { checkKeys, type HmacKey, type HmacKeys } from './keys.js';
import type { NextFunction } from './types.js';

const PREFIX = 's:';
const TAG_BYTES = 32;

function checkValue(value: unknown, fn: string): string {
  if (typeof value !== 'string') throw invalid(`${fn} signs a string value, got ${describe(value)}`);
  return value;
}

/** "s:" + value + "." + signature: the value to pass to res.cookie(name, ...). */
export function signCookie(value: string, secret: HmacKeys): string {
  checkArgs(arguments.length, 2, 'signCookie()');
  const [key] = checkKeys(secret, 'the secret of signCookie()') as [HmacKey];
  const text = checkValue(value, 'signCookie()');
  return `${PREFIX}${text}.${base64NoPad(key.hmac('sha256', text))}`;
}

function unsignWith(keys: readonly HmacKey[], cookie: string): string | false {
  const body = cookie.slice(PREFIX.length);
  const dot = body.lastIndexOf('.');
  if (dot < 0) return false;
  const value = body.slice(0, dot);
  const text = body.slice(dot + 1);
  // cookie-signature writes no '=' padding; a padded spelling is not the signature it wrote
  const tag = text.includes('=') ? undefined : decodeStrict(text, 'base64');
  if (tag === undefined || tag.length !== TAG_BYTES) return false;
  return keys.some((key) => key.hmacVerify('sha256', value, tag)) ? value : false;
}

/**
 * cookie-parser's signedCookie(): the value of a signed cookie ("s:..."), false when its
 * signature does not verify under any of the keys, and an unsigned cookie unchanged.
 */
export function unsignCookie(cookie: string, secret: HmacKeys): string | false {
  checkArgs(arguments.length, 2, 'unsignCookie()');
  const keys = checkKeys(secret, 'the secret of unsignCookie()');
  const text = checkValue(cookie, 'unsignCookie()');
  return text.startsWith(PREFIX) ? unsignWith(keys, text) : text;
}

function decodeValue(raw: string): string {
  let value = raw.trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The cookies of a Cookie header, first occurrence of a name wins (as the cookie package does). */
function parseCookies(header: string): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    if (name === '' || cookies.has(name)) continue;
    cookies.set(name, decodeValue(pair.slice(eq + 1)));
  }
  return cookies;
}

export interface SignedCookiesOptions {
  /** The key, or keys for rotation (the first signs, any verifies). */
  secret: HmacKeys;
}

interface CookieRequest extends IncomingMessage {
  cookies?: Record<string, string>;
  signedCookies?: Record<string, string | false>;
}

/** Fills req.signedCookies (and req.cookies, unless already set) from the Cookie header. */
export function signedCookies(options: SignedCookiesOptions): (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void {
  checkArgs(arguments.length, 1, 'signedCookies()');
  const given = checkOptions(options, 'signedCookies()', ['secret']);
  if (given.secret === undefined) throw invalid('signedCookies() needs { secret }: a SecretBuffer, an Enclave, or an array of them');
  const keys = checkKeys(given.secret, 'the secret of signedCookies()');

  return function strongroomSignedCookies(req: IncomingMessage, _res: ServerResponse, next: NextFunction): void {
    const request = req as CookieRequest;
    const signed: Record<string, string | false> = Object.create(null) as Record<string, string | false>;
    const plain: Record<string, string> = Object.create(null) as Record<string, string>;
    const header = req.headers.cookie;
    if (header !== undefined) {
      for (const [name, value] of parseCookies(header)) {
        if (value.startsWith(PREFIX)) signed[name] = unsignWith(keys, value);
        else plain[name] = value;
      }
    }
    request.signedCookies = signed;
    request.cookies ??= plain;
    next();
  };
}
