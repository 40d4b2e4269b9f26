// A copy of the bytes of whatever a test holds them in: a core-native Region (view()), a
// SecretBuffer (read(fn), inside a read scope) or a plain Uint8Array. Typed by shape, so
// testkit needs no dependency on the packages it tests.

/** Something whose bytes a test reads: a Region, a SecretBuffer or a Uint8Array. */
export type ByteSource = Uint8Array | { view(): Uint8Array } | { read<T>(fn: (view: Uint8Array) => T): T };

/** A copy of source's bytes as numbers (easy to compare with toEqual). Tests only: it copies secrets into the heap. */
export function bytesOf(source: ByteSource): number[] {
  if (source instanceof Uint8Array) return Array.from(source);
  if ('read' in source && typeof source.read === 'function') return source.read((view) => Array.from(view));
  if ('view' in source && typeof source.view === 'function') return Array.from(source.view());
  throw new TypeError('bytesOf: expected a Uint8Array, or an object with view() or read(fn)');
}
