// The tamper tests of EnclaveStream's chunk binding (issue 14, item 9), run by
// stream-binding.test.ts on the native backend and stream-binding-js.test.ts on the
// portable one. Each sealed chunk carries streamId || index || flag inside its plaintext;
// here the sealed chunks are reordered, dropped, spliced from another stream and appended
// to, and every such stream must fail with ERR_AUTH, release no byte and leave no buffer.
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { errorCode } from '@strongroom/testkit';

import { EnclaveStream, SecretBuffer, StrongroomError } from '../src/index.js';
import { sealedChunksForTests } from '../src/stream.js';

const CHUNK = 8;

/** A finished stream of `chunks` full chunks of CHUNK bytes (byte value = chunk number + seed). */
async function finished(chunks: number, seed = 1): Promise<EnclaveStream> {
  const stream = new EnclaveStream({ chunkSize: CHUNK });
  for (let i = 0; i < chunks; i++) stream.write(Buffer.alloc(CHUNK, i + seed));
  stream.end();
  await once(stream, 'finish');
  return stream;
}

/** What the readable side gives: the bytes, or the error code it failed with. */
async function drain(stream: EnclaveStream): Promise<{ bytes: number[]; error?: string }> {
  const bytes: number[] = [];
  try {
    for await (const chunk of stream) bytes.push(...(chunk as Buffer));
    return { bytes };
  } catch (error) {
    return { bytes, error: error instanceof StrongroomError ? error.code : String(error) };
  }
}

type Tamper = (chunks: Uint8Array[], other: Uint8Array[]) => void;

// chunks of a 3-chunk stream: [data0, data1, data2, terminator]
const TAMPERS: Array<[string, Tamper]> = [
  ['two data chunks swapped', (c) => ([c[0], c[1]] = [c[1]!, c[0]!])],
  ['the terminator dropped (truncation at a chunk boundary)', (c) => void c.pop()],
  ['the last data chunk and the terminator dropped', (c) => void c.splice(2, 2)],
  ['a middle chunk dropped', (c) => void c.splice(1, 1)],
  ['a chunk spliced in from another stream at the same index', (c, o) => (c[1] = o[1]!)],
  ['the terminator of another stream put in place of this one', (c, o) => (c[3] = o[3]!)],
  ['a chunk replayed after the terminator', (c) => void c.push(c[0]!)],
  ['a data chunk duplicated', (c) => void c.splice(1, 0, c[1]!)],
  ['the terminator moved before the last data chunk', (c) => ([c[2], c[3]] = [c[3]!, c[2]!])],
];

export function bindingSuite(): void {
  it('an untouched stream reads back in full, through the readable side and through flatten()', async () => {
    expect(await drain(await finished(3))).toEqual({ bytes: [...Array(8).fill(1), ...Array(8).fill(2), ...Array(8).fill(3)] });
    const flat = (await finished(3)).flatten();
    expect(flat.read((view) => [...view])).toEqual([...Array(8).fill(1), ...Array(8).fill(2), ...Array(8).fill(3)]);
    flat.destroy();
    // one sealed chunk per full chunk, and the terminator
    expect(sealedChunksForTests(await finished(3))).toHaveLength(4);
  });

  describe.each(TAMPERS)('%s', (_name, tamper) => {
    it('fails the readable side with ERR_AUTH', async () => {
      const stream = await finished(3);
      tamper(sealedChunksForTests(stream), sealedChunksForTests(await finished(3, 50)));
      const { bytes, error } = await drain(stream);
      expect(error).toBe('ERR_AUTH');
      // bytes delivered before the bad chunk came from chunks in their right place only
      expect(bytes.every((byte, i) => byte === Math.floor(i / CHUNK) + 1)).toBe(true);
      expect(SecretBuffer.live().buffers).toBe(0);
    });

    it('makes flatten() ERR_AUTH, leaving no buffer and the stream as it was', async () => {
      const stream = await finished(3);
      const chunks = sealedChunksForTests(stream);
      tamper(chunks, sealedChunksForTests(await finished(3, 50)));
      const held = chunks.length;
      const live = SecretBuffer.live().buffers;
      expect(errorCode(() => stream.flatten())).toBe('ERR_AUTH');
      expect(SecretBuffer.live().buffers).toBe(live);
      expect(chunks).toHaveLength(held);
    });
  });

  it('the error says the stream was tampered with, and nothing else', async () => {
    const stream = await finished(3);
    sealedChunksForTests(stream).pop();
    let message = '';
    try {
      stream.flatten();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/tampered with/);
    expect(message).toMatch(/truncated/);
  });

  it('a chunk read in part before the tampering point keeps its place: flatten() after reading some is checked too', async () => {
    const stream = await finished(4);
    const first = (await stream[Symbol.asyncIterator]().next()).value as Buffer;
    expect([...first]).toEqual(Array(CHUNK).fill(1));
    const chunks = sealedChunksForTests(stream);
    [chunks[0], chunks[1]] = [chunks[1]!, chunks[0]!];
    expect(errorCode(() => stream.flatten())).toBe('ERR_AUTH');
  });

  describe('fromFile()', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-binding-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    async function fileStream(name: string, seed: number): Promise<EnclaveStream> {
      const file = path.join(dir, name);
      fs.writeFileSync(file, Buffer.concat([0, 1, 2].map((i) => Buffer.alloc(CHUNK, i + seed))));
      const stream = await EnclaveStream.fromFile(file, { chunkSize: CHUNK });
      await once(stream, 'finish');
      return stream;
    }

    it('an untouched file stream flattens to the file', async () => {
      const flat = (await fileStream('plain', 1)).flatten();
      expect(flat.read((view) => [...view])).toEqual([...Array(8).fill(1), ...Array(8).fill(2), ...Array(8).fill(3)]);
      flat.destroy();
    });

    it.each(TAMPERS)('%s: ERR_AUTH', async (name, tamper) => {
      const stream = await fileStream(`a-${name.length}`, 1);
      tamper(sealedChunksForTests(stream), sealedChunksForTests(await fileStream(`b-${name.length}`, 50)));
      expect(errorCode(() => stream.flatten())).toBe('ERR_AUTH');
      expect((await drain(stream)).error).toBe('ERR_AUTH');
    });
  });
}
