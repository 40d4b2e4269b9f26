// Secret text, decoded byte by byte into the UTF-8 a JS string would have given, without
// ever being a JS string. A decoder (JSON string escapes, percent-encoding) feeds raw
// bytes and UTF-16 code units (from \uXXXX) into a Utf8Writer, which repairs what a JS
// string would have repaired and writes well-formed UTF-8 to a sink:
// - raw bytes go through the WHATWG UTF-8 decoder's rules (what Buffer#toString and
//   TextDecoder do): every maximal invalid subsequence becomes U+FFFD;
// - code units pair up as surrogates do; a lone surrogate becomes U+FFFD, as
//   Buffer.from(string, 'utf8') and TextEncoder write it.
// The same decoder runs twice: once into a counting sink (the size), then into the view of
// a SecretBuffer's write scope. Only numbers (a byte, a code point) are ever held in JS.
// Shared by @strongroom/express (JSON and urlencoded bodies) and @strongroom/kms-loaders
// (a JSON field of a secret) through '@strongroom/buffer/text'.

/** Where decoded bytes go: a counter, or a view being filled. */
export interface ByteSink {
  push(byte: number): void;
}

export class CountingSink implements ByteSink {
  length = 0;
  push(): void {
    this.length++;
  }
}

export class ViewSink implements ByteSink {
  length = 0;
  readonly #view: Uint8Array;
  constructor(view: Uint8Array) {
    this.#view = view;
  }
  push(byte: number): void {
    this.#view[this.length++] = byte;
  }
}

const REPLACEMENT = 0xfffd;

/** The value of an ASCII hex digit (either case), or -1: the decoders' %XX and \uXXXX. */
export function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const lower = b | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

export class Utf8Writer {
  readonly #sink: ByteSink;
  // The UTF-8 decoder's state (WHATWG Encoding, "UTF-8 decoder").
  #needed = 0;
  #seen = 0;
  #point = 0;
  #lower = 0x80;
  #upper = 0xbf;
  // A high surrogate from a \u escape, waiting for its low half; -1 when none.
  #high = -1;

  constructor(sink: ByteSink) {
    this.#sink = sink;
  }

  #emit(point: number): void {
    const sink = this.#sink;
    if (point < 0x80) {
      sink.push(point);
    } else if (point < 0x800) {
      sink.push(0xc0 | (point >> 6));
      sink.push(0x80 | (point & 0x3f));
    } else if (point < 0x10000) {
      sink.push(0xe0 | (point >> 12));
      sink.push(0x80 | ((point >> 6) & 0x3f));
      sink.push(0x80 | (point & 0x3f));
    } else {
      sink.push(0xf0 | (point >> 18));
      sink.push(0x80 | ((point >> 12) & 0x3f));
      sink.push(0x80 | ((point >> 6) & 0x3f));
      sink.push(0x80 | (point & 0x3f));
    }
  }

  #resetDecoder(): void {
    this.#needed = 0;
    this.#seen = 0;
    this.#point = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }

  #flushHigh(): void {
    if (this.#high !== -1) {
      this.#high = -1;
      this.#emit(REPLACEMENT);
    }
  }

  /** One byte of UTF-8 as it was sent. */
  byte(byte: number): void {
    this.#flushHigh();
    for (;;) {
      if (this.#needed === 0) {
        if (byte <= 0x7f) {
          this.#emit(byte);
        } else if (byte >= 0xc2 && byte <= 0xdf) {
          this.#needed = 1;
          this.#point = byte & 0x1f;
        } else if (byte >= 0xe0 && byte <= 0xef) {
          if (byte === 0xe0) this.#lower = 0xa0;
          if (byte === 0xed) this.#upper = 0x9f;
          this.#needed = 2;
          this.#point = byte & 0x0f;
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          if (byte === 0xf0) this.#lower = 0x90;
          if (byte === 0xf4) this.#upper = 0x8f;
          this.#needed = 3;
          this.#point = byte & 0x07;
        } else {
          this.#emit(REPLACEMENT);
        }
        return;
      }
      if (byte < this.#lower || byte > this.#upper) {
        // The sequence so far is one U+FFFD; the byte starts afresh ("prepend" it).
        this.#resetDecoder();
        this.#emit(REPLACEMENT);
        continue;
      }
      this.#lower = 0x80;
      this.#upper = 0xbf;
      this.#point = (this.#point << 6) | (byte & 0x3f);
      if (++this.#seen === this.#needed) {
        const point = this.#point;
        this.#resetDecoder();
        this.#emit(point);
      }
      return;
    }
  }

  /** One UTF-16 code unit (0..0xFFFF), as a \uXXXX escape or a short escape gives it. */
  unit(unit: number): void {
    if (this.#needed !== 0) {
      this.#resetDecoder();
      this.#emit(REPLACEMENT);
    }
    if (this.#high !== -1) {
      if (unit >= 0xdc00 && unit <= 0xdfff) {
        const point = 0x10000 + ((this.#high - 0xd800) << 10) + (unit - 0xdc00);
        this.#high = -1;
        this.#emit(point);
        return;
      }
      this.#flushHigh();
    }
    if (unit >= 0xd800 && unit <= 0xdbff) this.#high = unit;
    else if (unit >= 0xdc00 && unit <= 0xdfff) this.#emit(REPLACEMENT);
    else this.#emit(unit);
  }

  /** The end of the text: an unfinished sequence or a lone high surrogate becomes U+FFFD. */
  end(): void {
    if (this.#needed !== 0) {
      this.#resetDecoder();
      this.#emit(REPLACEMENT);
    }
    this.#flushHigh();
  }
}
