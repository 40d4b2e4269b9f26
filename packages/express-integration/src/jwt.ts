// JSON Web Tokens signed with HS256 or HS512 (RFC 7519, RFC 7515 compact form) under a
// guarded key: the HMAC runs natively on the key's guarded bytes.
//
//   token     = base64url(header) "." base64url(payload) "." base64url(tag)
//   tag       = HMAC-SHA-256 or -512(key, base64url(header) "." base64url(payload))
//
// Verification pins the algorithm: the caller names the algorithms it accepts, the
// header's `alg` must be one of them, and only HS256 and HS512 exist here, so `alg: none`
// and algorithm confusion (an RS256 header meant to be checked with a public key used as
// an HMAC key) are refused before any MAC is computed. The tag must have its full length
// (no truncation for JWT) and its one canonical base64url spelling, and is compared in
// constant time. Then the registered claims: exp and nbf against the clock with a
// tolerance, iss and aud when the caller asks. Keys shorter than the hash output are
// refused (RFC 7518 §3.2). Errors never quote the token or its claims.
import { StrongroomError, type StrongroomErrorCode } from '@strongroom/core-native';
import { checkArgs, checkInteger, checkOptions, checkText, describe, invalid } from '@strongroom/core-native/validate';

import { base64url, decodeStrict } from './encoding.js';
import { checkKeys, type HmacKey, type HmacKeys } from './keys.js';

export type JwtAlgorithm = 'HS256' | 'HS512';
const HASH = { HS256: 'sha256', HS512: 'sha512' } as const;
const TAG_BYTES = { HS256: 32, HS512: 64 } as const;
const ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'HS512'];
/** The longest token verifyJwt() reads (Node's own header limit is 16 KiB). */
export const MAX_JWT_LENGTH = 16 * 1024;

/** A JWT claims set: any JSON object; the registered claims typed. */
export interface JwtPayload {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  [claim: string]: unknown;
}

export interface SignJwtOptions {
  /** Default 'HS256'. */
  algorithm?: JwtAlgorithm;
  /** Seconds from now until `exp`. */
  expiresIn?: number;
  /** Seconds from now until `nbf`. */
  notBefore?: number;
  issuer?: string;
  subject?: string;
  audience?: string | string[];
  jwtId?: string;
  /** The header's `kid`. */
  keyId?: string;
  /** Leave out `iat` (by default it is the time of signing). */
  noTimestamp?: boolean;
  /** The clock, for tests (default: now). */
  currentDate?: Date;
}

export interface VerifyJwtOptions {
  /** The algorithms accepted: required, so the token cannot choose. */
  algorithms: readonly JwtAlgorithm[];
  /** Accepted issuers (iss must be one). */
  issuer?: string | readonly string[];
  /** Accepted audiences (aud must contain one). */
  audience?: string | readonly string[];
  /** The subject required (sub). */
  subject?: string;
  /** Seconds of clock skew allowed for exp, nbf and (with maxTokenAge) iat (default 0). */
  clockTolerance?: number;
  /** The most seconds since `iat` (iat then required, and not in the future). */
  maxTokenAge?: number;
  /** The clock, for tests (default: now). */
  currentDate?: Date;
}

const SIGN_KEYS = ['algorithm', 'expiresIn', 'notBefore', 'issuer', 'subject', 'audience', 'jwtId', 'keyId', 'noTimestamp', 'currentDate'] as const;
const VERIFY_KEYS = ['algorithms', 'issuer', 'audience', 'subject', 'clockTolerance', 'maxTokenAge', 'currentDate'] as const;
const MAX_SECONDS = 100 * 365 * 24 * 3600;

function refused(code: StrongroomErrorCode, why: string): StrongroomError {
  return new StrongroomError(code, `the JWT was refused: ${why}`);
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

function checkDate(value: unknown): Date {
  if (value === undefined) return new Date();
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(`currentDate must be a valid Date, got ${describe(value)}`);
  return value;
}

function checkNames(value: unknown, what: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) throw invalid(`${what} must be a string or a non-empty array of strings`);
  return list.map((item) => checkText(item, `each ${what}`));
}

function minKeyBytes(algorithm: JwtAlgorithm): number {
  return TAG_BYTES[algorithm];
}

function encodeJson(value: unknown): string {
  return base64url(new TextEncoder().encode(JSON.stringify(value)));
}

/** A signed compact JWT of `payload` (a plain object) under `key`. */
export function signJwt(payload: JwtPayload, key: HmacKey, options?: SignJwtOptions): string {
  checkArgs(arguments.length, 3, 'signJwt()');
  const given = checkOptions(options, 'signJwt()', SIGN_KEYS);
  const algorithm = given.algorithm === undefined ? 'HS256' : checkAlgorithm(given.algorithm);
  const [signer] = checkKeys(key, 'the key of signJwt()', minKeyBytes(algorithm)) as [HmacKey];
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw invalid(`the payload of signJwt() must be a plain object of claims, got ${describe(payload)}`);
  }
  const now = seconds(checkDate(given.currentDate));
  const claims: JwtPayload = { ...payload };
  if (given.noTimestamp !== true) claims.iat = now;
  if (given.expiresIn !== undefined) claims.exp = now + checkInteger(given.expiresIn, 'expiresIn', 0, MAX_SECONDS);
  if (given.notBefore !== undefined) claims.nbf = now + checkInteger(given.notBefore, 'notBefore', 0, MAX_SECONDS);
  if (given.issuer !== undefined) claims.iss = checkText(given.issuer, 'issuer');
  if (given.subject !== undefined) claims.sub = checkText(given.subject, 'subject');
  if (given.audience !== undefined) claims.aud = typeof given.audience === 'string' ? checkText(given.audience, 'audience') : [...(checkNames(given.audience, 'audience') ?? [])];
  if (given.jwtId !== undefined) claims.jti = checkText(given.jwtId, 'jwtId');
  const header: Record<string, string> = { alg: algorithm, typ: 'JWT' };
  if (given.keyId !== undefined) header.kid = checkText(given.keyId, 'keyId');
  const input = `${encodeJson(header)}.${encodeJson(claims)}`;
  return `${input}.${base64url(signer.hmac(HASH[algorithm], input))}`;
}

function checkAlgorithm(value: unknown): JwtAlgorithm {
  if (typeof value !== 'string' || !(ALGORITHMS as readonly string[]).includes(value)) {
    throw invalid(`algorithm must be 'HS256' or 'HS512' (the HMAC algorithms; 'none' and public-key algorithms are not offered), got ${describe(value)}`);
  }
  return value as JwtAlgorithm;
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  const bytes = decodeStrict(segment, 'base64url');
  if (bytes === undefined || bytes.length === 0) throw refused('ERR_JWT_INVALID', `its ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw refused('ERR_JWT_INVALID', `its ${what} is not JSON in UTF-8`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refused('ERR_JWT_INVALID', `its ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** The checked options of verifyJwt(), resolved once (the middleware resolves them at start-up). */
export interface JwtVerifier {
  readonly algorithms: readonly JwtAlgorithm[];
  verify(token: string, currentDate?: Date): JwtPayload;
}

/** Checks the options and keys once; verify() then does the per-token work. */
export function jwtVerifier(keys: HmacKeys, options: VerifyJwtOptions, fn: string): JwtVerifier {
  const given = checkOptions(options, fn, VERIFY_KEYS);
  if (given.algorithms === undefined) {
    throw invalid(`${fn} needs { algorithms }, e.g. ['HS256']: the caller, not the token, chooses the algorithm`);
  }
  if (!Array.isArray(given.algorithms) || given.algorithms.length === 0) throw invalid('algorithms must be a non-empty array');
  const algorithms = Object.freeze([...new Set(given.algorithms.map(checkAlgorithm))]);
  const keyList = checkKeys(keys, `the key of ${fn}`, Math.max(...algorithms.map(minKeyBytes)));
  const issuers = checkNames(given.issuer, 'issuer');
  const audiences = checkNames(given.audience, 'audience');
  const subject = given.subject === undefined ? undefined : checkText(given.subject, 'subject');
  const tolerance = given.clockTolerance === undefined ? 0 : checkInteger(given.clockTolerance, 'clockTolerance', 0, MAX_SECONDS);
  const maxAge = given.maxTokenAge === undefined ? undefined : checkInteger(given.maxTokenAge, 'maxTokenAge', 0, MAX_SECONDS);
  const fixedDate = given.currentDate === undefined ? undefined : checkDate(given.currentDate);

  const verify = (token: string, currentDate?: Date): JwtPayload => {
    if (typeof token !== 'string') throw refused('ERR_JWT_INVALID', 'it is not a string');
    if (token.length > MAX_JWT_LENGTH) throw refused('ERR_JWT_INVALID', `it is longer than ${MAX_JWT_LENGTH} characters`);
    const parts = token.split('.');
    if (parts.length !== 3) throw refused('ERR_JWT_INVALID', 'it is not three dot-separated parts (compact JWS)');
    const [headerPart, payloadPart, tagPart] = parts as [string, string, string];
    const header = decodeSegment(headerPart, 'header');
    const alg = header.alg;
    if (alg === 'none' || typeof alg !== 'string' || !(algorithms as readonly string[]).includes(alg)) {
      throw refused('ERR_JWT_INVALID', `its algorithm is not one of those accepted (${algorithms.join(', ')})`);
    }
    if (header.crit !== undefined) throw refused('ERR_JWT_INVALID', 'its header has critical extensions ("crit"), which are not supported');
    const algorithm = alg as JwtAlgorithm;
    const tag = decodeStrict(tagPart, 'base64url');
    const input = `${headerPart}.${payloadPart}`;
    if (tag === undefined || tag.length !== TAG_BYTES[algorithm] || !keyList.some((key) => key.hmacVerify(HASH[algorithm], input, tag))) {
      throw refused('ERR_JWT_SIGNATURE', 'its signature does not verify');
    }
    const payload = decodeSegment(payloadPart, 'payload') as JwtPayload;
    const now = seconds(currentDate ?? fixedDate ?? new Date());
    checkTimes(payload, now, tolerance, maxAge);
    if (issuers !== undefined && (typeof payload.iss !== 'string' || !issuers.includes(payload.iss))) {
      throw refused('ERR_JWT_CLAIM', 'its issuer (iss) is not one of those accepted');
    }
    if (audiences !== undefined) {
      const aud = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
      if (!aud.some((entry) => typeof entry === 'string' && audiences.includes(entry))) {
        throw refused('ERR_JWT_CLAIM', 'its audience (aud) holds none of those accepted');
      }
    }
    if (subject !== undefined && payload.sub !== subject) throw refused('ERR_JWT_CLAIM', 'its subject (sub) is not the one required');
    return payload;
  };
  return { algorithms, verify };
}

function checkTimes(payload: JwtPayload, now: number, tolerance: number, maxAge: number | undefined): void {
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    if (payload[claim] !== undefined && (typeof payload[claim] !== 'number' || !Number.isFinite(payload[claim]))) {
      throw refused('ERR_JWT_CLAIM', `its "${claim}" claim is not a number`);
    }
  }
  if (payload.exp !== undefined && payload.exp <= now - tolerance) throw refused('ERR_JWT_EXPIRED', 'it has expired ("exp")');
  if (payload.nbf !== undefined && payload.nbf > now + tolerance) throw refused('ERR_JWT_NOT_YET_VALID', 'it is not valid yet ("nbf")');
  if (maxAge !== undefined) {
    if (payload.iat === undefined) throw refused('ERR_JWT_CLAIM', 'it has no "iat" claim, which maxTokenAge needs');
    if (now - payload.iat > maxAge + tolerance) throw refused('ERR_JWT_EXPIRED', 'it is older than maxTokenAge ("iat")');
    // An age below zero would pass any maxTokenAge: "iat" must be in the past (as jose checks).
    if (payload.iat > now + tolerance) throw refused('ERR_JWT_CLAIM', 'its "iat" claim is in the future; it should be in the past');
  }
}

/**
 * The payload of `token` once its signature (under `key`, or any of several keys) and its
 * claims check out; otherwise a StrongroomError: ERR_JWT_INVALID (malformed, or an
 * algorithm not accepted), ERR_JWT_SIGNATURE, ERR_JWT_EXPIRED, ERR_JWT_NOT_YET_VALID,
 * ERR_JWT_CLAIM. Bad options are ERR_INVALID_ARG.
 */
export function verifyJwt(token: string, key: HmacKeys, options: VerifyJwtOptions): JwtPayload {
  checkArgs(arguments.length, 3, 'verifyJwt()');
  return jwtVerifier(key, options, 'verifyJwt()').verify(token);
}
