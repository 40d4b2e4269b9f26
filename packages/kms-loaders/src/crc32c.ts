// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Google Cloud computes
// `dataCrc32c`. Google's Node client does not check it; gcpSecretManager() does. The input is
// the secret's bytes inside a read scope, so nothing is copied; and it is computed bit by bit
// with masks, never with a table indexed by secret bytes (whose cache lines could tell them).

/** The CRC-32C of `bytes`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i] as number;
    // -(crc & 1) is all ones when the low bit is set: the polynomial, or nothing.
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
