// gracefulShutdown(): a real Express 4 and 5 server in a child process gets a signal
// while requests are in flight. In-flight requests finish (and can still open secrets),
// new connections are refused, idle keep-alive connections do not hold the exit, every
// secret is purged before the exit, and the exit code is 128 + the signal number; a second
// signal or the timeout forces it. The children import the built dist/ (pnpm run build).
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';
import { errorCode, startChild, type ChildHandle, type ChildResult } from '@strongroom/testkit';

import { gracefulShutdown, type GracefulShutdownOptions } from '../src/index.js';
import { CHILD, MAJORS } from './helpers.js';

function server(module: string, options: string): string {
  return `
import { writeSync } from 'node:fs';
import express from '${module}';
import { gracefulShutdown, strongroom } from '@strongroom/express';
import { Enclave, SecretBuffer } from '@strongroom/enclave';
const say = (label, data) => writeSync(1, '@@' + label + ' ' + JSON.stringify(data) + '\\n');
const codeOf = (fn) => { try { fn(); return 'ok'; } catch (error) { return error.code ?? String(error); } };
const key = Enclave.random(32);
const app = express();
app.use(strongroom({ secrets: { key } }));
app.get('/slow', async (req, res) => {
  await checkpoint('request', req.query.ms);   // the parent knows the request is in flight
  setTimeout(() => res.json({ size: req.secrets.use('key', (secret) => secret.size) }), Number(req.query.ms));
});
app.get('/fast', (req, res) => res.json({ ok: true }));
process.on('exit', (code) => say('exit', { code, live: SecretBuffer.live().buffers, key: codeOf(() => key.open().destroy()) }));
const server = app.listen(0, '127.0.0.1', async () => {
  gracefulShutdown(server, ${options});
  await checkpoint('ready', server.address().port);
});`;
}

function report(result: ChildResult, label: string): unknown {
  const line = result.stdout.split('\n').find((text) => text.startsWith(`@@${label} `));
  if (line === undefined) throw new Error(`no @@${label} line\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return JSON.parse(line.slice(label.length + 3));
}

interface Answer {
  status: number;
  body: unknown;
}

/** One GET on its own connection (or the given agent's); an error message when the request fails. */
function get(port: number, path: string, agent: http.Agent | false = false): Promise<Answer | string> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      response.on('error', (error) => resolve(error.message));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function started(module: string, options = '{}'): Promise<{ child: ChildHandle; port: number }> {
  const child = await startChild(server(module, options), { ...CHILD, timeoutMs: 60_000 });
  const port = (await child.waitFor('ready')) as number;
  child.resume();
  return { child, port };
}

/** Waits until a /slow request has reached the child's handler, and lets it go on. */
async function requestSeen(child: ChildHandle): Promise<void> {
  await child.waitFor('request');
  child.resume();
}

const PURGED = { live: 0, key: 'ERR_AUTH' };

describe.each(MAJORS)('$name', ({ module }) => {
  it('SIGTERM: in-flight requests finish with their secrets, new connections are refused, purged, exit 143', async () => {
    const { child, port } = await started(module);
    try {
      const idle = new http.Agent({ keepAlive: true });
      expect(await get(port, '/fast', idle)).toEqual({ status: 200, body: { ok: true } }); // an idle keep-alive connection stays open
      const slow = get(port, '/slow?ms=800');
      await requestSeen(child);
      const signalled = Date.now();
      child.kill('SIGTERM');
      await sleep(200);
      expect(await get(port, '/fast')).toBe('ECONNREFUSED');
      expect(await slow).toEqual({ status: 200, body: { size: 32 } });
      const result = await child.exited;
      // the idle keep-alive connection did not hold the exit for its 5 s timeout
      expect(Date.now() - signalled).toBeLessThan(3000);
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 143, signal: null });
      expect(report(result, 'exit')).toEqual({ code: 143, ...PURGED });
      expect(result.stderr).toBe('');
      idle.destroy();
    } finally {
      child.kill();
    }
  });

  it('SIGINT exits 130 once idle', async () => {
    const { child } = await started(module);
    try {
      child.kill('SIGINT');
      const result = await child.exited;
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 130, signal: null });
      expect(report(result, 'exit')).toEqual({ code: 130, ...PURGED });
    } finally {
      child.kill();
    }
  });

  it('a second signal forces the exit: the slow request is cut, the secrets purged', async () => {
    const { child, port } = await started(module);
    try {
      const slow = get(port, '/slow?ms=20000');
      await requestSeen(child);
      child.kill('SIGTERM');
      await sleep(200);
      const forced = Date.now();
      child.kill('SIGINT');
      const result = await child.exited;
      expect(Date.now() - forced).toBeLessThan(3000);
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 130, signal: null });
      expect(report(result, 'exit')).toEqual({ code: 130, ...PURGED });
      expect(typeof (await slow)).toBe('string'); // the connection was cut, no answer
    } finally {
      child.kill();
    }
  });

  it('the timeout forces the exit with the code of the first signal', async () => {
    const { child, port } = await started(module, '{ timeout: 400 }');
    try {
      const slow = get(port, '/slow?ms=20000');
      await requestSeen(child);
      const signalled = Date.now();
      child.kill('SIGTERM');
      const result = await child.exited;
      expect(Date.now() - signalled).toBeGreaterThanOrEqual(350);
      expect(Date.now() - signalled).toBeLessThan(5000);
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 143, signal: null });
      expect(report(result, 'exit')).toEqual({ code: 143, ...PURGED });
      expect(typeof (await slow)).toBe('string');
    } finally {
      child.kill();
    }
  });
});

it('onShutdown runs after the requests finished and before the purge', async () => {
  const { child, port } = await started(
    'express5',
    `{ onShutdown: async (signal) => { await new Promise((r) => setTimeout(r, 50)); say('onShutdown', { signal, key: codeOf(() => key.open().destroy()) }); } }`,
  );
  try {
    const slow = get(port, '/slow?ms=300');
    await requestSeen(child);
    child.kill('SIGTERM');
    expect(await slow).toEqual({ status: 200, body: { size: 32 } });
    const result = await child.exited;
    expect(report(result, 'onShutdown')).toEqual({ signal: 'SIGTERM', key: 'ok' });
    expect(report(result, 'exit')).toEqual({ code: 143, ...PURGED });
  } finally {
    child.kill();
  }
});

describe('option validation at start-up (no listener left behind)', () => {
  const server = http.createServer();
  it.each([
    ['an unknown option', { timeot: 5 }],
    ['timeout 0', { timeout: 0 }],
    ['timeout a string', { timeout: '5s' }],
    ['an uncatchable signal', { signals: ['SIGKILL'] }],
    ['a signal that does not exist', { signals: ['SIGNOPE'] }],
    ['onShutdown not a function', { onShutdown: 'close' }],
  ])('%s: ERR_INVALID_ARG', (_name, options) => {
    const before = ['SIGINT', 'SIGTERM'].map((event) => process.listenerCount(event));
    const requests = server.listenerCount('request');
    expect(errorCode(() => gracefulShutdown(server, options as GracefulShutdownOptions)())).toBe('ERR_INVALID_ARG');
    expect(['SIGINT', 'SIGTERM'].map((event) => process.listenerCount(event))).toEqual(before);
    expect(server.listenerCount('request')).toBe(requests);
  });

  it('something other than an http.Server is ERR_INVALID_ARG, as are extra arguments', () => {
    expect(errorCode(() => (gracefulShutdown as (s: unknown) => unknown)({ close() {} }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (gracefulShutdown as (s: unknown, o: unknown, x: unknown) => unknown)(server, {}, 1))).toBe('ERR_INVALID_ARG');
  });

  it('valid options add the listeners, and the disposer removes them (control)', () => {
    const before = process.listenerCount('SIGTERM');
    const dispose = gracefulShutdown(server, { signals: ['SIGTERM'], timeout: 1000, onShutdown: () => {} });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    expect(server.listenerCount('request')).toBe(1);
    dispose();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(server.listenerCount('request')).toBe(0);
  });
});
