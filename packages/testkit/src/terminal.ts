// A real pseudo-terminal for tests of interactive code (a password prompt): util-linux
// `script` runs the child on a pty, forwards what the test types to it, and gives back
// everything the terminal shows, echo included, so a test can assert that what was
// typed was not echoed. The snippet runs as an ES module with `node -e`, so its bare
// imports resolve from `cwd` like runNode's.
import { spawn, spawnSync } from 'node:child_process';

export interface TerminalOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Default 30000; then the terminal is killed with SIGKILL. */
  timeoutMs?: number;
  /** Wraps the shell command line that starts node (e.g. to trap a signal around it). */
  shell?: (nodeCommand: string) => string;
}

export interface Terminal {
  /** Resolves once the terminal has shown `text`; rejects if it ends first. */
  shown(text: string): Promise<void>;
  /** The parsed JSON of the first line `@@<label> <json>` the child printed. */
  report(label: string): Promise<unknown>;
  /** Types text at the terminal (a newline ends a line). */
  type(text: string): void;
  /** Everything shown so far. */
  readonly output: string;
  readonly exited: Promise<{ code: number | null; output: string }>;
}

export interface TerminalSupport {
  available: boolean;
  reason: string;
}

/** Whether a pseudo-terminal can be driven here (util-linux `script`). */
export function terminalSupport(): TerminalSupport {
  const probe = spawnSync('script', ['--version'], { stdio: 'ignore' });
  return probe.status === 0
    ? { available: true, reason: 'util-linux script is available' }
    : { available: false, reason: 'util-linux `script` is not installed, so no pseudo-terminal can be driven' };
}

/** For the child: `say(label, data)` prints the line that Terminal.report(label) reads. */
export const TERMINAL_SAY =
  "const say = (label, data) => process.stdout.write('@@' + label + ' ' + JSON.stringify(data) + '\\n');";

export function startTerminal(code: string, options: TerminalOptions = {}): Terminal {
  const node = `'${process.execPath.replace(/'/g, "'\\''")}' --input-type=module -e "$STRONGROOM_TERMINAL_CODE"`;
  const command = (options.shell ?? ((line: string) => line))(node);
  const env: NodeJS.ProcessEnv = { ...process.env, SHELL: '/bin/sh', STRONGROOM_TERMINAL_CODE: code };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: options.cwd ?? process.cwd(),
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let ended = false;
  const waiting: Array<() => void> = [];
  const wake = () => waiting.splice(0).forEach((check) => check());
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    wake();
  });
  child.stdin.on('error', () => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  timer.unref();
  const exited = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.once('close', (exitCode: number | null) => {
      clearTimeout(timer);
      ended = true;
      wake();
      resolve({ code: exitCode, output });
    });
  });
  const until = <T>(find: () => T | undefined, what: string) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found !== undefined) resolve(found);
        else if (ended) reject(new Error(`the terminal ended before it showed ${what}; it showed:\n${output}`));
        else waiting.push(check);
      };
      check();
    });
  return {
    shown: (text) => until(() => (output.includes(text) ? true : undefined), JSON.stringify(text)).then(() => undefined),
    report: (label) =>
      until(() => {
        const line = new RegExp(`@@${label} (.*)\\r?\\n`).exec(output);
        return line ? (JSON.parse(line[1]!) as unknown) : undefined;
      }, `@@${label}`),
    type: (text) => {
      child.stdin.write(text);
    },
    get output() {
      return output;
    },
    exited,
  };
}
