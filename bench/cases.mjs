// The benchmark cases. Each setup(backend) allocates its fixtures and returns
// { strongroom, sodium, verify, teardown }: the two functions timed side by side,
// a correctness check run before and after timing, and the cleanup (every region
// and every sodium_malloc buffer is freed there).
import sodium from 'sodium-native';
import { check } from './harness.mjs';
import { allocate, randomFill, copy, equals, seal, openInto } from '@strongroom/core-native';

const SMALL = 32; // bytes: a key-sized secret
const MiB = 1024 * 1024;
const NONCE = sodium.crypto_secretbox_NONCEBYTES; // 24
const MAC = sodium.crypto_secretbox_MACBYTES; // 16

/** Tracks fixtures so teardown frees all of them, whatever was allocated before a throw. */
function fixtures(backend) {
  const regions = [];
  const buffers = [];
  return {
    region(size, random = false) {
      const r = allocate(size, { backend });
      regions.push(r);
      if (random) randomFill(r);
      return r;
    },
    buffer(size, random = false) {
      const b = sodium.sodium_malloc(size);
      buffers.push(b);
      if (random) sodium.randombytes_buf(b);
      return b;
    },
    teardown() {
      for (const r of regions) r.free();
      for (const b of buffers) sodium.sodium_free(b);
    },
  };
}


const allocFree = {
  name: 'allocate+free',
  bytes: SMALL,
  target: 0.6,
  setup(backend) {
    return {
      strongroom: () => allocate(SMALL, { backend }).free(),
      sodium: () => sodium.sodium_free(sodium.sodium_malloc(SMALL)),
      verify() {},
      teardown() {},
    };
  },
};

const protectPair = {
  name: 'protect noaccess+readwrite',
  bytes: SMALL,
  target: 1.1,
  setup(backend) {
    const f = fixtures(backend);
    const region = f.region(SMALL);
    const buf = f.buffer(SMALL);
    return {
      strongroom() {
        region.protect('noaccess');
        region.protect('readwrite');
      },
      sodium() {
        sodium.sodium_mprotect_noaccess(buf);
        sodium.sodium_mprotect_readwrite(buf);
      },
      verify: () => check(region.protection === 'readwrite' && region.view().length === SMALL, 'protect'),
      teardown: f.teardown,
    };
  },
};

// seal = fresh random nonce + XSalsa20-Poly1305 into a new heap array; open into an
// existing guarded buffer. The sodium side does the same work by hand: allocate the
// nonce||mac||ct output, fill the nonce from randombytes_buf, secretbox, open.
function sealOpen(size, target) {
  return {
    name: 'seal+openInto',
    bytes: size,
    target,
    setup(backend) {
      const f = fixtures(backend);
      const key = f.region(32, true);
      const plain = f.region(size, true);
      const out = f.region(size);
      const sKey = f.buffer(32, true);
      const sPlain = f.buffer(size, true);
      const sOut = f.buffer(size);
      return {
        strongroom: () => openInto(key, seal(key, plain), out),
        sodium() {
          const sealed = Buffer.allocUnsafe(NONCE + MAC + size);
          const nonce = sealed.subarray(0, NONCE);
          const box = sealed.subarray(NONCE);
          sodium.randombytes_buf(nonce);
          sodium.crypto_secretbox_easy(box, sPlain, nonce, sKey);
          if (!sodium.crypto_secretbox_open_easy(sOut, box, nonce, sKey)) throw new Error('open failed');
        },
        verify() {
          check(equals(out, plain.view()), 'strongroom round trip');
          check(sodium.sodium_memcmp(sOut, sPlain), 'sodium round trip');
        },
        teardown: f.teardown,
      };
    },
  };
}

// Equal contents, so both sides must compare the whole length.
function equality(size, target) {
  return {
    name: 'constant-time equals',
    bytes: size,
    target,
    setup(backend) {
      const f = fixtures(backend);
      const a = f.region(size, true);
      const b = f.region(size);
      copy(b, a);
      const sa = f.buffer(size, true);
      const sb = f.buffer(size);
      sb.set(sa);
      let sink = true; // results feed a check so no side can be optimised away
      return {
        strongroom() {
          sink = equals(a, b) && sink;
        },
        sodium() {
          sink = sodium.sodium_memcmp(sa, sb) && sink;
        },
        verify: () => check(sink && equals(a, b) && sodium.sodium_memcmp(sa, sb), 'equal contents'),
        teardown: f.teardown,
      };
    },
  };
}

export const cases = [
  allocFree,
  protectPair,
  sealOpen(32, null),
  sealOpen(MiB, 1.1),
  equality(32, null),
  equality(MiB, 0.2),
];
