// An independent age encoder over node:crypto for the tests (scrypt recipients at a low work
// factor), which can also write the files the CLI never writes (an empty final chunk, no
// last-chunk flag, an scrypt stanza beside another, a work factor above the bound). Files
// from Debian's real `age` CLI come from testkit's ageCli* helpers.
import crypto from 'node:crypto';

const raw64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64').replace(/=+$/, '');

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, 32));
}

function seal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Buffer {
  const cipher = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

export interface CraftOptions {
  passphrase: string;
  /** The work factor scrypt runs with (keep it low: the tests pay for it). */
  logN: number;
  /** The work factor written in the stanza, if another (a file the decrypter must refuse unrun). */
  statedLogN?: number;
  /** The plaintext, cut into 64 KiB chunks. */
  plaintext: Uint8Array;
  /** Append an empty final chunk after full ones (the spec forbids it). */
  emptyFinalChunk?: boolean;
  /** Leave the last-chunk flag off the final chunk. */
  noLastFlag?: boolean;
  /** Stanza lines put before the scrypt stanza (covered by a correct MAC). */
  extraStanza?: string;
}

/** An age v1 file with one scrypt stanza (and whatever the options break), binary. */
export function craftAge(options: CraftOptions): Buffer {
  const fileKey = crypto.randomBytes(16);
  const salt = crypto.randomBytes(16);
  const wrapKey = crypto.scryptSync(
    options.passphrase,
    Buffer.concat([Buffer.from('age-encryption.org/v1/scrypt'), salt]),
    32,
    { N: 2 ** options.logN, r: 8, p: 1, maxmem: 2 ** (options.logN + 11) },
  );
  const body = seal(wrapKey, Buffer.alloc(12), fileKey);
  const header =
    'age-encryption.org/v1\n' +
    (options.extraStanza ?? '') +
    `-> scrypt ${raw64(salt)} ${options.statedLogN ?? options.logN}\n${raw64(body)}\n---`;
  const mac = crypto.createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(header).digest();
  const nonce = crypto.randomBytes(16);
  const payloadKey = hkdf(fileKey, nonce, 'payload');
  const chunks: Uint8Array[] = [];
  const plain = options.plaintext;
  for (let at = 0; at < plain.length || chunks.length === 0; at += 65536) chunks.push(plain.subarray(at, at + 65536));
  if (options.emptyFinalChunk) chunks.push(new Uint8Array(0));
  const sealed = chunks.map((chunk, i) => seal(payloadKey, chunkNonce(i, i === chunks.length - 1 && !options.noLastFlag), chunk));
  return Buffer.concat([Buffer.from(`${header} ${raw64(mac)}\n`), nonce, ...sealed]);
}

/** PEM armor as age writes it: 64 columns, padded base64. */
export function armor(binary: Uint8Array): string {
  const text = Buffer.from(binary).toString('base64');
  const lines = text.match(/.{1,64}/g) ?? [];
  return `-----BEGIN AGE ENCRYPTED FILE-----\n${lines.join('\n')}\n-----END AGE ENCRYPTED FILE-----\n`;
}

/** Where the payload starts: after the MAC line. */
export function payloadOffset(file: Buffer): number {
  const mac = file.indexOf('\n---');
  return file.indexOf(0x0a, mac + 1) + 1;
}
