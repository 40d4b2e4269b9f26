import { describe, expect, it } from 'vitest';
import { heapMarkerCode, makeMarker, maskMarker, runNode, textMarker } from '../src/index.js';

describe('makeMarker', () => {
  it("returns 32 bytes by default, starting with 'SRMK', different every time", () => {
    const a = makeMarker();
    const b = makeMarker();
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(32);
    expect(Buffer.from(a.subarray(0, 4)).toString('latin1')).toBe('SRMK');
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(a.some((byte) => byte !== 0)).toBe(true);
  });

  it('honours the length and refuses lengths outside 8..4096', () => {
    expect(makeMarker(8).length).toBe(8);
    expect(makeMarker(4096).length).toBe(4096);
    expect(() => makeMarker(7)).toThrow(RangeError);
    expect(() => makeMarker(4097)).toThrow(RangeError);
    expect(() => makeMarker(12.5)).toThrow(RangeError);
  });
});

describe('maskMarker', () => {
  it('splits a marker into halves that XOR back to it', () => {
    const marker = makeMarker(64);
    const { masked, mask } = maskMarker(marker);
    const a = Buffer.from(masked, 'hex');
    const b = Buffer.from(mask, 'hex');
    expect(a.length).toBe(64);
    expect(b.length).toBe(64);
    expect(Uint8Array.from(a, (byte, i) => byte ^ (b[i] ?? 0))).toEqual(marker);
  });

  it('never leaves a marker byte in place and uses a fresh mask each time', () => {
    const marker = makeMarker(4096);
    const first = maskMarker(marker);
    const masked = Buffer.from(first.masked, 'hex');
    expect(Buffer.from(first.mask, 'hex').includes(0)).toBe(false);
    expect(masked.some((byte, i) => byte === marker[i])).toBe(false);
    expect(maskMarker(marker).mask).not.toBe(first.mask);
    expect(() => maskMarker(new Uint8Array(0))).toThrow(TypeError);
  });
});

describe('textMarker', () => {
  it("gives the marker's hex and the ASCII bytes of that hex", () => {
    const marker = makeMarker(16);
    const { text, bytes } = textMarker(marker);
    expect(text).toMatch(/^53524d4b[0-9a-f]{24}$/);
    expect(Buffer.from(text, 'hex')).toEqual(Buffer.from(marker));
    expect(Buffer.from(bytes).toString('latin1')).toBe(text);
    expect(() => textMarker(new Uint8Array(0))).toThrow(TypeError);
  });
});

describe('heapMarkerCode', () => {
  it('declares a heap Buffer holding the marker, whose bytes are not in the code', async () => {
    const marker = makeMarker();
    const code = heapMarkerCode('secret', marker);
    expect(code).not.toContain(Buffer.from(marker).toString('hex'));
    const { stdout, stderr } = await runNode(`${code}\nconsole.log(Buffer.isBuffer(secret), secret.toString('hex'));`);
    expect(stderr).toBe('');
    expect(stdout).toBe(`true ${Buffer.from(marker).toString('hex')}\n`);
    expect(() => heapMarkerCode('not a name', marker)).toThrow(TypeError);
  });
});
