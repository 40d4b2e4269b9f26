// The shared check vocabulary and names as @strongroom/enclave uses them: one CofferStats
// shape with core-native, rekeyCoffer, unknown options naming the caller's function,
// extra arguments refused, options read as own keys only.
import * as core from '@strongroom/core-native';
import { describe, expect, it } from 'vitest';

import { asyncErrorCode, errorCode, extraArgumentFailures } from '@strongroom/testkit';

import * as enclave from '../src/index.js';
import { Enclave, EnclaveStream, SecretBuffer } from '../src/index.js';

describe('the seams of @strongroom/enclave', () => {
  it('configureCoffer, cofferStats, rekeyCoffer: the same names and shape as core-native', () => {
    expect(Object.keys(enclave.cofferStats()).sort()).toEqual(Object.keys(core.cofferStats()).sort());
    expect(enclave.cofferStats().backend).toBe(core.cofferStats().backend);
    const before = enclave.cofferStats().rekeys;
    enclave.rekeyCoffer();
    expect(core.cofferStats().rekeys).toBeGreaterThan(before);
    expect('rekey' in enclave).toBe(false);
    expect(enclave.SecretBuffer).toBe(SecretBuffer);
  });

  it('an unknown option names the function the caller called', async () => {
    expect(() => enclave.configureCoffer({ interval: 5 } as never)).toThrow(/^configureCoffer\(\) has no option 'interval'/);
    expect(() => new EnclaveStream({ chunksize: 5 } as never)).toThrow(/^new EnclaveStream\(\) has no option 'chunksize'/);
    await expect(EnclaveStream.fromFile('/dev/null', { wipeSource: true } as never)).rejects.toThrow(
      /^EnclaveStream\.fromFile\(\) has no option 'wipeSource'; its options are: chunkSize, maxSize$/,
    );
    expect(() => enclave.catchSignals({ signal: ['SIGTERM'] } as never)).toThrow(/^catchSignals\(\) has no option 'signal'/);
  });

  it('every function rejects arguments beyond those it takes', async () => {
    const sealed = Enclave.from(Uint8Array.from([1, 2]));
    const call = (fn: unknown, self: unknown, ...args: unknown[]) => () => (fn as (...a: unknown[]) => unknown).apply(self, args);
    const cases: Array<[string, () => unknown]> = [
      ['Enclave.seal()', call(Enclave.seal, Enclave, SecretBuffer.alloc(1), 1)],
      ['Enclave.from()', call(Enclave.from, Enclave, new Uint8Array(1), 1)],
      ['Enclave.random()', call(Enclave.random, Enclave, 1, 1)],
      ['Enclave.fromBytes()', call(Enclave.fromBytes, Enclave, sealed.toBytes(), 1)],
      ['open()', call(sealed.open, sealed, 1)],
      ['toBytes()', call(sealed.toBytes, sealed, 1)],
      ['configureCoffer()', call(enclave.configureCoffer, undefined, {}, 1)],
      ['rekeyCoffer()', call(enclave.rekeyCoffer, undefined, 1)],
      ['cofferStats()', call(enclave.cofferStats, undefined, 1)],
      ['purge()', call(enclave.purge, undefined, 1)],
      ['safeExit()', call(enclave.safeExit, undefined, 0, 1)],
      ['catchSignals()', call(enclave.catchSignals, undefined, {}, 1)],
      ['new EnclaveStream()', () => new (EnclaveStream as unknown as new (...a: unknown[]) => unknown)({}, 1)],
    ];
    expect(extraArgumentFailures(cases)).toEqual([]);
    expect(await asyncErrorCode(() => (EnclaveStream.fromFile as (...a: unknown[]) => Promise<unknown>)('/dev/null', {}, 1))).toBe(
      'ERR_INVALID_ARG',
    );
    const stream = new EnclaveStream();
    expect(errorCode(() => (stream.flatten as (...a: unknown[]) => unknown).call(stream, 1))).toBe('ERR_INVALID_ARG');
    stream.destroy();
    SecretBuffer.destroyAll();
  });

  it('a polluted Object.prototype changes no stream option; own keys do (positive control)', () => {
    const polluted = Object.prototype as Record<string, unknown>;
    try {
      polluted.wipeSource = false;
      polluted.chunkSize = 1;
      const written = Buffer.from([9, 9, 9]);
      const stream = new EnclaveStream({});
      stream.write(written);
      expect(Array.from(written)).toEqual([0, 0, 0]); // wiped: wipeSource stayed true
      stream.destroy();
    } finally {
      delete polluted.wipeSource;
      delete polluted.chunkSize;
    }
    const kept = Buffer.from([9, 9, 9]);
    const control = new EnclaveStream({ wipeSource: false });
    control.write(kept);
    expect(Array.from(kept)).toEqual([9, 9, 9]);
    control.destroy();
  });
});
