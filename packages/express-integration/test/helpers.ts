// Shared pieces of the @strongroom/express tests: real Express apps on a loopback port, one
// per major, and plain HTTP clients. Every middleware test runs under
// describe.each(MAJORS) and talks to its app over real sockets.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

import type { ErrorRequestHandler, Express } from 'express';
import express4 from 'express4';
import express5 from 'express5';

import { SecretBuffer } from '../src/index.js';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Child snippets run from the package folder and import its built dist/ by package name. */
export const CHILD = { cwd: PACKAGE_DIR };

export type ExpressModule = typeof express5;

export interface ExpressMajor {
  name: string;
  major: 4 | 5;
  /** The module's default export: express(), express.json(), ... */
  express: ExpressModule;
  /** The alias it is installed under, for child processes: import express from '<alias>'. */
  module: 'express4' | 'express5';
}

export const MAJORS: readonly ExpressMajor[] = [
  { name: 'Express 4', major: 4, express: express4, module: 'express4' },
  { name: 'Express 5', major: 5, express: express5, module: 'express5' },
];

export interface RunningApp {
  /** 'http://127.0.0.1:PORT' */
  url: string;
  port: number;
  /** Every error the app's error handler was given, in order. */
  errors: unknown[];
  close(): Promise<void>;
}

/** What the test apps' error handler answers with: the error's own fields, as JSON. */
export interface ErrorReply {
  error: {
    name: string;
    message: string;
    status?: number;
    statusCode?: number;
    expose?: boolean;
    type?: string;
    code?: string;
    isHttpError?: boolean;
    [field: string]: unknown;
  };
}

/**
 * Starts an app of the given major on 127.0.0.1, port 0: `setup` adds the routes, then an
 * error handler that answers at once (Express's own final handler first reads the rest of
 * the request) with the error's fields as JSON. close() ends every connection too.
 */
export async function startApp(major: ExpressMajor, setup: (app: Express) => void): Promise<RunningApp> {
  const app = major.express();
  setup(app);
  const errors: unknown[] = [];
  const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    errors.push(error);
    const fields = error !== null && typeof error === 'object' ? { ...(error as Record<string, unknown>) } : {};
    const err = error as { name?: unknown; message?: unknown; status?: unknown };
    const status = typeof err.status === 'number' ? err.status : 500;
    res.status(status).json({ error: { ...fields, name: err.name, message: err.message } });
  };
  app.use(onError);
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A SecretBuffer's bytes, in hex, read inside a scope (tests only: the tests reveal on purpose). */
export function hexOf(secret: SecretBuffer): string {
  return secret.read((view) => Buffer.from(view).toString('hex'));
}

/** req.body as JSON, with every SecretBuffer shown as { secret: <hex>, frozen }. */
export function reveal(value: unknown): unknown {
  if (value instanceof SecretBuffer) return { secret: hexOf(value), frozen: value.frozen };
  if (Array.isArray(value)) return value.map(reveal);
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) Object.defineProperty(copy, key, { value: reveal(field), enumerable: true, writable: true, configurable: true });
    return copy;
  }
  return value;
}

/** What the tests expect in place of a secret holding `text`: its UTF-8 bytes, frozen. */
export function secretOf(text: string | Uint8Array): { secret: string; frozen: true } {
  return { secret: Buffer.from(text).toString('hex'), frozen: true };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: unknown;
}

/**
 * One request over a fresh connection (node:http, no keep-alive). body given: sent with a
 * Content-Length; `chunks` instead: sent with Transfer-Encoding: chunked.
 */
export function request(
  url: string,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Uint8Array; chunks?: (string | Uint8Array)[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL(options.path ?? '/', url);
    const req = http.request(target, { method: options.method ?? 'POST', headers: options.headers ?? {}, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (options.chunks !== undefined) {
      for (const chunk of options.chunks) req.write(chunk);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

/** A JSON body POSTed to path. */
export function postJson(url: string, path: string, body: string | Uint8Array, contentType = 'application/json'): Promise<Reply> {
  return request(url, { path, body, headers: { 'content-type': contentType } });
}

/** A urlencoded body POSTed to path. */
export function postForm(url: string, path: string, body: string | Uint8Array): Promise<Reply> {
  return request(url, { path, body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

/** How many SecretBuffers are alive in this process (the apps run in the test's own process). */
export function liveSecrets(): number {
  return SecretBuffer.live().buffers;
}

/**
 * A urlencoded value as the URL Standard decodes it (the reference the secrets are checked
 * against): the body's bytes as UTF-8 text, '+' a space, %XX a byte, then UTF-8 again.
 */
export function formValue(raw: Uint8Array): string {
  const text = Buffer.from(Buffer.from(raw).toString('utf8'));
  const bytes: number[] = [];
  const hex = /^[0-9a-fA-F]{2}$/;
  for (let i = 0; i < text.length; i++) {
    const pair = text.subarray(i + 1, i + 3).toString('latin1');
    if (text[i] === 0x25 && hex.test(pair)) {
      bytes.push(parseInt(pair, 16));
      i += 2;
    } else {
      bytes.push(text[i] === 0x2b ? 0x20 : (text[i] as number));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Whether a copy found by a scan can be Node's socket read buffer: read-write memory of the
 * C heap, which glibc's malloc serves from the main arena ([heap]) or from an anonymous
 * mapping of its own (another arena, a chunk of its own), run to run. The tests tell the
 * read buffer from any other copy by its address, the same after every request, and by its
 * going once the next read overwrites it.
 */
export function mayBeReadBuffer(match: { mapping: { perms: string; path: string } }): boolean {
  return match.mapping.perms.startsWith('rw') && (match.mapping.path === '[heap]' || match.mapping.path === '');
}
