// Azure Key Vault secrets through the user's own SecretClient (@azure/keyvault-secrets 4.x, an
// optional peer dependency: this module imports nothing of it). The client's credential,
// endpoint, TLS settings, proxy and retry policy are the user's.
//
// Bytes: getSecret() gives the secret's `value` as a JS string, and nothing else (Key Vault's
// JSON answer is parsed inside the SDK). The string is encoded into UTF-8 bytes that are
// sealed and overwritten with zeros at once (sealText, shared with AWS's SecretString); the
// string itself cannot be wiped, and stays in the heap until it is collected and its memory
// reused (the README's byte-hygiene table lists it).
//
// Errors: the SDK's RestError carries the HTTP status, Key Vault's error code and the
// x-ms-request-id header; they map onto the four source codes (ERR_SOURCE_UNAVAILABLE is
// retried by the store). The message names the vault's host, the secret and version, the
// status, codes and request id, never a message of the SDK or a body: a RestError's message
// and its `response` (bodyAsText) hold the raw answer when it could not be parsed, and so the
// secret. For the same reason the SDK's error is not kept as the cause.
import { checkArgs, checkOptions, checkText, describe, invalid } from '@strongroom/core-native/validate';

import { sealText } from './seal.js';
import { defineSource, maxSizeOf, sourceError, type Source, type SourceErrorCode, type SourceSpec } from './source.js';

/** What getSecret() gives: the part of @azure/keyvault-secrets' KeyVaultSecret this source reads. */
export interface AzureKeyVaultSecret {
  value?: string | undefined;
  properties: {
    enabled?: boolean | undefined;
    name?: string | undefined;
    version?: string | undefined;
  };
}

/** The part of @azure/keyvault-secrets' SecretClient (4.x) this source uses. */
export interface AzureSecretClient {
  readonly vaultUrl: string;
  getSecret(secretName: string, options: { version?: string; abortSignal: AbortSignal }): Promise<AzureKeyVaultSecret>;
}

export interface AzureKeyVaultOptions {
  /** Your SecretClient of @azure/keyvault-secrets 4.x (its credential, TLS, proxy and retry settings are yours). */
  client: AzureSecretClient;
  /** The secret's name in the vault (1 to 127 letters, digits and dashes). */
  name: string;
  /** A version id to read (default: the current version). */
  version?: string;
  /** The most bytes the secret's UTF-8 may have (default 64 KiB; Key Vault's own limit is 25 KiB). */
  maxSize?: number;
}

type Spec = Pick<SourceSpec, 'kind' | 'where'>;

const NAME = /^[0-9A-Za-z-]{1,127}$/;
const VERSION = /^[0-9A-Za-z]{1,64}$/;

// Only codes and ids (identifiers) go into a message, never the SDK's text or a body.
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$/;

function identifier(value: unknown): string | undefined {
  return typeof value === 'string' && IDENTIFIER.test(value) ? value : undefined;
}

// What @azure/identity's credentials throw when no token can be had.
const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);

interface RestErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  statusCode?: unknown;
  response?: { headers?: { get?: (name: string) => unknown } };
  details?: { error?: { code?: unknown; innerError?: { code?: unknown } } };
}

function requestIdOf(error: RestErrorLike): string | undefined {
  const headers = error.response?.headers;
  return typeof headers?.get === 'function' ? identifier(headers.get('x-ms-request-id')) : undefined;
}

/** An SDK, credential or network error as a source error: status, codes and request id in the message. */
export function azureSourceError(error: unknown, spec: Spec, signal: AbortSignal): unknown {
  const e: RestErrorLike = typeof error === 'object' && error !== null ? (error as RestErrorLike) : {};
  const name = identifier(e.name) ?? typeof error;
  const fail = (code: SourceErrorCode, why: string): unknown => sourceError(code, spec, why);
  if (signal.aborted || name === 'AbortError') return fail('ERR_SOURCE_UNAVAILABLE', 'the call was cancelled at the deadline');
  if (name === 'RestError') {
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    const code = identifier(e.code);
    const inner = identifier(e.details?.error?.innerError?.code);
    const requestId = requestIdOf(e);
    const what = [status === undefined ? undefined : `HTTP ${status}`, code, inner, requestId === undefined ? undefined : `request ${requestId}`]
      .filter((part) => part !== undefined)
      .join(', ');
    if (code === 'PARSE_ERROR') return fail('ERR_SOURCE_FORMAT', `Key Vault's answer is not JSON: cut short, or not from Key Vault (${what})`);
    if (status === undefined) return fail('ERR_SOURCE_UNAVAILABLE', `Key Vault could not be reached (${what || 'no answer'})`);
    if (status === 403 && inner === 'SecretDisabled') return fail('ERR_SECRET_NOT_FOUND', `the secret (this version) is disabled (${what})`);
    if (status === 401 || status === 403) {
      return fail('ERR_SOURCE_AUTH', `Key Vault refused the credentials (${what}): check the identity's role (Key Vault Secrets User) or the vault's access policy and firewall`);
    }
    if (status === 404) return fail('ERR_SECRET_NOT_FOUND', `Key Vault has no such secret or version (${what})`);
    if (status === 408 || status === 429 || status >= 500) return fail('ERR_SOURCE_UNAVAILABLE', `Key Vault could not answer now (${what})`);
    if (status >= 200 && status < 300) return fail('ERR_SOURCE_FORMAT', `Key Vault's answer could not be read (${what})`);
    return fail('ERR_SOURCE_FORMAT', `Key Vault refused the request (${what})`);
  }
  const message = typeof e.message === 'string' ? e.message : '';
  if (CREDENTIAL_ERRORS.has(name)) return fail('ERR_SOURCE_AUTH', `the client's credential could get no token (${name})`);
  // keyVaultAuthenticationPolicy throws plain Errors about the WWW-Authenticate challenge: a
  // resource that is not the vault's domain (or a scope or authorization URI it cannot parse).
  if (/challenge/i.test(message)) {
    return fail(
      'ERR_SOURCE_AUTH',
      "the SDK would not follow Key Vault's authentication challenge (WWW-Authenticate): a vault reached under another host name (a private endpoint) needs the client option disableChallengeResourceVerification",
    );
  }
  // Thrown while the SDK shapes a 200 answer: an id that is not a secret identifier
  // (keyvault-common's parseKeyVaultIdentifier), a body without the fields it reads (TypeError).
  if (/identifier|collection argument/.test(message)) return fail('ERR_SOURCE_FORMAT', "the answer's id is not a Key Vault secret identifier");
  if (error instanceof TypeError || error instanceof SyntaxError) return fail('ERR_SOURCE_FORMAT', `Key Vault's answer could not be read (${name})`);
  return fail('ERR_SOURCE_UNAVAILABLE', `Key Vault could not be reached (${identifier(e.code) ?? name})`);
}

function checkClient(client: unknown): AzureSecretClient {
  const c = client as Partial<AzureSecretClient> | null | undefined;
  if (typeof c !== 'object' || c === null || typeof c.getSecret !== 'function' || typeof c.vaultUrl !== 'string') {
    throw invalid(`client of azureKeyVault() must be a SecretClient of @azure/keyvault-secrets (4.x); got ${describe(client)}`);
  }
  return c as AzureSecretClient;
}

/** A secret of Azure Key Vault, read with your SecretClient (getSecret). */
export function azureKeyVault(options: AzureKeyVaultOptions): Source {
  checkArgs(arguments.length, 1, 'azureKeyVault()');
  const given = checkOptions(options, 'azureKeyVault()', ['client', 'name', 'version', 'maxSize']);
  if (given.client === undefined || given.name === undefined) throw invalid('azureKeyVault() needs { client, name }');
  const client = checkClient(given.client);
  let host: string;
  try {
    host = new URL(client.vaultUrl).host;
  } catch {
    throw invalid(`client of azureKeyVault() has a vaultUrl that is not a URL: '${client.vaultUrl}'`);
  }
  const name = checkText(given.name, 'the name of azureKeyVault()');
  if (!NAME.test(name)) throw invalid(`the name of azureKeyVault() must be 1 to 127 letters, digits and dashes (Key Vault's rule); got '${name}'`);
  const version = given.version === undefined ? undefined : checkText(given.version, 'the version of azureKeyVault()');
  if (version !== undefined && !VERSION.test(version)) {
    throw invalid(`the version of azureKeyVault() must be a version id as Key Vault gives them (letters and digits); got '${version}'`);
  }
  const maxSize = maxSizeOf(given.maxSize);
  const spec: Spec = { kind: 'azure-key-vault', where: `${host}/secrets/${name}${version === undefined ? '' : `/${version}`}` };
  return defineSource({
    ...spec,
    remote: true,
    load: async (signal) => {
      let secret: AzureKeyVaultSecret;
      try {
        secret = await client.getSecret(name, version === undefined ? { abortSignal: signal } : { version, abortSignal: signal });
      } catch (error) {
        throw azureSourceError(error, spec, signal);
      }
      if (typeof secret !== 'object' || secret === null) throw sourceError('ERR_SOURCE_FORMAT', spec, 'getSecret() gave no secret');
      const value = secret.value;
      // Our reference goes: the string cannot be wiped, but nothing here keeps it alive.
      delete secret.value;
      if (signal.aborted) throw sourceError('ERR_SOURCE_UNAVAILABLE', spec, 'the answer came after the deadline');
      const properties: AzureKeyVaultSecret['properties'] = secret.properties ?? {};
      // Key Vault refuses to read a disabled secret (403 SecretDisabled, above); an answer that
      // says so all the same is not served.
      if (properties.enabled === false) throw sourceError('ERR_SECRET_NOT_FOUND', spec, 'the secret is disabled (attributes.enabled is false)');
      // The SDK takes name and version from the answer's id. Names are case-insensitive in Key
      // Vault; version ids are lower-case hex.
      if (typeof properties.name !== 'string' || properties.name.toLowerCase() !== name.toLowerCase()) {
        throw sourceError('ERR_SOURCE_FORMAT', spec, 'the answer is for another secret (its id)');
      }
      if (version !== undefined && (typeof properties.version !== 'string' || properties.version.toLowerCase() !== version.toLowerCase())) {
        throw sourceError('ERR_SOURCE_FORMAT', spec, 'the answer is not the version asked for');
      }
      if (typeof value !== 'string') throw sourceError('ERR_SOURCE_FORMAT', spec, `the answer has no value (${value === undefined ? 'none' : typeof value})`);
      return sealText(value, undefined, maxSize, spec);
    },
  });
}
