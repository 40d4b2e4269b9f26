// @strongroom/express: Express 4 and 5 middleware that keeps secrets out of the JS heap.
// sensitiveBody() parses request bodies with the listed fields decoded straight into
// SecretBuffers; keep() keeps one past its response. strongroom() puts a store of named
// Enclaves on the app; gracefulShutdown() drains, purges and exits. Every middleware factory here checks
// its options when it is called (a misspelt option is a StrongroomError at start-up),
// returns a named function, and passes errors to next() as HttpErrors.
// See README.md for what is protected and what is not.
//
// The shared pieces each middleware builds on: types.ts (Middleware, NextFunction),
// http-error.ts (HttpError, httpError), limit.ts (parseLimit), media-type.ts (typeTest,
// contentTypeOf, hasBody), read-body.ts (readBody: a raw body under a limit, chunks wiped;
// discardRest), secrets.ts (releaseWithResponse, keep, decodeSecret), utf8.ts (Utf8Writer).
export { sensitiveBody, type SensitiveBodyOptions } from './sensitive-body.js';
export { keep } from './secrets.js';
export {
  strongroom,
  Secrets,
  type SecretSource,
  type SecretsInput,
  type SecretsRequest,
  type StrongroomMiddleware,
  type StrongroomOptions,
} from './store.js';
export { gracefulShutdown, DEFAULT_SHUTDOWN_TIMEOUT, type GracefulShutdownOptions } from './shutdown.js';
export {
  verifyWebhook,
  stripeCryptoProvider,
  DEFAULT_WEBHOOK_LIMIT,
  DEFAULT_WEBHOOK_TOLERANCE,
  type StripeCryptoProvider,
  type VerifyWebhookOptions,
  type WebhookInfo,
  type WebhookScheme,
} from './webhooks.js';
export { signJwt, verifyJwt, MAX_JWT_LENGTH, type JwtAlgorithm, type JwtPayload, type SignJwtOptions, type VerifyJwtOptions } from './jwt.js';
export { jwtAuth, type JwtAuthOptions } from './jwt-auth.js';
export { signCookie, unsignCookie, signedCookies, type SignedCookiesOptions } from './cookies.js';
export type { HmacKey, HmacKeys } from './keys.js';
export type { TagEncoding } from './encoding.js';
export { HttpError } from './http-error.js';
export type { TypeOption } from './media-type.js';
export type { Middleware, NextFunction } from './types.js';
export { SecretBuffer } from '@strongroom/buffer';
// The login route's tools, re-exported so an app needs one import: Argon2id on a
// SecretBuffer or an Enclave, and the Enclave itself.
export { Enclave, hashPassword, verifyPassword, needsRehash, type PasswordHashOptions } from '@strongroom/enclave';
export { StrongroomError, isStrongroomError, type StrongroomErrorCode } from '@strongroom/core-native';
