// Google Cloud Secret Manager through the user's own client (@google-cloud/secret-manager
// 6.x, an optional peer dependency: this module imports nothing of it).
//
// accessSecretVersion({ name }) gives payload.data as bytes (a Buffer the client decoded
// from base64 or protobuf). They are copied natively into a SecretBuffer and overwritten
// with zeros at once; the CRC-32C Google sends (payload.dataCrc32c, which the client does not
// check) is computed over the guarded copy inside a read scope; a mismatch, or no checksum,
// is ERR_SOURCE_FORMAT. The client's own retries are turned off (maxRetries 0): the store
// retries within its deadline. The client's promise cannot be cancelled: at the deadline
// the store stops waiting, and an answer that comes later is wiped and dropped.
import { SecretBuffer } from '@strongroom/buffer';
import { checkArgs, checkOptions, checkText, describe as describeValue, invalid } from '@strongroom/core-native/validate';
import { Enclave } from '@strongroom/enclave';

import { crc32c } from './crc32c.js';
import { asSourceError, defineSource, maxSizeOf, sourceError, type Source } from './source.js';

/** What accessSecretVersion gives (the shape of the client's IAccessSecretVersionResponse). */
export interface GcpAccessSecretVersionResponse {
  name?: string | null;
  payload?: {
    data?: Uint8Array | string | null;
    dataCrc32c?: number | string | { toString(): string } | null;
  } | null;
}

/** The part of @google-cloud/secret-manager's SecretManagerServiceClient this source uses. */
export interface GcpSecretManagerClient {
  accessSecretVersion(
    request: { name: string },
    options: { maxRetries: number },
  ): Promise<readonly [GcpAccessSecretVersionResponse, ...unknown[]]>;
}

export interface GcpSecretManagerOptions {
  /** Your SecretManagerServiceClient (its credentials, endpoint and transport are yours). */
  client: GcpSecretManagerClient;
  /** 'projects/<project>/secrets/<secret>/versions/<version or latest>' (or with locations/<region>/). */
  name: string;
  /** The largest secret accepted (default 64 KiB, Secret Manager's own limit); more is ERR_SOURCE_FORMAT. */
  maxSize?: number;
}

const NAME = /^projects\/[^/]+\/(locations\/[^/]+\/)?secrets\/[^/]+\/versions\/[^/]+$/;

// The client reports a refusal as a GoogleError with a gRPC status code (gRPC transport) or
// as a GaxiosError with the HTTP status (REST transport, `fallback: true`): both are read.
const GRPC: Record<number, 'not-found' | 'disabled' | 'auth' | 'invalid'> = { 5: 'not-found', 9: 'disabled', 7: 'auth', 16: 'auth', 3: 'invalid' };

function refusal(error: unknown): { kind: 'not-found' | 'disabled' | 'auth' | 'invalid' | 'busy'; label: string } | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'number') return undefined;
  if (code < 100) {
    const kind = GRPC[code];
    return { kind: kind ?? 'busy', label: `gRPC code ${code}` };
  }
  const label = `HTTP ${code}`;
  if (code === 401 || code === 403) return { kind: 'auth', label };
  if (code === 404) return { kind: 'not-found', label };
  if (code === 400) return { kind: /FAILED_PRECONDITION/.test((error as Error).message) ? 'disabled' : 'invalid', label };
  return { kind: 'busy', label };
}

function clientError(error: unknown, spec: { kind: string; where: string }, signal: AbortSignal): unknown {
  const seen = refusal(error);
  if (seen === undefined) {
    // Not an answer of the service: a network failure, or a 200 whose body the client could
    // not parse. The error is not kept as the cause: a JSON SyntaxError quotes the text.
    const name = error instanceof Error ? error.name : typeof error;
    if (signal.aborted) return sourceError('ERR_SOURCE_UNAVAILABLE', spec, 'the call was cancelled at the deadline');
    if (error instanceof SyntaxError) return sourceError('ERR_SOURCE_FORMAT', spec, "Secret Manager's answer could not be parsed (SyntaxError)");
    const code = (error as { code?: unknown } | null)?.code;
    return sourceError('ERR_SOURCE_UNAVAILABLE', spec, `Secret Manager could not be reached (${typeof code === 'string' ? code : name})`);
  }
  switch (seen.kind) {
    case 'not-found':
      return sourceError('ERR_SECRET_NOT_FOUND', spec, `Secret Manager has no such secret or version (${seen.label})`, error);
    case 'disabled':
      return sourceError('ERR_SECRET_NOT_FOUND', spec, `the version is disabled or destroyed (FAILED_PRECONDITION, ${seen.label})`, error);
    case 'auth':
      return sourceError('ERR_SOURCE_AUTH', spec, `Secret Manager refused the credentials (${seen.label}): check the account's roles/secretmanager.secretAccessor`, error);
    case 'invalid':
      return sourceError('ERR_SOURCE_FORMAT', spec, `Secret Manager refused the request as invalid (${seen.label})`, error);
    default:
      return sourceError('ERR_SOURCE_UNAVAILABLE', spec, `Secret Manager could not answer now (${seen.label})`, error);
  }
}

function checksumOf(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : String(value as { toString(): string });
  if (!/^\d{1,10}$/.test(text)) return -1;
  const n = Number(text);
  return n <= 0xffffffff ? n : -1;
}

/** A version of a secret in Google Cloud Secret Manager, read with your client. */
export function gcpSecretManager(options: GcpSecretManagerOptions): Source {
  checkArgs(arguments.length, 1, 'gcpSecretManager()');
  const given = checkOptions(options, 'gcpSecretManager()', ['client', 'name', 'maxSize']);
  const client = given.client as GcpSecretManagerClient;
  if (typeof client !== 'object' || client === null || typeof client.accessSecretVersion !== 'function') {
    throw invalid(`client of gcpSecretManager() must be a SecretManagerServiceClient of @google-cloud/secret-manager; got ${describeValue(client)}`);
  }
  const name = checkText(given.name, 'name of gcpSecretManager()');
  if (!NAME.test(name)) throw invalid(`name of gcpSecretManager() must be 'projects/<project>/secrets/<secret>/versions/<version or latest>'; got '${name}'`);
  const maxSize = maxSizeOf(given.maxSize);
  const spec = { kind: 'gcp-secret-manager', where: name };
  return defineSource({
    ...spec,
    remote: true,
    load: async (signal) => {
      let response: GcpAccessSecretVersionResponse;
      try {
        [response] = await client.accessSecretVersion({ name }, { maxRetries: 0 });
      } catch (error) {
        throw clientError(error, spec, signal);
      }
      const data = response?.payload?.data;
      if (signal.aborted) {
        // The client cannot cancel a call: an answer after the deadline is wiped and dropped.
        if (data instanceof Uint8Array) data.fill(0);
        throw sourceError('ERR_SOURCE_UNAVAILABLE', spec, 'the answer came after the deadline');
      }
      if (!(data instanceof Uint8Array)) {
        throw sourceError('ERR_SOURCE_FORMAT', spec, typeof data === 'string' ? 'payload.data came as a string, not bytes (a client set up to return strings?)' : 'the answer has no payload.data');
      }
      if (data.length === 0) throw sourceError('ERR_SOURCE_FORMAT', spec, 'the secret is empty');
      if (data.length > maxSize) {
        data.fill(0);
        throw sourceError('ERR_SOURCE_FORMAT', spec, `the secret is larger than maxSize (${maxSize} bytes)`);
      }
      const expected = checksumOf(response.payload?.dataCrc32c);
      let secret: SecretBuffer;
      try {
        secret = SecretBuffer.from(data); // copied natively; `data` overwritten with zeros
      } catch (error) {
        data.fill(0);
        throw asSourceError(error, spec);
      }
      try {
        const actual = secret.read((view) => crc32c(view));
        if (expected === undefined) throw sourceError('ERR_SOURCE_FORMAT', spec, 'the answer has no payload.dataCrc32c to check the secret against');
        if (expected !== actual) throw sourceError('ERR_SOURCE_FORMAT', spec, 'the secret does not match its CRC-32C (payload.dataCrc32c): it was damaged on the way');
        return Enclave.seal(secret);
      } catch (error) {
        secret.destroy();
        throw asSourceError(error, spec);
      }
    },
  });
}
