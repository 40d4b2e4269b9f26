// The usual way of the HTTP bench, as the GitHub and jose documentation show it: the webhook
// route parses with express.json() (keeping the raw bytes in its verify hook) and compares
// "sha256=" + crypto.createHmac(...) with crypto.timingSafeEqual, under a string secret; the
// JWT route runs jose's jwtVerify with the secret as a Uint8Array.
import crypto from 'node:crypto';
import express from 'express';
import { jwtVerify } from 'jose';
import { serveForParent } from './common.mjs';

serveForParent((secret) => {
  const jwtKey = new TextEncoder().encode(secret);
  const app = express();
  const keepRaw = (req, _res, buf) => {
    req.rawBody = buf;
  };
  app.post('/webhook', express.json({ limit: '1mb', verify: keepRaw }), (req, res) => {
    const expected = Buffer.from(`sha256=${crypto.createHmac('sha256', secret).update(req.rawBody).digest('hex')}`);
    const given = Buffer.from(req.get('x-hub-signature-256') ?? '');
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      res.status(401).send('webhook signature verification failed');
      return;
    }
    res.json({ ok: true, action: req.body.action });
  });
  const BEARER = /^Bearer +([A-Za-z0-9_.-]+) *$/;
  async function joseAuth(req, res, next) {
    const match = BEARER.exec(req.headers.authorization ?? '');
    if (match === null) {
      res.status(401).set('WWW-Authenticate', 'Bearer').send('a bearer token is required');
      return;
    }
    try {
      const { payload } = await jwtVerify(match[1], jwtKey, { algorithms: ['HS256'] });
      req.auth = payload;
    } catch {
      res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').send('invalid token');
      return;
    }
    next();
  }
  app.get('/me', joseAuth, (req, res) => {
    res.json({ sub: req.auth.sub });
  });
  return { app };
});
