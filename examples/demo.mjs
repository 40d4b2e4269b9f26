// The strongroom demo: a key in guarded memory seals and opens a message, a
// SecretBuffer is read inside a scope, and stats() shows what the process holds. Run with `pnpm demo:basics` from the repository root.
import {
  allocate,
  equals,
  hmac,
  open,
  randomFill,
  seal,
  stats,
} from '@strongroom/core-native';
import { SecretBuffer } from '@strongroom/buffer';
import { cofferStats, Enclave, purge, rekeyCoffer } from '@strongroom/enclave';

const show = (label, value) => console.log(`${label.padEnd(22)} ${value}`);

// A 32-byte key, straight from the CSPRNG into guarded pages; JS never sees it.
const key = allocate(32);
randomFill(key);
key.protect('noaccess');
show('key', `${key} (${key.protection}, locked: ${key.locked})`);

// A message enters guarded memory through a short write scope, then the source is wiped.
const source = new TextEncoder().encode('a message worth sealing');
const message = allocate(source.length);
message.view().set(source);
source.fill(0);
message.protect('noaccess');

const sealed = seal(key, message);
show('sealed', `${sealed.length} bytes = nonce(24) + mac(16) + ciphertext(${message.size})`);

const opened = open(key, sealed);
show('opened matches', equals(opened, message));
show('opened region', `${opened}`); // never print or decode the bytes themselves

const tag = hmac('sha256', key, 'payload to sign');
show('HMAC-SHA-256 tag', `${Buffer.from(tag).toString('hex').slice(0, 16)}…`);

// The everyday API: a SecretBuffer, readable only inside a scope.
const token = SecretBuffer.random(24);
const firstByteIsNumber = token.read((view) => typeof view[0] === 'number');
show('SecretBuffer', `${token} (read scope ok: ${firstByteIsNumber})`);
show('JSON of it', JSON.stringify({ token }));
token.destroy();

// Held for a long time, a secret is sealed under the coffer key (two halves,
// key = BLAKE2b(left) XOR right, rekeyed every 500 ms) and opened only while used.
const enclave = Enclave.seal(SecretBuffer.random(32));
rekeyCoffer(); // the halves change, the key does not: the enclave still opens
const reopened = enclave.open();
show('Enclave', `${enclave} -> opened ${reopened} (frozen: ${reopened.frozen})`);
reopened.destroy();
const { buffers } = purge(); // destroys every live SecretBuffer and replaces the key
let afterPurge = 'opened';
try {
  enclave.open();
} catch (error) {
  afterPurge = error.code;
}
show('after purge()', `${buffers} buffers destroyed; the old enclave gives ${afterPurge}`);
show('coffer', JSON.stringify(cofferStats()));

const s = stats();
show('live regions', s.regions);
show('backend', `${s.backend} (memfd_secret available: ${s.secretmemAvailable})`);
show('bytes locked', s.bytesLocked);
show('RLIMIT_MEMLOCK', `soft ${s.memlockLimit.soft}, hard ${s.memlockLimit.hard}`);

for (const region of [key, message, opened]) region.free();
show('after free', `${stats().regions} live region (the coffer's halves, kept for the process)`);
