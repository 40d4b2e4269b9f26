// Reading a request body into one Buffer that the caller owns and must wipe, with
// raw-body's limits and errors: over the limit by Content-Length (413 before a byte is
// read), over it by counting (413 as soon as the count passes it, nothing more is
// kept), a request that ends early (400 'request.aborted'). Every chunk Node hands us is
// wiped (fill(0)) once it is copied, and on every error path; bytes that arrive after an
// error are wiped as they come and never kept, and the response is marked
// `Connection: close` so that the server reads no further than the reply takes.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { httpError, type HttpError } from './http-error.js';

export type BodyCallback = (error: HttpError | undefined, body: Buffer | undefined) => void;

function wipe(chunk: unknown): void {
  if (chunk instanceof Uint8Array) chunk.fill(0);
}

/**
 * After an error: wipes whatever still arrives instead of letting Node discard it unwiped
 * (IncomingMessage._dump), and asks for the connection to close after the response.
 */
export function discardRest(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
  if (req.readableEnded || req.destroyed) return;
  req.on('data', wipe);
  req.on('error', () => undefined); // an abort after we gave up is not news
  req.resume();
}

function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/**
 * Reads req's body (identity encoding only) up to `limit` bytes and calls done once, with
 * an HttpError or with a Buffer of its own (never a slice of Node's pool) holding the body.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limit: number, done: BodyCallback): void {
  const fail = (error: HttpError): void => {
    discardRest(req, res);
    done(error, undefined);
  };
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    // A decompressor keeps what it inflated in its window, where nothing can wipe it.
    fail(httpError(415, 'encoding.unsupported', 'content encoding unsupported: send the body uncompressed', { encoding }));
    return;
  }
  if (req.readableEncoding !== null) {
    fail(httpError(500, 'stream.encoding.set', 'stream encoding should not be set'));
    return;
  }
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) {
    fail(httpError(413, 'entity.too.large', 'request entity too large', { expected: declared, length: declared, limit }));
    return;
  }

  const chunks: Buffer[] = [];
  let received = 0;
  let settled = false;
  const settle = (error: HttpError | undefined): void => {
    if (settled) return;
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
    if (error !== undefined) {
      for (const chunk of chunks) chunk.fill(0);
      chunks.length = 0;
      fail(error);
      return;
    }
    const body = Buffer.allocUnsafeSlow(received);
    let at = 0;
    for (const chunk of chunks) {
      body.set(chunk, at);
      at += chunk.length;
      chunk.fill(0);
    }
    chunks.length = 0;
    done(undefined, body);
  };
  const onData = (chunk: Buffer): void => {
    received += chunk.length;
    if (received > limit) {
      chunk.fill(0);
      settle(httpError(413, 'entity.too.large', 'request entity too large', { limit, received }));
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = (): void => settle(undefined); // Node's parser has held the body to its Content-Length
  const aborted = (): void => {
    settle(httpError(400, 'request.aborted', 'request aborted', { code: 'ECONNABORTED', expected: declared, received }));
  };
  const onError = aborted;
  const onClose = aborted; // 'close' before 'end': the client went away
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
  req.on('close', onClose);
}
