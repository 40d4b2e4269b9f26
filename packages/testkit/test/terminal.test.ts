import { describe, expect, it } from 'vitest';

import { startTerminal, TERMINAL_SAY, terminalSupport } from '../src/index.js';

const support = terminalSupport();

describe.skipIf(!support.available)('startTerminal', () => {
  it('runs the child on a real tty, shows its output and the echo of what is typed', async () => {
    const terminal = startTerminal(
      `${TERMINAL_SAY}
       import readline from 'node:readline';
       say('tty', { stdin: process.stdin.isTTY === true, stdout: process.stdout.isTTY === true });
       const rl = readline.createInterface({ input: process.stdin, terminal: false });
       rl.once('line', (line) => { say('line', line); rl.close(); });`,
    );
    expect(await terminal.report('tty')).toEqual({ stdin: true, stdout: true });
    terminal.type('typed-text\n');
    expect(await terminal.report('line')).toBe('typed-text');
    const { code, output } = await terminal.exited;
    expect(code).toBe(0);
    expect(output.split('typed-text').length - 1).toBeGreaterThanOrEqual(2); // echoed by the tty, then reported
  });

  it('shown() rejects with what was shown when the terminal ends first', async () => {
    const terminal = startTerminal(`console.log('bye');`);
    await expect(terminal.shown('never printed')).rejects.toThrow(/ended before it showed "never printed"[\s\S]*bye/);
  });

  it('passes env and wraps the command line', async () => {
    const terminal = startTerminal(`${TERMINAL_SAY} say('env', process.env.GREETING);`, {
      env: { GREETING: 'hi' },
      shell: (node) => `${node}; echo "@@status $?"`,
    });
    expect(await terminal.report('env')).toBe('hi');
    expect(await terminal.report('status')).toBe(0);
  });
});
if (!support.available) it.skip(`terminal tests skipped: ${support.reason}`, () => {});
