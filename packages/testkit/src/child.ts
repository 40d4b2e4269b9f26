// Spawning Node children for tests: runNode runs a snippet to completion, startChild runs one
// that pauses at checkpoints so the parent can inspect it (scan its memory, count its fds).
// Resource limits are applied by wrappers that only exec (/bin/sh ulimit, prlimit, setpriv):
// the pid we hold ends up being node itself, so the signal that kills node is what we see.
// Only node: builtins and util-linux tools present on any Debian/Ubuntu image are used.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readProcText } from './proc.js';
import { scanMemory, type ScanResult } from './scan.js';

export interface ChildOptions {
  /** Working directory; default process.cwd(). Bare imports in the snippet resolve from here. */
  cwd?: string;
  /** Merged over process.env; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
  /** Extra node flags placed before -e, e.g. ['--expose-gc']. */
  args?: string[];
  /** Default 30000. On timeout the child is SIGKILLed and runNode rejects. */
  timeoutMs?: number;
  /** Default 'off': RLIMIT_CORE soft and hard 0, so the child never leaves a core file. */
  coreLimit?: 'off' | 'unlimited';
  /** RLIMIT_MEMLOCK soft and hard for the child, in bytes. */
  memlockBytes?: number;
  /** Run without CAP_IPC_LOCK, so a root child obeys RLIMIT_MEMLOCK. No-op when not root. */
  dropIpcLock?: boolean;
  /**
   * Run as this user (a name in /etc/passwd, such as 'nobody'): its uid and primary gid, no
   * supplementary groups, no capabilities. Only root can; the limits of the other options
   * are set first, as root, so a root parent can grant one the user could not raise.
   */
  user?: string;
  /** Written to the child's stdin (a pipe), which is then closed. Default: stdin is /dev/null. */
  input?: string | Uint8Array;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ChildHandle {
  readonly pid: number;
  /** Resolves with the data of checkpoint(label, data); rejects if the child exits first. */
  waitFor(label: string): Promise<unknown>;
  /** Lets the oldest pending checkpoint() in the child resolve. */
  resume(): void;
  /** scanMemory(pid, marker) while the child is stopped with SIGSTOP; SIGCONT afterwards. */
  scan(marker: Uint8Array): Promise<ScanResult>;
  /** Default SIGKILL. No-op once the child has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the child has exited and its output is complete; never rejects. */
  readonly exited: Promise<ChildResult>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const STDERR_EXCERPT = 2000;
const PROTOCOL = 'strongroom-testkit';

/** "exited with code 1" / "was killed by SIGTERM". */
export function describeExit(result: Pick<ChildResult, 'code' | 'signal'>): string {
  return result.signal !== null ? `was killed by ${result.signal}` : `exited with code ${String(result.code)}`;
}

/** The child's stderr for an error message, cut to about 2000 characters (head and tail kept). */
export function stderrExcerpt(stderr: string): string {
  const text = stderr.trim();
  if (text === '') return 'child stderr: (empty)';
  if (text.length <= STDERR_EXCERPT) return `child stderr:\n${text}`;
  const half = STDERR_EXCERPT / 2;
  return `child stderr:\n${text.slice(0, half)}\n[... ${text.length - STDERR_EXCERPT} characters omitted ...]\n${text.slice(-half)}`;
}

function findTool(name: string): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(':').filter((dir) => path.isAbsolute(dir));
  for (const dir of [...dirs, '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // try the next directory
    }
  }
  return undefined;
}

/**
 * Whether `user` can read `file` (every folder above it searchable by that user): what a
 * child run with `user` needs to load the package under test. A clone in a 0700 folder (what
 * `mktemp -d` makes) is not readable by 'nobody'. False when this process is not root (it
 * cannot become another user) or setpriv is missing.
 */
export function userCanRead(user: string, file: string): boolean {
  const setpriv = findTool('setpriv');
  if (process.geteuid?.() !== 0 || setpriv === undefined) return false;
  const { uid, gid } = passwdEntry(user, 'userCanRead()');
  const test = spawnSync(setpriv, [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', 'test', '-r', file], { stdio: 'ignore' });
  return test.status === 0;
}

/** The uid and primary gid of a user named in /etc/passwd. */
function passwdEntry(user: unknown, caller: string): { uid: number; gid: number } {
  if (typeof user !== 'string' || !/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) {
    throw new TypeError(`${caller}: user must be a user name, got ${String(user)}`);
  }
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) {
    throw new Error(`${caller}: no user '${user}' in /etc/passwd`);
  }
  return { uid: Number(uid), gid: Number(gid) };
}

interface Command {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  input: string | Uint8Array | undefined;
}

function buildCommand(code: string, options: ChildOptions, caller: string): Command {
  if (typeof code !== 'string') throw new TypeError(`${caller}: code must be a string`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`${caller}: timeoutMs must be a positive number, got ${timeoutMs}`);
  }
  const coreLimit = options.coreLimit ?? 'off';
  if (coreLimit !== 'off' && coreLimit !== 'unlimited') {
    throw new RangeError(`${caller}: coreLimit must be 'off' or 'unlimited', got ${String(coreLimit)}`);
  }
  // `ulimit` without -H/-S sets soft and hard; exit 125 (with the shell's message) if it cannot.
  const script = [`ulimit -c ${coreLimit === 'off' ? '0' : 'unlimited'} || exit 125`];
  const chain: string[] = [];
  const memlock = options.memlockBytes;
  if (memlock !== undefined) {
    if (!Number.isSafeInteger(memlock) || memlock < 0) {
      throw new RangeError(`${caller}: memlockBytes must be a non-negative integer, got ${memlock}`);
    }
    const prlimit = findTool('prlimit');
    if (prlimit !== undefined) chain.push(prlimit, `--memlock=${memlock}:${memlock}`, '--');
    else script.push(`ulimit -l ${Math.floor(memlock / 1024)} || exit 125`); // sh counts KiB
  }
  if (options.dropIpcLock === true && process.geteuid?.() === 0) {
    const setpriv = findTool('setpriv');
    if (setpriv === undefined) throw new Error(`${caller}: dropIpcLock as root needs setpriv (util-linux), not found`);
    chain.push(setpriv, '--bounding-set=-ipc_lock', '--inh-caps=-ipc_lock', '--');
  }
  if (options.user !== undefined) {
    const { uid, gid } = passwdEntry(options.user, caller);
    if (process.geteuid?.() !== 0) throw new Error(`${caller}: user '${options.user}' needs a root parent, and this process is not root`);
    const setpriv = findTool('setpriv');
    if (setpriv === undefined) throw new Error(`${caller}: user needs setpriv (util-linux), not found`);
    chain.push(setpriv, `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all', '--');
  }
  chain.push(process.execPath, ...(options.args ?? []), '--input-type=module', '-e', code);
  script.push('exec "$0" "$@"');

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const input = options.input;
  if (input !== undefined && typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new TypeError(`${caller}: input must be a string or a Uint8Array`);
  }
  return { file: '/bin/sh', args: ['-c', script.join('\n'), ...chain], cwd: options.cwd ?? process.cwd(), env, timeoutMs, input };
}

interface Launched {
  child: ReturnType<typeof spawn>;
  /** Resolves once the process exists (rejects if it could not be spawned). */
  spawned: Promise<void>;
  /** Resolves after exit with complete output; timedOut says whether we killed it. */
  done: Promise<ChildResult & { timedOut: boolean }>;
}

function launch(command: Command, ipc: boolean): Launched {
  const child = spawn(command.file, command.args, {
    cwd: command.cwd,
    env: command.env,
    stdio: [command.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(ipc ? (['ipc'] as const) : [])],
    ...(ipc ? { serialization: 'advanced' as const } : {}),
  });
  if (command.input !== undefined) {
    child.stdin?.on('error', () => undefined); // a child that exits without reading its input
    child.stdin?.end(command.input);
  }
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, command.timeoutMs);
  timer.unref();
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  spawned.catch(() => undefined); // runNode learns of a spawn failure through `done` instead
  const done = new Promise<ChildResult & { timedOut: boolean }>((resolve, reject) => {
    // Kept for the child's lifetime: a later 'error' (a failed send or kill) must not go unhandled.
    child.on('error', (error) => {
      if (child.pid === undefined) {
        clearTimeout(timer);
        reject(error);
      }
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
  return { child, spawned, done };
}

function timeoutMessage(caller: string, timeoutMs: number, stderr: string): string {
  return `${caller}: the child did not finish within ${timeoutMs} ms and was killed with SIGKILL\n${stderrExcerpt(stderr)}`;
}

/** Runs code as an ES module in a fresh `node` (process.execPath) and collects its output. */
export async function runNode(code: string, options: ChildOptions = {}): Promise<ChildResult> {
  const command = buildCommand(code, options, 'runNode');
  const { code: exitCode, signal, stdout, stderr, timedOut } = await launch(command, false).done;
  if (timedOut) throw new Error(timeoutMessage('runNode', command.timeoutMs, stderr));
  return { code: exitCode, signal, stdout, stderr };
}

// Defines checkpoint(label, data) in the child. It is one line, so the user's line numbers in
// stack traces stay right. While a checkpoint waits, its 'message' listener keeps the IPC channel
// referenced; once resumed the listener goes and the channel no longer keeps the child alive.
const CHILD_PRELUDE =
  `{const k=${JSON.stringify(PROTOCOL)};let n=0;` +
  'globalThis.checkpoint=(label,data)=>new Promise((resolve,reject)=>{' +
  "if(typeof process.send!=='function'){reject(new Error('checkpoint() works only in a child started by startChild()'));return;}" +
  'const id=++n;' +
  "const onMessage=(m)=>{if(m!==null&&typeof m==='object'&&m[k]==='resume'&&m.id===id){process.off('message',onMessage);resolve();}};" +
  "process.on('message',onMessage);" +
  "process.send({[k]:'checkpoint',id,label:String(label),data},(error)=>{if(error){process.off('message',onMessage);reject(error);}});" +
  '});}';

interface CheckpointMessage {
  id: number;
  label: string;
  data: unknown;
}

function asCheckpoint(message: unknown): CheckpointMessage | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const fields = message as Record<string, unknown>;
  if (fields[PROTOCOL] !== 'checkpoint' || typeof fields['id'] !== 'number' || typeof fields['label'] !== 'string') {
    return undefined;
  }
  return { id: fields['id'], label: fields['label'], data: fields['data'] };
}

async function waitUntilStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const stat = readProcText(`/proc/${pid}/stat`, 'scan');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'T' || state === 't') return;
    if (state === 'Z' || state === 'X') throw new Error(`scan: child ${pid} exited`);
    if (Date.now() > deadline) throw new Error(`scan: child ${pid} did not stop after SIGSTOP (state ${state})`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Starts code like runNode, with an IPC channel and a global `checkpoint(label, data?)` that
 * pauses the child until the parent calls resume(). Resolves once the child is spawned.
 */
export async function startChild(code: string, options: ChildOptions = {}): Promise<ChildHandle> {
  const command = buildCommand(CHILD_PRELUDE + code, options, 'startChild');
  const { child, spawned, done } = launch(command, true);
  done.catch(() => undefined); // a spawn failure is reported once, by `await spawned`
  await spawned;
  const pid = child.pid;
  if (pid === undefined) throw new Error('startChild: the child has no pid');

  const arrived: CheckpointMessage[] = [];
  const waiters: { label: string; resolve: (data: unknown) => void; reject: (error: Error) => void }[] = [];
  const pending: number[] = []; // ids of checkpoints the child is waiting in, oldest first
  let final: (ChildResult & { timedOut: boolean }) | undefined;

  const exitError = (label: string, result: ChildResult & { timedOut: boolean }): Error => {
    const why = result.timedOut ? ` (killed after timeoutMs ${command.timeoutMs} ms)` : '';
    return new Error(`waitFor: the child ${describeExit(result)}${why} before checkpoint '${label}'\n${stderrExcerpt(result.stderr)}`);
  };

  child.on('message', (message: unknown) => {
    const checkpoint = asCheckpoint(message);
    if (checkpoint === undefined) return;
    pending.push(checkpoint.id);
    const index = waiters.findIndex((waiter) => waiter.label === checkpoint.label);
    const waiter = index === -1 ? undefined : waiters.splice(index, 1)[0];
    if (waiter !== undefined) waiter.resolve(checkpoint.data);
    else arrived.push(checkpoint);
  });

  // `done` cannot reject any more: it only does when the process could not be spawned.
  const exited = done.then((result) => {
    final = result;
    for (const waiter of waiters.splice(0)) waiter.reject(exitError(waiter.label, result));
    return { code: result.code, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
  });

  return {
    pid,
    exited,
    waitFor(label: string): Promise<unknown> {
      const index = arrived.findIndex((checkpoint) => checkpoint.label === label);
      const checkpoint = index === -1 ? undefined : arrived.splice(index, 1)[0];
      if (checkpoint !== undefined) return Promise.resolve(checkpoint.data);
      if (final !== undefined) return Promise.reject(exitError(label, final));
      return new Promise((resolve, reject) => waiters.push({ label, resolve, reject }));
    },
    resume(): void {
      const id = pending.shift();
      if (id === undefined) throw new Error('resume: the child is not waiting at a checkpoint');
      if (child.connected) child.send({ [PROTOCOL]: 'resume', id });
    },
    async scan(marker: Uint8Array): Promise<ScanResult> {
      if (final !== undefined) throw new Error('scan: the child has already exited');
      process.kill(pid, 'SIGSTOP');
      try {
        await waitUntilStopped(pid);
        return await scanMemory(pid, marker);
      } finally {
        try {
          if (final === undefined) process.kill(pid, 'SIGCONT');
        } catch {
          // it died while stopped (SIGKILL); `exited` reports that
        }
      }
    },
    kill(signal: NodeJS.Signals = 'SIGKILL'): void {
      if (final === undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/**
 * Child code (a module body; top-level await) that shows the process still works after it
 * met a resource limit: it allocates a 64 MiB Buffer and a million small objects, then
 * serves one HTTP request on 127.0.0.1 and reads the answer. It declares `ordinary` (true
 * when both allocations held) and `answer` (the body: 'served /after-the-limit').
 */
export const PROCESS_GOES_ON = `
const { default: goesOnHttp } = await import('node:http');
const goesOnBig = Buffer.alloc(64 << 20, 7);
const goesOnSmall = Array.from({ length: 1_000_000 }, (_, i) => ({ i, text: 'x' + i }));
const goesOnServer = goesOnHttp.createServer((request, response) => response.end('served ' + request.url));
await new Promise((resolve) => goesOnServer.listen(0, '127.0.0.1', resolve));
const answer = await new Promise((resolve, reject) => {
  goesOnHttp.get({ host: '127.0.0.1', port: goesOnServer.address().port, path: '/after-the-limit', agent: false }, (response) => {
    let body = '';
    response.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => resolve(body));
  }).on('error', reject);
});
await new Promise((resolve) => goesOnServer.close(resolve));
const ordinary = goesOnBig.length === 64 << 20 && goesOnSmall.length === 1_000_000;
`;
