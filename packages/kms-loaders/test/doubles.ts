// Protocol doubles of HashiCorp Vault, Google Cloud Secret Manager and Azure Key Vault: local
// HTTP(S) servers on 127.0.0.1 (a free port) that speak the documented HTTP APIs, error answers
// included, so that the real client code (ours for Vault; Google's own client, REST transport,
// for Secret Manager; Microsoft's SecretClient for Key Vault) runs against them. None of these
// services can run on this machine (no network, and none ships a local server we could
// install), hence doubles. They are written from the public API documentation:
//   Vault: /v1/<mount>/data/<path> (KV v2), /v1/<mount>/decrypt/<key> (Transit),
//          /v1/auth/approle/login, /v1/sys/leases/renew, X-Vault-Token, X-Vault-Namespace,
//          errors as {"errors": [...]} with 400, 403, 404, 429, 5xx.
//   Secret Manager: GET /v1/<name>:access (REST), {"name", "payload": {"data": base64,
//          "dataCrc32c": "decimal"}}, errors as {"error": {"code", "message", "status"}}.
//   Key Vault: GET /secrets/<name>[/<version>]?api-version=..., {"value", "id", "attributes":
//          {"enabled", "created", "updated", "recoveryLevel"}, "contentType", "tags"}; the
//          challenge-based authentication its SDK does (a request without a token gets 401 with
//          WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
//          resource="https://vault.azure.net"; then the Bearer token is checked); errors as
//          {"error": {"code", "message", "innererror"}} with 401, 403 (a disabled secret:
//          innererror SecretDisabled), 404 SecretNotFound, 429 Throttled with Retry-After, 5xx;
//          an x-ms-request-id on every answer. Over HTTPS only: the SDK sends no token over http.
// Faults are queued per double: the next matching request gets it instead of its answer.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

import { crc32c } from '../src/crc32c.js';

export type Fault =
  | { readonly status: number; readonly body?: string } // an error answer (Vault or Google JSON)
  | { readonly hang: true } // never answers (a timeout)
  | { readonly truncate: true } // 200 with the JSON cut short (Content-Length of what is sent)
  | { readonly malformed: true } // 200 with a body that is not JSON
  | { readonly cut: true } // 200 whose connection closes before its declared length
  | { readonly badCrc: true } // Secret Manager: the right data with a wrong dataCrc32c
  | { readonly answer: unknown }; // 200 with this JSON (well-formed, but not what the API answers)

export interface Logged {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly token: string | undefined;
  readonly namespace: string | undefined;
  readonly authorization: string | undefined;
}

interface Answer {
  readonly status: number;
  readonly value: unknown;
  readonly text?: string | undefined;
}

/** A local HTTP server; every socket is tracked so a test can see none is left open. */
abstract class HttpDouble {
  readonly log: Logged[] = [];
  readonly faults: Fault[] = [];
  protected readonly server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #hung: (() => void)[] = [];
  readonly #tls: boolean;
  #port = 0;
  #abandoned = 0;

  /** With `tls` (a PEM key and certificate), an HTTPS server. */
  constructor(tls?: { key: string; cert: string }) {
    const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://double');
        this.log.push({
          method: req.method ?? '',
          path: url.pathname,
          query: url.search,
          token: req.headers['x-vault-token'] as string | undefined,
          namespace: req.headers['x-vault-namespace'] as string | undefined,
          authorization: req.headers.authorization,
        });
        const fault = this.faults.shift();
        if (fault !== undefined && this.fault(fault, req, res, url, Buffer.concat(chunks))) return;
        this.handle(req, res, url, Buffer.concat(chunks));
      });
    };
    this.server = tls === undefined ? http.createServer(listener) : https.createServer(tls, listener);
    this.#tls = tls !== undefined;
    this.server.on(tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get port(): number {
    return this.#port;
  }

  get address(): string {
    return `${this.#tls ? 'https' : 'http'}://127.0.0.1:${this.#port}`;
  }

  /** Sockets still open on the server side (0 once every client closed its connection). */
  get openSockets(): number {
    return this.#sockets.size;
  }

  /** Requests held by { hang: true } faults whose connection the client closed before an answer. */
  get abandoned(): number {
    return this.#abandoned;
  }

  /** Answers the requests held by { hang: true } faults, late; returns how many were still waiting. */
  release(): number {
    const hung = this.#hung.splice(0);
    for (const answer of hung) answer();
    return hung.length;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Waits (briefly) until every connection has closed; resolves with how many are left. */
  async settled(ms = 2000): Promise<number> {
    const until = Date.now() + ms;
    while (this.#sockets.size > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    return this.#sockets.size;
  }

  /** Sends `value` as JSON (or `text`, the JSON already written), with the double's headers(). */
  protected json(res: http.ServerResponse, status: number, value: unknown, text?: string): void {
    const body = Buffer.from(text ?? JSON.stringify(value));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length, ...this.headers(status) });
    res.end(body);
  }

  /** Headers every answer of this status carries besides Content-Type and Content-Length (none by default). */
  protected headers(_status: number): Record<string, string> {
    return {};
  }

  /** Serves `fault` (true), or leaves the request to handle() (false). */
  protected fault(fault: Fault, req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer): boolean {
    if ('hang' in fault) {
      // no answer until release() (or until the client gives up and closes the connection)
      res.on('close', () => {
        if (!res.writableFinished) this.#abandoned++;
      });
      this.#hung.push(() => {
        if (!res.destroyed) this.handle(req, res, url, body);
      });
      return true;
    }
    if ('status' in fault) {
      this.json(res, fault.status, undefined, fault.body ?? this.errorBody(fault.status));
      return true;
    }
    if ('malformed' in fault) {
      this.json(res, 200, undefined, '<html>upstream proxy error</html>');
      return true;
    }
    if ('answer' in fault) {
      this.json(res, 200, fault.answer);
      return true;
    }
    // truncate, cut, badCrc: the real answer, then spoiled.
    const real = this.answer(req, url, body);
    if (real.status !== 200) {
      this.json(res, real.status, real.value, real.text);
      return true;
    }
    if ('badCrc' in fault) {
      const value = real.value as { payload: { dataCrc32c: string } };
      value.payload.dataCrc32c = String((Number(value.payload.dataCrc32c) ^ 1) >>> 0);
      this.json(res, 200, value);
      return true;
    }
    const text = Buffer.from(real.text ?? JSON.stringify(real.value));
    const sent = text.subarray(0, Math.floor(text.length / 2));
    if ('truncate' in fault) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': sent.length, ...this.headers(200) });
      res.end(sent);
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': text.length, ...this.headers(200) });
      res.write(sent, () => res.socket?.destroy());
    }
    return true;
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer): void {
    const { status, value, text } = this.answer(req, url, body);
    this.json(res, status, value, text);
  }

  /** The answer to a request: a status and a value sent as JSON (or `text`, the JSON as written). */
  protected abstract answer(req: http.IncomingMessage, url: URL, body: Buffer): Answer;
  protected abstract errorBody(status: number): string;
}

// ---------------------------------------------------------------------------------------
// Vault

interface VaultToken {
  expires: number; // ms since the epoch; Infinity for none
}

interface Lease {
  readonly id: string;
  readonly issued: number;
  readonly maxTtl: number; // seconds
}

const vaultErrors = (...errors: string[]): { errors: string[] } => ({ errors });

export class VaultDouble extends HttpDouble {
  constructor(tls?: { key: string; cert: string }) {
    super(tls);
  }

  readonly tokens = new Map<string, VaultToken>();
  /** namespace ('' for the root) -> mount/path -> versions (1-based) of field maps. */
  readonly kv = new Map<string, Map<string, Record<string, unknown>[]>>();
  readonly roles = new Map<string, { secretId: string; ttl: number }>();
  readonly leases = new Map<string, Lease>();
  readonly renewals: { id: string; increment: number; granted: number }[] = [];
  /** Dynamic secrets at /v1/database/creds/<role>: lease duration and max TTL (s), renewable. */
  dynamic = { duration: 2, maxTtl: 3, renewable: true };
  readonly #transitKey = randomBytes(32);
  #issued = 0;

  /** Puts a new version of mount/path (in a namespace); returns its version number. */
  put(mountPath: string, data: Record<string, unknown>, namespace = ''): number {
    let space = this.kv.get(namespace);
    if (space === undefined) this.kv.set(namespace, (space = new Map()));
    const versions = space.get(mountPath) ?? [];
    versions.push(data);
    space.set(mountPath, versions);
    return versions.length;
  }

  /** A token valid for `ttl` seconds (default: no expiry). */
  token(ttl?: number): string {
    const token = `hvs.${randomBytes(18).toString('base64url')}`;
    this.tokens.set(token, { expires: ttl === undefined ? Number.POSITIVE_INFINITY : Date.now() + ttl * 1000 });
    return token;
  }

  /** What Transit's encrypt would give for `plaintext` under key `key`. */
  encrypt(plaintext: Uint8Array): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#transitKey, nonce);
    const sealed = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `vault:v1:${sealed.toString('base64')}`;
  }

  protected errorBody(status: number): string {
    const text = status === 429 ? 'request path "secret/data/x": rate limit quota exceeded' : status === 403 ? 'permission denied' : status === 404 ? '' : 'internal error';
    return JSON.stringify(vaultErrors(...(text === '' ? [] : [text])));
  }

  #authorised(req: http.IncomingMessage): boolean {
    const token = req.headers['x-vault-token'];
    const entry = typeof token === 'string' ? this.tokens.get(token) : undefined;
    return entry !== undefined && entry.expires > Date.now();
  }

  #envelope(data: unknown, lease?: { id: string; duration: number; renewable: boolean }): unknown {
    return {
      request_id: randomBytes(16).toString('hex'),
      lease_id: lease?.id ?? '',
      renewable: lease?.renewable ?? false,
      lease_duration: lease?.duration ?? 0,
      data,
      wrap_info: null,
      warnings: null,
      auth: null,
    };
  }

  protected answer(req: http.IncomingMessage, url: URL, body: Buffer): { status: number; value: unknown } {
    const path = url.pathname;
    const namespace = (req.headers['x-vault-namespace'] as string | undefined) ?? '';
    if (req.method === 'POST' && /^\/v1\/auth\/[^/]+\/login$/.test(path)) {
      let given: { role_id?: unknown; secret_id?: unknown };
      try {
        given = JSON.parse(body.toString()) as typeof given;
      } catch {
        return { status: 400, value: vaultErrors('failed to parse JSON input') };
      }
      const role = typeof given.role_id === 'string' ? this.roles.get(given.role_id) : undefined;
      if (role === undefined || role.secretId !== given.secret_id) return { status: 400, value: vaultErrors('invalid role or secret ID') };
      const token = this.token(role.ttl);
      return {
        status: 200,
        value: { ...(this.#envelope(null) as object), auth: { client_token: token, accessor: 'x', policies: ['default'], lease_duration: role.ttl, renewable: true } },
      };
    }
    if (!this.#authorised(req)) return { status: 403, value: vaultErrors('permission denied') };
    if (req.method === 'PUT' && path === '/v1/sys/leases/renew') {
      const given = JSON.parse(body.toString()) as { lease_id: string; increment: number };
      const lease = this.leases.get(given.lease_id);
      if (lease === undefined) return { status: 400, value: vaultErrors('lease not found') };
      const left = Math.max(0, Math.floor(lease.maxTtl - (Date.now() - lease.issued) / 1000));
      const granted = Math.min(given.increment, left);
      this.renewals.push({ id: lease.id, increment: given.increment, granted });
      return { status: 200, value: this.#envelope(null, { id: lease.id, duration: granted, renewable: true }) };
    }
    const creds = /^\/v1\/database\/creds\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && creds !== null) {
      const n = ++this.#issued;
      const lease = { id: `database/creds/${creds[1]}/${randomBytes(8).toString('hex')}`, issued: Date.now(), maxTtl: this.dynamic.maxTtl };
      this.leases.set(lease.id, lease);
      return {
        status: 200,
        value: this.#envelope({ username: `v-app-${n}`, password: `dynamic-password-${n}` }, { id: lease.id, duration: this.dynamic.duration, renewable: this.dynamic.renewable }),
      };
    }
    const transit = /^\/v1\/([^/]+)\/decrypt\/([^/]+)$/.exec(path);
    if (req.method === 'POST' && transit !== null) {
      const given = JSON.parse(body.toString()) as { ciphertext?: string };
      const match = /^vault:v1:([A-Za-z0-9+/=]+)$/.exec(given.ciphertext ?? '');
      if (transit[2] !== 'app-key') return { status: 400, value: vaultErrors('encryption key not found') };
      if (match === null) return { status: 400, value: vaultErrors('invalid ciphertext: no prefix') };
      const sealed = Buffer.from(match[1] as string, 'base64');
      try {
        const decipher = createDecipheriv('aes-256-gcm', this.#transitKey, sealed.subarray(0, 12));
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        const plaintext = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
        return { status: 200, value: this.#envelope({ plaintext: plaintext.toString('base64') }) };
      } catch {
        return { status: 400, value: vaultErrors('cipher: message authentication failed') };
      }
    }
    const kv = /^\/v1\/([^/]+)\/data\/(.+)$/.exec(path);
    if (req.method === 'GET' && kv !== null) {
      const versions = this.kv.get(namespace)?.get(`${kv[1]}/${kv[2]}`);
      const wanted = url.searchParams.has('version') ? Number(url.searchParams.get('version')) : versions?.length ?? 0;
      const data = versions?.[wanted - 1];
      if (data === undefined) return { status: 404, value: vaultErrors() };
      return {
        status: 200,
        value: this.#envelope({
          data,
          metadata: { created_time: new Date().toISOString(), custom_metadata: null, deletion_time: '', destroyed: false, version: wanted },
        }),
      };
    }
    return { status: 404, value: vaultErrors() };
  }
}

// ---------------------------------------------------------------------------------------
// Google Cloud Secret Manager (REST, as the client's fallback transport speaks it)

const googleError = (code: number, status: string, message: string): { error: { code: number; status: string; message: string } } => ({
  error: { code, status, message },
});

export class SecretManagerDouble extends HttpDouble {
  /** name without the version -> versions (1-based); a version may be disabled. */
  readonly secrets = new Map<string, { data: Uint8Array; disabled?: boolean }[]>();
  readonly accessToken = `ya29.${randomBytes(12).toString('hex')}`;

  /** Adds a version to projects/<project>/secrets/<secret>; returns its number. */
  add(secret: string, data: Uint8Array): number {
    const versions = this.secrets.get(secret) ?? [];
    versions.push({ data });
    this.secrets.set(secret, versions);
    return versions.length;
  }

  protected errorBody(status: number): string {
    const table: Record<number, [string, string]> = {
      403: ['PERMISSION_DENIED', "Permission 'secretmanager.versions.access' denied"],
      404: ['NOT_FOUND', 'Secret not found'],
      429: ['RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric Access requests'],
      503: ['UNAVAILABLE', 'The service is currently unavailable.'],
    };
    const [name, message] = table[status] ?? ['INTERNAL', 'Internal error'];
    return JSON.stringify(googleError(status, name, message));
  }

  protected answer(req: http.IncomingMessage, url: URL): { status: number; value: unknown } {
    if (req.headers.authorization !== `Bearer ${this.accessToken}`) {
      return { status: 401, value: googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.') };
    }
    const match = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/:]+):access$/.exec(url.pathname);
    if (req.method !== 'GET' || match === null) return { status: 404, value: googleError(404, 'NOT_FOUND', 'Not found') };
    const versions = this.secrets.get(match[1] as string);
    if (versions === undefined) return { status: 404, value: googleError(404, 'NOT_FOUND', `Secret [${match[1]}] not found or has no versions.`) };
    const number = match[2] === 'latest' ? versions.length : Number(match[2]);
    const version = versions[number - 1];
    if (version === undefined) return { status: 404, value: googleError(404, 'NOT_FOUND', `Secret Version [${match[1]}/versions/${match[2]}] not found.`) };
    if (version.disabled === true) {
      return { status: 400, value: googleError(400, 'FAILED_PRECONDITION', `Secret Version [${match[1]}/versions/${number}] is in DISABLED state.`) };
    }
    return {
      status: 200,
      value: {
        name: `${(match[1] as string).replace(/^projects\/[^/]+/, 'projects/123456789')}/versions/${number}`,
        payload: { data: Buffer.from(version.data).toString('base64'), dataCrc32c: String(crc32c(version.data)) },
      },
    };
  }
}

// ---------------------------------------------------------------------------------------
// Azure Key Vault (data plane, secrets)

export interface KeyVaultVersion {
  /** The version id: 32 lower-case hex digits, as Key Vault makes them. */
  readonly id: string;
  readonly value: string;
  enabled: boolean;
  readonly created: number; // seconds since the epoch
  readonly contentType?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Send the value with every non-ASCII character as a JSON \uXXXX escape (valid JSON either way). */
  readonly escape?: boolean;
}

const keyVaultError = (code: string, message: string, inner?: string): { error: { code: string; message: string; innererror?: { code: string } } } => ({
  error: { code, message, ...(inner === undefined ? {} : { innererror: { code: inner } }) },
});

// JSON text with every character above U+007F as \uXXXX (surrogate pairs as two escapes).
function escapedJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export class AzureKeyVaultDouble extends HttpDouble {
  /** The tenant named in the challenge's authorization URI. */
  readonly tenantId = randomUUID();
  /** The one access token the double accepts (opaque here: Key Vault checks a signed JWT). */
  readonly accessToken = `eyJ0eXAiOiJKV1QifQ.${randomBytes(24).toString('base64url')}`;
  /** The resource the challenge names: Key Vault's own. */
  resource = 'https://vault.azure.net';
  /** Seconds in the Retry-After header of a 429. */
  retryAfter = 1;
  /** lower-case name -> { name as created, versions oldest first }. */
  readonly secrets = new Map<string, { name: string; versions: KeyVaultVersion[] }>();
  /** The x-ms-request-id of every answer, in order. */
  readonly requestIds: string[] = [];

  /** HTTPS only: Microsoft's SDK refuses to send a token over http. */
  constructor(tls: { key: string; cert: string }) {
    super(tls);
  }

  /** Sets a new current version of the secret `name` (what `az keyvault secret set` does); returns its id. */
  add(name: string, value: string, options: { enabled?: boolean; contentType?: string; tags?: Record<string, string>; escape?: boolean } = {}): string {
    const key = name.toLowerCase();
    const entry = this.secrets.get(key) ?? { name, versions: [] };
    const version: KeyVaultVersion = {
      id: randomBytes(16).toString('hex'),
      value,
      enabled: options.enabled ?? true,
      created: Math.floor(Date.now() / 1000),
      ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
      ...(options.tags === undefined ? {} : { tags: options.tags }),
      ...(options.escape === undefined ? {} : { escape: options.escape }),
    };
    entry.versions.push(version);
    this.secrets.set(key, entry);
    return version.id;
  }

  /** The WWW-Authenticate header of a 401. */
  get challenge(): string {
    return `Bearer authorization="https://login.microsoftonline.com/${this.tenantId}", resource="${this.resource}"`;
  }

  protected override headers(status: number): Record<string, string> {
    const id = randomUUID();
    this.requestIds.push(id);
    return {
      'x-ms-request-id': id,
      'x-ms-keyvault-service-version': '1.9.0.0',
      ...(status === 401 ? { 'www-authenticate': this.challenge } : {}),
      ...(status === 429 ? { 'retry-after': String(this.retryAfter) } : {}),
    };
  }

  protected errorBody(status: number): string {
    const table: Record<number, [string, string]> = {
      401: ['Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'],
      403: ['Forbidden', "The user, group or application does not have secrets get permission on key vault. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"],
      404: ['SecretNotFound', 'A secret with (name/id) was not found in this key vault.'],
      429: ['Throttled', 'Request was not processed because too many requests were received. Reason: A generic throttling limit was exceeded.'],
      503: ['ServiceUnavailable', 'The service is temporarily unavailable.'],
    };
    const [code, message] = table[status] ?? ['InternalServerError', 'An internal server error occurred.'];
    return JSON.stringify(keyVaultError(code, message));
  }

  protected answer(req: http.IncomingMessage, url: URL): Answer {
    const authorization = req.headers.authorization;
    if (authorization === undefined) return { status: 401, value: keyVaultError('Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.') };
    if (authorization !== `Bearer ${this.accessToken}`) return { status: 401, value: keyVaultError('Unauthorized', 'AKV10022: Invalid audience.') };
    if (!url.searchParams.has('api-version')) return { status: 400, value: keyVaultError('BadParameter', 'The api-version query parameter is required.') };
    const match = /^\/secrets\/([0-9A-Za-z-]{1,127})(?:\/([0-9A-Za-z]*))?\/?$/.exec(url.pathname);
    if (req.method !== 'GET' || match === null) return { status: 404, value: keyVaultError('NotFound', 'The requested resource was not found.') };
    const [, name = '', wanted = ''] = match;
    const entry = this.secrets.get(name.toLowerCase());
    const version = wanted === '' ? entry?.versions.at(-1) : entry?.versions.find((v) => v.id === wanted.toLowerCase());
    if (entry === undefined || version === undefined) {
      return { status: 404, value: keyVaultError('SecretNotFound', `A secret with (name/id) ${name}${wanted === '' ? '' : `/${wanted}`} was not found in this key vault.`) };
    }
    if (!version.enabled) return { status: 403, value: keyVaultError('Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled') };
    const value = {
      value: version.value,
      ...(version.contentType === undefined ? {} : { contentType: version.contentType }),
      id: `https://${req.headers.host ?? '127.0.0.1'}/secrets/${entry.name}/${version.id}`,
      attributes: { enabled: true, created: version.created, updated: version.created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
      tags: version.tags ?? {},
    };
    return { status: 200, value, text: version.escape === true ? escapedJson(value) : undefined };
  }
}
