// sensitiveBody(): express.json() and express.urlencoded({ extended: false }) in one
// middleware, except that the listed fields never become JS strings. See json.ts and
// form.ts for the decoding, read-body.ts for the limits, secrets.ts for how long the
// SecretBuffers live.
import { checkArgs, checkBoolean, checkOptions, invalid } from '@strongroom/core-native/validate';

import { parseFields } from './fields.js';
import { parseForm } from './form.js';
import { httpError } from './http-error.js';
import { parseJson } from './json.js';
import { parseLimit } from './limit.js';
import { contentTypeOf, hasBody, typeTest, type TypeOption } from './media-type.js';
import { discardRest, readBody } from './read-body.js';
import { releaseWithResponse } from './secrets.js';
import type { BodyRequest, Middleware } from './types.js';

export interface SensitiveBodyOptions {
  /**
   * The fields that become SecretBuffers: dot paths into a JSON body ('password',
   * 'card.number'), or parameter names of a urlencoded one.
   */
  fields: readonly string[];
  /** The largest body read, in bytes or as '100kb', '1mb' (default '100kb'). */
  limit?: number | string;
  /**
   * Which requests are read: a media type ('application/json', '+json', 'application/*',
   * 'json', 'urlencoded'), a list of them, or a function of the request. Default: JSON and
   * urlencoded. A request of type application/x-www-form-urlencoded is read as a form, any
   * other as JSON.
   */
  type?: TypeOption;
  /** Accept only an object or an array at the top of a JSON body (default true), as express.json(). */
  strict?: boolean;
}

const FN = 'sensitiveBody()';
const KEYS = ['fields', 'limit', 'type', 'strict'] as const;
const FORM = 'application/x-www-form-urlencoded';
const DEFAULT_TYPE = ['application/json', FORM];

function bomLength(raw: Buffer): number {
  return raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
}

/**
 * A middleware that parses JSON and urlencoded bodies as express.json() and
 * express.urlencoded({ extended: false }) do, with each listed field decoded from the raw
 * bytes into a frozen SecretBuffer that is destroyed when the response finishes, unless
 * keep() takes it first.
 */
export function sensitiveBody(options: SensitiveBodyOptions): Middleware {
  checkArgs(arguments.length, 1, FN);
  if (options === undefined) throw invalid(`${FN} needs its options, at least { fields: ['password'] }`);
  const given = checkOptions(options, FN, KEYS);
  const fields = parseFields(given['fields'], `the fields option of ${FN}`);
  const limit = parseLimit(given['limit'], `the limit option of ${FN}`);
  const shouldParse = typeTest(given['type'] === undefined ? DEFAULT_TYPE : given['type'], `the type option of ${FN}`);
  const strict = given['strict'] === undefined ? true : checkBoolean(given['strict'], `the strict option of ${FN}`);

  return function sensitiveBodyParser(req, res, next) {
    const request = req as BodyRequest;
    // Read already (by another parser), or nothing to read: as body-parser, go on.
    if (request._body === true || !req.readable || !hasBody(req) || !shouldParse(req)) {
      next();
      return;
    }
    const contentType = contentTypeOf(req);
    if (contentType?.parametersValid === false) {
      // Passing it on would let a lenient parser mounted after this one read the secret as a string.
      discardRest(req, res);
      next(httpError(415, 'content-type.invalid', "malformed Content-Type parameters: send the media type with well-formed parameters (name=value, no space around '='), or none"));
      return;
    }
    const charset = contentType?.charset ?? 'utf-8';
    if (charset !== 'utf-8') {
      discardRest(req, res);
      next(httpError(415, 'charset.unsupported', `unsupported charset "${charset.toUpperCase()}"`, { charset }));
      return;
    }
    const form = contentType?.mediaType === FORM;
    request._body = true;
    readBody(req, res, limit, (error, raw) => {
      if (raw === undefined) {
        next(error);
        return;
      }
      let parsed;
      try {
        const start = bomLength(raw);
        parsed = form ? parseForm(raw, start, fields.form) : parseJson(raw, start, fields.json, strict);
      } catch (parseError) {
        next(parseError);
        return;
      } finally {
        raw.fill(0);
      }
      request.body = parsed.value;
      releaseWithResponse(res, parsed.secrets);
      next();
    });
  };
}
