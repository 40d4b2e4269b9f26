// @strongroom/buffer cases: the SecretBuffer lifecycle and a read scope, against the
// sodium-native sequence a careful Node user would write by hand.
import sodium from 'sodium-native';
import { check } from './harness.mjs';
import { SecretBuffer } from '@strongroom/buffer';

const SMALL = 32;


// random + destroy: guarded allocation, CSPRNG fill, locked away (noaccess), wiped and
// released. sodium-native: sodium_malloc + randombytes_buf + mprotect_noaccess + sodium_free.
const randomDestroy = {
  name: 'SecretBuffer.random+destroy',
  bytes: SMALL,
  target: 0.7,
  setup(backend) {
    return {
      strongroom: () => SecretBuffer.random(SMALL, { backend }).destroy(),
      sodium() {
        const buf = sodium.sodium_malloc(SMALL);
        sodium.randombytes_buf(buf);
        sodium.sodium_mprotect_noaccess(buf);
        sodium.sodium_free(buf);
      },
      verify: () => check(SecretBuffer.live().buffers === 0, 'every buffer destroyed'),
      teardown() {},
    };
  },
};

// One read scope: readonly, a view handed to the callback, noaccess again (view
// detached). sodium-native: mprotect_readonly + read a byte + mprotect_noaccess.
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
        sodium.sodium_mprotect_readonly(buf);
        sink ^= buf[0];
        sodium.sodium_mprotect_noaccess(buf);
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
