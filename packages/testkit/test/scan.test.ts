import fs from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeMarker, maskMarker, readMappings, scanMemory, searchChunks, startChild, type ChildHandle } from '../src/index.js';

const handles: ChildHandle[] = [];
afterEach(() => {
  for (const handle of handles.splice(0)) handle.kill();
  vi.restoreAllMocks();
});

/** A child that rebuilds `marker` from its masked halves in an ordinary Buffer and waits at 'planted'. */
async function plantedChild(marker: Uint8Array, extra = ''): Promise<ChildHandle> {
  const { masked, mask } = maskMarker(marker);
  const handle = await startChild(
    `const a = Buffer.from(process.env.MASKED, 'hex'), b = Buffer.from(process.env.MASK, 'hex');
     const secret = Buffer.alloc(a.length);
     for (let i = 0; i < a.length; i += 1) secret[i] = a[i] ^ b[i];
     globalThis.secret = secret;
     ${extra}
     await checkpoint('planted');`,
    { env: { MASKED: masked, MASK: mask }, timeoutMs: 30_000 },
  );
  handles.push(handle);
  await handle.waitFor('planted');
  return handle;
}

function bruteForce(haystack: Uint8Array, needle: Uint8Array): number[] {
  const found: number[] = [];
  outer: for (let i = 0; i + needle.length <= haystack.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) if (haystack[i + j] !== needle[j]) continue outer;
    found.push(i);
  }
  return found;
}

/** A reader over an in-memory buffer that returns at most `limit` bytes per call. */
function reader(data: Uint8Array, limit = Infinity) {
  return (buffer: Uint8Array, position: bigint): number => {
    const from = Number(position);
    const count = Math.max(0, Math.min(buffer.length, limit, data.length - from));
    buffer.set(data.subarray(from, from + count));
    return count;
  };
}

describe('searchChunks', () => {
  it('finds a marker at every position, across every chunk border, for several chunk sizes', async () => {
    for (const markerLength of [1, 2, 5, 9]) {
      const marker = Uint8Array.from({ length: markerLength }, (_, i) => 200 + i);
      for (const chunkSize of [1, 2, 3, 7, 16]) {
        for (let at = 0; at + markerLength <= 48; at += 1) {
          const data = new Uint8Array(48);
          data.set(marker, at);
          const found: bigint[] = [];
          const total = await searchChunks(reader(data), marker, { chunkSize, onMatch: (p) => void found.push(p) });
          expect(total).toBe(48n);
          expect(found).toEqual([BigInt(at)]);
        }
      }
    }
  });

  it('reports overlapping and repeated occurrences exactly once each, also with short reads', async () => {
    const data = Buffer.from('xaaaayaaxaa_aaa');
    const marker = Buffer.from('aa');
    const expected = bruteForce(data, marker).map(BigInt);
    expect(expected).toEqual([1n, 2n, 3n, 6n, 9n, 12n, 13n]);
    for (const chunkSize of [1, 2, 3, 4, 100]) {
      const found: bigint[] = [];
      await searchChunks(reader(data, 2), marker, { chunkSize, onMatch: (p) => void found.push(p) });
      expect(found).toEqual(expected);
    }
  });

  it('reports absolute positions within [start, end) and stops when onMatch returns true', async () => {
    const data = Buffer.from('..ab..ab..ab..');
    const marker = Buffer.from('ab');
    const found: bigint[] = [];
    const read = await searchChunks(reader(data), marker, { start: 3n, end: 12n, chunkSize: 3, onMatch: (p) => void found.push(p) });
    expect(read).toBe(9n);
    expect(found).toEqual([6n, 10n]); // the 'ab' at 2 starts before start
    const first: bigint[] = [];
    await searchChunks(reader(data), marker, { chunkSize: 4, onMatch: (p) => first.push(p) > 0 });
    expect(first).toEqual([2n]);
  });

  it('finds nothing when the marker is absent and rejects bad arguments', async () => {
    const found: bigint[] = [];
    await searchChunks(reader(Buffer.from('abcabcabc')), Buffer.from('abd'), { chunkSize: 2, onMatch: (p) => void found.push(p) });
    expect(found).toEqual([]);
    const onMatch = (): void => undefined;
    await expect(searchChunks(reader(Buffer.alloc(1)), new Uint8Array(0), { onMatch })).rejects.toThrow(/marker length/);
    await expect(searchChunks(reader(Buffer.alloc(1)), new Uint8Array(4097), { onMatch })).rejects.toThrow(/marker length/);
    await expect(searchChunks(reader(Buffer.alloc(1)), new Uint8Array(1), { onMatch, chunkSize: 0 })).rejects.toThrow(/chunkSize/);
  });
});

describe('readMappings', () => {
  it('parses /proc/self/maps', () => {
    const mappings = readMappings('self');
    expect(mappings.length).toBeGreaterThan(10);
    for (const mapping of mappings) {
      expect(mapping.end).toBeGreaterThan(mapping.start);
      expect(mapping.perms).toMatch(/^[r-][w-][x-][ps]$/);
      expect(mapping.offset).toBeGreaterThanOrEqual(0n);
    }
    expect(mappings.some((mapping) => mapping.path === '[stack]')).toBe(true);
    expect(mappings.some((mapping) => mapping.path === process.execPath)).toBe(true);
    expect(mappings.some((mapping) => mapping.path === '')).toBe(true);
  });

  it('throws for a process that does not exist', () => {
    expect(() => readMappings(2_147_483_647)).toThrow(/does not exist/);
  });
});

describe('scanMemory', () => {
  it("finds a marker in a child's heap, and not a marker the child never saw", async () => {
    const marker = makeMarker();
    const child = await plantedChild(marker);
    const hit = await child.scan(marker);
    expect(hit.matches.length).toBeGreaterThanOrEqual(1);
    expect(hit.scannedMappings).toBeGreaterThan(10);
    expect(hit.scannedBytes).toBeGreaterThan(1 << 20);
    for (const { mapping, address } of hit.matches) {
      expect(address).toBeGreaterThanOrEqual(mapping.start);
      expect(address + BigInt(marker.length)).toBeLessThanOrEqual(mapping.end);
    }
    const miss = await child.scan(makeMarker());
    expect(miss.matches).toEqual([]);
    expect(miss.scannedMappings).toBeGreaterThan(10);
    // scan() must leave the child running: it can go on and exit.
    child.resume();
    expect((await child.exited).code).toBe(0);
  });

  it('finds every copy, including copies that straddle a chunk border', async () => {
    const marker = makeMarker(32);
    const chunk = 4093; // prime: copies at a stride of chunk + 1 fall on every offset within a chunk
    const child = await plantedChild(
      marker,
      `const copies = Buffer.alloc(${chunk} * ${chunk + 1} + secret.length);
       for (let k = 0; k < ${chunk}; k += 1) copies.set(secret, k * ${chunk + 1});
       globalThis.copies = copies;`,
    );
    const result = await scanMemory(child.pid, marker, { chunkSize: chunk });
    const addresses = new Set(result.matches.map((match) => match.address));
    expect(addresses.size).toBe(result.matches.length);
    const first = [...addresses].find(
      (address) => addresses.has(address + BigInt(chunk + 1)) && !addresses.has(address - BigInt(chunk + 1)),
    );
    expect(first).toBeDefined();
    for (let k = 0; k < chunk; k += 1) {
      if (!addresses.has((first ?? 0n) + BigInt(k * (chunk + 1)))) throw new Error(`copy ${k} was not found`);
    }
  });

  it('reads every mapping, PROT_NONE included, and lists the unreadable ones instead of throwing', async () => {
    const marker = makeMarker();
    const child = await plantedChild(marker);
    process.kill(child.pid, 'SIGSTOP');
    try {
      const mappings = readMappings(child.pid);
      const all = await scanMemory(child.pid, marker, { includeUnresident: true });
      expect(all.matches.length).toBeGreaterThanOrEqual(1);
      // Nothing is skipped by permissions: every mapping is either read or reported unreadable.
      expect(all.scannedMappings + all.unreadable.length).toBe(mappings.length);
      expect(mappings.some((mapping) => mapping.perms.startsWith('---'))).toBe(true);
      const special = mappings.filter((mapping) => mapping.path === '[vvar]' || mapping.path === '[vsyscall]');
      expect(special.length).toBeGreaterThan(0);
      expect(all.unreadable.map((mapping) => mapping.path)).toEqual(expect.arrayContaining(special.map((mapping) => mapping.path)));

      // By default, mappings with nothing resident or swapped are skipped: fewer bytes, same hits.
      const resident = await scanMemory(child.pid, marker);
      expect(resident.scannedBytes).toBeLessThan(all.scannedBytes);
      expect(resident.scannedMappings + resident.unreadable.length).toBeLessThan(mappings.length);
      expect(resident.matches.map((match) => match.address)).toEqual(all.matches.map((match) => match.address));
    } finally {
      process.kill(child.pid, 'SIGCONT');
    }
  });

  it('throws a clear error when /proc/PID/mem cannot be opened', async () => {
    await expect(scanMemory(2_147_483_647, makeMarker())).rejects.toThrow(/no process with pid 2147483647/);
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    vi.spyOn(fs, 'openSync').mockImplementation(() => {
      throw denied;
    });
    await expect(scanMemory(process.pid, makeMarker())).rejects.toThrow(/cannot open \/proc\/\d+\/mem \(EACCES\): .*ptrace permission.*root/);
  });

  it('rejects bad arguments', async () => {
    await expect(scanMemory(process.pid, new Uint8Array(0))).rejects.toThrow(/marker length must be 1\.\.4096/);
    await expect(scanMemory(0, makeMarker())).rejects.toThrow(/pid must be a positive integer/);
    await expect(scanMemory(process.pid, makeMarker(), { chunkSize: 1.5 })).rejects.toThrow(/chunkSize/);
  });
});
