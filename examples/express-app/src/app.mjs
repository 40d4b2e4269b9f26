// The demo service's routes. Every key comes from the store given to createApp(): the
// SecretStore of @strongroom/kms-loaders that keys.mjs loads, mounted with strongroom() and
// asked on each request, so a key rotated on disk is used from the next request on. Passwords
// arrive through sensitiveBody() as SecretBuffers and are checked with Argon2id natively;
// nothing secret is ever a JS string.
//
//   GET  /health           200 { ok: true }
//   POST /login            { user, password } -> 200 and a signed `session` cookie, or 401
//   GET  /session          the signed session cookie -> 200 { user, expiresAt }, or 401
//   POST /token            the session cookie -> 200 { token, expiresIn }: a JWT (HS256)
//   GET  /me               Authorization: Bearer <JWT> -> 200 { user, expiresAt }, or 401
//   POST /webhooks/github  a GitHub delivery signed with X-Hub-Signature-256 -> 202, or 401;
//                          the same X-GitHub-Delivery twice -> 409
import express from 'express';
import {
  jwtAuth,
  sensitiveBody,
  SecretBuffer,
  signCookie,
  signedCookies,
  signJwt,
  strongroom,
  verifyPassword,
  verifyWebhook,
} from '@strongroom/express';

import { KEY_NAMES } from './keys.mjs';

export const SESSION_COOKIE = 'session';
export const SESSION_SECONDS = 3600;
export const TOKEN_SECONDS = 900;
export const ISSUER = 'strongroom-example-express-app';
export const AUDIENCE = 'strongroom-example-express-app';
const NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const REMEMBERED_DELIVERIES = 1000;

const now = () => Math.floor(Date.now() / 1000);

/** A JSON error answer: { error: message }. */
function fail(res, status, message) {
  res.status(status).json({ error: message });
}

/**
 * A middleware that `build(key)` makes for the current Enclave of the key `name`, made again
 * when the store has rotated that key: the middleware of @strongroom/express take their keys
 * when they are made. Made once now, so that a wrong option fails at start-up. After a
 * rotation only the new key verifies: the cookies and tokens signed under the old one end.
 */
function withKey(keys, name, build) {
  let key = keys.get(name);
  let middleware = build(key);
  return function withCurrentKey(req, res, next) {
    const current = keys.get(name);
    if (current !== key) {
      middleware = build(current);
      key = current;
    }
    middleware(req, res, next);
  };
}

/**
 * The Express app: `secrets` is a store of the keys named in KEY_NAMES (the SecretStore of
 * kms-loaders, or anything strongroom() takes), `users` maps a name to its argon2id hash,
 * `dummyHash` is an argon2id hash checked for unknown users (so that an unknown name takes as
 * long to refuse as a wrong password).
 */
export function createApp({ secrets, users, dummyHash }) {
  const app = express();
  app.disable('x-powered-by');
  const store = strongroom({ secrets, required: KEY_NAMES });
  app.use(store);
  const keys = store.secrets; // there at once (req.secrets is the same), for the middleware built below

  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });

  // The password never becomes a string: sensitiveBody() decodes it from the raw bytes into
  // a SecretBuffer that is destroyed when the response finishes.
  app.post('/login', sensitiveBody({ fields: ['password'], limit: '4kb', type: 'application/json' }), (req, res, next) => {
    const { user, password } = req.body ?? {};
    if (typeof user !== 'string' || !(password instanceof SecretBuffer)) {
      fail(res, 400, 'send JSON { "user": "...", "password": "..." }');
      return;
    }
    const hash = users.get(user);
    verifyPassword(password, hash ?? dummyHash)
      .then((ok) => {
        if (!ok || hash === undefined) {
          fail(res, 401, 'wrong user or password');
          return;
        }
        const expires = now() + SESSION_SECONDS;
        res.cookie(SESSION_COOKIE, signCookie(`${user}.${expires}`, req.secrets.get('cookie')), {
          httpOnly: true,
          sameSite: 'strict',
          path: '/',
          maxAge: SESSION_SECONDS * 1000,
        });
        res.json({ user, expiresAt: expires });
      })
      .catch(next); // Express 4 would not catch a rejection itself
  });

  // The session: the signed cookie set by /login, checked under the cookie key.
  const session = withKey(keys, 'cookie', (key) => signedCookies({ secret: key }));
  const sessionUser = (req) => {
    const value = req.signedCookies[SESSION_COOKIE];
    if (typeof value !== 'string') return undefined; // absent, or false: a signature that does not verify
    const dot = value.lastIndexOf('.');
    const user = value.slice(0, dot);
    const expires = Number(value.slice(dot + 1));
    if (dot < 0 || !NAME.test(user) || !Number.isSafeInteger(expires) || expires <= now()) return undefined;
    return { user, expiresAt: expires };
  };

  app.get('/session', session, (req, res) => {
    const found = sessionUser(req);
    if (found === undefined) fail(res, 401, 'no valid session: POST /login first');
    else res.json(found);
  });

  app.post('/token', session, (req, res) => {
    const found = sessionUser(req);
    if (found === undefined) {
      fail(res, 401, 'no valid session: POST /login first');
      return;
    }
    const token = signJwt({ sub: found.user }, req.secrets.get('jwt'), { expiresIn: TOKEN_SECONDS, issuer: ISSUER, audience: AUDIENCE });
    res.json({ token, expiresIn: TOKEN_SECONDS });
  });

  const bearer = withKey(keys, 'jwt', (key) => jwtAuth({ secret: key, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }));
  app.get('/me', bearer, (req, res) => {
    res.json({ user: req.auth.sub, expiresAt: req.auth.exp });
  });

  // GitHub signs each delivery but gives it no timestamp, so a captured delivery could be
  // sent again: the delivery ids already seen are refused (the last 1000, in memory).
  const deliveries = new Set();
  const github = withKey(keys, 'webhook', (key) => verifyWebhook({ secret: key, scheme: 'github', limit: '1mb' }));
  app.post('/webhooks/github', github, (req, res) => {
    const delivery = req.webhook.id;
    if (delivery === undefined) {
      fail(res, 400, 'an X-GitHub-Delivery header is required');
      return;
    }
    if (deliveries.has(delivery)) {
      fail(res, 409, 'this delivery was already received');
      return;
    }
    let payload;
    try {
      payload = JSON.parse(req.body.toString('utf8'));
    } catch {
      fail(res, 400, 'the payload is not JSON');
      return;
    }
    deliveries.add(delivery);
    if (deliveries.size > REMEMBERED_DELIVERIES) deliveries.delete(deliveries.values().next().value);
    res.status(202).json({ received: req.get('x-github-event') ?? 'unknown', delivery, action: payload?.action ?? null });
  });

  app.use((_req, res) => fail(res, 404, 'not found'));
  // Errors: the HttpErrors of the middleware carry a status and say whether their message may be shown.
  app.use((error, _req, res, _next) => {
    const status = Number.isInteger(error?.status) && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) console.error(error);
    fail(res, status, status < 500 && error?.expose !== false ? String(error.message) : 'internal error');
  });
  return app;
}
