// verifyWebhook({ secret, scheme, tolerance, limit, ... }): middleware that reads the raw
// body itself (bounded), checks the sender's HMAC signature under guarded keys, and leaves
// the verified raw body on req.body (a Buffer, as express.raw() gives) for the handler.
//
//   'github'             X-Hub-Signature-256: sha256=hex(HMAC-SHA-256(key, body))
//   'stripe'             Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]
//                        over "<t>." body; every v1 is tried (Stripe's key rotation)
//   'standard-webhooks'  webhook-id, webhook-timestamp, webhook-signature: "v1,<base64> ..."
//                        over "<id>.<timestamp>." body; the key is the base64 after
//                        "whsec_" (decoded once, at start-up, into guarded memory)
//   'hmac-sha256', 'hmac-sha512'   a header of your choosing, an optional prefix, and
//                        hex (lower case), base64 or base64url, over the body
//
// Signatures are decoded strictly and must have the full tag length. Each is compared in
// constant time, natively, against each key (the first key of a rotation signs nothing
// here; any of them verifies); a header with more than MAX_SIGNATURES distinct ones is
// refused before any MAC. Schemes with a timestamp refuse one further than
// `tolerance` seconds (default 300) from now in either direction: a replay of an old
// delivery fails. GitHub's scheme has no timestamp and so no replay protection; use the
// X-GitHub-Delivery id for that. Any failure is 401 'webhook signature verification
// failed', whatever the reason: the answer does not tell a forger which part was wrong.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { base64ToSecret } from '@strongroom/buffer/text';
import { Enclave, SecretBuffer } from '@strongroom/enclave';
import { checkArgs, checkInteger, checkOneOf, checkOptions, checkText, invalid } from '@strongroom/core-native/validate';

import { decodeStrict, TAG_ENCODINGS, type TagEncoding } from './encoding.js';
import { httpError } from './http-error.js';
import { checkKeys, type HmacKey, type HmacKeys } from './keys.js';
import { parseLimit } from './limit.js';
import { isToken } from './media-type.js';
import { readBody } from './read-body.js';
import type { NextFunction } from './types.js';

export type WebhookScheme = 'github' | 'stripe' | 'standard-webhooks' | 'hmac-sha256' | 'hmac-sha512';
const SCHEMES: readonly WebhookScheme[] = ['github', 'stripe', 'standard-webhooks', 'hmac-sha256', 'hmac-sha512'];

/** Seconds a signed timestamp may be from now (Stripe's and Standard Webhooks' 5 minutes). */
export const DEFAULT_WEBHOOK_TOLERANCE = 300;
/** The largest body read unless told otherwise: 1 MiB (GitHub caps its payloads at 25 MB). */
export const DEFAULT_WEBHOOK_LIMIT = 1024 * 1024;

export interface VerifyWebhookOptions {
  /** The signing key, or keys during a rotation (any verifies). */
  secret: HmacKeys;
  scheme: WebhookScheme;
  /** Seconds a signed timestamp may be from now (stripe, standard-webhooks; default 300). */
  tolerance?: number;
  /** The largest body read: bytes or '1mb' (default 1 MiB); more is 413. */
  limit?: number | string;
  /** hmac-sha256/512 only: the name of the header carrying the signature, an RFC 9110 token (required there). */
  header?: string;
  /** hmac-sha256/512 only: text before the signature in the header (default none). */
  prefix?: string;
  /** hmac-sha256/512 only: 'hex' (default), 'base64' or 'base64url'. */
  encoding?: TagEncoding;
}

/** What verifyWebhook puts on req.webhook once the signature checks out. */
export interface WebhookInfo {
  scheme: WebhookScheme;
  /** The signed timestamp (stripe, standard-webhooks), in seconds. */
  timestamp?: number;
  /** The delivery's id (standard-webhooks' webhook-id, GitHub's X-GitHub-Delivery). */
  id?: string;
}

type Hash = 'sha256' | 'sha512';

// What a scheme reads from the headers: the signed prefix, the candidate tags, the
// timestamp to check; undefined when the headers are missing or malformed.
interface Claim {
  prefix: string;
  /** Distinct, well-formed; undefined when there were more than MAX_SIGNATURES. */
  tags: Buffer[] | undefined;
  timestamp?: number;
  id?: string;
}
type Reader = (req: IncomingMessage) => Claim | undefined;

function single(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function timestampOf(text: string | undefined): number | undefined {
  return text !== undefined && /^\d{1,12}$/.test(text) ? Number(text) : undefined;
}

// The most distinct signatures one request may carry. Senders put one, or two during a key
// rotation (Stripe's v1 pair, a Standard Webhooks list); each costs a MAC of the whole body
// per key, so a header repeating hundreds of them (a cheap way to block the event loop) is
// refused like any other failure. The MAC itself never leaves native code: a MAC of an
// attacker's body under the key is a forgery of that body, and would sit in the JS heap.
export const MAX_SIGNATURES = 8;

/** The distinct well-formed tags of a header; undefined (refused) past MAX_SIGNATURES. */
function tagsOf(texts: string[], encoding: TagEncoding, bytes: number): Buffer[] | undefined {
  const tags: Buffer[] = [];
  for (const text of texts) {
    const tag = decodeStrict(text, encoding);
    if (tag === undefined || tag.length !== bytes || tags.some((seen) => seen.equals(tag))) continue;
    if (tags.length === MAX_SIGNATURES) return undefined;
    tags.push(tag);
  }
  return tags;
}

const readGithub: Reader = (req) => {
  const header = single(req, 'x-hub-signature-256');
  if (header === undefined || !header.startsWith('sha256=')) return undefined;
  const id = single(req, 'x-github-delivery');
  return { prefix: '', tags: tagsOf([header.slice(7)], 'hex', 32), ...(id === undefined ? {} : { id }) };
};

const readStripe: Reader = (req) => {
  const header = single(req, 'stripe-signature');
  if (header === undefined) return undefined;
  let timestamp: number | undefined;
  const v1: string[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') timestamp = timestampOf(value);
    else if (key === 'v1') v1.push(value);
  }
  if (timestamp === undefined) return undefined;
  return { prefix: `${timestamp}.`, tags: tagsOf(v1, 'hex', 32), timestamp };
};

const readStandard: Reader = (req) => {
  const id = single(req, 'webhook-id');
  const stamp = single(req, 'webhook-timestamp');
  const header = single(req, 'webhook-signature');
  const timestamp = timestampOf(stamp);
  if (id === undefined || timestamp === undefined || header === undefined) return undefined;
  const v1 = header
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => entry.slice(3));
  return { prefix: `${id}.${stamp}.`, tags: tagsOf(v1, 'base64', 32), timestamp, id };
};

function readPlain(header: string, prefix: string, encoding: TagEncoding, bytes: number): Reader {
  return (req) => {
    const value = single(req, header);
    if (value === undefined || !value.startsWith(prefix)) return undefined;
    return { prefix: '', tags: tagsOf([value.slice(prefix.length)], encoding, bytes) };
  };
}

const WHSEC = 'whsec_';
const EMPTY = Symbol('empty key');

/**
 * A Standard Webhooks key: the bytes base64-decoded from after "whsec_", decoded byte by
 * byte from one guarded buffer into another (never a string); a key without the prefix is
 * used as it is, and "whsec_" with nothing after it is refused. An Enclave gives an Enclave.
 */
function standardKey(key: HmacKey, what: string): HmacKey {
  const opened = key instanceof Enclave ? key.open() : key;
  try {
    const decoded = opened.read((view) => {
      if (view.length < WHSEC.length || !WHSEC.split('').every((c, i) => view[i] === c.charCodeAt(0))) return undefined;
      if (view.length === WHSEC.length) return EMPTY;
      return decodeBase64Guarded(view.subarray(WHSEC.length));
    });
    if (decoded === EMPTY) throw invalid(`${what} is empty: nothing follows 'whsec_'; give the whole key as the sender shows it`);
    if (decoded === undefined) return key;
    if (key instanceof Enclave) return Enclave.seal(decoded);
    return decoded.freeze();
  } finally {
    if (key instanceof Enclave) opened.destroy();
  }
}

// base64 (padding optional, canonical) from a view of guarded bytes into a new frozen SecretBuffer.
function decodeBase64Guarded(text: Uint8Array): SecretBuffer {
  try {
    return base64ToSecret(text);
  } catch {
    throw invalid("the key after 'whsec_' is not canonical base64");
  }
}

/** Checks webhook signatures; see the top of this file. */
export function verifyWebhook(options: VerifyWebhookOptions): (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void {
  checkArgs(arguments.length, 1, 'verifyWebhook()');
  const given = checkOptions(options, 'verifyWebhook()', ['secret', 'scheme', 'tolerance', 'limit', 'header', 'prefix', 'encoding']);
  if (given.scheme === undefined) throw invalid(`verifyWebhook() needs { scheme }: one of ${SCHEMES.map((s) => `'${s}'`).join(', ')}`);
  const scheme = checkOneOf(given.scheme, 'scheme', SCHEMES);
  if (given.secret === undefined) throw invalid('verifyWebhook() needs { secret }: a SecretBuffer, an Enclave, or an array of them');
  const plain = scheme === 'hmac-sha256' || scheme === 'hmac-sha512';
  for (const option of ['header', 'prefix', 'encoding'] as const) {
    if (!plain && given[option] !== undefined) throw invalid(`verifyWebhook(): '${option}' applies to the hmac-sha256 and hmac-sha512 schemes only; '${scheme}' fixes its own`);
  }
  const hash: Hash = scheme === 'hmac-sha512' ? 'sha512' : 'sha256';
  let keys = checkKeys(given.secret, 'the secret of verifyWebhook()');
  if (scheme === 'standard-webhooks') {
    const what = Array.isArray(given.secret) ? (i: number) => `the secret of verifyWebhook()[${i}]` : () => 'the secret of verifyWebhook()';
    keys = Object.freeze(keys.map((key, i) => standardKey(key, what(i))));
  }
  const tolerance = given.tolerance === undefined ? DEFAULT_WEBHOOK_TOLERANCE : checkInteger(given.tolerance, 'tolerance', 1, 10 * 365 * 24 * 3600);
  const limit = given.limit === undefined ? DEFAULT_WEBHOOK_LIMIT : parseLimit(given.limit, 'limit');
  let reader: Reader;
  if (plain) {
    if (given.header === undefined) throw invalid(`verifyWebhook() with scheme '${scheme}' needs { header }: the name of the header that carries the signature`);
    const header = checkText(given.header, 'header');
    if (!isToken(header)) {
      throw invalid("header must be a header name (RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~), such as 'X-Signature', without ':' or spaces");
    }
    const prefix = given.prefix === undefined ? '' : (given.prefix as string);
    if (typeof prefix !== 'string') throw invalid('prefix must be a string');
    const encoding = given.encoding === undefined ? 'hex' : checkOneOf(given.encoding, 'encoding', TAG_ENCODINGS);
    reader = readPlain(header.toLowerCase(), prefix, encoding, hash === 'sha512' ? 64 : 32);
  } else {
    reader = scheme === 'github' ? readGithub : scheme === 'stripe' ? readStripe : readStandard;
  }

  return function strongroomVerifyWebhook(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    const request = req as IncomingMessage & { _body?: boolean; body?: unknown; webhook?: WebhookInfo };
    // body-parser 1 marks req._body; body-parser 2 (Express 5) does not, but the stream has ended.
    if (request._body === true || req.readableEnded) {
      next(httpError(500, 'webhook.body.parsed', 'the body was parsed before verifyWebhook() could read it raw: mount verifyWebhook() before any body parser on this route'));
      return;
    }
    const refuse = (): void => next(httpError(401, 'webhook.signature', 'webhook signature verification failed'));
    const claim = reader(req);
    const tags = claim?.tags;
    if (claim === undefined || tags === undefined || tags.length === 0) {
      refuse();
      return;
    }
    if (claim.timestamp !== undefined && Math.abs(Math.floor(Date.now() / 1000) - claim.timestamp) > tolerance) {
      refuse();
      return;
    }
    readBody(req, res, limit, (error, body) => {
      if (error !== undefined || body === undefined) {
        next(error);
        return;
      }
      const signed = claim.prefix === '' ? body : Buffer.concat([Buffer.from(claim.prefix), body]);
      // Each (key, tag) pair is compared natively in constant time: at most MAX_SIGNATURES
      // distinct tags per key (tagsOf), and no MAC of the body ever reaches JS.
      const ok = keys.some((key) => tags.some((tag) => key.hmacVerify(hash, signed, tag)));
      if (!ok) {
        body.fill(0);
        refuse();
        return;
      }
      request.body = body;
      request._body = true;
      request.webhook = { scheme, ...(claim.timestamp === undefined ? {} : { timestamp: claim.timestamp }), ...(claim.id === undefined ? {} : { id: claim.id }) };
      next();
    });
  };
}

/** What stripe.webhooks.constructEvent() takes as its cryptoProvider (stripe's CryptoProvider). */
export interface StripeCryptoProvider {
  computeHMACSignature(payload: string, secret: string): string;
  computeHMACSignatureAsync(payload: string, secret: string): Promise<string>;
  computeSHA256Async(data: Uint8Array): Promise<Uint8Array>;
}

/**
 * A crypto provider for the official `stripe` package, so that
 * `stripe.webhooks.constructEvent(body, header, 'strongroom', tolerance, provider)` runs its
 * HMAC natively under the guarded key. The secret argument Stripe passes along is ignored:
 * give it any placeholder, never the real key. One key, never an array (Stripe compares the
 * one result itself, so a second key would never be tried).
 */
export function stripeCryptoProvider(secret: HmacKey): StripeCryptoProvider {
  checkArgs(arguments.length, 1, 'stripeCryptoProvider()');
  if (Array.isArray(secret)) {
    throw invalid('stripeCryptoProvider() takes one key, not an array: Stripe compares the one signature it computes; make one provider per key to try several');
  }
  const [key] = checkKeys(secret, 'the secret of stripeCryptoProvider()') as [HmacKey];
  const compute = (payload: string): string => Buffer.from(key.hmac('sha256', payload)).toString('hex');
  return {
    computeHMACSignature: (payload) => compute(payload),
    computeHMACSignatureAsync: async (payload) => compute(payload),
    computeSHA256Async: async (data) => new Uint8Array(createHash('sha256').update(data).digest()),
  };
}
