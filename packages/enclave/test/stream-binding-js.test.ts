// EnclaveStream chunk binding on the portable backend (the suite: stream-binding.suite.ts).
// The backend is chosen once per thread, on first use: set before anything seals.
process.env.STRONGROOM_ENCLAVE_BACKEND = 'js';
process.noDeprecation = true;

const { describe, expect, it } = await import('vitest');
const { bindingSuite } = await import('./stream-binding.suite.js');
const { sealer } = await import('../src/backend.js');

describe('EnclaveStream chunks are bound to their stream and place (portable backend)', () => {
  it('runs on the portable backend', () => {
    expect(sealer().backend).toBe('js');
  });
  bindingSuite();
});
