// The HTTP run: strongroom's webhook and JWT routes against the same routes built the usual
// way, loaded by autocannon over loopback. See README.md, "HTTP routes".
//
// Why each server is a child process: autocannon is JavaScript too and would take the event
// loop it measures if it ran in the server's process, and two servers in one process would
// share a heap, a garbage collector and a JIT (one side's garbage collected on the other's
// time). The strongroom server's guarded-memory counters (stats(), SecretBuffer.live()) are
// per process, so only a process of its own gives a baseline that means something. Both
// servers stay up for the whole run; the idle one sleeps in epoll while the other is loaded,
// and the sides alternate (A B, then B A) so that a slow minute of a shared VM falls on both.
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { SignJWT } from 'jose';
import { check, table } from './harness.mjs';

const SERVERS = {
  strongroom: fileURLToPath(new URL('./http/strongroom-server.mjs', import.meta.url)),
  usual: fileURLToPath(new URL('./http/usual-server.mjs', import.meta.url)),
};

function boundedInteger(name, fallback, min, max) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** The run's shape: the figures by default, bounded when overridden. */
export function httpSettings() {
  return {
    connections: boundedInteger('BENCH_HTTP_CONNECTIONS', 50, 1, 256),
    seconds: boundedInteger('BENCH_HTTP_SECONDS', 10, 1, 60),
    rounds: boundedInteger('BENCH_HTTP_ROUNDS', 2, 1, 10),
    warmupSeconds: 2,
  };
}

// A GitHub push delivery of about 1.6 KB: the shape of the real thing, not its size limit.
function webhookBody() {
  const commit = (i) => ({
    id: crypto.createHash('sha1').update(`commit ${i}`).digest('hex'),
    message: `Fix the widget (#${1000 + i})`,
    timestamp: '2026-11-30T06:00:00Z',
    author: { name: 'Octo Cat', email: 'octocat@example.com', username: 'octocat' },
    added: [],
    removed: [],
    modified: [`src/widget-${i}.ts`],
  });
  return JSON.stringify({
    ref: 'refs/heads/main',
    before: '0'.repeat(40),
    after: crypto.createHash('sha1').update('after').digest('hex'),
    action: 'push',
    repository: { id: 1296269, name: 'hello-world', full_name: 'octocat/hello-world', private: false },
    pusher: { name: 'octocat', email: 'octocat@example.com' },
    sender: { login: 'octocat', id: 1, type: 'User' },
    commits: [0, 1, 2, 3, 4].map(commit),
  });
}

async function startServer(name, secret) {
  const child = fork(SERVERS[name], [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`the ${name} server exited (${signal ?? code}) before it listened`);
  });
  const listening = new Promise((resolve) => {
    child.on('message', function onMessage(message) {
      if (message.type === 'listening') {
        child.off('message', onMessage);
        resolve(message.port);
      }
    });
  });
  child.send({ type: 'start', secret });
  const port = await Promise.race([listening, exited]);
  exited.catch(() => {}); // an exit after listening is reported by the request that fails
  return {
    name,
    child,
    port,
    stats(gc = false) {
      return new Promise((resolve) => {
        child.on('message', function onMessage(message) {
          if (message.type === 'stats') {
            child.off('message', onMessage);
            resolve(message);
          }
        });
        child.send({ type: 'stats', gc });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** One plain request (no autocannon), for the self-checks: { status, body }. */
async function request(port, route) {
  const res = await fetch(`http://127.0.0.1:${port}${route.path}`, { method: route.method, headers: route.headers, body: route.body });
  return { status: res.status, body: await res.text() };
}

function load(port, route, connections, seconds) {
  return autocannon({
    url: `http://127.0.0.1:${port}${route.path}`,
    method: route.method,
    headers: route.headers,
    body: route.body,
    connections,
    duration: seconds,
    pipelining: 1,
  });
}

function summarize(result) {
  return {
    requestsPerSecond: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ok: result['2xx'],
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    resets: result.resets,
    seconds: result.duration,
  };
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

/**
 * Starts both servers, checks every route answers a good request with 200 and a forged one
 * with 401 on both, then loads each route side by side; returns the figures.
 */
export async function runHttp() {
  const settings = httpSettings();
  // Other processes on the machine take cores from server and client alike: say how busy it was.
  const loadBefore = os.loadavg()[0];
  const { connections, seconds, rounds, warmupSeconds } = settings;
  const secret = crypto.randomBytes(32).toString('hex'); // 64 characters: what a .env would hold
  const body = webhookBody();
  const signature = `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
  const token = await new SignJWT({ name: 'Octo Cat' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('user-42')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(secret));
  const routes = [
    {
      name: 'webhook (github HMAC-SHA-256)',
      key: 'webhook',
      path: '/webhook',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': crypto.randomUUID(), 'x-hub-signature-256': signature },
      body,
      forged: { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      expect: (text) => JSON.parse(text).action === 'push',
      sides: { strongroom: 'verifyWebhook, Enclave key', usual: 'express.json + createHmac + timingSafeEqual' },
      target: 0.9,
    },
    {
      name: 'JWT bearer (HS256)',
      key: 'jwt',
      path: '/me',
      method: 'GET',
      headers: { authorization: `Bearer ${token}` },
      forged: { authorization: `Bearer ${token.slice(0, -2)}${token.endsWith('AA') ? 'BA' : 'AA'}` },
      expect: (text) => JSON.parse(text).sub === 'user-42',
      sides: { strongroom: 'jwtAuth, Enclave key', usual: 'jose jwtVerify, Uint8Array key' },
      target: 0.9,
    },
  ];

  const servers = {};
  try {
    servers.strongroom = await startServer('strongroom', secret);
    servers.usual = await startServer('usual', secret);
    for (const route of routes) {
      for (const side of Object.values(servers)) {
        const good = await request(side.port, route);
        check(good.status === 200 && route.expect(good.body), `${side.name} ${route.path} answers a signed request with 200 (got ${good.status})`);
        const forged = await request(side.port, { ...route, headers: { ...route.headers, ...route.forged } });
        check(forged.status === 401, `${side.name} ${route.path} refuses a forged signature with 401 (got ${forged.status})`);
      }
    }
    const baseline = await servers.strongroom.stats(true);
    const during = [];
    const results = [];
    for (const route of routes) {
      for (const name of ['strongroom', 'usual']) {
        process.stdout.write(`warming up ${route.key} [${name}] ${warmupSeconds} s … `);
        await load(servers[name].port, route, connections, warmupSeconds);
        console.log('done');
      }
      const perRound = { strongroom: [], usual: [] };
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? ['usual', 'strongroom'] : ['strongroom', 'usual'];
        for (const name of order) {
          process.stdout.write(`running ${route.key} [${name}] round ${r + 1}/${rounds}, ${connections} connections, ${seconds} s … `);
          const cpuBefore = (await servers[name].stats(false)).cpuMicros;
          const loading = load(servers[name].port, route, connections, seconds);
          if (name === 'strongroom') {
            // Sample the guarded-memory counters in the middle of the load (no gc: as it is).
            await new Promise((resolve) => setTimeout(resolve, (seconds * 1000) / 2));
            during.push(await servers.strongroom.stats(false));
          }
          const summary = summarize(await loading);
          // The server's CPU time per answered request: steadier than req/s on a shared VM,
          // where other processes take cores away from server and client alike.
          summary.cpuMicrosPerRequest = ((await servers[name].stats(false)).cpuMicros - cpuBefore) / summary.ok;
          perRound[name].push(summary);
          console.log(`${summary.requestsPerSecond.toFixed(0)} req/s, p99 ${summary.p99Ms} ms, server CPU ${summary.cpuMicrosPerRequest.toFixed(0)} µs/request`);
        }
      }
      const side = (name) => {
        const list = perRound[name];
        return {
          requestsPerSecond: sum(list.map((s) => s.ok)) / sum(list.map((s) => s.seconds)),
          p99Ms: Math.max(...list.map((s) => s.p99Ms)),
          cpuMicrosPerRequest: sum(list.map((s) => s.cpuMicrosPerRequest * s.ok)) / sum(list.map((s) => s.ok)),
          errors: sum(list.map((s) => s.errors)),
          timeouts: sum(list.map((s) => s.timeouts)),
          non2xx: sum(list.map((s) => s.non2xx)),
          resets: sum(list.map((s) => s.resets)),
          rounds: list,
        };
      };
      const strongroom = side('strongroom');
      const usual = side('usual');
      const ratio = strongroom.requestsPerSecond / usual.requestsPerSecond;
      const clean = [strongroom, usual].every((s) => s.errors === 0 && s.timeouts === 0 && s.non2xx === 0 && s.resets === 0);
      results.push({
        route: route.name,
        key: route.key,
        sides: route.sides,
        strongroom,
        usual,
        ratio,
        p99Ratio: strongroom.p99Ms / usual.p99Ms,
        cpuRatio: strongroom.cpuMicrosPerRequest / usual.cpuMicrosPerRequest,
        roundRatios: perRound.strongroom.map((s, i) => s.requestsPerSecond / perRound.usual[i].requestsPerSecond),
        target: route.target,
        clean,
        pass: clean && ratio >= route.target,
      });
    }
    const after = await servers.strongroom.stats(true);
    const counters = ['liveBuffers', 'liveBytes', 'regions', 'bytesLocked', 'orphanedRegions'];
    const memory = {
      baseline,
      peakDuringLoad: Object.fromEntries(counters.map((k) => [k, Math.max(...during.map((s) => s[k]))])),
      after,
      backToBaseline: counters.every((k) => after[k] === baseline[k]),
    };
    return { settings, loadAverage: { before: loadBefore, after: os.loadavg()[0] }, results, memory };
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
}

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Prints the HTTP figures as tables. */
export function printHttp({ settings, loadAverage, results, memory }) {
  const rows = [];
  for (const r of results) {
    const errs = (s) => `${s.errors + s.timeouts + s.resets} / ${s.non2xx}`;
    const cpu = (s) => `${s.cpuMicrosPerRequest.toFixed(0)} µs`;
    rows.push([r.route, `strongroom: ${r.sides.strongroom}`, fmt(r.strongroom.requestsPerSecond), `${r.strongroom.p99Ms} ms`, cpu(r.strongroom), errs(r.strongroom), r.ratio.toFixed(3), r.p99Ratio.toFixed(2), r.cpuRatio.toFixed(2), `>= ${r.target}`, r.pass ? 'PASS' : 'FAIL']);
    rows.push(['', `usual: ${r.sides.usual}`, fmt(r.usual.requestsPerSecond), `${r.usual.p99Ms} ms`, cpu(r.usual), errs(r.usual), '', '', '', '', '']);
  }
  console.log(
    `\nHTTP: ${settings.connections} connections, ${settings.rounds} rounds of ${settings.seconds} s per side (alternating), loopback; ` +
      `load average ${loadAverage.before.toFixed(1)} before, ${loadAverage.after.toFixed(1)} after, on ${os.cpus().length} cores\n` +
      table(['route', 'side', 'req/s', 'p99', 'CPU/req', 'errors / non-2xx', 'req/s ratio', 'p99 ratio', 'CPU ratio', 'target', 'result'], rows),
  );
  for (const r of results) console.log(`  ${r.key}: per-round req/s ratios ${r.roundRatios.map((x) => x.toFixed(3)).join(', ')}`);
  const show = (s) => `live buffers ${s.liveBuffers} (${s.liveBytes} B), regions ${s.regions}, bytesLocked ${s.bytesLocked}, orphaned ${s.orphanedRegions}`;
  console.log(
    `strongroom server guarded memory:\n  baseline:     ${show(memory.baseline)}\n  during load:  ${show(memory.peakDuringLoad)} (highest sample)\n  after (gc):   ${show(memory.after)}\n  back to baseline: ${memory.backToBaseline ? 'yes' : 'NO'}`,
  );
}
