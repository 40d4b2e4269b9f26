// One HTTP(S) request whose answer is collected in guarded memory: node:http, one connection
// per request (agent: false, so no other traffic shares its buffers and no socket outlives
// it). What Node hands to JS on the way is wiped as soon as it has been used:
//   - each chunk the socket reads (the answer's head and body, as Node's HTTP parser saw
//     them) once the parser has run over it;
//   - each body chunk the parser copies out, once moved into the guarded answer;
//   - the request body (an AppRole login with its secret_id) once written, or on failure.
// Not reachable from here: the kernel's socket buffers, OpenSSL's record buffers under
// TLS, and the header strings node:http builds (see the README's byte-hygiene table).
import http from 'node:http';
import https from 'node:https';

import { SecretBuffer } from '@strongroom/buffer';

export interface GuardedRequest {
  readonly url: URL;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly headers: Readonly<Record<string, string>>;
  /** Sent as the body, then overwritten with zeros. */
  readonly body?: Uint8Array;
  readonly signal: AbortSignal;
  /** The most bytes of body accepted; more rejects with AnswerTooLarge. */
  readonly maxBytes: number;
  readonly tls?: { readonly ca?: string | Uint8Array; readonly servername?: string };
}

export interface GuardedAnswer {
  readonly status: number;
  /** The body in guarded memory (undefined when empty); its first `length` bytes. The caller destroys it. */
  readonly body: SecretBuffer | undefined;
  readonly length: number;
}

/** The answer's body was longer than maxBytes. */
export class AnswerTooLarge extends Error {
  constructor(maxBytes: number) {
    super(`the answer is longer than ${maxBytes} bytes`);
    this.name = 'AnswerTooLarge';
  }
}

const MIN_CAPACITY = 1024;

export function guardedRequest(options: GuardedRequest): Promise<GuardedAnswer> {
  const { url, method, headers, body: sent, signal, maxBytes, tls } = options;
  return new Promise<GuardedAnswer>((resolve, reject) => {
    let body: SecretBuffer | undefined;
    let length = 0;
    let settled = false;
    const wipeSent = (): void => void sent?.fill(0);
    let request: http.ClientRequest | undefined;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      body?.destroy();
      body = undefined;
      wipeSent();
      request?.destroy();
      reject(error);
    };
    // A 'data' listener: whatever goes wrong (ERR_MLOCK_LIMIT for a bigger body) fails the
    // request with the chunk wiped; nothing may be thrown out of it (an uncaught exception).
    const append = (chunk: Buffer): void => {
      try {
        collect(chunk);
      } catch (error) {
        chunk.fill(0);
        fail(error);
      }
    };
    const collect = (chunk: Buffer): void => {
      if (settled) {
        chunk.fill(0);
        return;
      }
      if (length + chunk.length > maxBytes) {
        chunk.fill(0);
        fail(new AnswerTooLarge(maxBytes));
        return;
      }
      if (body === undefined || length + chunk.length > body.size) {
        const capacity = Math.min(maxBytes, Math.max(MIN_CAPACITY, 2 * (body?.size ?? 0), length + chunk.length));
        const bigger = SecretBuffer.alloc(capacity);
        if (body !== undefined) {
          if (length > 0) bigger.copyFrom(body, 0, { length });
          body.destroy();
        }
        body = bigger;
      }
      body.moveFrom(chunk, length); // copied natively, then the chunk is overwritten with zeros
      length += chunk.length;
    };

    const transport = url.protocol === 'https:' ? https : http;
    try {
      request = transport.request(url, {
        method,
        headers: sent === undefined ? headers : { ...headers, 'content-length': String(sent.length) },
        agent: false,
        signal,
        ...(tls?.ca === undefined ? {} : { ca: typeof tls.ca === 'string' ? tls.ca : Buffer.from(tls.ca) }),
        ...(tls?.servername === undefined ? {} : { servername: tls.servername }),
      });
    } catch (error) {
      fail(error); // node:http refuses a header or an option before anything is sent
      return;
    }
    request.on('socket', (socket) => {
      // Added after node:http's own listener: the parser has read the chunk when this runs.
      socket.on('data', (chunk: Buffer) => chunk.fill(0));
    });
    request.on('error', fail);
    request.on('response', (response) => {
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        response.destroy();
        fail(new AnswerTooLarge(maxBytes));
        return;
      }
      response.on('data', append);
      response.on('error', fail);
      response.on('aborted', () => fail(new Error('the connection closed before the whole answer came')));
      response.on('end', () => {
        if (settled) return;
        if (!response.complete) {
          fail(new Error('the connection closed before the whole answer came'));
          return;
        }
        settled = true;
        wipeSent();
        resolve({ status: response.statusCode ?? 0, body, length });
      });
      response.on('close', () => {
        if (!settled) fail(new Error('the connection closed before the whole answer came'));
      });
    });
    if (sent === undefined) request.end();
    else request.end(sent, wipeSent);
  });
}
