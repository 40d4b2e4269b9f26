// Sealing what a network client handed back, shared by the sources that get the secret from an
// SDK as bytes or as a JS string (AWS Secrets Manager and KMS, Azure Key Vault).
//
// A string is encoded into UTF-8 bytes that are sealed and then overwritten with zeros, like
// every other array the SDKs give; the string itself cannot be wiped (the README's byte-hygiene
// table lists it as a copy that remains). With `field`, the bytes are read as a JSON object and
// only that field's string value is decoded, straight into a SecretBuffer
// ('@strongroom/buffer/text'), never a JS string.
import { Enclave } from '@strongroom/enclave';
import { jsonStringField, JsonSyntaxError } from '@strongroom/buffer/text';

import { asSourceError, sourceError, type SourceSpec } from './source.js';

type Spec = Pick<SourceSpec, 'kind' | 'where'>;


/** Seals `bytes` (or its JSON `field`) into an Enclave; `bytes` is all zeros afterwards, whatever happens. */
export function sealBytes(bytes: Uint8Array, field: string | undefined, maxSize: number, spec: Spec): Enclave {
  try {
    if (bytes.length === 0) throw sourceError('ERR_SOURCE_FORMAT', spec, 'the secret is empty');
    if (bytes.length > maxSize) throw sourceError('ERR_SOURCE_FORMAT', spec, `the secret has ${bytes.length} bytes, more than maxSize (${maxSize})`);
    if (field === undefined) return Enclave.from(bytes);
    let found;
    try {
      found = jsonStringField(bytes, field);
    } catch (error) {
      if (error instanceof JsonSyntaxError) {
        // No position: an offset into the secret tells the length of what comes before it.
        throw sourceError('ERR_SOURCE_FORMAT', spec, `field '${field}' was asked for, but the secret is not a JSON object`);
      }
      throw error;
    }
    if (found.found === 'missing') throw sourceError('ERR_SOURCE_FORMAT', spec, `the secret's JSON object has no field '${field}'`);
    if (found.found === 'not-string') throw sourceError('ERR_SOURCE_FORMAT', spec, `the field '${field}' of the secret is not a string`);
    if (found.secret === undefined) throw sourceError('ERR_SOURCE_FORMAT', spec, `the field '${field}' of the secret is an empty string`);
    return Enclave.seal(found.secret);
  } catch (error) {
    throw asSourceError(error, spec);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Seals the UTF-8 of `text` (or its JSON `field`), as sealBytes: the encoded bytes are all zeros
 * afterwards. `text` itself stays what it was, a JS string nobody can wipe.
 */
export function sealText(text: string, field: string | undefined, maxSize: number, spec: Spec): Enclave {
  return sealBytes(new TextEncoder().encode(text), field, maxSize, spec);
}
