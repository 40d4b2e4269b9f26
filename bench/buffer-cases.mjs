// @strongroom/buffer cases: the SecretBuffer lifecycle and a read scope, against the
// sodium-native sequence a careful Node user would write by hand.
import sodium from 'sodium-native';
import { check } from './harness.mjs';
import { SecretBuffer } from '@strongroom/buffer';

const SMALL = 32;


/**
 * The sodium-native peer of SecretBuffer.random(32) + destroy(): sodium_malloc +
 * randombytes_buf + mprotect_noaccess + sodium_free. slab-cases.mjs times the same function.
 */
export function sodiumRandomDestroy() {
  const buf = sodium.sodium_malloc(SMALL);
  sodium.randombytes_buf(buf);
  sodium.sodium_mprotect_noaccess(buf);
  sodium.sodium_free(buf);
}

/**
 * The sodium-native peer of one read scope over a noaccess buffer: mprotect_readonly, read a
 * byte (returned), mprotect_noaccess. slab-cases.mjs times the same function.
 */
export function sodiumReadScope(buf) {
  sodium.sodium_mprotect_readonly(buf);
  const first = buf[0];
  sodium.sodium_mprotect_noaccess(buf);
  return first;
}

// random + destroy: guarded allocation, CSPRNG fill, locked away (noaccess), wiped and
// released. sodium-native: sodiumRandomDestroy() above.
const randomDestroy = {
  name: 'SecretBuffer.random+destroy',
  bytes: SMALL,
  target: 0.7,
  setup(backend) {
    return {
      strongroom: () => SecretBuffer.random(SMALL, { backend }).destroy(),
      sodium: sodiumRandomDestroy,
      verify: () => check(SecretBuffer.live().buffers === 0, 'every buffer destroyed'),
      teardown() {},
    };
  },
};

// One read scope: readonly, a view handed to the callback, noaccess again (view
// detached). sodium-native: sodiumReadScope() above.
const readScope = {
  name: 'read() scope',
  bytes: SMALL,
  target: 1.2,
  setup(backend) {
    const secret = SecretBuffer.random(SMALL, { backend });
    const buf = sodium.sodium_malloc(SMALL);
    sodium.randombytes_buf(buf);
    sodium.sodium_mprotect_noaccess(buf);
    let sink = 0;
    const first = (view) => view[0];
    return {
      strongroom() {
        sink ^= secret.read(first);
      },
      sodium() {
        sink ^= sodiumReadScope(buf);
      },
      verify: () => check(typeof sink === 'number', 'read'),
      teardown() {
        secret.destroy();
        sodium.sodium_mprotect_readwrite(buf);
        sodium.sodium_free(buf);
      },
    };
  },
};

export const bufferCases = [randomDestroy, readScope];
