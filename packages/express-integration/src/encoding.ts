// Strict decoders for the public encodings of signatures and tokens (hex, base64,
// base64url). Buffer.from(text, 'base64') skips characters it does not know and accepts
// non-zero padding bits, so two different strings can decode to the same tag: a signature
// that is not in its one canonical form is refused here instead. None of this handles
// secret bytes: tags, JWT segments and cookie signatures are public.

const HEX = /^(?:[0-9a-f]{2})*$/; // lower case only: what every sender writes, and one spelling per tag
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export type TagEncoding = 'hex' | 'base64' | 'base64url';
export const TAG_ENCODINGS: readonly TagEncoding[] = ['hex', 'base64', 'base64url'];

/**
 * The bytes of `text` in `encoding`, or undefined when it is not that encoding's canonical
 * form: hex in lower case; base64 with or without its '=' padding (both are written by
 * senders), but no other character and zero padding bits; base64url without padding.
 */
export function decodeStrict(text: string, encoding: TagEncoding): Buffer | undefined {
  switch (encoding) {
    case 'hex':
      return HEX.test(text) ? Buffer.from(text, 'hex') : undefined;
    case 'base64': {
      if (!BASE64.test(text)) return undefined;
      const bytes = Buffer.from(text, 'base64');
      // padded or unpadded, but only the canonical spelling of these bytes
      const canonical = bytes.toString('base64');
      return text === canonical || text === canonical.replace(/=+$/, '') ? bytes : undefined;
    }
    case 'base64url': {
      if (!BASE64URL.test(text)) return undefined;
      const bytes = Buffer.from(text, 'base64url');
      return bytes.toString('base64url') === text ? bytes : undefined;
    }
  }
}

/** base64url without padding (JWT, RFC 7515). */
export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Standard base64 without padding (the cookie-signature format). */
export function base64NoPad(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}
