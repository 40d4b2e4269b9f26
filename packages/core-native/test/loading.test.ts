// Loading: a missing or broken addon is ERR_NATIVE_UNAVAILABLE with what to do; a
// runtime that refuses external ArrayBuffers gets ERR_EXTERNAL_BUFFERS_DISALLOWED from
// view() while every native operation keeps working.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import { runNode } from '@strongroom/testkit';

import { isNativeAvailable, StrongroomError } from '../src/index.js';
import { addonCandidates, loadBinding } from '../src/binding.js';
import { CHILD, PREAMBLE } from './helpers.js';

function loadError(candidates: string[]): StrongroomError {
  try {
    loadBinding(candidates);
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('loadBinding did not throw');
}

describe('native loading', () => {
  it('loads here', () => {
    expect(isNativeAvailable()).toBe(true);
    expect(addonCandidates().some((file) => fs.existsSync(file))).toBe(true);
  });

  it('a missing addon is ERR_NATIVE_UNAVAILABLE and says how to fix it', () => {
    const error = loadError(['/nonexistent/strongroom.node']);
    expect(error).toBeInstanceOf(StrongroomError);
    expect(error.code).toBe('ERR_NATIVE_UNAVAILABLE');
    expect(error.message).toMatch(/not found.*C\+\+ toolchain/);
  });

  it('a broken addon is ERR_NATIVE_UNAVAILABLE with the loader reason', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-broken-'));
    const file = path.join(dir, 'strongroom.node');
    fs.writeFileSync(file, 'not an ELF file');
    try {
      const error = loadError([file]);
      expect(error.code).toBe('ERR_NATIVE_UNAVAILABLE');
      expect(error.message).toContain('could not be loaded');
      expect(error.message).toMatch(/invalid ELF header|file too short/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runtimes that refuse external ArrayBuffers', () => {
  it('view() throws ERR_EXTERNAL_BUFFERS_DISALLOWED; native operations still work', async () => {
    const result = await runNode(
      `${PREAMBLE}
       const key = sr.allocate(32);
       sr.randomFill(key);
       const plain = sr.allocate(16);
       sr.randomFill(plain);
       let code;
       try { plain.view(); } catch (e) { code = e.code; }
       const opened = sr.open(key, sr.seal(key, plain));
       console.log(JSON.stringify({ code, roundTrip: sr.equals(opened, plain), tag: sr.hmac('sha256', key, 'm').length }));`,
      { ...CHILD, env: { STRONGROOM_NO_EXTERNAL_BUFFERS: '1' } },
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ code: 'ERR_EXTERNAL_BUFFERS_DISALLOWED', roundTrip: true, tag: 32 });
  });
});
