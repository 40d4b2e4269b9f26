// moto's server (a real implementation of the AWS Secrets Manager and KMS protocols, from
// PyPI) on a free loopback port, one per test file: started, waited for until it answers,
// and stopped afterwards. scripts/setup.sh installs it into .tools/moto (a virtualenv);
// STRONGROOM_MOTO_SERVER may name another moto_server. Without it the tests FAIL, saying
// how to install it: they never skip.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const VENV_SERVER = path.join(REPO, '.tools/moto/bin/moto_server');
// The virtualenv's own python, run with -m moto.server: the moto_server script's first line
// names the interpreter by the absolute path the virtualenv was made at, which a copy of the
// tree (the unprivileged run's) cannot reach; the python link finds its virtualenv by where
// it is run from.
const VENV_PYTHON = path.join(REPO, '.tools/moto/bin/python');

export const REGION = 'us-east-1';
export const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** The command that runs moto's server (before its -H and -p), or an error saying how to install it. */
export function motoServerCommand(): [string, ...string[]] {
  const given = process.env.STRONGROOM_MOTO_SERVER;
  if (given !== undefined && given !== '') {
    if (!fs.existsSync(given)) throw new Error(`STRONGROOM_MOTO_SERVER names ${given}, which does not exist`);
    return [given];
  }
  if (fs.existsSync(VENV_SERVER) && fs.existsSync(VENV_PYTHON)) return [VENV_PYTHON, '-m', 'moto.server'];
  throw new Error(
    `moto is not installed: the AWS tests need moto's server at ${VENV_SERVER}. ` +
      "Run `bash scripts/setup.sh --no-demo` (it makes the virtualenv and pip-installs moto[server]), " +
      'or set STRONGROOM_MOTO_SERVER to a moto_server.',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The status of GET url, or undefined when nothing answers. */
function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

export interface Moto {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly port: number;
  /** A Secrets Manager client pointed at this server (no SDK retries: the store retries). */
  secretsManager(endpoint?: string): SecretsManagerClient;
  /** A KMS client pointed at this server (no SDK retries). */
  kms(endpoint?: string): KMSClient;
  /** Forgets every secret and key (moto's reset API). */
  reset(): Promise<void>;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts moto's server on a free loopback port and resolves once it answers (at most 60 s). */
export async function startMoto(): Promise<Moto> {
  const [server, ...serverArgs] = motoServerCommand();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(server, [...serverArgs, '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const endpoint = `http://127.0.0.1:${port}`;
    const started = Date.now();
    let ready = false;
    while (!exited && Date.now() - started < 60_000) {
      const raced = await Promise.race([probe(`${endpoint}/moto-api/`), spawnError]);
      if (raced instanceof Error) throw new Error(`could not start ${server}: ${raced.message}`);
      if (raced === 200) {
        ready = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!ready) {
      await stopChild(child);
      // Another process may have taken the port between freePort() and the bind: try another.
      if (attempt < 3 && /in use/i.test(stderr)) continue;
      throw new Error(`moto's server (${server}) did not answer on ${endpoint} within 60 s; its stderr ends:\n${stderr}`);
    }
    const options = (at: string) => ({ region: REGION, endpoint: at, credentials: CREDENTIALS, maxAttempts: 1 });
    return {
      endpoint,
      port,
      secretsManager: (at = endpoint) => new SecretsManagerClient(options(at)),
      kms: (at = endpoint) => new KMSClient(options(at)),
      reset: () =>
        new Promise<void>((resolve, reject) => {
          const req = http.request(`${endpoint}/moto-api/reset`, { method: 'POST', agent: false }, (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`moto reset answered ${res.statusCode}`))));
          });
          req.on('error', reject);
          req.end();
        }),
      stop: () => stopChild(child),
    };
  }
}
