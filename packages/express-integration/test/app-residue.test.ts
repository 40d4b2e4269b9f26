// Residue of the demo service's shape (examples/express-app), in a child process running a
// real server: a login route (sensitiveBody() + verifyPassword(), Argon2id) and a GitHub
// webhook route whose key is loaded from a file, as the demo loads its keys: file() of
// @strongroom/kms-loaders (a devDependency; watched, as the demo's are) reads it natively into
// a SecretStore of Enclaves, mounted with strongroom({ secrets: store, required }). After each
// response and a forced GC, neither the password nor the key is in any readable memory of the
// server, except one copy of the password in the place Node keeps it and cannot release: the
// buffer the HTTP parser reads every socket into (residue.test.ts pins it down), until the
// next read overwrites it. The controls: the scan finds the password in its guarded
// SecretBuffer and in that read buffer while the handler runs, and the key in guarded pages
// while store.use() and secrets.use() have it open.
//
// Neither marker is in this file or in the child's source or JS heap: both are random; the
// password reaches the child only over the socket, the key only through its file (read
// natively into guarded pages), and the child gets the password's Argon2id hash, made here.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createHmac } from 'node:crypto';

import {
  makeMarker,
  MIN_SCANNED_BYTES,
  startChild,
  textMarker,
  type ChildHandle,
  type MemoryMatch,
  type ScanResult,
} from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { hashPassword, SecretBuffer } from '../src/index.js';
import { CHILD, MAJORS, mayBeReadBuffer } from './helpers.js';

/** The server: each route pauses at checkpoints; `settle` runs the GC first, after the response has finished. */
function serverCode(module: string, keyFile: string, hashFile: string): string {
  return `
import { readFileSync } from 'node:fs';
import express from '${module}';
import { sensitiveBody, strongroom, verifyPassword, verifyWebhook } from '@strongroom/express';
import { file, loadSecrets } from '@strongroom/kms-loaders';
import * as core from '@strongroom/core-native';
core.configure({ backend: 'mmap' }); // guarded pages a scan can read ('secretmem' pages it cannot)
async function settle(label, data) {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)); }
  await checkpoint(label, data);
}
const hash = readFileSync(${JSON.stringify(hashFile)}, 'utf8').trim();
const secrets = await loadSecrets({ webhook: file(${JSON.stringify(keyFile)}, { watch: true }) }); // read, sealed at once
await secrets.use('webhook', (key) => checkpoint('key loaded', key.size));
const store = strongroom({ secrets, required: ['webhook'] });
const app = express();
app.use(store);
app.post('/login', sensitiveBody({ fields: ['password'] }), (req, res, next) => {
  verifyPassword(req.body.password, hash)
    .then(async (ok) => {
      await checkpoint('verified', ok);
      res.on('finish', () => settle('login'));
      res.status(ok ? 200 : 401).json({ ok });
    })
    .catch(next);
});
app.post('/webhook', verifyWebhook({ secret: store.secrets.get('webhook'), scheme: 'github' }), (req, res) => {
  res.on('finish', () => settle('webhook', req.body.length));
  res.status(202).end();
});
app.post('/key', (req, res, next) => {
  req.resume();
  req.secrets
    .use('webhook', (key) => checkpoint('key open', key.size))
    .then(() => {
      res.on('finish', () => settle('key closed'));
      res.end('ok');
    }, next);
});
app.post('/filler', (req, res) => {
  req.resume();
  req.on('end', () => { res.on('finish', () => settle('filler')); res.end('ok'); });
});
app.post('/exit', (req, res) => {
  req.resume();
  res.on('finish', () => { secrets.close(); process.exit(0); });
  res.end('ok');
});
const server = app.listen(0, '127.0.0.1', () => settle('listening', server.address().port));
`;
}

/** One POST on its own connection: the status, or the error's code (never a rejection: a killed child leaves requests hanging up). */
function post(port: number, route: string, body: string, headers: Record<string, string> = {}): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: route, method: 'POST', agent: false, timeout: 20_000, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end(body);
  });
}

/** Where each copy is, for the failure messages: "rw-p [heap]", "---p (anonymous)". */
const where = (matches: readonly MemoryMatch[]): string[] => matches.map((m) => `${m.mapping.perms} ${m.mapping.path === '' ? '(anonymous)' : m.mapping.path}`);

/**
 * One checkpoint of the child: the data it must report, how many copies of each marker the
 * scan must find (omitted: not scanned here), more checks, and what to send once it resumes.
 */
interface Stage {
  at: string;
  data?: unknown;
  password?: number;
  key?: number;
  check?: (found: { password?: ScanResult; key?: ScanResult }, data: unknown) => void;
  then?: () => void;
}

/**
 * Walks the child through the stages, as testkit's expectResidue does for one marker: at each,
 * waits for the checkpoint, scans the stopped child for each marker the stage counts, checks,
 * resumes. A scan that finds nothing must have read more than MIN_SCANNED_BYTES.
 */
async function walk(child: ChildHandle, markers: { password: Uint8Array; key: Uint8Array }, stages: readonly Stage[]): Promise<void> {
  for (const [index, stage] of stages.entries()) {
    const label = `stage '${stage.at}' (${index + 1} of ${stages.length})`;
    const data = await child.waitFor(stage.at);
    if ('data' in stage) expect(data, `${label}: checkpoint data`).toEqual(stage.data);
    const found: { password?: ScanResult; key?: ScanResult } = {};
    for (const name of ['password', 'key'] as const) {
      const count = stage[name];
      if (count === undefined) continue;
      const scan = await child.scan(markers[name]);
      expect(scan.scannedBytes, `${label}: bytes scanned for the ${name}`).toBeGreaterThan(MIN_SCANNED_BYTES);
      expect(where(scan.matches), `${label}: copies of the ${name}`).toHaveLength(count);
      found[name] = scan;
    }
    stage.check?.(found, data);
    child.resume();
    stage.then?.();
  }
}

const GUARDED = '---p (anonymous)'; // a guarded region of the mmap backend, at rest
// Node's HTTP parser buffer, on the C heap: [heap] or an anonymous read-write mapping (see
// mayBeReadBuffer), told apart from any other copy by its address and by its going.
const READ_BUFFER = 'the read buffer';
const placeOf = (match: MemoryMatch): string => (mayBeReadBuffer(match) ? READ_BUFFER : where([match])[0] as string);

describe.each(MAJORS)('residue of the demo service on $name', (major) => {
  it("after each response a password and a webhook key read from a file are in no readable memory but Node's socket read buffer", async () => {
    const password = textMarker(makeMarker(24)); // printable, so that it can be a JSON string
    const key = makeMarker(32);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-app-residue-'));
    let child: ChildHandle | undefined;
    try {
      const keyFile = path.join(dir, 'webhook.key');
      const hashFile = path.join(dir, 'hash');
      fs.writeFileSync(keyFile, key, { mode: 0o600 });
      const secret = SecretBuffer.from(new Uint8Array(password.bytes)); // from() wipes what it is given: a copy
      fs.writeFileSync(hashFile, await hashPassword(secret));
      secret.destroy();

      // Ten checkpoints and ten scans of a whole Node process: tens of seconds on a loaded machine.
      const started = await startChild(serverCode(major.module, keyFile, hashFile), { ...CHILD, args: ['--expose-gc'], timeoutMs: 150_000 });
      child = started;
      const json = { 'content-type': 'application/json' };
      const login = (text: string) => `{"user":"ada","password":"${text}"}`;
      const delivery = JSON.stringify({ action: 'opened', number: 1 });
      const signed = (mac: Buffer) => ({ ...json, 'x-github-event': 'issues', 'x-github-delivery': '1', 'x-hub-signature-256': `sha256=${mac.toString('hex')}` });
      const goodMac = createHmac('sha256', key).update(delivery).digest();
      const forgedMac = createHmac('sha256', makeMarker(32)).update(delivery).digest();
      const filler = `{"pad":"${'x'.repeat(4096)}"}`; // longer than any read of the requests before it
      let port = 0;
      const replies: Record<string, Promise<number | string>> = {};
      const send = (name: string, route: string, body: string, headers: Record<string, string> = json) => () => {
        replies[name] = post(port, route, body, headers);
      };
      let readBuffer: bigint | undefined;

      await walk(started, { password: password.bytes, key }, [
        // control: the key, loaded from its file into the store, is open in guarded pages
        { at: 'key loaded', data: 32, key: 1, check: (found) => expect(where(found.key?.matches ?? [])).toEqual([GUARDED]) },
        // sealed in its Enclave, nothing open: the plaintext is nowhere
        {
          at: 'listening',
          key: 0,
          check: (_found, data) => void (port = data as number),
          then: send('login', '/login', login(password.text)),
        },
        {
          at: 'verified', // control: the password in its guarded SecretBuffer, and in Node's read buffer
          data: true,
          password: 2,
          check: (found) => {
            const matches = found.password?.matches ?? [];
            expect(matches.map(placeOf).sort()).toEqual([GUARDED, READ_BUFFER]);
            readBuffer = matches.find((m) => placeOf(m) === READ_BUFFER)?.address;
          },
        },
        {
          at: 'login', // the SecretBuffer went with the response: only the read buffer's copy is left, where it was
          password: 1,
          key: 0,
          check: (found) => {
            expect((found.password?.matches ?? []).map(placeOf)).toEqual([READ_BUFFER]);
            expect(found.password?.matches[0]?.address).toBe(readBuffer);
          },
          then: send('filler', '/filler', filler),
        },
        {
          at: 'filler', // the next read overwrote it
          password: 0,
          then: () => {
            replies['forged'] = post(port, '/webhook', delivery, signed(forgedMac)); // refused (401), no checkpoint
            replies['webhook'] = replies['forged'].then(() => post(port, '/webhook', delivery, signed(goodMac)));
          },
        },
        // verified under the Enclave (opened natively into a scratch region, wiped): no copy of the key
        { at: 'webhook', data: Buffer.byteLength(delivery), key: 0, password: 0, then: send('key', '/key', '') },
        // control: secrets.use() has the key open in guarded pages
        { at: 'key open', data: 32, key: 1, check: (found) => expect(where(found.key?.matches ?? [])).toEqual([GUARDED]) },
        { at: 'key closed', key: 0, then: send('wrong', '/login', login('not-the-password')) },
        { at: 'verified', data: false }, // the route does refuse a wrong password
        { at: 'login', then: send('exit', '/exit', '') },
      ]);
      const exit = await started.exited;
      expect(exit.code, exit.stderr).toBe(0);
      const statuses = Object.fromEntries(await Promise.all(Object.entries(replies).map(async ([name, reply]) => [name, await reply])));
      expect(statuses).toEqual({ login: 200, filler: 200, forged: 401, webhook: 202, key: 200, wrong: 401, exit: 200 });
    } finally {
      child?.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
