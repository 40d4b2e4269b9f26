// What both HTTP servers share: the child's side of the IPC protocol with http-cases.mjs.
//
// A server is a child process (see http-cases.mjs for why). The parent sends it the signing
// secret once ({ type: 'start', secret }); the child builds its app, listens on a free
// loopback port and answers { type: 'listening', port }. Afterwards the parent may ask
// { type: 'stats', gc } and gets { type: 'stats', ... } back: the process's CPU time, and
// from the strongroom server its guarded-memory counters. 'stop' closes it.
import { once } from 'node:events';

function quietErrors(error, _req, res, _next) {
  const status = Number.isInteger(error.status) && error.status >= 400 && error.status < 600 ? error.status : 500;
  res.status(status).send(status === 500 ? 'internal error' : error.message);
}

/**
 * Runs `build(secret)` -> { app, stats? } when the parent says start, serves `app` on
 * 127.0.0.1, and answers the parent's questions until told to stop.
 */
export function serveForParent(build) {
  if (typeof process.send !== 'function') throw new Error('an HTTP bench server runs as a child of bench/http-cases.mjs');
  let server;
  let stats = () => ({});
  process.on('message', async (message) => {
    if (message.type === 'start') {
      const built = await build(message.secret);
      if (built.stats) stats = built.stats;
      // The same quiet error handler on both apps (Express's default one logs every 401's stack).
      built.app.use(quietErrors);
      server = built.app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      // Keep-alive longer than any idle gap between the parent's rounds: autocannon reconnects anyway.
      server.keepAliveTimeout = 60_000;
      process.send({ type: 'listening', port: server.address().port });
    } else if (message.type === 'stats') {
      if (message.gc) {
        // Two collections with a turn of the loop between them, so that FinalizationRegistry
        // callbacks (which run between tasks) get their chance.
        globalThis.gc?.();
        await new Promise((resolve) => setImmediate(resolve));
        globalThis.gc?.();
        await new Promise((resolve) => setImmediate(resolve));
      }
      // CPU time of the whole process (every thread: the libuv pool's work counts too).
      const cpu = process.cpuUsage();
      process.send({ type: 'stats', cpuMicros: cpu.user + cpu.system, heapUsed: process.memoryUsage().heapUsed, ...stats() });
    } else if (message.type === 'stop') {
      server?.close();
      server?.closeAllConnections();
      process.disconnect();
    }
  });
}
