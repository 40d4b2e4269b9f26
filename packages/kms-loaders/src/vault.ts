// HashiCorp Vault over its HTTP API (node:http/https; there is no official Node client):
//   vault({ address, auth, path, field, ... })        KV v2: GET /v1/<mount>/data/<path>,
//                                                     the secret at data.data[field]; or, with
//                                                     engine 'generic', GET /v1/<mount>/<path>
//                                                     and data[field] (dynamic secrets, KV v1)
//   vaultTransit({ address, auth, key, ciphertext })  POST /v1/<mount>/decrypt/<key>, the
//                                                     plaintext (base64) at data.plaintext
// Auth: a token (X-Vault-Token) or AppRole (POST /v1/auth/<mount>/login with role_id and
// secret_id; the client token it gives is sealed and reused until 90% of its TTL, or
// until Vault refuses it, then the source logs in again). X-Vault-Namespace on every request.
//
// Every answer is collected in guarded memory (guarded-http.ts); the secret string is
// decoded from its JSON bytes straight into a SecretBuffer (@strongroom/buffer/text), and the
// answer's region is destroyed. The token becomes a JS string in one place: the header
// value handed to node:http (the README says so).
//
// Leases (engine 'generic'): a renewable lease is renewed (PUT /v1/sys/leases/renew) at two
// thirds of its duration; once Vault grants less than asked (the max TTL is near), the
// renewal fails, or the lease is not renewable, the store is told to read the secret again
// at two thirds of what is left, which gives a new lease and, for a dynamic secret, new
// credentials (a rotation). A read again that fails is asked for again (1 s, doubling to
// 5 min) until a load brings a new lease. Leases longer than Node's longest timer (24.8
// days) are waited out in steps.
import { SecretBuffer } from '@strongroom/buffer';
import { isStrongroomError } from '@strongroom/core-native';
import { checkArgs, checkInteger, checkOneOf, checkOptions, checkText, describe as describeValue, invalid } from '@strongroom/core-native/validate';
import { Enclave } from '@strongroom/enclave';

import { AnswerTooLarge, guardedRequest, type GuardedAnswer } from './guarded-http.js';
import { base64Secret, findJsonValues, isJsonString, JsonSyntaxError, jsonPlain, jsonStringSecret, type JsonToken } from '@strongroom/buffer/text';
import { asSourceError, defineSource, maxSizeOf, sourceError, type Source } from './source.js';

/** A Vault token (X-Vault-Token), or AppRole's role_id and secret_id. */
export type VaultAuth =
  | { readonly token: Enclave | SecretBuffer }
  | { readonly roleId: string; readonly secretId: Enclave | SecretBuffer; readonly mount?: string };

export interface VaultTlsOptions {
  /** The CA certificate(s) that sign Vault's certificate (PEM). */
  readonly ca?: string | Uint8Array;
  /** The name to check Vault's certificate against, when it differs from the address's host. */
  readonly servername?: string;
}

interface VaultCommonOptions {
  /** Vault's address: 'https://vault.example:8200' (http:// only for a local dev server). */
  address: string;
  auth: VaultAuth;
  /** Vault Enterprise namespace (X-Vault-Namespace). */
  namespace?: string;
  tls?: VaultTlsOptions;
  /** The largest secret accepted (default 64 KiB); more is ERR_SOURCE_FORMAT. */
  maxSize?: number;
}

export interface VaultOptions extends VaultCommonOptions {
  /** The secrets engine's mount (default 'secret'). */
  mount?: string;
  /** The secret's path under the mount. */
  path: string;
  /** The field of the secret that holds the value. */
  field: string;
  /** 'kv-v2' (default): /<mount>/data/<path>, data.data[field]; 'generic': /<mount>/<path>, data[field], with its lease renewed. */
  engine?: 'kv-v2' | 'generic';
  /** A KV v2 version to read (default: the latest). */
  version?: number;
}

export interface VaultTransitOptions extends VaultCommonOptions {
  /** The Transit engine's mount (default 'transit'). */
  mount?: string;
  /** The name of the Transit key. */
  key: string;
  /** The ciphertext Transit gave: 'vault:v1:...'. */
  ciphertext: string;
  /** The derivation context (base64), for a derived key. */
  context?: string;
}

const DEFAULT_NAMESPACE_HEADER = 'X-Vault-Namespace';

// The credentials, sealed in Enclaves of this source's own (a SecretBuffer given is copied).
type Credential = { kind: 'token'; token: Enclave } | { kind: 'approle'; roleId: string; secretId: Enclave; mount: string };

function ownEnclave(value: unknown, what: string): Enclave {
  if (value instanceof Enclave) return value;
  if (value instanceof SecretBuffer) {
    const copy = SecretBuffer.alloc(value.size);
    try {
      copy.copyFrom(value);
    } catch (error) {
      copy.destroy();
      throw error;
    }
    return Enclave.seal(copy);
  }
  throw invalid(`${what} must be an Enclave or a SecretBuffer (never a string: it would stay in the heap); got ${describeValue(value)}`);
}

function credentialOf(value: unknown, fn: string): Credential {
  if (typeof value !== 'object' || value === null) throw invalid(`auth of ${fn} must be { token } or { roleId, secretId }; got ${describeValue(value)}`);
  if ('token' in value) {
    const given = checkOptions(value, `${fn} auth`, ['token']);
    return { kind: 'token', token: ownEnclave(given.token, 'auth.token') };
  }
  const given = checkOptions(value, `${fn} auth`, ['roleId', 'secretId', 'mount']);
  return {
    kind: 'approle',
    roleId: checkText(given.roleId, 'auth.roleId'),
    secretId: ownEnclave(given.secretId, 'auth.secretId'),
    mount: given.mount === undefined ? 'approle' : pathPart(given.mount, 'auth.mount'),
  };
}

// A mount or a path: no empty segment, no '.' or '..', nothing a URL would read otherwise: a
// backslash is a '/' to the URL parser (so 'a\..\..\sys' would climb out of the mount), and
// control characters are refused too. Never echoes the value (it may be mistaken for a secret).
function pathPart(value: unknown, what: string): string {
  const text = checkText(value, what).replace(/^\/+|\/+$/g, '');
  const segments = text.split('/');
  if (text === '' || segments.some((s) => s === '' || s === '.' || s === '..' || /[?#%\s\\\x00-\x1f\x7f]/.test(s))) {
    throw invalid(
      `${what} must be a path like 'app/db' (no empty, '.' or '..' segment, no ?, #, %, \\, space or control character)`,
    );
  }
  return text;
}

// The namespace: a path, and a header value (X-Vault-Namespace), so visible ASCII only.
function namespaceOf(value: unknown): string {
  const text = pathPart(value, 'namespace');
  if (!/^[\x21-\x7e]+$/.test(text)) throw invalid("namespace must be visible ASCII, like 'team-a/dev' (it is sent as a header)");
  return text;
}

/** The bytes of a header value, as the one JS string node:http needs; only visible ASCII. */
function headerValue(enclave: Enclave, spec: { kind: string; where: string }, what: string): string {
  const opened = enclave.open();
  try {
    return opened.read((view) => {
      let bad = 0;
      for (const b of view) bad |= ((b - 0x21) | (0x7e - b)) & 0x80000000;
      if (bad !== 0) throw sourceError('ERR_SOURCE_AUTH', spec, `${what} holds bytes that cannot go in an HTTP header (only visible ASCII can)`);
      return String.fromCharCode(...view); // the one string of the credential (see the README)
    });
  } finally {
    opened.destroy();
  }
}

interface Common {
  readonly base: URL;
  readonly credential: Credential;
  readonly namespace: string | undefined;
  readonly tls: VaultTlsOptions | undefined;
  readonly maxSize: number;
}

function commonOptions(given: Record<string, unknown>, fn: string): Common {
  let base: URL;
  try {
    base = new URL(checkText(given.address, `address of ${fn}`));
  } catch (error) {
    if (isStrongroomError(error)) throw error;
    throw invalid(`address of ${fn} must be a URL such as 'https://vault.example:8200'`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw invalid(`address of ${fn} must be http:// or https://`);
  if (base.username !== '' || base.password !== '' || base.search !== '' || base.hash !== '') {
    throw invalid(`address of ${fn} must hold no user, password, query or fragment`);
  }
  let tls: VaultTlsOptions | undefined;
  if (given.tls !== undefined) {
    const t = checkOptions(given.tls, `${fn} tls`, ['ca', 'servername']);
    if (t.ca !== undefined && typeof t.ca !== 'string' && !(t.ca instanceof Uint8Array)) throw invalid('tls.ca must be PEM text or bytes');
    tls = {
      ...(t.ca === undefined ? {} : { ca: t.ca as string | Uint8Array }),
      ...(t.servername === undefined ? {} : { servername: checkText(t.servername, 'tls.servername') }),
    };
  }
  return {
    base,
    credential: credentialOf(given.auth, fn),
    namespace: given.namespace === undefined ? undefined : namespaceOf(given.namespace),
    tls,
    maxSize: maxSizeOf(given.maxSize),
  };
}

interface Lease {
  readonly id: string;
  readonly duration: number; // seconds
  readonly renewable: boolean;
}

/** What a source needs to talk to Vault: requests with auth, a cached AppRole token, answers read. */
class VaultClient {
  readonly #common: Common;
  readonly #spec: { kind: string; where: string };
  #loginToken: { token: Enclave; until: number } | undefined;

  constructor(common: Common, spec: { kind: string; where: string }) {
    this.#common = common;
    this.#spec = spec;
  }

  get maxSize(): number {
    return this.#common.maxSize;
  }

  // The most bytes of an answer: room for the secret in JSON (escaped, 6 bytes a byte at
  // worst) and for Vault's metadata around it.
  get #maxAnswer(): number {
    return 6 * this.#common.maxSize + 64 * 1024;
  }

  #url(path: string): URL {
    const url = new URL(this.#common.base.href);
    const [route, query] = path.split('?') as [string, string | undefined];
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/${route}`;
    if (query !== undefined) url.search = query;
    return url;
  }

  async #send(method: 'GET' | 'POST' | 'PUT', path: string, token: string | undefined, body: Uint8Array | undefined, signal: AbortSignal): Promise<GuardedAnswer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#common.namespace !== undefined) headers[DEFAULT_NAMESPACE_HEADER] = this.#common.namespace;
    if (token !== undefined) headers['X-Vault-Token'] = token;
    try {
      return await guardedRequest({
        url: this.#url(path),
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal,
        maxBytes: this.#maxAnswer,
        ...(this.#common.tls === undefined ? {} : { tls: this.#common.tls }),
      });
    } catch (error) {
      if (error instanceof AnswerTooLarge) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, `Vault's answer is longer than ${this.#maxAnswer} bytes (maxSize ${this.#common.maxSize})`);
      // strongroom's own (ERR_MLOCK_LIMIT for a bigger body, ...): what to change, as it is.
      if (isStrongroomError(error)) throw asSourceError(error, this.#spec);
      const why = signal.aborted ? 'the request was abandoned at the deadline' : `Vault could not be reached (${(error as { code?: string }).code ?? (error as Error).message})`;
      throw sourceError('ERR_SOURCE_UNAVAILABLE', this.#spec, why, error);
    }
  }

  /** An error for a status other than 200 (the answer's body is destroyed, never read into a message). */
  #statusError(answer: GuardedAnswer, what: string): unknown {
    answer.body?.destroy();
    const { status } = answer;
    if (status === 401 || status === 403) return sourceError('ERR_SOURCE_AUTH', this.#spec, `Vault refused the credentials for ${what} (${status}): check the token or the AppRole, and its policy`);
    if (status === 404) return sourceError('ERR_SECRET_NOT_FOUND', this.#spec, `Vault has no ${what} there (404)`);
    if (status === 400) return sourceError('ERR_SOURCE_FORMAT', this.#spec, `Vault refused the request for ${what} as invalid (400)`);
    if (status === 429 || status === 412 || status >= 500) return sourceError('ERR_SOURCE_UNAVAILABLE', this.#spec, `Vault could not answer ${what} now (${status})`);
    return sourceError('ERR_SOURCE_UNAVAILABLE', this.#spec, `Vault answered ${what} with status ${status}`);
  }

  /** fn over the answer's JSON bytes (inside a read scope); the answer is destroyed afterwards. */
  read<T>(answer: GuardedAnswer, what: string, fn: (raw: Uint8Array) => T): T {
    const { body, length } = answer;
    if (body === undefined) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, `Vault's answer for ${what} is empty`);
    try {
      return body.read((view) => {
        try {
          return fn(view.subarray(0, length));
        } catch (error) {
          if (error instanceof JsonSyntaxError) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, `Vault's answer for ${what} is not JSON (${error.message})`);
          throw error;
        }
      });
    } finally {
      body.destroy();
    }
  }

  async #login(signal: AbortSignal, credential: Extract<Credential, { kind: 'approle' }>): Promise<{ token: Enclave; until: number }> {
    // {"role_id":<JSON string>,"secret_id":"<secret_id>"}, built in a heap buffer that the
    // request wipes once written; the secret_id must be JSON-safe text.
    const head = Buffer.from(`{"role_id":${JSON.stringify(credential.roleId)},"secret_id":"`);
    const opened = credential.secretId.open();
    let body: Uint8Array;
    try {
      body = opened.read((view) => {
        let bad = 0;
        for (const b of view) bad |= ((b - 0x20) | (0x7e - b) | -(b === 0x22 ? 1 : 0) | -(b === 0x5c ? 1 : 0)) & 0x80000000;
        if (bad !== 0) throw sourceError('ERR_SOURCE_AUTH', this.#spec, 'the AppRole secret_id holds bytes other than printable ASCII (or a quote or a backslash)');
        const bytes = new Uint8Array(head.length + view.length + 2);
        bytes.set(head, 0);
        bytes.set(view, head.length);
        bytes.set([0x22, 0x7d], head.length + view.length);
        return bytes;
      });
    } finally {
      opened.destroy();
    }
    const answer = await this.#send('POST', `auth/${credential.mount}/login`, undefined, body, signal);
    if (answer.status === 400) {
      answer.body?.destroy(); // Vault's answer to a wrong role_id or secret_id
      throw sourceError('ERR_SOURCE_AUTH', this.#spec, 'Vault refused the AppRole login (400): check role_id and secret_id');
    }
    if (answer.status !== 200) throw this.#statusError(answer, 'the AppRole login');
    const started = Date.now();
    return this.read(answer, 'the AppRole login', (raw) => {
      const [token, ttl] = findJsonValues(raw, [['auth', 'client_token'], ['auth', 'lease_duration']]);
      if (token === undefined || !isJsonString(raw, token)) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, "Vault's AppRole login gave no auth.client_token");
      const seconds = ttl === undefined ? 0 : jsonPlain(raw, ttl);
      const secret = jsonStringSecret(raw, token);
      if (secret === undefined) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, "Vault's AppRole login gave an empty auth.client_token");
      const until = typeof seconds === 'number' && seconds > 0 ? started + seconds * 900 : Number.POSITIVE_INFINITY; // 90% of the TTL
      return { token: Enclave.seal(secret), until };
    });
  }

  /** A request with the credentials; an AppRole token refused (expired, revoked) is replaced once. */
  async request(method: 'GET' | 'POST' | 'PUT', path: string, body: () => Uint8Array | undefined, what: string, signal: AbortSignal): Promise<GuardedAnswer> {
    const credential = this.#common.credential;
    if (credential.kind === 'token') {
      const answer = await this.#send(method, path, headerValue(credential.token, this.#spec, 'the token'), body(), signal);
      if (answer.status !== 200) throw this.#statusError(answer, what);
      return answer;
    }
    for (let attempt = 0; ; attempt++) {
      const cached = this.#loginToken;
      const login = cached !== undefined && cached.until > Date.now() ? cached : await this.#login(signal, credential);
      this.#loginToken = login;
      const answer = await this.#send(method, path, headerValue(login.token, this.#spec, 'the client token'), body(), signal);
      if (answer.status === 200) return answer;
      if ((answer.status === 403 || answer.status === 401) && login === cached && attempt === 0) {
        answer.body?.destroy();
        this.#loginToken = undefined; // expired or revoked: log in again, once
        continue;
      }
      throw this.#statusError(answer, what);
    }
  }

  /** The secret (a string field) at `tokenPath` of the answer, into guarded memory. */
  secretField(raw: Uint8Array, token: JsonToken | undefined, what: string, decode: 'text' | 'base64'): SecretBuffer {
    if (token === undefined) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, `Vault's answer has no ${what}`);
    if (!isJsonString(raw, token)) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, `${what} in Vault's answer is not a string`);
    const encoded = token.end - token.start - 2;
    if (decode === 'text' && encoded > 6 * this.maxSize) throw this.#tooLarge();
    let secret: SecretBuffer | undefined;
    try {
      secret = decode === 'text' ? jsonStringSecret(raw, token) : base64Secret(raw, token);
    } catch (error) {
      if (error instanceof JsonSyntaxError) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, `${what} in Vault's answer is not base64`);
      throw asSourceError(error, this.#spec);
    }
    if (secret === undefined) throw sourceError('ERR_SOURCE_FORMAT', this.#spec, `${what} in Vault's answer is empty`);
    if (secret.size > this.maxSize) {
      secret.destroy();
      throw this.#tooLarge();
    }
    return secret;
  }

  #tooLarge(): unknown {
    return sourceError('ERR_SOURCE_FORMAT', this.#spec, `the secret is larger than maxSize (${this.maxSize} bytes)`);
  }
}

function sealedOrSourceError(secret: SecretBuffer, spec: { kind: string; where: string }): Enclave {
  try {
    return Enclave.seal(secret);
  } catch (error) {
    secret.destroy();
    throw asSourceError(error, spec);
  }
}

// Watches a lease: renews it, or tells the store to read again before it ends (see the top).
// Timers longer than Node's (2^31 - 1 ms, 24.8 days: Vault's default TTL is 32 days) are
// chained; a read again that fails is asked for again with backoff until a load brings a new
// lease, so the lease is never left unwatched.
const MAX_TIMER_MS = 2 ** 31 - 1;
const RENEWAL_TIMEOUT_MS = 60_000; // one renewal request, however long the lease
const REREAD_MIN_MS = 1000;
const REREAD_MAX_MS = 5 * 60_000;

function leaseKeeper(client: () => VaultClient) {
  let lease: Lease | undefined;
  let replan: (() => void) | undefined;
  return {
    set(next: Lease | undefined): void {
      lease = next;
      replan?.();
    },
    watch(changed: () => void): () => void {
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      let rereads = 0; // asked for since the last lease was set
      const afterMs = (ms: number, fn: () => void): void => {
        clearTimeout(timer);
        const step = Math.min(Math.max(1, Math.floor(ms)), MAX_TIMER_MS);
        timer = setTimeout(() => (ms > MAX_TIMER_MS ? afterMs(ms - MAX_TIMER_MS, fn) : fn()), step);
        timer.unref();
      };
      // At two thirds of `seconds`.
      const after = (seconds: number, fn: () => void): void => afterMs((seconds * 1000 * 2) / 3, fn);
      // Tells the store to read again; while no load has brought a new lease, tells it again.
      const reread = (current: Lease): void => {
        changed();
        const wait = Math.min(REREAD_MAX_MS, REREAD_MIN_MS * 2 ** Math.min(rereads++, 20));
        afterMs(wait, () => {
          if (!stopped && lease === current) reread(current);
        });
      };
      const plan = (): void => {
        clearTimeout(timer);
        rereads = 0;
        const current = lease;
        if (stopped || current === undefined || current.duration <= 0) return;
        if (!current.renewable) {
          after(current.duration, () => reread(current));
          return;
        }
        after(current.duration, () => void renew(current));
      };
      const renew = async (current: Lease): Promise<void> => {
        const controller = new AbortController();
        const deadline = setTimeout(() => controller.abort(), Math.min(RENEWAL_TIMEOUT_MS, Math.max(1000, current.duration * 1000)));
        deadline.unref();
        try {
          const body = (): Uint8Array => Buffer.from(JSON.stringify({ lease_id: current.id, increment: current.duration }));
          const answer = await client().request('PUT', 'sys/leases/renew', body, 'the lease renewal', controller.signal);
          const granted = client().read(answer, 'the lease renewal', (raw) => {
            const [duration] = findJsonValues(raw, [['lease_duration']]);
            const value = duration === undefined ? undefined : jsonPlain(raw, duration);
            return typeof value === 'number' ? value : 0;
          });
          if (stopped || lease !== current) return;
          if (granted >= current.duration) {
            lease = { ...current, duration: granted };
            plan();
          } else if (granted > 0) {
            after(granted, () => reread(current)); // near the max TTL: read again before it ends
          } else {
            reread(current);
          }
        } catch {
          if (!stopped && lease === current) reread(current); // a failed renewal: read again at once
        } finally {
          clearTimeout(deadline);
        }
      };
      replan = plan;
      plan();
      return () => {
        stopped = true;
        replan = undefined;
        clearTimeout(timer);
      };
    },
  };
}

/** A secret in Vault: KV v2 (default) or, with engine 'generic', any read endpoint with a lease (dynamic secrets). */
export function vault(options: VaultOptions): Source {
  checkArgs(arguments.length, 1, 'vault()');
  const given = checkOptions(options, 'vault()', ['address', 'auth', 'namespace', 'tls', 'maxSize', 'mount', 'path', 'field', 'engine', 'version']);
  const common = commonOptions(given, 'vault()');
  const engine = given.engine === undefined ? 'kv-v2' : checkOneOf(given.engine, 'engine', ['kv-v2', 'generic'] as const);
  const mount = given.mount === undefined ? 'secret' : pathPart(given.mount, 'mount');
  const path = pathPart(given.path, 'path');
  const field = checkText(given.field, 'field');
  const version = given.version === undefined ? undefined : checkInteger(given.version, 'version', 1, Number.MAX_SAFE_INTEGER);
  if (version !== undefined && engine !== 'kv-v2') throw invalid("version is for engine 'kv-v2' only");
  const endpoint = engine === 'kv-v2' ? `${mount}/data/${path}${version === undefined ? '' : `?version=${version}`}` : `${mount}/${path}`;
  const spec = { kind: 'vault', where: `${common.base.origin}/v1/${engine === 'kv-v2' ? `${mount}/data/${path}` : endpoint}#${field}${common.namespace === undefined ? '' : ` (namespace ${common.namespace})`}` };
  const client = new VaultClient(common, spec);
  const leases = leaseKeeper(() => client);
  const fieldPath = engine === 'kv-v2' ? ['data', 'data', field] : ['data', field];
  return defineSource({
    ...spec,
    remote: true,
    load: async (signal) => {
      const answer = await client.request('GET', endpoint, () => undefined, 'the secret', signal);
      const { secret, lease } = client.read(answer, 'the secret', (raw) => {
        const [value, id, duration, renewable] = findJsonValues(raw, [fieldPath, ['lease_id'], ['lease_duration'], ['renewable']]);
        const found = client.secretField(raw, value, `field '${field}'`, 'text');
        const leaseId = id === undefined ? undefined : jsonPlain(raw, id);
        const seconds = duration === undefined ? undefined : jsonPlain(raw, duration);
        const lease: Lease | undefined =
          engine === 'generic' && typeof leaseId === 'string' && leaseId !== '' && typeof seconds === 'number' && seconds > 0
            ? { id: leaseId, duration: seconds, renewable: renewable !== undefined && jsonPlain(raw, renewable) === true }
            : undefined;
        return { secret: found, lease };
      });
      const sealed = sealedOrSourceError(secret, spec);
      leases.set(lease);
      return sealed;
    },
    ...(engine === 'generic' ? { watch: leases.watch } : {}),
  });
}

/** A secret Vault's Transit engine decrypts: POST /v1/<mount>/decrypt/<key>; the plaintext goes from base64 into guarded memory. */
export function vaultTransit(options: VaultTransitOptions): Source {
  checkArgs(arguments.length, 1, 'vaultTransit()');
  const given = checkOptions(options, 'vaultTransit()', ['address', 'auth', 'namespace', 'tls', 'maxSize', 'mount', 'key', 'ciphertext', 'context']);
  const common = commonOptions(given, 'vaultTransit()');
  const mount = given.mount === undefined ? 'transit' : pathPart(given.mount, 'mount');
  const key = pathPart(given.key, 'key');
  if (key.includes('/')) throw invalid(`key of vaultTransit() is a key name, without '/'; got '${key}'`);
  const ciphertext = checkText(given.ciphertext, 'ciphertext');
  if (!ciphertext.startsWith('vault:v')) throw invalid("ciphertext of vaultTransit() must be what Transit gave: 'vault:v1:...'");
  const context = given.context === undefined ? undefined : checkText(given.context, 'context');
  const spec = { kind: 'vault-transit', where: `${common.base.origin}/v1/${mount}/decrypt/${key}${common.namespace === undefined ? '' : ` (namespace ${common.namespace})`}` };
  const client = new VaultClient(common, spec);
  const request = (): Uint8Array => Buffer.from(JSON.stringify(context === undefined ? { ciphertext } : { ciphertext, context }));
  return defineSource({
    ...spec,
    remote: true,
    load: async (signal) => {
      const answer = await client.request('POST', `${mount}/decrypt/${key}`, request, 'the decryption', signal);
      const secret = client.read(answer, 'the decryption', (raw) => client.secretField(raw, findJsonValues(raw, [['data', 'plaintext']])[0], 'data.plaintext', 'base64'));
      return sealedOrSourceError(secret, spec);
    },
  });
}
