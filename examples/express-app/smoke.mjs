// `pnpm demo:smoke`: starts the demo service in a child process on a free port with a
// temporary data folder, drives every route over real HTTP on loopback (right and wrong
// passwords, good, forged, tampered and replayed webhooks, valid, expired, forged and
// tampered JWTs, tampered cookies), checks every status and body; rotates the webhook key on
// disk and checks that the new key is served and the old one refused, and that a bad key put
// in its place leaves the new one in service; then sends SIGTERM and checks that the service
// exits with 143 promptly. Starts with a key file or the keys folder made readable by others
// must be refused. Prints one summary line; exits 1 on any difference.
// Every wait has a timeout, and a watchdog ends the run whatever happens.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER = path.join(here, 'server.mjs');
const START_TIMEOUT = 20_000; // two Argon2id hashes and the addon's load, on a busy machine
const REQUEST_TIMEOUT = 5_000;
const EXIT_TIMEOUT = 5_000;
const PROMPT_EXIT = 3_000; // what "promptly" means for the exit after SIGTERM
const ROTATE_TIMEOUT = 5_000; // a key replaced on disk: the folder watch, then the load
const WATCHDOG = 90_000;
const t0 = Date.now();

const results = []; // { name, ok, detail }
const children = new Set();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-demo-smoke-'));
const keysDir = path.join(dataDir, 'keys');

function cleanUp() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
}

const watchdog = setTimeout(() => {
  console.error(`demo:smoke: gave up after ${WATCHDOG / 1000} s`);
  cleanUp();
  process.exit(1);
}, WATCHDOG);
watchdog.unref();

function check(name, ok, detail = '') {
  results.push({ name, ok, detail });
  if (!ok) console.error(`  FAIL ${name}${detail === '' ? '' : `: ${detail}`}`);
}

/** check() that `actual` deep-equals `expected`, showing both when not. */
function same(name, actual, expected) {
  check(name, isDeepStrictEqual(actual, expected), `got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

/** Starts the service; resolves with { child, port, stdout(), stderr(), exited } once it listens. */
function startService() {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, DEMO_DATA_DIR: dataDir, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text) => (err += text));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not listen within ${START_TIMEOUT / 1000} s\n${out}${err}`)), START_TIMEOUT);
    const look = () => {
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        child.stdout.off('data', look);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', look);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${signal ?? code}) before listening\n${out}${err}`));
    });
  });
  return { child, listening, exited, stdout: () => out, stderr: () => err };
}

/** One request on its own connection; { status, headers, body (parsed JSON or text) }. */
function request(port, method, route, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: route, headers, agent: false, timeout: REQUEST_TIMEOUT }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${route}: no answer within ${REQUEST_TIMEOUT / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const REFUSED = [401, { error: 'webhook signature verification failed' }];
const json = (value) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/** An HS256 JWT made here with node:crypto, independently of strongroom's signJwt(). */
function jwt(payload, key, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createHmac('sha256', key).update(input).digest())}`;
}

/** One key of the keys folder, as bytes (the smoke client plays GitHub and a token forger). */
function keyOf(name) {
  return fs.readFileSync(path.join(keysDir, name));
}

/** Replaces a key file as a rotation does: written beside it (mode 0600), then renamed over it. */
function replaceKey(name, bytes) {
  const next = path.join(keysDir, `${name}.new`);
  fs.writeFileSync(next, bytes, { mode: 0o600, flag: 'wx' });
  fs.renameSync(next, path.join(keysDir, name));
}

/** Resolves with true once `test()` is true, false after `ms` (it is polled every 20 ms). */
async function until(test, ms) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (test()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return test();
}

/** A GitHub delivery of `body`, signed as GitHub signs (HMAC-SHA-256 of the raw body, hex) unless `signature` is given. */
function githubHook(port, body, { key, signature = key === undefined ? undefined : `sha256=${createHmac('sha256', key).update(body).digest('hex')}`, id = randomUUID() }) {
  return request(port, 'POST', '/webhooks/github', {
    headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': id, ...(signature === undefined ? {} : { 'x-hub-signature-256': signature }) },
    body,
  });
}

async function drive(port, password) {
  const r = (method, route, options) => request(port, method, route, options);
  const unauthorized = { error: 'no valid session: POST /login first' };

  same('GET /health', [(await r('GET', '/health')).status], [200]);

  // Login: wrong password, unknown user, a body without a password, the right password.
  let a = await r('POST', '/login', json({ user: 'ada', password: 'not-the-password' }));
  same('login, wrong password: 401', [a.status, a.body, a.headers['set-cookie']], [401, { error: 'wrong user or password' }, undefined]);
  a = await r('POST', '/login', json({ user: 'nobody', password }));
  same('login, unknown user: 401', [a.status, a.body], [401, { error: 'wrong user or password' }]);
  a = await r('POST', '/login', json({ user: 'ada' }));
  same('login, no password: 400', a.status, 400);
  a = await r('POST', '/login', json({ user: 'ada', password }));
  same('login, right password: 200', [a.status, a.body.user, typeof a.body.expiresAt], [200, 'ada', 'number']);
  const setCookie = (a.headers['set-cookie'] ?? [])[0] ?? '';
  check('login sets an HttpOnly SameSite=Strict session cookie', /^session=s%3Aada\.\d+\.[A-Za-z0-9%]+;/.test(setCookie) && /HttpOnly/.test(setCookie) && /SameSite=Strict/.test(setCookie), setCookie);
  const cookie = setCookie.split(';')[0];

  // The signed session cookie.
  a = await r('GET', '/session', { headers: { cookie } });
  same('session cookie: 200', [a.status, a.body.user], [200, 'ada']);
  a = await r('GET', '/session');
  same('no session cookie: 401', [a.status, a.body], [401, unauthorized]);
  const tamperedUser = cookie.replace('s%3Aada.', 's%3Aeve.');
  a = await r('GET', '/session', { headers: { cookie: tamperedUser } });
  same('session cookie with another user name: 401', [a.status, a.body], [401, unauthorized]);
  // The first character of the signature changed (a valid base64 letter: the tag decodes, and differs).
  const signed = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
  const dot = signed.lastIndexOf('.');
  const tamperedTag = `session=${encodeURIComponent(`${signed.slice(0, dot + 1)}${signed[dot + 1] === 'A' ? 'B' : 'A'}${signed.slice(dot + 2)}`)}`;
  a = await r('GET', '/session', { headers: { cookie: tamperedTag } });
  same('session cookie with a changed signature: 401', [a.status, a.body], [401, unauthorized]);
  a = await r('GET', '/session', { headers: { cookie: 'session=ada.9999999999' } });
  same('unsigned session cookie: 401', a.status, 401);

  // The JWT: issued for a session only, then required by /me.
  a = await r('POST', '/token');
  same('token without a session: 401', [a.status, a.body], [401, unauthorized]);
  a = await r('POST', '/token', { headers: { cookie: tamperedTag } });
  same('token with a tampered cookie: 401', a.status, 401);
  a = await r('POST', '/token', { headers: { cookie } });
  same('token for the session: 200', [a.status, a.body.expiresIn, typeof a.body.token], [200, 900, 'string']);
  const token = a.body.token;
  a = await r('GET', '/me', { headers: { authorization: `Bearer ${token}` } });
  same('GET /me with the token: 200', [a.status, a.body.user], [200, 'ada']);
  a = await r('GET', '/me');
  same('GET /me without a token: 401 and WWW-Authenticate: Bearer', [a.status, a.headers['www-authenticate']], [401, 'Bearer']);
  const jwtKey = keyOf('jwt');
  const claims = { sub: 'ada', iss: 'strongroom-example-express-app', aud: 'strongroom-example-express-app' };
  const now = Math.floor(Date.now() / 1000);
  const bad = {
    'a token made here under the service key (control)': [jwt({ ...claims, iat: now, exp: now + 60 }, jwtKey), 200],
    'an expired token': [jwt({ ...claims, iat: now - 120, exp: now - 60 }, jwtKey), 401],
    'a token under another key': [jwt({ ...claims, iat: now, exp: now + 60 }, randomBytes(32)), 401],
    'a token with another issuer': [jwt({ ...claims, iss: 'someone-else', iat: now, exp: now + 60 }, jwtKey), 401],
    "a token with alg 'none'": [`${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(JSON.stringify({ ...claims, exp: now + 60 }))}.`, 401],
    'the issued token with its payload changed': [[token.split('.')[0], b64url(JSON.stringify({ ...claims, sub: 'eve', exp: now + 60 })), token.split('.')[2]].join('.'), 401],
  };
  jwtKey.fill(0);
  for (const [what, [candidate, status]] of Object.entries(bad)) {
    a = await r('GET', '/me', { headers: { authorization: `Bearer ${candidate}` } });
    same(`GET /me with ${what}: ${status}`, [a.status, status === 401 ? a.headers['www-authenticate'] : a.body.user], [status, status === 401 ? 'Bearer error="invalid_token"' : 'ada']);
  }

  // The GitHub webhook.
  const webhookKey = keyOf('webhook');
  const delivery = randomUUID();
  const body = JSON.stringify({ action: 'opened', zen: 'Keep it logically awesome.' });
  const sign = (payload) => `sha256=${createHmac('sha256', webhookKey).update(payload).digest('hex')}`;
  a = await githubHook(port, body, { key: randomBytes(32), id: delivery });
  same('webhook signed with another key: 401', [a.status, a.body], REFUSED);
  a = await githubHook(port, body.replace('opened', 'closed'), { signature: sign(body), id: delivery });
  same('webhook with a tampered body: 401', [a.status, a.body], REFUSED);
  a = await githubHook(port, body, { id: delivery });
  same('webhook without a signature: 401', [a.status, a.body], REFUSED);
  a = await githubHook(port, body, { key: webhookKey, id: delivery });
  same('webhook, good signature: 202', [a.status, a.body], [202, { received: 'issues', delivery, action: 'opened' }]);
  a = await githubHook(port, body, { key: webhookKey, id: delivery });
  same('webhook, the same delivery replayed: 409', [a.status, a.body], [409, { error: 'this delivery was already received' }]);
  webhookKey.fill(0);
}

// The webhook key replaced on disk while the service runs: the new key is served at once, the
// old one refused; then a file that is no key put in its place: refused, the new key stays.
async function rotate(service, port) {
  const body = JSON.stringify({ action: 'rotated' });
  const oldKey = keyOf('webhook');
  const newKey = Buffer.from(randomBytes(32).toString('hex'), 'latin1'); // 64 hex digits, as the service makes them
  replaceKey('webhook', newKey);
  const seen = await until(() => /key 'webhook' rotated: version 2, /.test(service.stdout()), ROTATE_TIMEOUT);
  check("a webhook key replaced on disk is loaded (the service says 'rotated: version 2')", seen, service.stdout().slice(-400));
  let id = randomUUID();
  let a = await githubHook(port, body, { key: newKey, id });
  same('after the rotation: a webhook signed with the new key: 202', [a.status, a.body], [202, { received: 'issues', delivery: id, action: 'rotated' }]);
  a = await githubHook(port, body, { key: oldKey });
  same('after the rotation: a webhook signed with the old key: 401', [a.status, a.body], REFUSED);

  replaceKey('webhook', 'not a key\n');
  const refused = await until(() => /the key 'webhook' changed on disk but was not loaded .*64 hex digits/.test(service.stderr()), ROTATE_TIMEOUT);
  check('a webhook key file replaced by one that is no key: refused, said on stderr', refused, service.stderr());
  id = randomUUID();
  a = await githubHook(port, body, { key: newKey, id });
  same('... and the last good key stays in service: 202', [a.status, a.body], [202, { received: 'issues', delivery: id, action: 'rotated' }]);
  replaceKey('webhook', newKey); // a good key again (the same bytes: no new version), so that the starts below fail for their own reason only
  oldKey.fill(0);
  newKey.fill(0);
}

async function main() {
  const first = startService();
  const port = await first.listening;
  const password = /created the user 'ada' with the password ([a-z0-9]+)\n/.exec(first.stdout())?.[1];
  check('first run prints the demo password once', password !== undefined && password.length === 20, first.stdout().slice(0, 400));
  const modeOf = (file) => (fs.statSync(file).mode & 0o777).toString(8);
  same('first run makes the keys folder with mode 0700', modeOf(keysDir), '700');
  same('... and a key file for each key, mode 0600', Object.fromEntries(fs.readdirSync(keysDir).sort().map((name) => [name, modeOf(path.join(keysDir, name))])), { cookie: '600', jwt: '600', webhook: '600' });
  check('... each 64 hex digits, and no two the same', ['cookie', 'jwt', 'webhook'].every((name) => /^[0-9a-f]{64}$/.test(keyOf(name).toString('latin1'))) && new Set(['cookie', 'jwt', 'webhook'].map((name) => keyOf(name).toString('latin1'))).size === 3);
  if (password !== undefined) await drive(port, password);
  same('the service wrote nothing to stderr', first.stderr(), '');
  await rotate(first, port);

  const sent = Date.now();
  first.child.kill('SIGTERM');
  const timeout = new Promise((resolve) => setTimeout(() => resolve(undefined), EXIT_TIMEOUT).unref());
  const end = await Promise.race([first.exited, timeout]);
  same('SIGTERM: exit code 143', end === undefined ? 'no exit' : end.code ?? end.signal, 143);
  check(`SIGTERM: exits within ${PROMPT_EXIT / 1000} s`, end !== undefined && end.at - sent < PROMPT_EXIT, end === undefined ? 'no exit' : `${end.at - sent} ms`);
  const others = first.stderr().split('\n').filter((line) => line !== '' && !/^demo service: the key 'webhook' changed on disk but was not loaded /.test(line));
  same('the service wrote nothing else to stderr', others, []);

  // A key file, then the keys folder, that others can read: refused at start, with what to do.
  const refusedStart = async (what, pattern) => {
    const next = startService();
    next.listening.catch(() => {}); // expected to fail
    const refusal = await Promise.race([next.exited, new Promise((resolve) => setTimeout(() => resolve(undefined), START_TIMEOUT).unref())]);
    same(`${what}: the service refuses to start (exit 1)`, refusal?.code, 1);
    check(`${what}: ... and says what to do`, pattern.test(next.stderr()), next.stderr());
  };
  fs.chmodSync(path.join(keysDir, 'jwt'), 0o644);
  await refusedStart('a key file with mode 0644', /could not load the secret 'jwt': .*mode 0644, wider than the 0600 allowed.*chmod 0600/);
  fs.chmodSync(path.join(keysDir, 'jwt'), 0o600);
  fs.chmodSync(keysDir, 0o755);
  await refusedStart('the keys folder with mode 0755', /keys folder .* has mode 0755, wider than 0700.*chmod 700/);
}

let failure;
try {
  await main();
} catch (error) {
  failure = error;
}
cleanUp();
clearTimeout(watchdog);
const failed = results.filter((result) => !result.ok).length + (failure === undefined ? 0 : 1);
const seconds = ((Date.now() - t0) / 1000).toFixed(1);
if (failure !== undefined) console.error(`  ERROR ${failure.message}`);
console.log(
  failed === 0
    ? `demo:smoke: ${results.length} checks passed in ${seconds} s`
    : `demo:smoke: FAILED: ${failed} of ${results.length + (failure === undefined ? 0 : 1)} checks failed (${seconds} s)`,
);
process.exitCode = failed === 0 ? 0 : 1;
