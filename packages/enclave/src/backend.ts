// Which sealer this thread uses, chosen once, on first use:
//
//   STRONGROOM_ENCLAVE_BACKEND=js      the portable backend, even where the addon loads
//   STRONGROOM_ENCLAVE_BACKEND=native  the addon or ERR_NATIVE_UNAVAILABLE
//   (unset)                            the addon when it loads, else the portable backend
//   STRONGROOM_REQUIRE_NATIVE=1        never the portable backend: ERR_NATIVE_UNAVAILABLE
//
// Falling back warns once (process warning STRONGROOM_JS_FALLBACK) and says what is lost.
import { DEFAULT_REKEY_INTERVAL, isNativeAvailable, nativeLoadError, StrongroomError } from '@strongroom/core-native';

import { JsSealer } from './js-sealer.js';
import { NativeSealer } from './native-sealer.js';
import type { EnclaveBackend, Sealer } from './sealer.js';

export { DEFAULT_REKEY_INTERVAL };

let current: Sealer | undefined;

const LOST =
  'no guard pages, no mlock, no protection against heap residue, and sealed bytes do not cross threads';

function requested(): EnclaveBackend | undefined {
  const value = process.env.STRONGROOM_ENCLAVE_BACKEND;
  if (value === undefined || value === '') return undefined;
  if (value === 'js' || value === 'native') return value;
  throw new StrongroomError(
    'ERR_INVALID_ARG',
    `STRONGROOM_ENCLAVE_BACKEND must be 'native' or 'js' (or unset), got a ${value.length}-character value`,
  );
}

function unavailable(why: string): StrongroomError {
  const cause = nativeLoadError();
  return new StrongroomError('ERR_NATIVE_UNAVAILABLE', why, cause === undefined ? undefined : { cause });
}

function choose(): Sealer {
  const wanted = requested();
  const requireNative = process.env.STRONGROOM_REQUIRE_NATIVE === '1';
  if (wanted === 'js' && requireNative) {
    throw unavailable('STRONGROOM_REQUIRE_NATIVE=1 forbids the portable backend that STRONGROOM_ENCLAVE_BACKEND=js asks for');
  }
  if (wanted !== 'js') {
    if (isNativeAvailable()) return new NativeSealer();
    if (wanted === 'native' || requireNative) {
      throw unavailable(
        `the native addon is required (${wanted === 'native' ? 'STRONGROOM_ENCLAVE_BACKEND=native' : 'STRONGROOM_REQUIRE_NATIVE=1'}) ` +
          `but did not load: ${nativeLoadError()?.message ?? 'unknown reason'}`,
      );
    }
  }
  process.emitWarning(
    `strongroom enclaves are using the portable JavaScript backend (${wanted === 'js' ? 'STRONGROOM_ENCLAVE_BACKEND=js' : 'the native addon did not load'}): ` +
      `${LOST}. Set STRONGROOM_REQUIRE_NATIVE=1 to make this an error.`,
    { code: 'STRONGROOM_JS_FALLBACK' },
  );
  return new JsSealer(DEFAULT_REKEY_INTERVAL);
}

/** The sealer of this thread, chosen on first use. */
export function sealer(): Sealer {
  current ??= choose();
  return current;
}

/** The sealer if one was chosen already (purge() must not be the thing that chooses). */
export function chosenSealer(): Sealer | undefined {
  return current;
}

/**
 * Whether this thread would seal under the process-wide native coffer (asked without
 * choosing): purge() of a thread that never sealed still purges another thread's key.
 */
export function usesNativeCoffer(): boolean {
  if (current !== undefined) return current.backend === 'native';
  let wanted: EnclaveBackend | undefined;
  try {
    wanted = requested();
  } catch {
    wanted = undefined; // a bad value is reported when a sealer is chosen; an emergency purge goes on
  }
  return wanted !== 'js' && isNativeAvailable();
}
