// AWS sources: a Secrets Manager secret (GetSecretValue) and a KMS ciphertext (Decrypt),
// through the caller's own AWS SDK v3 client (its region, credentials, endpoint, proxy,
// retry settings). The SDK is an optional peer dependency: its command classes are
// imported when a source first loads, from the package the client came from.
//
// Bytes: SecretBinary and KMS's Plaintext arrive as Uint8Arrays that this module copies
// into guarded memory and overwrites with zeros at once; with `field`, the JSON is read
// byte by byte and only that field's value is decoded, straight into a SecretBuffer
// ('@strongroom/buffer/text'), never a JS string. SecretString arrives as a JS string from
// the SDK: it is encoded into bytes that are wiped like the others, but the string itself
// cannot be wiped (the README's table lists every copy that remains).
//
// Errors: the service's error names map onto the four source codes (retried by the store
// when ERR_SOURCE_UNAVAILABLE). The message names the secret id or key id, the error's
// name, HTTP status and request id; the SDK's error is not kept as the cause, since it can
// hold the raw response ($response) and so the secret.
import { StrongroomError } from '@strongroom/core-native';
import { checkArgs, checkOptions, checkText, describe, invalid } from '@strongroom/core-native/validate';

import { sealBytes, sealText } from './seal.js';
import { defineSource, maxSizeOf, sourceError, type Source, type SourceErrorCode, type SourceSpec } from './source.js';

/**
 * An AWS SDK v3 client as the AWS sources use it: `send(command, { abortSignal })`. A
 * SecretsManagerClient of @aws-sdk/client-secrets-manager or a KMSClient of
 * @aws-sdk/client-kms (v3), made and configured by you.
 */
export interface AwsClient {
  send(command: never, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  readonly config: { readonly serviceId?: string };
}

export interface AwsSecretsManagerOptions {
  /** A SecretsManagerClient (@aws-sdk/client-secrets-manager v3). */
  client: AwsClient;
  /** The secret's name or ARN. */
  secretId: string;
  /** The secret is a JSON object: load only this field's string value. */
  field?: string;
  /** The version stage to read (default: AWSCURRENT, the service's default). */
  versionStage?: string;
  /** The most bytes the secret may have, the whole JSON object with `field` (default 64 KiB). */
  maxSize?: number;
}

export interface AwsKmsOptions {
  /** A KMSClient (@aws-sdk/client-kms v3). */
  client: AwsClient;
  /** The ciphertext blob (from KMS Encrypt or GenerateDataKey); copied when the source is made. */
  ciphertext: Uint8Array;
  /** The key that must have encrypted it (an id, ARN or alias); required by KMS for asymmetric keys. */
  keyId?: string;
  /** The encryption context it was encrypted with. */
  encryptionContext?: Readonly<Record<string, string>>;
  /** The most bytes the plaintext may have (default 64 KiB; KMS itself returns at most 4 KiB). */
  maxSize?: number;
}

type Spec = Pick<SourceSpec, 'kind' | 'where'>;

// The error names of Secrets Manager, KMS and the AWS auth layer, by what they mean here.
const NOT_FOUND = new Set(['ResourceNotFoundException', 'NotFoundException', 'InvalidRequestException']);
const AUTH = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'InvalidClientTokenId',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
  'ExpiredToken',
  'DecryptionFailure', // Secrets Manager could not decrypt the secret with its KMS key
  'IncorrectKeyException', // the ciphertext was not made with the keyId given
  'DisabledException',
  'KMSInvalidStateException',
  'InvalidGrantTokenException',
]);
const FORMAT = new Set(['InvalidCiphertextException', 'InvalidKeyUsageException', 'InvalidParameterException', 'ValidationException']);
const UNAVAILABLE = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServiceError',
  'InternalServiceErrorException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'ServiceUnavailable',
]);

// Only names and codes (identifiers), never an SDK message or body: those are not ours to vet.
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_.:-]{0,79}$/;

function identifier(value: unknown): string | undefined {
  return typeof value === 'string' && IDENTIFIER.test(value) ? value : undefined;
}

/** An SDK or network error as a source error; its name, status and request id in the message. */
export function awsSourceError(error: unknown, spec: Spec): unknown {
  if (typeof error !== 'object' || error === null) return sourceError('ERR_SOURCE_UNAVAILABLE', spec, 'the AWS call failed');
  const e = error as { name?: unknown; code?: unknown; $fault?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: unknown; requestId?: unknown } };
  const name = identifier(e.name) ?? 'Error';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const requestId = identifier(e.$metadata?.requestId);
  const code = identifier(e.code);
  const what = [name, code, status === undefined ? undefined : `HTTP ${status}`, requestId === undefined ? undefined : `request ${requestId}`]
    .filter((part) => part !== undefined)
    .join(', ');
  let sourceCode: SourceErrorCode;
  let why: string;
  if (NOT_FOUND.has(name)) {
    sourceCode = 'ERR_SECRET_NOT_FOUND';
    why = 'no such secret, key or version (or one scheduled for deletion)';
  } else if (AUTH.has(name) || status === 401 || status === 403) {
    sourceCode = 'ERR_SOURCE_AUTH';
    why = 'AWS refused the credentials or the key (check the IAM policy, the key id and the encryption context)';
  } else if (FORMAT.has(name)) {
    sourceCode = 'ERR_SOURCE_FORMAT';
    why = 'AWS refused the request as malformed (the ciphertext, key usage or a parameter)';
  } else if (UNAVAILABLE.has(name) || e.$retryable !== undefined || e.$fault === 'server' || status === 429 || (status !== undefined && status >= 500) || e.$fault === undefined) {
    // Throttling, a server error, or no answer at all (a network error, an abort, a timeout).
    sourceCode = 'ERR_SOURCE_UNAVAILABLE';
    why = 'AWS could not be reached or did not answer';
  } else {
    sourceCode = 'ERR_SOURCE_FORMAT';
    why = 'AWS refused the request';
  }
  return sourceError(sourceCode, spec, `${why} (${what})`);
}

let secretsManagerModule: Promise<typeof import('@aws-sdk/client-secrets-manager')> | undefined;
let kmsModule: Promise<typeof import('@aws-sdk/client-kms')> | undefined;

// The SDK's command classes, imported once; a clear error when the package is missing.
function sdk<T>(name: string, load: () => Promise<T>): Promise<T> {
  return load().catch((error: unknown) => {
    throw new StrongroomError('ERR_INVALID_ARG', `the AWS sources need ${name} (v3) installed next to @strongroom/kms-loaders: npm install ${name}`, { cause: error });
  });
}

function checkClient(client: unknown, serviceId: string, fn: string, pkg: string): AwsClient {
  const c = client as Partial<AwsClient> | null | undefined;
  if (typeof c !== 'object' || c === null || typeof c.send !== 'function' || typeof c.config !== 'object' || c.config === null) {
    throw invalid(`${fn} needs client: a ${serviceId === 'KMS' ? 'KMSClient' : 'SecretsManagerClient'} of ${pkg} (v3); got ${describe(client)}`);
  }
  if (c.config.serviceId !== serviceId) {
    throw invalid(`${fn} needs a ${serviceId} client of ${pkg}; this client is for '${String(c.config.serviceId)}'`);
  }
  return c as AwsClient;
}

/**
 * A secret of AWS Secrets Manager (GetSecretValue), read through your SecretsManagerClient:
 * SecretBinary if the secret has it, else SecretString; with `field`, one string field of
 * the JSON object the secret holds.
 */
export function awsSecretsManager(options: AwsSecretsManagerOptions): Source {
  checkArgs(arguments.length, 1, 'awsSecretsManager()');
  const given = checkOptions(options, 'awsSecretsManager()', ['client', 'secretId', 'field', 'versionStage', 'maxSize']);
  if (given.client === undefined || given.secretId === undefined) throw invalid('awsSecretsManager() needs { client, secretId }');
  const client = checkClient(given.client, 'Secrets Manager', 'awsSecretsManager()', '@aws-sdk/client-secrets-manager');
  const secretId = checkText(given.secretId, 'the secretId of awsSecretsManager()');
  const field = given.field === undefined ? undefined : checkText(given.field, 'the field of awsSecretsManager()');
  const versionStage = given.versionStage === undefined ? undefined : checkText(given.versionStage, 'the versionStage of awsSecretsManager()');
  const maxSize = maxSizeOf(given.maxSize);
  const where = `${secretId}${versionStage === undefined ? '' : ` (${versionStage})`}${field === undefined ? '' : ` field '${field}'`}`;
  const spec: Spec = { kind: 'aws-secrets-manager', where };
  return defineSource({
    ...spec,
    remote: true,
    load: async (signal) => {
      secretsManagerModule ??= sdk('@aws-sdk/client-secrets-manager', () => import('@aws-sdk/client-secrets-manager'));
      const { GetSecretValueCommand } = await secretsManagerModule;
      const command = new GetSecretValueCommand({ SecretId: secretId, ...(versionStage === undefined ? {} : { VersionStage: versionStage }) });
      let output: { SecretBinary?: Uint8Array | undefined; SecretString?: string | undefined };
      try {
        output = (await client.send(command as never, { abortSignal: signal })) as typeof output;
      } catch (error) {
        throw awsSourceError(error, spec);
      }
      const binary = output.SecretBinary;
      const text = output.SecretString;
      // Our references go: the string cannot be wiped, but nothing here keeps it alive.
      delete output.SecretBinary;
      delete output.SecretString;
      if (binary instanceof Uint8Array) return sealBytes(binary, field, maxSize, spec);
      if (typeof text === 'string') return sealText(text, field, maxSize, spec);
      throw sourceError('ERR_SOURCE_FORMAT', spec, 'the answer has neither SecretBinary nor SecretString');
    },
  });
}

/**
 * A ciphertext decrypted by AWS KMS (Decrypt) through your KMSClient: the plaintext is
 * copied into guarded memory and the SDK's bytes of it overwritten with zeros.
 */
export function awsKms(options: AwsKmsOptions): Source {
  checkArgs(arguments.length, 1, 'awsKms()');
  const given = checkOptions(options, 'awsKms()', ['client', 'ciphertext', 'keyId', 'encryptionContext', 'maxSize']);
  if (given.client === undefined || given.ciphertext === undefined) throw invalid('awsKms() needs { client, ciphertext }');
  const client = checkClient(given.client, 'KMS', 'awsKms()', '@aws-sdk/client-kms');
  if (!(given.ciphertext instanceof Uint8Array) || given.ciphertext.length === 0) {
    throw invalid(`the ciphertext of awsKms() must be a non-empty Uint8Array (the CiphertextBlob of KMS Encrypt); got ${describe(given.ciphertext)}`);
  }
  const ciphertext = new Uint8Array(given.ciphertext); // a copy: later changes by the caller do not reach it
  const keyId = given.keyId === undefined ? undefined : checkText(given.keyId, 'the keyId of awsKms()');
  let context: Record<string, string> | undefined;
  if (given.encryptionContext !== undefined) {
    const raw = given.encryptionContext;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw invalid(`the encryptionContext of awsKms() must be an object of strings; got ${describe(raw)}`);
    }
    context = {};
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof value !== 'string') throw invalid(`the encryptionContext of awsKms() must be an object of strings; '${key}' is ${describe(value)}`);
      context[key] = value;
    }
    Object.freeze(context);
  }
  const maxSize = maxSizeOf(given.maxSize);
  const spec: Spec = { kind: 'aws-kms', where: keyId ?? `a ciphertext of ${ciphertext.length} bytes` };
  return defineSource({
    ...spec,
    remote: true,
    load: async (signal) => {
      kmsModule ??= sdk('@aws-sdk/client-kms', () => import('@aws-sdk/client-kms'));
      const { DecryptCommand } = await kmsModule;
      const command = new DecryptCommand({
        CiphertextBlob: ciphertext,
        ...(keyId === undefined ? {} : { KeyId: keyId }),
        ...(context === undefined ? {} : { EncryptionContext: { ...context } }),
      });
      let output: { Plaintext?: Uint8Array | undefined };
      try {
        output = (await client.send(command as never, { abortSignal: signal })) as typeof output;
      } catch (error) {
        throw awsSourceError(error, spec);
      }
      const plaintext = output.Plaintext;
      delete output.Plaintext;
      if (!(plaintext instanceof Uint8Array)) throw sourceError('ERR_SOURCE_FORMAT', spec, 'the answer of Decrypt has no Plaintext');
      return sealBytes(plaintext, undefined, maxSize, spec);
    },
  });
}
