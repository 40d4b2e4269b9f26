// SecretBuffer.prompt through a real pseudo-terminal: what is typed is not echoed, the
// buffer holds exactly the line, and without a terminal the error says what to do.
import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';
import { runNode, startTerminal, TERMINAL_SAY, terminalSupport } from '@strongroom/testkit';

import { CHILD, PREAMBLE } from './helpers.js';

const support = terminalSupport();

describe('SecretBuffer.prompt', () => {
  it.skipIf(!support.available)('reads a line with echo off into a SecretBuffer', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const terminal = startTerminal(
      `${PREAMBLE}
       ${TERMINAL_SAY}
       const secret = await SecretBuffer.prompt('Password: ');
       say('read', { size: secret.size, equal: secret.equals(Buffer.from(process.env.EXPECTED, 'hex')), text: String(secret) });
       secret.destroy();`,
      { ...CHILD, env: { EXPECTED: Buffer.from(password).toString('hex') } },
    );
    await terminal.shown('Password: ');
    terminal.type(`${password}\n`);
    expect(await terminal.report('read')).toEqual({
      size: password.length,
      equal: true,
      text: `SecretBuffer(${password.length} bytes, redacted)`,
    });
    const { code, output } = await terminal.exited;
    expect(code).toBe(0);
    expect(output).not.toContain(password);
  });
  if (!support.available) it.skip(`pty test skipped: ${support.reason}`, () => {});

  it('without a terminal on stdin: ERR_NOT_A_TTY, and nothing is left behind', async () => {
    const result = await runNode(
      `${PREAMBLE}
       const error = await SecretBuffer.prompt('Password: ').then(() => null, (e) => ({ code: e.code, message: e.message }));
       console.log(JSON.stringify({ error, live: SecretBuffer.live().buffers, regions: core.stats().regions }));`,
      { ...CHILD, input: 'not a terminal\n' },
    );
    const out = JSON.parse(result.stdout);
    expect(out.error.code).toBe('ERR_NOT_A_TTY');
    expect(out.error.message).toMatch(/readFd|fromFd/);
    expect(out).toMatchObject({ live: 0, regions: 0 });
  });
});
