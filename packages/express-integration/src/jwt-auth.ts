// jwtAuth({ secret, algorithms, ... }): middleware that requires `Authorization: Bearer
// <JWT>` (the scheme name in any case), verifies it with verifyJwt's rules under guarded
// keys, and puts the payload on req.auth (express-jwt's name). A missing or refused token is 401 with
// `WWW-Authenticate: Bearer` (RFC 6750), the refusal's reason kept out of the answer;
// `credentialsRequired: false` lets requests without a token through (no req.auth).
import type { IncomingMessage, ServerResponse } from 'node:http';

import { checkArgs, checkBoolean, checkOptions, checkText } from '@strongroom/core-native/validate';

import { httpError } from './http-error.js';
import { jwtVerifier, type JwtPayload, type VerifyJwtOptions } from './jwt.js';
import type { HmacKeys } from './keys.js';
import type { NextFunction } from './types.js';

export interface JwtAuthOptions extends VerifyJwtOptions {
  /** The key, or keys during a rotation (any verifies). */
  secret: HmacKeys;
  /** Default true: a request without a token is 401. */
  credentialsRequired?: boolean;
  /** Where the payload goes on the request (default 'auth'). */
  requestProperty?: string;
}

const OWN_KEYS = ['secret', 'credentialsRequired', 'requestProperty'] as const;
// The scheme name is case-insensitive (RFC 7235 §2.1): 'bearer' and 'BEARER' are Bearer too.
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9_.-]+) *$/;

/** Verifies the bearer JWT of every request; see the top of this file. */
export function jwtAuth(options: JwtAuthOptions): (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void {
  checkArgs(arguments.length, 1, 'jwtAuth()');
  const given = checkOptions(options, 'jwtAuth()', [...OWN_KEYS, 'algorithms', 'issuer', 'audience', 'subject', 'clockTolerance', 'maxTokenAge', 'currentDate']);
  const { secret, credentialsRequired, requestProperty, ...verifyOptions } = given;
  const verifier = jwtVerifier(secret as HmacKeys, verifyOptions as unknown as VerifyJwtOptions, 'jwtAuth()');
  const required = credentialsRequired === undefined ? true : checkBoolean(credentialsRequired, 'credentialsRequired');
  const property = requestProperty === undefined ? 'auth' : checkText(requestProperty, 'requestProperty');

  return function strongroomJwtAuth(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    const header = req.headers.authorization;
    if (header === undefined) {
      if (!required) return next();
      res.setHeader('WWW-Authenticate', 'Bearer');
      return next(httpError(401, 'jwt.missing', 'a bearer token is required'));
    }
    const match = BEARER.exec(header);
    let payload: JwtPayload;
    try {
      if (match === null) throw new Error('not a bearer token');
      payload = verifier.verify(match[1] as string);
    } catch (cause) {
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      const error = httpError(401, 'jwt.invalid', 'invalid token');
      Object.defineProperty(error, 'cause', { value: cause, enumerable: false });
      return next(error);
    }
    (req as unknown as Record<string, unknown>)[property] = payload;
    next();
  };
}
